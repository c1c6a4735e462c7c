"""The runbook library, ``runbooks.toml``: its schema, where it is found, how it loads.

This is the first slice of the schema; the runbook engine grows it. Commands are argv
lists whose elements may hold ``{param}`` placeholders, rendered per element and never
joined into a shell string.
"""

from __future__ import annotations

import os
import re
from collections.abc import Generator, Iterable, Iterator, Mapping
from importlib import resources
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from opsconsole.documents.load import Finding, load_document
from opsconsole.documents.positions import PathKey
from opsconsole.runbooks.placeholders import placeholders
from opsconsole.runbooks.quoting import Context, Slot, promql_slots, shell_slots, sql_slots

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
    type: Literal["string", "integer", "number", "boolean"] = "string"
    default: str | int | float | bool | None = None
    pattern: str | None = None
    """A value must match this regular expression in full."""
    choices: list[str] | None = None
    secret: bool = False
    """Its value is redacted wherever output is shown or stored."""


class Condition(Strict):
    """`value` (a template: "{param}", "{captured}" or text) compared one way or more;
    every comparison given must hold."""

    value: str
    equals: str | int | float | bool | None = None
    not_equals: str | int | float | bool | None = None
    matches: str | None = None
    """A regular expression the value must contain a match of."""
    above: float | str | None = None
    below: float | str | None = None
    at_least: float | str | None = None
    """Each a number, or a number parameter of the runbook ("{disk_percent}"): a limit
    the run was given."""
    one_of: list[str] | None = None


class Retry(Strict):
    count: Annotated[int, Field(ge=1, le=100)]
    delay_seconds: Annotated[float, Field(ge=0, le=3600)] = 1.0


class Expect(Strict):
    """What a successful run of a command looks like. By default: exit code 0."""

    exit_codes: Annotated[list[int], Field(min_length=1)] = [0]
    output_matches: str | None = None
    """A regular expression its output must contain a match of."""
    json_path: str | None = None
    """A dotted path (`status`, `checks.db.status`, `items.0.name`) into JSON output."""
    equals: str | int | float | bool | None = None
    above: float | None = None
    below: float | None = None
    """With json_path: a condition on the value there; without it, on the whole output."""


class Capture(Strict):
    """A value taken from a command's output into a variable later steps can use."""

    name: Annotated[str, Field(pattern=r"^[a-z_][a-z0-9_]*$")]
    pattern: str | None = None
    """A regular expression with one group: the first match's group is the value."""
    json_path: str | None = None


class Goto(Strict):
    goto: Id


class StepBase(Strict):
    id: Id
    title: str
    description: str = ""
    when: list[Condition] = []
    """Run only when all hold; otherwise the step is skipped (and recorded as such)."""
    next: Id | None = None
    """The step after this one, when it is not the next in the list: where a branch joins."""


class CommandStep(StepBase):
    kind: Literal["command"]
    argv: Annotated[list[str], Field(min_length=1)]
    shell: bool = False
    """Opt-in for a pipe: argv is then one script for `sh -c`, every parameter quoted."""
    timeout_seconds: Annotated[float, Field(gt=0, le=86400)] = 60.0
    retry: Retry | None = None
    expect: Expect = Expect()
    capture: list[Capture] = []
    destructive: bool = False
    on_failure: Literal["stop", "continue"] | Goto = "stop"
    verifies: bool = False
    """Its passing is the evidence the fault is gone: with an incident open, the console
    then proposes MONITORING, runs it again on its own, and proposes RESOLVED once it has
    held ([incidents] hold_minutes)."""
    confirm: str | None = None
    """A destructive step's: what the operator types to run it, as a template ("{container}"):
    the name of what it acts on. Without it, the last parameter in argv."""
    host: str | None = None
    """Where it runs, as a template ("{service_host}"): a host of the configuration's
    [[hosts]], reached over ssh; this machine when absent or rendered empty (a service
    that runs here)."""


