"""The incident session without a screen: what it records, and what it says it did. The
app only shows these; here they are read straight from the session and the real store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from opsconsole.config.model import Config
from opsconsole.incidents.files import FileStore
from opsconsole.incidents.model import Actor, Kind, Status
from opsconsole.incidents.session import IncidentSession
from opsconsole.monitoring.snapshot import Breach
from opsconsole.runbooks.model import load_runbooks, shipped_runbooks

BOB = Actor(user="bob", host="bastion-2", ssh_client="10.0.0.9")
ALICE = Actor(user="alice", host="bastion-1")
CONFIG = Config.model_validate(
    {"console": {"environment": "production"},
     "services": [{"name": "api", "health_url": "http://127.0.0.1:9/health"}]}
)  # fmt: skip
DOWN = Breach("api", "health", "DOWN", "UP")


def session_on(directory: Path, who: Actor = ALICE) -> IncidentSession:
    return IncidentSession(FileStore(directory), CONFIG, who=who)


def test_opening_records_what_breached_before_and_says_so(tmp_path: Path) -> None:
    session = session_on(tmp_path)
    session.breaches_changed([DOWN])
    assert session.draft() == ("api is DOWN", "P2")

    done = session.open("api is DOWN", "P1", "checkout fails")

    assert session.incident is not None
    assert done.said[0].text.startswith(f"Incident {session.incident.id} opened")
    stored = session.store.get(session.incident.id)
    assert [e.kind for e in stored.events] == [Kind.OPENED, Kind.BREACH]
    assert stored.events[1].data["text"] == "api is DOWN"
    # What the session holds is what the store holds, without reading it all again.
    assert session.incident.events == stored.events


def test_the_draft_takes_the_severity_of_the_runbook_the_dashboard_offers(tmp_path: Path) -> None:
    """A demo service is offered the demo's runbook (P3), not the Docker one (P1) that
    cannot run on it: the draft said P1 for a training fault."""
    demo = Config.model_validate(
        {"console": {"environment": "demo"},
         "services": [{"name": "backend", "health_url": "http://127.0.0.1:9/health",
                       "sandbox": True, "demo": True}]}
    )  # fmt: skip
    library = load_runbooks(shipped_runbooks())
    session = IncidentSession(FileStore(tmp_path), demo, library, who=ALICE)
    session.breaches_changed([Breach("backend", "health", "DOWN", "UP")])
    assert session.draft() == ("backend is DOWN", "P3")
    real = Config.model_validate(
        {"services": [{"name": "api", "health_url": "http://127.0.0.1:9/health",
                       "container": "api"}]}
    )  # fmt: skip
    session = IncidentSession(FileStore(tmp_path), real, library, who=ALICE)
    session.breaches_changed([DOWN])
    assert session.draft() == ("api is DOWN", "P1")  # in a container: service-down's


def test_a_breach_that_ends_is_recorded_as_cleared(tmp_path: Path) -> None:
    session = session_on(tmp_path)
    session.open("api is DOWN", "P2", "")
    session.breaches_changed([DOWN])
    session.breaches_changed([])
    assert session.incident is not None
    events = session.store.get(session.incident.id).events
    assert [e.data.get("state") for e in events if e.kind == Kind.BREACH] == ["seen", "cleared"]
    assert session.proposals.dashboard_now() == "dashboard: nothing breaches"


def test_reminders_come_due_by_the_clock_and_are_recorded_once(tmp_path: Path) -> None:
    session = session_on(tmp_path)
    session.open("api is DOWN", "P1", "")
    assert session.remind().said == []
    session.clock = lambda: datetime.now(UTC) + timedelta(minutes=16)
    said = session.remind().said
    assert [s.title for s in said] == ["escalation"]
    assert "Level 2" in said[0].text
    assert session.remind().said == []  # once
    assert "INVESTIGATING 16m" in session.header("production @ bastion-1")


def test_what_another_console_writes_is_said_and_an_incident_it_opens_is_announced_once(
    tmp_path: Path,
) -> None:
    mine = session_on(tmp_path)
    theirs = session_on(tmp_path, BOB)
    theirs.open("db is slow", "P2", "")
    assert theirs.incident is not None
    opened = theirs.incident.id

    announced = mine.incident_changed(opened).said
    assert [s.text for s in announced] == [
        f"bob opened incident {opened}: db is slow (P2). Ctrl+P 'Incident: join' works it here."
    ]
    theirs.note("replica promoted")  # a later change of theirs is no second announcement
    assert mine.incident_changed(opened).said == []

    mine.join(mine.store.get(opened))
    theirs.note("lag back under 1 s")
    assert [s.text for s in mine.incident_changed(opened).said] == ["bob: note: lag back under 1 s"]
    mine.note("confirmed from here")
    assert mine.incident_changed(opened).said == []  # my own event is not news to me


def test_a_store_that_cannot_be_written_is_said_and_nothing_is_claimed(tmp_path: Path) -> None:
    store = FileStore(tmp_path)
    session = IncidentSession(store, CONFIG, who=ALICE)
    session.open("api is DOWN", "P2", "")
    assert session.incident is not None
    # A log that cannot be appended to, as for root too: its path is now a directory.
    log = store.path(session.incident.id)
    log.unlink()
    log.mkdir()

    done = session.change(Kind.STATUS, str(Status.IDENTIFIED))

    assert [s.severity for s in done.said] == ["error"]
    assert done.said[0].text.startswith("Not recorded: ")
    assert session.incident.status is Status.INVESTIGATING  # nothing claimed that is not written


def test_an_incident_opened_on_a_breach_elsewhere_is_announced_here(tmp_path: Path) -> None:
    """Opening writes its "breach seen" events at once: the incident another console
    sees has more than its opening event, and is still news."""
    mine = session_on(tmp_path)
    theirs = session_on(tmp_path, BOB)
    theirs.breaches_changed([DOWN])
    theirs.open("api is DOWN", "P1", "")
    assert theirs.incident is not None
    assert len(theirs.incident.events) == 2  # opened, breach seen
    announced = mine.incident_changed(theirs.incident.id).said
    assert [s.text.split(":")[0] for s in announced] == [
        f"bob opened incident {theirs.incident.id}"
    ]


def test_what_was_opened_before_this_console_listened_is_caught_up(tmp_path: Path) -> None:
    mine = session_on(tmp_path)
    theirs = session_on(tmp_path, BOB)
    theirs.open("db is slow", "P2", "")
    assert theirs.incident is not None
    said = mine.catch_up().said
    assert said[0].text.startswith(f"bob opened incident {theirs.incident.id}")
    assert mine.catch_up().said == []  # once
