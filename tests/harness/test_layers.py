"""The layout keeps its promises: the layers contracts (import-linter, pyproject.toml) hold,
no class outgrows one job, and each command loads only what it needs: `--version`,
`--help` and `check` no Textual and no backend client, the dashboard a backend's client
only when its section is configured, and drills only in drill mode."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import grimp
import pytest

import opsconsole
from tests.support.commands import OPSCONSOLE

SOURCE = Path(opsconsole.__file__).parent
BIN = Path(sys.executable).parent
BACKEND_CLIENTS = ("aiohttp", "docker", "psycopg", "redis", "prometheus_api_client", "requests")
LARGEST_CLASS_LINES = 250


def test_the_import_contracts_hold() -> None:
    result = subprocess.run(
        [str(BIN / "lint-imports"), "--no-cache"],
        cwd=SOURCE.parent.parent,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_no_module_imports_itself_through_others() -> None:
    """No cycle in the import graph, not even inside one package (the layers contract
    sees only arrows between them): every group of modules that reach each other."""
    graph = grimp.build_graph("opsconsole", exclude_type_checking_imports=True)
    order: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(module: str) -> None:  # Tarjan's strongly connected components
        order[module] = low[module] = len(order)
        stack.append(module)
        for imported in graph.find_modules_directly_imported_by(module):
            if imported not in order:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in stack:
                low[module] = min(low[module], order[imported])
        if low[module] == order[module]:
            group = [stack.pop()]
            while group[-1] != module:
                group.append(stack.pop())
            if len(group) > 1:
                cycles.append(sorted(group))

    for module in sorted(graph.modules):
        if module not in order:
            visit(module)
    assert len(order) > 100  # it read the graph
    assert cycles == []


def test_no_class_is_over_250_lines() -> None:
    sizes = {
        f"{path.relative_to(SOURCE)}:{node.name}": node.end_lineno - node.lineno + 1
        for path in SOURCE.rglob("*.py")
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.ClassDef) and node.end_lineno is not None
    }
    assert sizes  # it read the classes
    assert {name: n for name, n in sizes.items() if n > LARGEST_CLASS_LINES} == {}


def modules_loaded_by(args: list[str], cwd: Path) -> set[str]:
    """The top-level packages the real `opsconsole` process imported, as Python itself
    reports them (-X importtime writes one line per module on stderr)."""
    result = subprocess.run(
        [OPSCONSOLE, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPROFILEIMPORTTIME": "1"},
        stdin=subprocess.DEVNULL,
        timeout=60,
    )
    assert result.returncode in (0, 2), result.stdout + result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("import time:")]
    assert lines, result.stderr  # the report was read
    return {line.rsplit("|", 1)[1].strip().split(".")[0] for line in lines} | {
        line.rsplit("|", 1)[1].strip() for line in lines
    }


@pytest.mark.parametrize(
    "args", [["--version"], ["--help"], ["drill", "--help"], ["check"], ["demo", "--help"]]
)
def test_the_quick_commands_load_no_textual_and_no_backend_client(
    args: list[str], tmp_path: Path
) -> None:
    loaded = modules_loaded_by(args, tmp_path)
    assert "opsconsole" in loaded
    assert loaded & {"textual", "rich", *BACKEND_CLIENTS} == set()


DASHBOARD = """
import asyncio, sys
from opsconsole.config.model import Config
from opsconsole.tui.app import make_app

async def main() -> None:
    config = Config.model_validate({config!r})
    app = make_app(config)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause(1.0)
        await pilot.press("ctrl+p")  # every palette provider asked
        await pilot.pause(0.5)
asyncio.run(main())
print(" ".join(sorted(sys.modules)))
"""


def dashboard_modules(config: dict[str, object], tmp_path: Path) -> set[str]:
    """The modules a dashboard on `config` has loaded once it is up and polling."""
    script = tmp_path / "dashboard.py"
    script.write_text(textwrap.dedent(DASHBOARD.format(config=config)))
    result = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=60, cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    return set(result.stdout.split())


SERVICE = {"name": "api", "health_url": "http://127.0.0.1:9/health"}


def test_the_dashboard_loads_a_backend_client_only_for_a_configured_section(
    tmp_path: Path,
) -> None:
    health_only = dashboard_modules({"services": [SERVICE]}, tmp_path)
    assert "aiohttp" in health_only  # the health checks' own client
    for client in ("docker", "psycopg", "redis", "prometheus_api_client"):
        assert client not in health_only
    # Drills only in drill mode: the palette lists the scenarios, nothing runs one.
    drill_mode = {
        "opsconsole.drills.trainer",
        "opsconsole.drills.auto",
        "opsconsole.drills.postgres_faults",
        "opsconsole.drills.redis_faults",
        "opsconsole.drills.container_faults",
        "opsconsole.drills.oom",
        "opsconsole.demo.fleet",
    }
    assert drill_mode & health_only == set()

    with_redis = dashboard_modules(
        {"services": [SERVICE], "redis": {"url": "redis://127.0.0.1:9/0"}}, tmp_path
    )
    assert "redis" in with_redis
    assert {"docker", "psycopg", "prometheus_api_client"} & with_redis == set()