class CheckStep(StepBase):
    """A probe of the stack, judged against a condition: no command line involved."""

    kind: Literal["check"]
    probe: Literal["http", "promql", "sql", "redis"]
    target: str
    """The URL (http), the query (promql, sql) or the Redis command (redis: "GET key")."""
    on: str | None = None
    """The backend the probe asks, when it is the one the runbook's commands act on, not the
    console's own: "postgresql://{pg_user}@{pg_host}:{pg_port}/{pg_db}" (sql),
    "redis://{redis_host}:{redis_port}/{redis_db}" (redis), Prometheus's base URL (promql).
    No password in it: the configured backend's when it is the same server, else the
    environment's (PGPASSWORD, REDISCLI_AUTH), as psql and redis-cli take them."""
    expect: Expect = Expect()
    capture: list[Capture] = []
    on_failure: Literal["stop", "continue"] | Goto = "stop"
    verifies: bool = False
    """Its passing is the evidence the fault is gone: with an incident open, the console
    then proposes MONITORING, runs it again on its own, and proposes RESOLVED once it has
    held ([incidents] hold_minutes)."""
    within_seconds: Annotated[float, Field(gt=0, le=3600)] | None = None
    """Asked again until its expectation holds, for this long after the first try: a
    check right after a fix, over a window that still holds the fault."""
    pause_seconds: Annotated[float, Field(ge=0, le=3600)] = 0
    """Waited before the first try: the fix takes effect first."""
    every_seconds: Annotated[float, Field(gt=0, le=600)] = 10
    """Between tries, with `within_seconds`."""


class ManualStep(StepBase):
    kind: Literal["manual"]
    checklist: list[str] = []


class Answer(Strict):
    label: str
    goto: Id
    when: list[Condition] = []
    """The evidence for this answer: when all hold (on what the run captured), the decision
    proposes it, shown with these values; the first answer whose conditions hold is the
    one proposed. The operator confirms it with one key, or chooses another and says why."""


class DecisionStep(StepBase):
    kind: Literal["decision"]
    question: str
    answers: Annotated[list[Answer], Field(min_length=2)]


class NoteStep(StepBase):
    kind: Literal["note"]
    prompt: str


class RunbookStep(StepBase):
    """Runs another runbook of the library as one step (Rundeck's job reference): the
    outage runbook calls the service and database runbooks instead of repeating them."""

    kind: Literal["runbook"]
    runbook: Id
    params: dict[str, str] = {}
    """The called runbook's parameters, as templates of this run's values."""
    on_failure: Literal["stop", "continue"] | Goto = "stop"


Step = Annotated[
    CommandStep | CheckStep | ManualStep | DecisionStep | NoteStep | RunbookStep,
    Field(discriminator="kind"),
]

# The signals the dashboard watches, as `opsconsole status` names its breaches.
Signal = Literal[
    "health",
    "p95_seconds",
    "error_rate",
    "container_state",
    "oom_killed",
    "connections_ratio",
    "memory_ratio",
    "slow_query",
    "certificate_days",
    "backup_age",
    "target_down",
    "disk_use",
    "queue",
    "unreachable",
]


class Suggestion(Strict):
    """The console offers this runbook when a breach of `signal` shows on the dashboard;
    its subject (a service, "postgres", "redis", ...) fills the parameter `subject_param`."""

    signal: Signal
    subject: str | None = None
    """Only for this subject; any, when absent."""
    subject_param: Annotated[str, Field(pattern=r"^[a-z_][a-z0-9_]*$")] | None = None
    demo: bool = False
    """For the services of the embedded demo fleet (`opsconsole demo`), which take only
    the runbooks offered with this; no other service does."""


class Runbook(Strict):
    id: Id
    title: str
    summary: str
    severity: Severity = "P2"
    symptoms: list[str] = []
    tags: list[str] = []
    params: list[Param] = []
    suggest_when: list[Suggestion] = []
    steps: Annotated[list[Step], Field(min_length=1)]
    rollback: list[CommandStep] = []
    """Steps that undo what the runbook changed, run per `rollback_strategy`, even on abort."""
    rollback_strategy: Literal["on_failure", "always", "never"] = "on_failure"


class Library(Strict):
    runbooks: Annotated[list[Runbook], Field(min_length=1)]

    def get(self, runbook_id: str) -> Runbook | None:
        return next((book for book in self.runbooks if book.id == runbook_id), None)


BUILT_IN_CHECK_VALUES = frozenset({"since_fix"})
"""Placeholders a check step may use without declaring them: `{since_fix}`, the seconds
since the run's fix as a PromQL range (engine/checks.py)."""


