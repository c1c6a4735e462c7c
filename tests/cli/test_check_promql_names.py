"""`opsconsole check` warns of a PromQL check that asks for a metric no configured
service's figures are read by: on a stack with its own names, such a check gets no data
and its run escalates even when the fix worked."""

from __future__ import annotations

from pathlib import Path

from tests.support.commands import run

CONFIG = (
    '[prometheus]\nurl = "http://127.0.0.1:9090"\n\n'
    '[[services]]\nname = "nl-fhir"\nhealth_url = "http://127.0.0.1:9/health"\n'
    'latency_histogram = "nl_fhir_request_duration_seconds"\n'
    'requests_total = "nl_fhir_requests_total"\n'
)
HARD_CODED = """[[runbooks]]
id = "errors"
title = "Errors"
summary = "S"

[[runbooks.params]]
name = "service"
description = "S"

[[runbooks.steps]]
id = "rate"
kind = "check"
title = "Rate"
probe = "promql"
target = 'sum by (service) (rate(http_requests_total{service="{service}"}[5m]))'
"""


def test_a_hard_coded_metric_the_configuration_does_not_read_is_warned_at_its_place(
    tmp_path: Path,
) -> None:
    (tmp_path / "c.toml").write_text(CONFIG)
    (tmp_path / "r.toml").write_text(HARD_CODED)
    checked = run("check", "--config", "c.toml", "--runbooks", "r.toml", cwd=tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr  # a warning, no problem
    warnings = [line for line in checked.stdout.splitlines() if "warning" in line]
    # The string opens at column 10; `sum by (service) (rate(` is 23 characters into it.
    assert warnings == [
        "r.toml:15:34: warning: check 'rate' of 'errors' asks for http_requests_total, which "
        "no configured service's figures are read by; if it is a service's, write "
        "{latency_histogram} or {requests_total}"
    ]


def test_the_shipped_checks_ask_for_the_configured_names(tmp_path: Path) -> None:
    (tmp_path / "c.toml").write_text(CONFIG)
    checked = run("check", "--config", "c.toml", cwd=tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    warned = {line.split("of '")[1].split("'")[0] for line in checked.stdout.splitlines()
              if "warning" in line}  # fmt: skip
    # Only the seed's own gauge (nl_fhir_hapi_server_available) is not a service figure.
    assert warned == {"dependency-down"}
