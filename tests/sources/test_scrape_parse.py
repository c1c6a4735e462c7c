"""Reading an exposition: what the scrape source sums is what prometheus_client's parser
reads, line for line, however odd the labels. The expositions are written here because
they are the input itself: label values a real service rarely serves, in one place."""

from __future__ import annotations

from dataclasses import replace

import pytest
from prometheus_client.parser import text_string_to_metric_families

from opsconsole.sources.holdings import Holdings, explain
from opsconsole.sources.scrape import ScrapeTarget, SeriesMemo, Snapshot, parse_snapshot

TARGET = ScrapeTarget("api", "http://api/metrics")

EXPOSITION = """\
# HELP http_request_duration_seconds Request latency.
# TYPE http_request_duration_seconds histogram
http_request_duration_seconds_bucket{le="0.1",path="/a}b"} 3
http_request_duration_seconds_bucket{le="0.5",path="/a}b"} 7 1700000000000
http_request_duration_seconds_bucket{le="+Inf",path="/a}b"} 9
http_request_duration_seconds_bucket{path="say \\"hi\\" {x}",le="0.1"} 1
http_request_duration_seconds_bucket{path="say \\"hi\\" {x}",le="0.5"} 1
http_request_duration_seconds_bucket{path="say \\"hi\\" {x}",le="+Inf"} 2.5e0
http_request_duration_seconds_count{path="/a}b"} 9
http_requests_total{status="200",path="a b"} 10
http_requests_total{status="503",path="a b"} 4
http_requests_total{status="500"}  1
http_requests_total 2
process_cpu_seconds_total 12.5
"""


def reference(exposition: str) -> Snapshot:
    """The sums, from prometheus_client's parser reading the whole exposition."""
    buckets: dict[float, float] = {}
    requests = errors = 0.0
    for family in text_string_to_metric_families(exposition):
        for sample in family.samples:
            if sample.name == "http_request_duration_seconds_bucket":
                le = float(sample.labels["le"])
                buckets[le] = buckets.get(le, 0.0) + sample.value
            elif sample.name == "http_requests_total":
                requests += sample.value
                errors += sample.value if sample.labels.get("status", "").startswith("5") else 0
    return Snapshot(0.0, buckets, requests, errors)


def test_the_sums_are_those_of_prometheus_clients_parser() -> None:
    ours = parse_snapshot(EXPOSITION, TARGET, 0.0)
    assert replace(ours, holdings=Holdings()) == reference(EXPOSITION)
    assert ours.holdings.labels == {
        "http_request_duration_seconds_bucket": frozenset({"le", "path"}),
        "http_requests_total": frozenset({"path", "status"}),
    }
    assert ours.buckets == {0.1: 4, 0.5: 8, float("inf"): 11.5}
    assert (ours.requests, ours.errors) == (17, 5)


def test_a_second_scrape_reads_its_own_values_not_the_first_ones() -> None:
    """Each series is parsed once and remembered: only its value may be taken anew."""
    memo = SeriesMemo()
    parse_snapshot(EXPOSITION, TARGET, 0.0, memo)
    later = EXPOSITION.replace('status="503",path="a b"} 4', 'status="503",path="a b"} 40')
    assert parse_snapshot(later, TARGET, 1.0, memo).errors == 41


@pytest.mark.parametrize(
    "line",
    [
        'http_requests_total{status="200"} many',
        'http_requests_total{status="200"} 1_000',
        'http_requests_total{status="200"}',
        'http_requests_total{status="200} 3',
    ],
)
def test_a_garbled_sample_fails_the_scrape(line: str) -> None:
    """What the service's row then says after "metrics:"."""
    with pytest.raises(ValueError, match=r"^not a sample line: http_requests_total"):
        parse_snapshot(line + "\n", TARGET, 0.0)


@pytest.mark.parametrize("labels", ['{path="/"}', '{le="soon"}'])
def test_a_bucket_without_its_bound_says_so(labels: str) -> None:
    with pytest.raises(ValueError, match=r"^http_request_duration_seconds_bucket has a bucket"):
        parse_snapshot(f"http_request_duration_seconds_bucket{labels} 3\n", TARGET, 0.0)


@pytest.mark.parametrize("value", ["-15", "NaN", "+Inf"])
def test_a_count_that_is_negative_or_not_a_number_fails_the_scrape(value: str) -> None:
    """Found by fuzz/run.py exposition: -15 requests read as a figure, a silent wrong
    error rate; NaN would compare as no breach at all."""
    with pytest.raises(ValueError, match=rf"(?i)^http_requests_total has the value {value[-3:]}"):
        parse_snapshot(f'http_requests_total{{status="500"}} {value}\n', TARGET, 0.0)


def test_a_metric_declared_but_not_counted_yet_is_no_traffic_not_a_wrong_name() -> None:
    """prometheus_client writes a labelled metric's # TYPE before anything is counted:
    a service with no requests since it started is not misconfigured."""
    declared = (
        "# HELP http_requests_total Requests.\n# TYPE http_requests_total counter\n"
        "# HELP http_request_duration_seconds D.\n"
        "# TYPE http_request_duration_seconds histogram\n"
    )
    held = parse_snapshot(declared, TARGET, 0.0).holdings
    assert not explain(held, TARGET.names, "svc")
    typo = parse_snapshot("# TYPE http_request_total counter\nhttp_request_total 1\n", TARGET, 0)
    assert explain(typo.holdings, TARGET.names, "svc").said() == (
        "no series named http_requests_total; did you mean http_request_total?; "
        "no series named http_request_duration_seconds_bucket"
    )
