"""What a runbook run emits: every step started, its output, how it ended, every answer
and confirmation. The incident log records these before anything shows them.

Each kind is its own type, and says in `describe()` what happened, in the words every
renderer uses: the wizard, `opsconsole run`, the incident log's timeline and a verifying
check's summary add only their own marks around it, so they never tell one fact two ways.
An incident log stores them as plain JSON (`to_record`), and `from_record` reads them back
from any log, however old: a key it lacks or does not know never stops a timeline."""

from __future__ import annotations

import functools
import types
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import MISSING, dataclass, field, fields
from datetime import UTC, datetime
from enum import StrEnum
from typing import (
    Any,
    ClassVar,
    Concatenate,
    ParamSpec,
    Protocol,
    TypeVar,
    Union,
    get_args,
    get_origin,
    get_type_hints,
)

from opsconsole.engine.process import OutputLine


class EventKind(StrEnum):
    RUN_STARTED = "run_started"
    STEP_STARTED = "step_started"
    OUTPUT = "output"
    STEP_FINISHED = "step_finished"
    STEP_SKIPPED = "step_skipped"
    CONFIRMED = "confirmed"
    REFUSED = "refused"
    DECIDED = "decided"
    CHECKLIST = "checklist"
    NOTE = "note"
    ROLLBACK_STARTED = "rollback_started"
    RUN_FINISHED = "run_finished"


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Event(ABC):
    kind: ClassVar[EventKind]
    runbook: str
    step: str | None
    """None for what concerns the whole run: its start, its rollback, its end."""
    operator: str
    at: datetime = field(default_factory=_now, kw_only=True)

    @abstractmethod
    def describe(self) -> str:
        """What happened, in a few words; the step's name and any mark are the renderer's."""

    def to_record(self) -> dict[str, Any]:
        """The event as an incident log stores it, in plain JSON types. A field at its
        default (None, False: what does not apply) is left out: `from_record` reads a
        missing key as that default, so a record with it and one without read the same."""
        record: dict[str, Any] = {"runbook": self.runbook, "step": self.step}
        for each in fields(self):
            value = getattr(self, each.name)
            if each.name in _BASE or (each.default is not MISSING and value == each.default):
                continue
            record[each.name] = list(value) if isinstance(value, tuple) else value
        return record


_BASE = frozenset(each.name for each in fields(Event))


def prompt(host: str | None, command: str) -> str:
    """A command as a shell prompt would show it: `app1 $ ...` on a host of [[hosts]]."""
    return f"{host} $ {command}" if host else f"$ {command}"


@dataclass(frozen=True)
class RunStarted(Event):
    kind: ClassVar[EventKind] = EventKind.RUN_STARTED
    params: dict[str, str]
    """Every parameter's value, secrets masked."""
    dry_run: bool
    read_only: bool
    environment: str

    def describe(self) -> str:
        how = ", dry run" if self.dry_run else ", read-only" if self.read_only else ""
        return f"started on {self.environment}{how}"


@dataclass(frozen=True)
class StepStarted(Event):
    """A command step's attempt, or a check step's probe, about to run."""

    kind: ClassVar[EventKind] = EventKind.STEP_STARTED
    command: str | None = None
    """The rendered command, redacted, as one shell-quoted line."""
    argv: tuple[str, ...] | None = None
    attempt: int | None = None
    """From 1; None where there are no attempts (a check, a dry run)."""
    dry_run: bool = False
    probe: str | None = None
    target: str | None = None
    confirm_with: str | None = None
    """A destructive command's: what the operator will type to run it (dry runs say so)."""
    seconds_left: float | None = None
    """A check that waits for the truth (`within_seconds`): how long it may still try."""
    pause: float | None = None
    """Seconds it waits before its first try."""
    host: str | None = None
    """The host of [[hosts]] the command runs on (over ssh); None for this machine."""

    def describe(self) -> str:
        what = (
            prompt(self.host, self.command)
            if self.command is not None
            else f"{self.probe} {self.target}"
        )
        if self.seconds_left is not None:
            paused = f"first in {self.pause:g} s, " if self.pause else ""
            left = f"{self.seconds_left:.0f} s left"
            return f"{what}  (try {self.attempt}, {paused}until it holds: {left})"
        if self.dry_run:
            if self.confirm_with is not None:
                return (
                    f"{what}  (DESTRUCTIVE: asks for {self.confirm_with!r}; dry run: not executed)"
                )
            return f"{what}  (dry run: not executed)"
        if self.attempt is not None and self.attempt > 1:
            return f"{what}  (attempt {self.attempt})"
        return what


