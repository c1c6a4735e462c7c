"""An incident as the team reads it: the update in the shared runbooks' communication
template, and the postmortem timeline of every event; or all of it as JSON."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from opsconsole.engine.events import Event as RunEvent
from opsconsole.engine.events import StepFinished, from_record
from opsconsole.incidents.chain import Verification
from opsconsole.incidents.model import (
    RUNBOOK_PREFIX,
    SEVERITY_MEANINGS,
    Event,
    Incident,
    Kind,
    Status,
)

NEXT_STEPS = {
    Status.INVESTIGATING: "Find the cause: health, metrics, logs, recent changes.",
    Status.IDENTIFIED: "Apply the fix and verify it.",
    Status.MONITORING: "Watch that the fix holds before resolving.",
    Status.RESOLVED: "Postmortem within 24-48 hours: lessons learned, preventive measures, "
    "runbook updates.",
}
OUTPUT_SHOWN = 5
"""Lines of a step's output the timeline quotes; the artifact holds the rest."""


def utc(at: datetime, seconds: bool = False) -> str:
    return at.strftime("%Y-%m-%d %H:%M:%S UTC" if seconds else "%Y-%m-%d %H:%M UTC")


def describe(event: Event) -> str:
    """One line saying what happened, as the timeline and the incident screen show it."""
    data = event.data
    kind = event.kind
    if kind == Kind.OPENED:
        return f"opened: {data['title']} ({data['severity']}, {data.get('mode', 'real')})"
    if kind == Kind.STATUS:
        return f"status {data.get('from', '?')} → {data['to']}" + _reason(data)
    if kind == Kind.SEVERITY:
        return f"severity {data.get('from', '?')} → {data['to']}" + _reason(data)
    if kind == Kind.NOTE:
        return f"note: {data['text']}"
    if kind == Kind.IMPACT:
        return f"impact: {data['text']}"
    if kind == Kind.COMMANDER:
        return f"commander: {data['name']}"
    if kind == Kind.BREACH:
        return f"breach {data.get('state', 'seen')}: {data['text']}"
    if kind == Kind.ESCALATION:
        return f"escalation reminder shown: {data['text']}"
    if kind == Kind.PROPOSAL:
        accepted = data.get("accepted")
        answer = "proposed" if accepted is None else "accepted" if accepted else "declined"
        return f"{answer}: {data['to']}, as '{data.get('check', '?')}' passed"
    if kind == Kind.CHECK:
        held = f", after holding {data['held']}" if data.get("held") else ""
        return f"verifying check '{data.get('check', '?')}' failed: {data.get('summary')}{held}"
    if kind == Kind.DRILL:
        return f"drill: {data['text']}"
    if (run := run_event(event)) is not None:
        where = run.runbook + (f" / {run.step}" if run.step else "")
        return f"{where}: {run.describe()}"
    # A kind this version does not know (a later one wrote it): its facts, as they are.
    return f"{kind}: {json.dumps(data, ensure_ascii=False)}"


def _reason(data: dict[str, Any]) -> str:
    return f": {data['reason']}" if data.get("reason") else ""


def run_event(event: Event) -> RunEvent | None:
    """The runbook event an incident event records, typed; None for the incident's own
    events and for a runbook event of a kind this version does not know."""
    if not event.kind.startswith(RUNBOOK_PREFIX):
        return None
    kind = event.kind.removeprefix(RUNBOOK_PREFIX)
    return from_record(kind, event.data, operator=event.who.name, at=event.at)


def _actions(incident: Incident) -> list[Event]:
    kinds = (RUNBOOK_PREFIX + "step_finished", Kind.STATUS, Kind.SEVERITY)
    return [e for e in incident.events if e.kind in kinds]


def _notes(incident: Incident) -> list[Event]:
    """What people wrote: notes on the incident, and those written during a run."""
    kinds = (Kind.NOTE, Kind.IMPACT, RUNBOOK_PREFIX + "note")
    return [e for e in incident.events if e.kind in kinds and _written(e)]


def _written(event: Event) -> bool:
    return bool(str(event.data.get("text", "")).strip())


def _mode(incident: Incident) -> str:
    return "" if incident.mode == "real" else f" [{incident.mode.upper()}]"


