"""What each parser of outside input promises, whatever bytes it is given. The fuzzers
(`fuzz/run.py`) and the suite's regression and property tests
(`tests/harness/test_fuzz_targets.py`) call these same functions: an exception other
than the one a target declares, or a broken promise (AssertionError), is a finding."""

from __future__ import annotations

import math

from opsconsole.common.redact import MASK, Redactor
from opsconsole.config.model import Config
from opsconsole.documents.load import not_utf8, parse_document
from opsconsole.documents.problems import ProblemsFound, printable
from opsconsole.runbooks.model import Library, library_checks
from opsconsole.sources.health import judge
from opsconsole.sources.readings import HealthState
from opsconsole.sources.scrape import ScrapeTarget, parse_snapshot


def _document(data: bytes, model: type[Config] | type[Library], checks: object = None) -> None:
    """A document is loaded or refused with problems, each at a place in the file, with a
    message a terminal shows as text."""
    try:
        try:
            source = data.decode("utf-8")
        except UnicodeDecodeError as error:
            raise ProblemsFound([not_utf8("f.toml", data, error)]) from None
        parse_document(source, "f.toml", model, checks=checks)  # type: ignore[arg-type]
    except ProblemsFound as found:
        assert found.problems
        lines = data.count(b"\n") + 1
        for problem in found.problems:
            assert 1 <= problem.line <= lines, problem
            assert problem.col >= 1, problem
            assert str(problem) == printable(str(problem)), problem


def config(data: bytes) -> None:
    _document(data, Config)


def runbooks(data: bytes) -> None:
    _document(data, Library, library_checks)


TARGET = ScrapeTarget("svc", "http://svc/metrics")


def exposition(data: bytes) -> None:
    """A scrape gives finite, non-negative figures, or ValueError: never a silent NaN."""
    try:
        snapshot = parse_snapshot(data.decode("utf-8", "replace"), TARGET, 0.0)
    except ValueError:
        return
    figures = [snapshot.requests, snapshot.errors, *snapshot.buckets.values()]
    assert all(math.isfinite(x) and x >= 0 for x in figures), snapshot
    assert snapshot.errors <= snapshot.requests, snapshot


def redactor(data: bytes) -> None:
    """A known secret never shows, wherever it stands in a line; redacting is idempotent."""
    text = data.decode("utf-8", "replace")
    secret, _, line = text.partition("\n")
    secret = secret.strip()
    if len(secret) < 4 or "*" in secret or secret in MASK:
        secret = "Hunter2Secret"  # noqa: S105 -- the fuzzer's own secret
    redact = Redactor([secret], env={})
    half = len(line) // 2
    shown = redact(line[:half] + secret + line[half:])
    assert secret not in shown, shown
    assert redact(shown) == shown


def health_body(data: bytes) -> None:
    """Any answer to a health check is judged: a state and a reason, never an exception."""
    for content_type in ("application/json", "text/plain"):
        state, reason = judge(200, data, content_type)
        assert isinstance(state, HealthState)
        assert state is HealthState.UP or reason


TARGETS = {
    "config": config,
    "runbooks": runbooks,
    "exposition": exposition,
    "redactor": redactor,
    "health_body": health_body,
}