@dataclass(frozen=True)
class Output(Event):
    kind: ClassVar[EventKind] = EventKind.OUTPUT
    lines: tuple[OutputLine, ...] = ()

    def describe(self) -> str:
        return f"{len(self.lines)} line{'' if len(self.lines) == 1 else 's'} of output"

    def marked(self) -> list[str]:
        """Each line as it reads on its own: stderr marked `! `, as every renderer marks it."""
        return [line.text if line.stream == "stdout" else f"! {line.text}" for line in self.lines]


@dataclass(frozen=True)
class StepFinished(Event):
    kind: ClassVar[EventKind] = EventKind.STEP_FINISHED
    error: str | None = None
    """Why the step failed; None when it did what it expects."""
    exit_code: int | None = None
    signal: int | None = None
    duration: float | None = None
    """Seconds the command ran; None for a check and a command that never ran."""
    value: str | None = None
    """What a check's probe saw, redacted."""
    command: str | None = None
    lines: int | None = None
    """How many lines of output; the artifact has them all."""
    artifact: str | None = None
    captured: dict[str, str] | None = None
    attempt: int | None = None
    dry_run: bool = False
    host: str | None = None
    output: tuple[str, ...] | None = None
    """The last lines of output, marked as `Output.marked`: only an incident log keeps
    them (its recorder adds them), so only an event read back from one has them."""

    @property
    def failed(self) -> bool:
        return self.error is not None

    def describe(self) -> str:
        if self.dry_run:
            return "not executed (dry run)"
        if self.error is not None:
            # Written to stand alone ("exit code 1, expected 0", "timed out after 5 s"):
            # the exit and the time said again before it would only bury it.
            return self.error
        parts = []
        if self.exit_code is not None:
            parts.append(f"exit {self.exit_code}")
        elif self.signal is not None:
            parts.append(f"signal {self.signal}")
        if self.value is not None:
            parts.append(f"value {self.value}")
        if self.duration is not None:
            parts.append(f"in {self.duration:.1f} s")
        return " ".join(parts) or "ok"


@dataclass(frozen=True)
class StepSkipped(Event):
    kind: ClassVar[EventKind] = EventKind.STEP_SKIPPED
    reason: str

    def describe(self) -> str:
        return f"skipped ({self.reason})"


@dataclass(frozen=True)
class Confirmed(Event):
    kind: ClassVar[EventKind] = EventKind.CONFIRMED
    command: str
    target: str
    """What the operator typed: the name of what the command acts on."""
    host: str | None = None

    def describe(self) -> str:
        on = f" on {self.host}" if self.host else ""
        return f"confirmed by {self.operator} ({self.target}){on}"


@dataclass(frozen=True)
class Refused(Event):
    kind: ClassVar[EventKind] = EventKind.REFUSED
    command: str
    reason: str
    host: str | None = None

    def describe(self) -> str:
        on = f" on {self.host}" if self.host else ""
        return f"refused{on} ({self.reason})"


@dataclass(frozen=True)
class Decided(Event):
    kind: ClassVar[EventKind] = EventKind.DECIDED
    question: str
    answer: str
    proposed: str | None = None
    """The answer the captured values pointed to, if any."""
    evidence: tuple[str, ...] | None = None
    reason: str | None = None
    """Why the operator chose another than the proposed answer."""

    def describe(self) -> str:
        said = f"{self.question} → {self.answer}"
        if self.proposed is None:
            return said
        seen = "; ".join(self.evidence or ())
        if self.proposed == self.answer:
            return f"{said} (as proposed: {seen})"
        return f"{said} (over the proposed {self.proposed!r}, from {seen}: {self.reason})"


@dataclass(frozen=True)
class Checklist(Event):
    kind: ClassVar[EventKind] = EventKind.CHECKLIST
    items: tuple[str, ...]
    done: bool

    def describe(self) -> str:
        return "checklist done" if self.done else "checklist not done"


@dataclass(frozen=True)
class Note(Event):
    kind: ClassVar[EventKind] = EventKind.NOTE
    prompt: str
    text: str

    def describe(self) -> str:
        return f"note by {self.operator}: {self.text or '(nothing written)'}"


