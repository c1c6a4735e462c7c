"""The metric names a runbook's PromQL checks ask for, against the names the configuration
reads its services' figures by: a check that hard-codes `http_requests_total` gets no
data from a service whose counter is `nl_fhir_requests_total`, and its run escalates even
when the fix worked. `opsconsole check` warns of each, at its line and column."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from opsconsole.config.model import Config
from opsconsole.runbooks.model import CheckStep, Library
from opsconsole.runbooks.placeholders import PLACEHOLDER

_IDENTIFIER = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_KEYWORDS = frozenset(
    {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "offset",
     "and", "or", "unless", "inf", "nan", "atan2",
     # aggregations, which may take `by (...)` before their parentheses
     "sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values",
     "bottomk", "topk", "quantile", "limitk", "limit_ratio"}
)  # fmt: skip
_LABEL_LISTS = frozenset({"by", "without", "on", "ignoring", "group_left", "group_right"})


def metrics_named(query: str) -> Iterator[tuple[str, int]]:
    """Each metric name the query writes out, with its offset: not a placeholder, a
    string, a label (in braces or after `by`), a function, a keyword or a duration."""
    placeholders = {m.start(): m.end() for m in PLACEHOLDER.finditer(query)}
    # `{latency_histogram}_bucket`: a name made of a placeholder is the service's own.
    made = set(placeholders.values())
    i, braces, label_list = 0, 0, False
    while i < len(query):
        if i in placeholders:
            i = placeholders[i]
            continue
        c = query[i]
        if c in "\"'`":
            end = query.find(c, i + 1)
            while end > 0 and query[end - 1] == "\\" and c != "`":
                end = query.find(c, end + 1)
            i = len(query) if end < 0 else end + 1
            continue
        if c == "{":
            braces += 1
        elif c == "}":
            braces = max(0, braces - 1)
        elif c == ")":
            label_list = False
        match = _IDENTIFIER.match(query, i)
        if (
            match is None
            or i in made
            or (i > 0 and (query[i - 1].isalnum() or query[i - 1] in "._"))
        ):
            i += 1
            continue
        word = match[0]
        after = query[match.end() :].lstrip()
        if word in _LABEL_LISTS:
            label_list = True
        elif not (braces or label_list or after.startswith("(") or word.lower() in _KEYWORDS):
            yield word, i
        i = match.end()


@dataclass(frozen=True)
class UnreadName:
    runbook: int
    """Index of the runbook in the library; `step` of the step in it."""
    step: int
    offset: int
    """Where the name stands in the step's target."""
    message: str


def unread_names(library: Library, config: Config) -> Iterator[UnreadName]:
    """The PromQL checks that name a metric no service of `config` is read by."""
    read: set[str] = set()
    for service in config.services:
        names = config.metric_names(service)
        hist = names.latency_histogram
        read |= {hist, f"{hist}_bucket", f"{hist}_count", f"{hist}_sum", names.requests_total}
    for number, runbook in enumerate(library.runbooks):
        for index, step in enumerate(runbook.steps):
            if not isinstance(step, CheckStep) or step.probe != "promql":
                continue
            for metric, offset in metrics_named(step.target):
                if metric not in read:
                    yield UnreadName(
                        number, index, offset,
                        f"warning: check '{step.id}' of '{runbook.id}' asks for {metric}, "
                        "which no configured service's figures are read by; if it is a "
                        "service's, write {latency_histogram} or {requests_total}",
                    )  # fmt: skip
