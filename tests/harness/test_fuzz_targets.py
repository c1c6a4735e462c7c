"""The fuzzers' promises kept in the suite: every input a fuzzer found that broke one
(fuzz/regressions/) is replayed, and each target runs on inputs Hypothesis generates,
from the same seed corpus the fuzzers start from (fuzz/corpus/), bounded in examples."""

from __future__ import annotations

from pathlib import Path

import pytest
from fuzz.targets import TARGETS
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

FUZZ = Path(__file__).parents[2] / "fuzz"
FOUND = sorted((FUZZ / "regressions").glob("*-*"))


@pytest.mark.parametrize("found", FOUND, ids=[path.name for path in FOUND])
def test_what_a_fuzzer_found_stays_fixed(found: Path) -> None:
    TARGETS[found.name.split("-", 1)[0]](found.read_bytes())


def test_the_regressions_are_there_to_replay() -> None:
    # What the fuzzers found so far: the list must not silently be empty (a path moved).
    assert {path.name.split("-", 1)[0] for path in FOUND} >= {"exposition"}


def _seeds(target: str) -> list[bytes]:
    # The seeds as written; what a fuzzer added to the corpus (named by its SHA-1) stays out.
    seeds = [p for p in sorted((FUZZ / "corpus" / target).iterdir()) if len(p.name) != 40]
    return [path.read_bytes() for path in seeds]


SIGNIFICANT = [b"[", b"]", b"{", b"}", b'"', b"'", b"=", b"\n", b"\\", b"#", b"[[",
               b"${X}", b"\x1b", b"nan", b"-1", b"+Inf", b"\xff", b" "]  # fmt: skip


@st.composite
def mutated(draw: st.DrawFn, target: str) -> bytes:
    """A seed with a few edits: spans cut, bytes and TOML's own characters put in."""
    data = bytearray(draw(st.sampled_from(_seeds(target))))
    for _ in range(draw(st.integers(0, 6))):
        at = draw(st.integers(0, len(data)))
        edit = draw(st.sampled_from(["cut", "insert", "bytes"]))
        if edit == "cut":
            data[at : at + draw(st.integers(1, 40))] = b""
        elif edit == "insert":
            data[at:at] = draw(st.sampled_from(SIGNIFICANT))
        else:
            data[at:at] = draw(st.binary(max_size=8))
    return bytes(data)


@pytest.mark.parametrize("target", sorted(TARGETS))
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_each_target_keeps_its_promise_on_mutated_seeds(target: str, data: st.DataObject) -> None:
    TARGETS[target](data.draw(mutated(target)))
