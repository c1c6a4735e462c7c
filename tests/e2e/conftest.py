from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.servers import IN_CI
from tests.support.terminal import OpenTerminal, terminals


@pytest.fixture
def terminal(tmp_path: Path) -> Iterator[OpenTerminal]:
    """Opens the installed `opsconsole` in tmux at 80x24, in the test's own home."""
    if shutil.which("tmux") is None:
        if IN_CI:
            pytest.fail("tmux is required under CI=true")
        pytest.skip("tmux is not installed")
    with terminals(tmp_path) as open_terminal:
        yield open_terminal
