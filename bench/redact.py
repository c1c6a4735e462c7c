"""Lines per second through `Redactor`, which the runbook engine applies to every line of
command output (up to a million per command).

Run: .venv/bin/python bench/redact.py
"""

from __future__ import annotations

import time
import timeit

from opsconsole.common.redact import Redactor

PLAIN = (
    "2024-05-01T12:34:56.789Z INFO  [worker-3] request_id=3f2a9c1e-8b7d-4e2a-9c1f-2b3d4e5f6a7b"
    " GET /api/v1/orders/12345 200 12.3ms user=alice bytes=5123"
)
CASES = {
    "typical line, no secret": PLAIN,
    "typical line, a known secret in it": PLAIN.replace("alice", "s3cr3t-v4lue-42"),
    "typical line, password=... in it": PLAIN + " password=hunter22",
    "typical line, a word that triggers the slow path": PLAIN + " token refreshed",
    "URL without password": PLAIN + " upstream=https://api.example.com:8443/v1/orders",
    "long line (4 KiB) no secret": (PLAIN + " ") * 27,
}
SECRETS = ["s3cr3t-v4lue-42", "correct horse battery staple", "Zm9vYmFyYmF6cXV4"]
ENV = {
    "PATH": "/usr/bin:/bin",
    "PGPASSWORD": "pg-pass-123",
    "GITHUB_TOKEN": "ghp_" + "x" * 36,
    "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
}
NUMBER = 50_000


def rate(redactor: Redactor, line: str) -> float:
    best = min(timeit.repeat(lambda: redactor(line), number=NUMBER, repeat=5))
    return NUMBER / best


def main() -> None:
    setups = {
        "no secrets": Redactor(env={}),
        "3 secrets + 3 secret env vars": Redactor(SECRETS, env=ENV),
        "+ 1 non-ASCII secret": Redactor([*SECRETS, "pässwörd"], env=ENV),
    }
    print(f"{'':52} " + "  ".join(f"{name[:30]:>30}" for name in setups))
    for case, line in CASES.items():
        rates = [rate(redactor, line) for redactor in setups.values()]
        print(f"{case:52} " + "  ".join(f"{r:>24,.0f} lines/s" for r in rates))
    # A million lines as a command prints them: varied, one in a hundred with a secret.
    redactor = setups["3 secrets + 3 secret env vars"]
    lines = [f"{PLAIN} seq={n}" for n in range(1_000_000)]
    for n in range(0, len(lines), 100):
        lines[n] += " password=hunter22"
    started = time.perf_counter()
    for line in lines:
        redactor(line)
    elapsed = time.perf_counter() - started
    print(
        f"{'1,000,000 lines, 1% with a secret':52} {len(lines) / elapsed:>24,.0f} lines/s"
        f"  ({elapsed:.2f} s)"
    )
    baseline = NUMBER / min(timeit.repeat(lambda: PLAIN.lower(), number=NUMBER, repeat=5))
    print(f"{'(for scale: str.lower() of the typical line)':52} {baseline:>24,.0f} lines/s")


if __name__ == "__main__":
    main()
