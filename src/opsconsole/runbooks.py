"""The runbook library, ``runbooks.toml``: its schema, where it is found, how it loads.

This is the first slice of the schema; the runbook engine grows it. Commands are argv
lists whose elements may hold ``{param}`` placeholders, rendered per element and never
joined into a shell string.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping
from importlib import resources
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from opsconsole.tomldoc import Finding, load_document
from opsconsole.tomlpos import PathKey

RUNBOOKS_FILENAME = "runbooks.toml"
RUNBOOKS_ENV = "OPSCONSOLE_RUNBOOKS"

Id = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]*$", max_length=64)]
Severity = Literal["P0", "P1", "P2", "P3", "P4"]


class Strict(BaseModel):
    # strict: TOML has types, and "2" where a number belongs is a mistake to report.
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class Param(Strict):
    name: Annotated[str, Field(pattern=r"^[a-z_][a-z0-9_]*$")]
    description: str
    default: str | None = None
    pattern: str | None = None
    """A value must match this regular expression in full."""
    choices: list[str] | None = None
    secret: bool = False
    """Its value is redacted wherever output is shown or stored."""


class StepBase(Strict):
    id: Id
    title: str
    description: str = ""


class CommandStep(StepBase):
    kind: Literal["command"]
    argv: Annotated[list[str], Field(min_length=1)]
    timeout_seconds: Annotated[float, Field(gt=0, le=86400)] = 60.0
    destructive: bool = False
    on_failure: Literal["stop", "continue"] = "stop"


class ManualStep(StepBase):
    kind: Literal["manual"]
    checklist: list[str] = []


class Answer(Strict):
    label: str
    goto: Id


class DecisionStep(StepBase):
    kind: Literal["decision"]
    question: str
    answers: Annotated[list[Answer], Field(min_length=2)]


class NoteStep(StepBase):
    kind: Literal["note"]
    prompt: str


Step = Annotated[CommandStep | ManualStep | DecisionStep | NoteStep, Field(discriminator="kind")]


class Runbook(Strict):
    id: Id
    title: str
    summary: str
    severity: Severity = "P2"
    symptoms: list[str] = []
    tags: list[str] = []
    params: list[Param] = []
    steps: Annotated[list[Step], Field(min_length=1)]


class Library(Strict):
    runbooks: Annotated[list[Runbook], Field(min_length=1)]


# `{name}` alone; doubled braces stay literal, so Go templates such as docker's
# `--format {{.State.OOMKilled}}` are written as they are on the command line.
PLACEHOLDER = re.compile(r"(?<!\{)\{([A-Za-z_][A-Za-z0-9_]*)\}(?!\})")


def placeholders(text: str) -> list[str]:
    """The ``{name}`` placeholders of an argv element."""
    return PLACEHOLDER.findall(text)


def library_checks(library: Library) -> Iterator[Finding]:
    yield from _duplicates(
        [(("runbooks", n, "id"), book.id) for n, book in enumerate(library.runbooks)], "runbook id"
    )
    for number, book in enumerate(library.runbooks):
        yield from _runbook_checks(book, ("runbooks", number))


def _runbook_checks(book: Runbook, at: PathKey) -> Iterator[Finding]:
    yield from _duplicates(
        [((*at, "params", n, "name"), p.name) for n, p in enumerate(book.params)], "parameter"
    )
    yield from _duplicates(
        [((*at, "steps", n, "id"), s.id) for n, s in enumerate(book.steps)], "step id"
    )
    step_ids = {step.id for step in book.steps}
    declared = {param.name for param in book.params}
    used: set[str] = set()
    for number, step in enumerate(book.steps):
        here = (*at, "steps", number)
        if isinstance(step, CommandStep):
            for element_number, element in enumerate(step.argv):
                for name in placeholders(element):
                    used.add(name)
                    if name not in declared:
                        yield Finding(
                            (*here, "argv", element_number),
                            f"undefined parameter '{{{name}}}' in step '{step.id}'",
                        )
            if step.destructive and not step.description.strip():
                yield Finding(
                    (*here, "destructive"),
                    f"destructive step '{step.id}' needs a description of what it changes",
                )
        if isinstance(step, DecisionStep):
            for answer_number, answer in enumerate(step.answers):
                if answer.goto not in step_ids:
                    yield Finding(
                        (*here, "answers", answer_number, "goto"),
                        f"answer '{answer.label}' goes to unknown step '{answer.goto}'",
                    )
    for number, param in enumerate(book.params):
        if param.name not in used:
            yield Finding(
                (*at, "params", number, "name"),
                f"parameter '{param.name}' is not used by any step of '{book.id}'",
            )


def _duplicates(named: list[tuple[PathKey, str]], what: str) -> Iterator[Finding]:
    first: dict[str, PathKey] = {}
    for path, name in named:
        if name in first:
            yield Finding(path, f"duplicate {what} '{name}'")
        first.setdefault(name, path)


def shipped_runbooks() -> Path:
    """The library that ships inside the package (the top-level runbooks.toml)."""
    return Path(str(resources.files("opsconsole") / RUNBOOKS_FILENAME))


def find_runbooks(
    explicit: Path | None, configured: Path | None, env: Mapping[str, str] | None = None
) -> Path:
    """First of: --runbooks, $OPSCONSOLE_RUNBOOKS, [console] runbooks, ./runbooks.toml,
    the shipped library."""
    env = os.environ if env is None else env
    if explicit is not None:
        return explicit
    if env.get(RUNBOOKS_ENV):
        return Path(env[RUNBOOKS_ENV])
    if configured is not None:
        return configured
    local = Path(RUNBOOKS_FILENAME)
    return local if local.is_file() else shipped_runbooks()


def load_runbooks(path: Path) -> Library:
    """The library at ``path``, or ProblemsFound listing every problem in it."""
    return load_document(path, Library, checks=library_checks)
