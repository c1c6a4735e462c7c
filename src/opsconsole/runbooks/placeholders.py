"""The `{name}` placeholders of runbook text, apart so that both the model that checks
them and the quoting that fills them read them the same way."""

from __future__ import annotations

import re

# `{name}` alone; doubled braces stay literal, so Go templates such as docker's
# `--format {{.State.OOMKilled}}` are written as they are on the command line.
PLACEHOLDER = re.compile(r"(?<!\{)\{([A-Za-z_][A-Za-z0-9_]*)\}(?!\})")


def placeholders(text: str) -> list[str]:
    """The ``{name}`` placeholders of an argv element."""
    return PLACEHOLDER.findall(text)