def slack(incident: Incident) -> str:
    """The incident update as Slack's own markup reads it, to paste into the incident
    channel: *bold* and bullets, no headings (Slack shows `#` and `**` as they are)."""

    def text(value: str) -> str:
        return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")

    notes = [f"• {_clock(e)} {text(describe(e))}" for e in _notes(incident)[-5:]]
    actions = [f"• {_clock(e)} {text(e.who.name)}: {text(describe(e))}" for e in _actions(incident)]
    lines = [
        f"*[INCIDENT]{_mode(incident)} {text(incident.title)}*",
        f"*Status:* {incident.status}   *Severity:* {incident.severity} "
        f"({SEVERITY_MEANINGS[incident.severity]})",
        f"*Start time:* {utc(incident.started)}"
        + (f"   *Resolved:* {utc(incident.resolved)}" if incident.resolved else ""),
        f"*Impact:* {text(incident.impact or 'not described yet')}",
        f"*Incident commander:* {text(incident.commander)}",
        "*Current status:*",
        *(notes or ["• (no notes yet)"]),
        "*Actions taken:*",
        *(actions or ["• (none yet)"]),
        "*Next steps:*",
        f"• {NEXT_STEPS[incident.status]}",
    ]
    return "\n".join(lines) + "\n"


def markdown(incident: Incident, verification: Verification | None = None) -> str:
    events = incident.events
    actions = _actions(incident)
    notes = _notes(incident)
    mode = _mode(incident)
    lines = [
        f"# Subject: [INCIDENT]{mode} {incident.title}",
        "",
        f"- **Status:** {incident.status}",
        f"- **Severity:** {incident.severity} ({SEVERITY_MEANINGS[incident.severity]})",
        f"- **Start time:** {utc(incident.started)}",
        f"- **Impact:** {incident.impact or 'not described yet'}",
        f"- **Incident commander:** {incident.commander}",
    ]
    if incident.resolved:
        lines.append(f"- **Resolved:** {utc(incident.resolved)}")
    lines += ["", "## Current status", ""]
    lines += [f"- {_clock(e)} {describe(e)}" for e in notes[-5:]] or ["- (no notes yet)"]
    lines += ["", "## Actions taken", ""]
    lines += [f"- {_clock(e)} {e.who.name}: {describe(e)}" for e in actions] or ["- (none yet)"]
    lines += ["", "## Next steps", "", f"- {NEXT_STEPS[incident.status]}", ""]
    lines += ["## Timeline", ""]
    for event in events:
        lines.append(f"- {utc(event.at, seconds=True)} · {_who(event)} · {describe(event)}")
        if isinstance(run := run_event(event), StepFinished):
            if run.output:
                shown = [f"  {line}" for line in run.output[-OUTPUT_SHOWN:]]
                lines += ["", "  ```", *shown, "  ```", ""]
            if run.artifact:
                lines.append(f"  full output: `{run.artifact}`")
        for side in ("before", "after"):
            if isinstance(event.data.get(side), list):
                lines += [f"  {side}: {evidence}" for evidence in event.data[side]]
    if verification is not None:
        lines += ["", "## Integrity", ""]
        if verification.ok:
            lines.append(f"- hash chain verified: {len(verification.events)} events, none changed")
        lines += [f"- ✖ {problem}" for problem in verification.problems]
        if verification.torn:
            lines.append(f"- {verification.torn}")
    return "\n".join(lines) + "\n"


def _clock(event: Event) -> str:
    return event.at.strftime("%H:%M UTC")


def _who(event: Event) -> str:
    who = event.who
    via = f" via {who.ssh_client}" if who.ssh_client else ""
    return f"{who.name}@{who.host}{via}"


def as_json(incident: Incident, verification: Verification) -> str:
    document = {
        "id": incident.id,
        "title": incident.title,
        "mode": incident.mode,
        "severity": incident.severity,
        "status": str(incident.status),
        "commander": incident.commander,
        "impact": incident.impact,
        "started": incident.started.isoformat(),
        "resolved": incident.resolved.isoformat() if incident.resolved else None,
        "verified": verification.ok,
        "problems": verification.problems,
        "events": [{**e.body, "hash": e.hash} for e in incident.events],
    }
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"
