"""A trainee's score: a run that failed or was aborted is no fix, whatever runbook it
was, and the report names each step that failed. Times are given, not waited for."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from opsconsole.drills.model import Drill
from opsconsole.drills.scorecard import Run, Scorecard

T0 = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)
DRILL = Drill.model_validate(
    {"id": "api-down", "title": "API down", "target": "api", "runbook": "service-down",
     "fault": {"kind": "demo_down"}, "time_limit_seconds": 600}
)  # fmt: skip


def card() -> Scorecard:
    scorecard = Scorecard(DRILL, "Service down / not responding")
    scorecard.injected_at = T0
    return scorecard


def test_a_failed_run_of_the_right_runbook_scores_no_fix_and_names_its_failed_steps() -> None:
    scorecard = card()
    scorecard.runbook_started("service-down", T0 + timedelta(seconds=30))
    scorecard.run_ended(
        Run("service-down", "failed", ("Check it answers", "Verify")), T0 + timedelta(seconds=60)
    )
    _, lines = scorecard.score()
    assert "+0 the runbook that fixes it did not complete: service-down: failed " in lines[2]
    assert "(failed: Check it answers; Verify)" in lines[2]
    assert scorecard.right_runbook is None
    report = scorecard.report()
    assert "- service-down: failed (failed: Check it answers; Verify)" in report
    assert "- the right runbook completed: never" in report


def test_an_aborted_run_scores_no_fix_and_a_completed_one_does() -> None:
    scorecard = card()
    scorecard.run_ended(Run("service-down", "aborted"), T0 + timedelta(seconds=40))
    assert "did not complete: service-down: aborted" in scorecard.score()[1][2]
    scorecard.run_ended(Run("service-down", "completed"), T0 + timedelta(seconds=90))
    assert scorecard.score()[1][2] == "+20 the right runbook (service-down)"
    assert scorecard.right_runbook == 90.0


def test_the_hint_names_the_runbook_as_the_palette_shows_it() -> None:
    scorecard = card()
    assert scorecard.hint() == "Hint: look at api on the dashboard."
    assert scorecard.hint() == (
        "Hint: the runbook 'Service down / not responding' fixes this: "
        "Ctrl+P, Runbook: Service down / not responding."
    )