BUILT_IN_CONFIRM_VALUES = frozenset({"hostname"})
"""What a destructive step's `confirm` may name without declaring it: `{hostname}`, the
host the command runs on (a prune, a renewal: what it acts on is the host)."""


def library_checks(library: Library) -> Iterator[Finding]:
    yield from _duplicates(
        [(("runbooks", n, "id"), book.id) for n, book in enumerate(library.runbooks)], "runbook id"
    )
    for number, book in enumerate(library.runbooks):
        yield from _runbook_checks(book, ("runbooks", number))
    yield from _calls_checks(library)


def _calls_checks(library: Library) -> Iterator[Finding]:
    """A runbook step names a runbook of the library and only parameters it declares, and
    no runbook calls itself, however indirectly, nor nests deeper than MAX_RUNBOOK_DEPTH."""
    books = {book.id: book for book in library.runbooks}

    def calls(book: Runbook) -> list[str]:
        return [s.runbook for s in book.steps if isinstance(s, RunbookStep) and s.runbook in books]

    def depth(book_id: str, seen: tuple[str, ...]) -> int | None:
        """How deep the calls from `book_id` go; None on a cycle."""
        if book_id in seen:
            return None
        deepest = 0
        for callee in calls(books[book_id]):
            below = depth(callee, (*seen, book_id))
            if below is None:
                return None
            deepest = max(deepest, below + 1)
        return deepest

    for number, book in enumerate(library.runbooks):
        for index, step in enumerate(book.steps):
            if not isinstance(step, RunbookStep):
                continue
            here = ("runbooks", number, "steps", index)
            callee = books.get(step.runbook)
            if callee is None:
                yield Finding((*here, "runbook"), f"no runbook '{step.runbook}' in the library")
                continue
            declared = {p.name for p in callee.params}
            for name in step.params:
                if name not in declared:
                    yield Finding(
                        (*here, "params", name),
                        f"runbook '{callee.id}' has no parameter '{name}'",
                    )
        how_deep = depth(book.id, ())
        if how_deep is None:
            yield Finding(("runbooks", number, "id"), f"runbook '{book.id}' calls itself")
        elif how_deep > MAX_RUNBOOK_DEPTH:
            yield Finding(
                ("runbooks", number, "id"),
                f"runbook '{book.id}' calls runbooks {how_deep} deep (at most {MAX_RUNBOOK_DEPTH})",
            )


def _runbook_checks(book: Runbook, at: PathKey) -> Iterator[Finding]:
    yield from _duplicates(
        [((*at, "params", n, "name"), p.name) for n, p in enumerate(book.params)], "parameter"
    )
    steps: list[tuple[PathKey, StepKind]] = [
        ((*at, "steps", n), step) for n, step in enumerate(book.steps)
    ] + [((*at, "rollback", n), step) for n, step in enumerate(book.rollback)]
    yield from _duplicates([((*here, "id"), step.id) for here, step in steps], "step id")
    step_ids = {step.id for step in book.steps}
    declared = {param.name for param in book.params}
    captured = {
        capture.name for _, step in steps if isinstance(step, CommandStep | CheckStep)
        for capture in step.capture
    }  # fmt: skip
    known = declared | captured
    used: set[str] = set()
    checks_know = known | BUILT_IN_CHECK_VALUES

    def templates(here: PathKey, step: StepKind) -> Iterator[tuple[PathKey, str]]:
        for number, condition in enumerate(step.when):
            yield (*here, "when", number, "value"), condition.value
            yield from limits((*here, "when", number), condition)
        if isinstance(step, CommandStep):
            for number, element in enumerate(step.argv):
                yield (*here, "argv", number), element
            if step.confirm is not None:
                yield (*here, "confirm"), step.confirm
            if step.host is not None:
                yield (*here, "host"), step.host
        if isinstance(step, DecisionStep):
            for number, answer in enumerate(step.answers):
                for each, condition in enumerate(answer.when):
                    yield (*here, "answers", number, "when", each, "value"), condition.value
                    yield from limits((*here, "answers", number, "when", each), condition)
        if isinstance(step, CheckStep):
            yield (*here, "target"), step.target
            if step.on is not None:
                yield (*here, "on"), step.on
        if isinstance(step, RunbookStep):
            for name, template in step.params.items():
                yield (*here, "params", name), template

    for here, step in steps:
        for where, text in templates(here, step):
            if where[-1] in LIMITS and (why := _limit_problem(text, book.params)):
                yield Finding(where, why)
            allowed = checks_know if isinstance(step, CheckStep) else known
            if where[-1] == "confirm":
                allowed = allowed | BUILT_IN_CONFIRM_VALUES
            for name in placeholders(text):
                used.add(name)
                if name not in allowed:
                    yield Finding(where, f"undefined parameter '{{{name}}}' in step '{step.id}'")
        yield from _step_checks(step, here, step_ids)
        if isinstance(step, CommandStep) and step.destructive:
            yield from _confirmation_checks(step, here, {p.name: p for p in book.params})
    for number, suggestion in enumerate(book.suggest_when):
        if suggestion.subject_param is not None:
            used.add(suggestion.subject_param)
            if suggestion.subject_param not in declared:
                yield Finding(
                    (*at, "suggest_when", number, "subject_param"),
                    f"undefined parameter '{suggestion.subject_param}'",
                )
    for number, param in enumerate(book.params):
        here = (*at, "params", number)
        if param.name not in used:
            yield Finding(
                (*here, "name"), f"parameter '{param.name}' is not used by any step of '{book.id}'"
            )
        yield from _regex_check((*here, "pattern"), param.pattern)
        if param.default is not None and (why := param_problem(param, str(param.default))):
            yield Finding((*here, "default"), f"default of '{param.name}' {why}")


