"""Coverage-guided fuzzing of the parsers of outside input, with atheris (libFuzzer).

    .venv/bin/pip install atheris
    .venv/bin/python fuzz/run.py TARGET [SECONDS]      # TARGET: see fuzz/targets.py

It starts from fuzz/corpus/TARGET/ (and grows it there), runs for SECONDS (60), and
writes a crashing input to fuzz/regressions/TARGET-<hash>: the suite replays every file
there (tests/harness/test_fuzz_targets.py), so that what was found stays fixed."""

from __future__ import annotations

import sys
from pathlib import Path

import atheris

HERE = Path(__file__).parent

sys.path.insert(0, str(HERE.parent))  # `fuzz.targets`, run as a script from anywhere
with atheris.instrument_imports(include=["opsconsole"]):
    from fuzz.targets import TARGETS


def main() -> None:
    if len(sys.argv) < 2 or sys.argv[1] not in TARGETS:
        sys.exit(f"usage: fuzz/run.py {{{','.join(TARGETS)}}} [SECONDS]")
    name = sys.argv[1]
    seconds = int(sys.argv[2]) if len(sys.argv) > 2 else 60
    corpus = HERE / "corpus" / name
    corpus.mkdir(parents=True, exist_ok=True)
    found = HERE / "regressions"
    found.mkdir(exist_ok=True)
    target = TARGETS[name]
    atheris.Setup(
        [sys.argv[0], f"-max_total_time={seconds}", f"-artifact_prefix={found}/{name}-",
         "-max_len=20000", "-rss_limit_mb=4096", str(corpus)],
        target,
    )  # fmt: skip
    atheris.Fuzz()


if __name__ == "__main__":
    main()
