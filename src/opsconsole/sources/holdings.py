"""What a metrics backend really holds for the names a configuration gives, and why a
figure cannot be computed from it: never a 0 or a dash without its reason.

A counter that labels the HTTP status `code` (the Go client's convention) where the
configuration says `status` has no 5xx series at all: its error rate reads 0 % for a
service at 20 %. Asked what the counter's labels are, the backend says so, and the
reason names the fix. The same for a misspelled metric, a service label value that has
no series, and a service with no traffic in the window (a real 0, said as such).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass, field

from opsconsole.config.model import MetricNames as Names

STATUS_LIKE = ("code", "status", "status_code", "http_status", "response_code", "http_code")
"""Labels that hold an HTTP status in the conventions seen in the wild, in order."""
SERVICE_LIKE = ("service", "job", "app", "application")


@dataclass
class Holdings:
    """What the backend holds, for each metric asked about: its label names over all its
    series (None when it has no series at all) and the values of the service label on
    it; for each counter, the services whose series carry the status label, and the
    label names of those whose series do not (a status label is one service's matter:
    two apps on one counter name may label the status differently); every metric name
    (for "did you mean"), asked only when a metric is missing. A direct scrape's one
    service is "" (its exposition is the service's)."""

    labels: dict[str, frozenset[str] | None] = field(default_factory=dict)
    services: dict[str, frozenset[str]] = field(default_factory=dict)
    with_status: dict[str, frozenset[str]] = field(default_factory=dict)
    own_labels: dict[tuple[str, str], frozenset[str]] = field(default_factory=dict)
    names: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Unknown:
    """Why the figures of one service cannot be computed from what the backend holds.
    `p95` for its latency, `errors` for its error rate, `requests` for its request rate
    (and so the other two); None where the figure can be."""

    p95: str | None = None
    errors: str | None = None
    requests: str | None = None

    def said(self) -> str:
        """All of it, once each: the reason a cell, a pane and `status` give."""
        parts = [self.requests, self.p95 if self.p95 != self.requests else None, self.errors]
        return "; ".join(dict.fromkeys(p for p in parts if p))

    def __bool__(self) -> bool:
        return any((self.p95, self.errors, self.requests))


def explain(holdings: Holdings, names: Names, service: str) -> Unknown:
    """What keeps each figure of `service` (the value of its service label) from being
    computed, as the fix to make."""
    bucket = f"{names.latency_histogram}_bucket"
    requests = _metric(holdings, names.requests_total, names, service)
    p95 = _metric(holdings, bucket, names, service)
    errors = requests
    key = service if names.service_label else ""
    counter = names.requests_total
    if errors is None and key not in holdings.with_status.get(counter, frozenset()):
        labels = holdings.own_labels.get((counter, key)) or holdings.labels.get(counter) or ()
        errors = _missing_label(counter, names.status_label, labels, "status_label")
    return Unknown(p95=p95, errors=errors, requests=requests)


def _metric(holdings: Holdings, metric: str, names: Names, service: str) -> str | None:
    labels = holdings.labels.get(metric)
    if labels is None:
        return f"no series named {metric}{_did_you_mean(metric, holdings.names)}"
    if not names.service_label:  # a direct scrape: every series is the service's
        return None
    if names.service_label not in labels:
        return _missing_label(metric, names.service_label, labels, "service_label")
    known = holdings.services.get(metric, frozenset())
    if service not in known:
        shown = ", ".join(sorted(known)[:8]) + (", …" if len(known) > 8 else "")
        return f"{names.service_label}='{service}' not found in {metric}; known: {shown}"
    return None


def _missing_label(metric: str, label: str, labels: Iterable[str], setting: str) -> str:
    own = sorted(name for name in labels if name != "__name__")
    said = f"{metric} has no label '{label}'; its labels are {', '.join(own) or 'none'}"
    if setting == "status_label":
        guess = next((name for name in STATUS_LIKE if name in own), None)
    else:
        guess = next(
            (name for name in ("service", "job", "app", "application") if name in own), None
        )
    if guess is not None:
        return f'{said}: set {setting} = "{guess}"'
    return f"{said}: set {setting} to the one that holds it"


def _did_you_mean(name: str, known: list[str]) -> str:
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.75)
    return f"; did you mean {close[0]}?" if close else ""
