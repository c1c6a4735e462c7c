"""Sources and the other non-UI modules never import Textual: they run under the CLI, in
scripts and in drills, and a widget framework has no business there."""

from __future__ import annotations

import pkgutil
import subprocess
import sys
from pathlib import Path

import opsconsole
import opsconsole.demo
import opsconsole.drills
import opsconsole.engine
import opsconsole.incidents
import opsconsole.sources

UI_FREE = [
    "opsconsole.cli.main",
    "opsconsole.config.model",
    "opsconsole.runbooks.model",
    "opsconsole.monitoring.service_state",
    "opsconsole.common.redact",
    "opsconsole.monitoring.monitor",
    "opsconsole.monitoring.board",
    "opsconsole.cli.status_report",
    *(f"opsconsole.sources.{m.name}" for m in pkgutil.iter_modules(opsconsole.sources.__path__)),
    *(f"opsconsole.demo.{m.name}" for m in pkgutil.iter_modules(opsconsole.demo.__path__)),
    *(f"opsconsole.engine.{m.name}" for m in pkgutil.iter_modules(opsconsole.engine.__path__)),
    *(f"opsconsole.drills.{m.name}" for m in pkgutil.iter_modules(opsconsole.drills.__path__)),
    *(
        f"opsconsole.incidents.{m.name}"
        for m in pkgutil.iter_modules(opsconsole.incidents.__path__)
    ),
]


def test_sources_and_core_never_import_textual() -> None:
    assert "opsconsole.sources.health" in UI_FREE
    assert "opsconsole.engine.runner" in UI_FREE
    assert "opsconsole.incidents.holding" in UI_FREE
    script = (
        "import importlib, sys\n"
        f"for name in {UI_FREE!r}: importlib.import_module(name)\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('textual', 'rich')))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_widgets_do_no_io() -> None:
    """Widgets render what screens give them: no client library or socket in sight.
    (They may import a source's result types, never run it.)"""
    forbidden = ("httpx", "socket", "urllib", "http", "psycopg", "redis", "docker", "asyncio")
    widgets = sorted((Path(opsconsole.__file__).parent / "tui" / "widgets").glob("*.py"))
    assert len(widgets) > 1
    for widget in widgets:
        imports = [
            line.split()[1]
            for line in widget.read_text().splitlines()
            if line.startswith(("import ", "from "))
        ]
        offending = [m for m in imports if m.split(".")[0] in forbidden]
        assert offending == [], widget.name