@dataclass(frozen=True)
class RollbackStarted(Event):
    kind: ClassVar[EventKind] = EventKind.ROLLBACK_STARTED
    strategy: str
    dry_run: bool = False

    def describe(self) -> str:
        if self.dry_run:
            return f"the rollback, run {self.strategy.replace('_', ' ')} (dry run: not executed)"
        return f"rolling back ({self.strategy})"


@dataclass(frozen=True)
class RunFinished(Event):
    kind: ClassVar[EventKind] = EventKind.RUN_FINISHED
    outcome: str
    """completed, failed or aborted; a str, as a log may hold what a later version wrote."""
    reason: str

    def describe(self) -> str:
        return f"{self.outcome}: {self.reason}"


P = ParamSpec("P")
E = TypeVar("E", bound=Event)


class Emit(Protocol):
    """How a run emits: the kind of event, its step, and that kind's own fields, checked
    as its constructor checks them; the emitter adds the run's runbook and operator."""

    def __call__(
        self,
        kind: Callable[Concatenate[str, str | None, str, P], E],
        step: str | None,
        /,
        *args: P.args,
        **fields: P.kwargs,
    ) -> E: ...


KINDS: dict[str, type[Event]] = {
    each.kind: each
    for each in (
        RunStarted,
        StepStarted,
        Output,
        StepFinished,
        StepSkipped,
        Confirmed,
        Refused,
        Decided,
        Checklist,
        Note,
        RollbackStarted,
        RunFinished,
    )
}


def from_record(
    kind: str, data: Mapping[str, Any], *, operator: str = "?", at: datetime | None = None
) -> Event | None:
    """The typed event an incident log's record holds (`kind` without its `runbook.`
    prefix); None for a kind this version does not know. A key that is missing or holds
    the wrong type reads as its default, or as "?" where there is none: a log written by
    another version, or edited by hand, still reads."""
    cls = KINDS.get(kind)
    if cls is None:
        return None
    hints = _hints(cls)
    values: dict[str, Any] = {}
    for each in fields(cls):
        if each.name in _BASE:
            continue
        read = _read(hints[each.name], data.get(each.name))
        if read is not _UNREADABLE:
            values[each.name] = read
        elif each.default is not MISSING:
            values[each.name] = each.default
        else:
            values[each.name] = _blank(hints[each.name])
    runbook, step = data.get("runbook"), data.get("step")
    return cls(
        runbook if isinstance(runbook, str) else "?",
        step if isinstance(step, str) else None,
        operator,
        at=at or _now(),
        **values,
    )


_UNREADABLE = object()
# A timeline reads every runbook event of an incident on each redraw: the annotations of
# a kind are evaluated once, not once per event.
_hints = functools.cache(get_type_hints)


def _read(hint: Any, raw: object) -> object:
    """`raw` as the type `hint` names, or _UNREADABLE."""
    origin = get_origin(hint)
    if origin in (Union, types.UnionType):
        for option in get_args(hint):
            read = _read(option, raw)
            if read is not _UNREADABLE:
                return read
        return _UNREADABLE
    if hint is type(None):
        return None if raw is None else _UNREADABLE
    if hint is bool:
        return raw if isinstance(raw, bool) else _UNREADABLE
    if hint is int:
        return raw if isinstance(raw, int) and not isinstance(raw, bool) else _UNREADABLE
    if hint is float:
        if isinstance(raw, bool) or not isinstance(raw, int | float):
            return _UNREADABLE
        return float(raw)
    if hint is str:
        return raw if isinstance(raw, str) else _UNREADABLE
    if origin is tuple and isinstance(raw, list | tuple):
        item = get_args(hint)[0]
        read = [_read(item, value) for value in raw]
        return _UNREADABLE if _UNREADABLE in read else tuple(read)
    if origin is dict and isinstance(raw, dict):
        _, item = get_args(hint)
        entries = {key: _read(item, value) for key, value in raw.items()}
        unreadable = _UNREADABLE in entries.values() or not all(isinstance(k, str) for k in raw)
        return _UNREADABLE if unreadable else entries
    return _UNREADABLE


def _blank(hint: Any) -> object:
    """What a required field reads as when its record lacks it."""
    origin = get_origin(hint)
    if hint is str:
        return "?"
    if hint is bool:
        return False
    if origin is tuple:
        return ()
    if origin is dict:
        return {}
    raise TypeError(f"no blank for {hint!r}")  # a new field's type: give it one here