def _limit_problem(text: str, params: list[Param]) -> str | None:
    """Why a limit written as text cannot be compared with; None when it can: exactly one
    parameter of the runbook that holds a number ("{disk_percent}")."""
    match = re.fullmatch(r"\{([a-z_][a-z0-9_]*)\}", text)
    kinds = {param.name: param.type for param in params}
    if match is None or kinds.get(match[1]) not in ("integer", "number"):
        return f"a limit is a number (unquoted), or an integer or number parameter: not '{text}'"
    return None


LIMITS = ("above", "below", "at_least")


def limits(where: PathKey, condition: Condition) -> Iterator[tuple[PathKey, str]]:
    """A condition's limits given as templates ("{disk_percent}"), where they are."""
    for word in LIMITS:
        limit = getattr(condition, word)
        if isinstance(limit, str):
            yield (*where, word), limit


StepKind = CommandStep | CheckStep | ManualStep | DecisionStep | NoteStep | RunbookStep
MAX_RUNBOOK_DEPTH = 3
"""How deep runbooks may call runbooks: the outage runbook calls a service's, which
calls no further; deeper is a design to flatten."""


def _step_checks(step: StepKind, here: PathKey, step_ids: set[str]) -> Iterator[Finding]:
    for number, condition in enumerate(step.when):
        yield from _regex_check((*here, "when", number, "matches"), condition.matches)
    if step.next is not None and step.next not in step_ids:
        yield Finding((*here, "next"), f"step '{step.id}' goes on to unknown step '{step.next}'")
    if isinstance(step, CommandStep):
        if step.destructive and not step.description.strip():
            yield Finding(
                (*here, "destructive"),
                f"destructive step '{step.id}' needs a description of what it changes",
            )
        if step.destructive and step.verifies:
            yield Finding(
                (*here, "verifies"),
                f"step '{step.id}' is destructive: a verifying step is run again on its own",
            )
        if step.shell and len(step.argv) != 1:
            yield Finding(
                (*here, "argv"), f"step '{step.id}' has shell = true: argv must be one script"
            )
        elif step.shell:
            yield from _unsafe_slots((*here, "argv", 0), step.id, shell_slots(step.argv[0]))
    if isinstance(step, CheckStep) and step.probe in _QUERY_SLOTS:
        slots = _QUERY_SLOTS[step.probe](step.target)
        yield from _unsafe_slots((*here, "target"), step.id, slots)
    if isinstance(step, CommandStep | CheckStep):
        yield from _regex_check((*here, "expect", "output_matches"), step.expect.output_matches)
        for number, capture in enumerate(step.capture):
            where = (*here, "capture", number)
            if (capture.pattern is None) == (capture.json_path is None):
                yield Finding(where, f"capture '{capture.name}' needs a pattern or a json_path")
            elif capture.pattern is not None:
                compiled = yield from _regex_check((*where, "pattern"), capture.pattern)
                if compiled is not None and compiled.groups != 1:
                    yield Finding(
                        (*where, "pattern"),
                        f"capture '{capture.name}': the pattern needs exactly one group",
                    )
    on_failure = getattr(step, "on_failure", None)
    if isinstance(on_failure, Goto) and on_failure.goto not in step_ids:
        yield Finding(
            (*here, "on_failure", "goto"),
            f"step '{step.id}' goes to unknown step '{on_failure.goto}' on failure",
        )
    if isinstance(step, DecisionStep):
        for answer_number, answer in enumerate(step.answers):
            for each, condition in enumerate(answer.when):
                where = (*here, "answers", answer_number, "when", each, "matches")
                yield from _regex_check(where, condition.matches)
            if answer.goto not in step_ids:
                yield Finding(
                    (*here, "answers", answer_number, "goto"),
                    f"answer '{answer.label}' goes to unknown step '{answer.goto}'",
                )


def confirmation_names(step: CommandStep) -> list[str]:
    """The placeholders whose values the operator types to run a destructive step."""
    if step.confirm is not None:
        return placeholders(step.confirm)
    in_argv = [name for element in step.argv for name in placeholders(element)]
    return in_argv[-1:]


def _confirmation_checks(
    step: CommandStep, here: PathKey, params: Mapping[str, Param]
) -> Iterator[Finding]:
    """A typed confirmation is a check that the operator knows what they act on: a name
    they must read off the screen ("nl-fhir-production"), never a number ("5", the idle
    minutes) nor a step's id."""
    names = confirmation_names(step)
    where = (*here, "confirm") if step.confirm is not None else (*here, "destructive")
    if not names:
        yield Finding(
            where,
            f"destructive step '{step.id}' would ask the operator to type its own id: set "
            'confirm = "{param}" to the name of what it acts on',
        )
    for name in names:
        param = params.get(name)
        if param is None:
            continue  # a captured value: its kind is known only at run time
        number = param.type in ("integer", "number", "boolean") or (
            param.default is not None and re.fullmatch(r"[0-9.]+", str(param.default))
        )
        if number:
            yield Finding(
                where,
                f"destructive step '{step.id}' would ask the operator to type {{{name}}}, "
                f'which is not a name ({param.default!r}): set confirm = "{{param}}" to the '
                "name of what it acts on",
            )


_QUERY_SLOTS = {"sql": sql_slots, "promql": promql_slots}


def _unsafe_slots(where: PathKey, step_id: str, slots: Iterable[Slot]) -> Iterator[Finding]:
    for slot in slots:
        if slot.context is Context.UNSAFE:
            yield Finding(
                where,
                f"step '{step_id}': {{{slot.name}}} stands {slot.why}, where no value can "
                "be quoted safely",
                offset=slot.start,
            )


def _regex_check(
    where: PathKey, pattern: str | None
) -> Generator[Finding, None, re.Pattern[str] | None]:
    if pattern is None:
        return None
    try:
        return re.compile(pattern)
    except re.error as error:
        yield Finding(where, f"not a regular expression: {error}")
        return None


def param_problem(param: Param, value: str) -> str | None:
    """Why `value` is not acceptable for `param`; None when it is."""
    if param.type == "integer" and not re.fullmatch(r"-?[0-9]+", value):
        return "must be a whole number"
    if param.type == "number":
        try:
            float(value)
        except ValueError:
            return "must be a number"
    if param.type == "boolean" and value not in ("true", "false", "True", "False"):
        return "must be true or false"
    if param.choices is not None and value not in param.choices:
        return "must be one of " + ", ".join(param.choices)
    if param.pattern is not None:
        try:
            if not re.fullmatch(param.pattern, value):
                return f"must match {param.pattern}"
        except re.error:
            return None  # reported where the pattern is
    return None


def _duplicates(named: list[tuple[PathKey, str]], what: str) -> Iterator[Finding]:
    first: dict[str, PathKey] = {}
    for path, name in named:
        if name in first:
            yield Finding(path, f"duplicate {what} '{name}'")
        first.setdefault(name, path)


def shipped_runbooks() -> Path:
    """The library that ships inside the package (the top-level runbooks.toml)."""
    return Path(str(resources.files("opsconsole.runbooks") / RUNBOOKS_FILENAME))


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
