"""One service up close: its health answer, metric history, container and live logs."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import Header, Sparkline, Static

from opsconsole.common.readable import latency
from opsconsole.common.redact import redact_url
from opsconsole.config.model import ServiceSection
from opsconsole.monitoring.board import Board, Trend
from opsconsole.monitoring.monitor import Monitor
from opsconsole.sources.base import describe_error
from opsconsole.sources.readings import STOPPED, UNKNOWN, ContainerStatus
from opsconsole.tui.widgets import formats
from opsconsole.tui.widgets.footer import KeysFooter
from opsconsole.tui.widgets.log_tail import LogTail
from opsconsole.tui.widgets.services_table import service_row

LOG_HISTORY_LINES = 200
# Between two follows of a container's logs: it exited and may be restarted, or the
# daemon went away and may come back.
FOLLOW_AGAIN_SECONDS = 3.0


class ServiceScreen(Screen[None]):
    DEFAULT_CSS = """
    #service-top {
        height: 11;
        /* A reason to read whole, before the health answer's body. */
        &.-explained { height: 14; }
    }

    #service-bottom {
        height: 1fr;
    }

    #logs {
        width: 2fr;
        border: round $panel-lighten-2;
        border-title-style: bold;
    }

    #service-health {
        width: 1fr;
        border: round $primary;
        border-title-style: bold;
        padding: 0 1;
    }

    #service-summary {
        height: 3;
    }

    #service-health Sparkline {
        height: 1;
    }

    /* One line each, so a long reason cannot push the trends out of the pane. */
    #p95-figures, #error-figures, #request-rate {
        height: 1;
        text-wrap: nowrap;
        text-overflow: ellipsis;
    }

    #service-side {
        width: 1fr;
    }

    #service-container {
        height: 1fr;
        &.-beside-metrics { height: auto; }
        border: round $panel-lighten-2;
        border-title-style: bold;
        padding: 0 1;
    }

    /* Why a figure is missing, whole: the figure lines are cut at the pane's width. */
    #service-metrics {
        display: none;
        height: 1fr;
        border: round $warning;
        border-title-style: bold;
        padding: 0 1;
        &.-shown { display: block; }
    }

    #service-body {
        width: 1fr;
        height: 1fr;
        border: round $panel-lighten-2;
        border-title-style: bold;
        padding: 0 1;
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,backspace", "app.pop_screen", "Back"),
    ]

    def __init__(self, monitor: Monitor, board: Board, name: str) -> None:
        super().__init__()
        self.monitor = monitor
        self.board = board
        self.service = board.services[name]
        self._stop_following = threading.Event()
        # Lines arrive on the follow thread; the UI takes them in batches, a few times a
        # second, rather than one message a line from a chatty container.
        self._arrived: list[str] = []
        self._arrived_lock = threading.Lock()
        self._shown: dict[str, object] = {}

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="service-top"):
            with Vertical(id="service-health") as health:
                health.border_title = f"{self.service.name}: health"
                yield Static(id="service-summary", markup=False)
                # Each trend under the figures it draws: a sparkline alone has no scale.
                yield Static(id="p95-figures", markup=False)
                yield Sparkline([], id="p95-history")
                yield Static(id="error-figures", markup=False)
                yield Sparkline([], id="error-history")
                yield Static(id="request-rate", markup=False)
            with Vertical(id="service-side"):
                container = Static(id="service-container", markup=False)
                container.border_title = f"container {self.service.container or ''}".rstrip()
                yield container
                why = Static(id="service-metrics", markup=False)
                why.border_title = "metrics"
                yield why
        with Horizontal(id="service-bottom"):
            with VerticalScroll(id="service-body") as body:
                body.border_title = "health answer"
                yield Static(id="service-body-text", markup=False)
            if self._follows_logs:
                logs = LogTail(id="logs")
                logs.border_title = f"logs {self.service.container} · f filter · p pause"
                yield logs
        yield KeysFooter()

    @property
    def _follows_logs(self) -> bool:
        return bool(self.service.container) and self.monitor.docker_for(self.service) is not None

    def on_mount(self) -> None:
        self.sub_title = self.app.sub_title
        self._redraw()
        # The dashboard keeps polling underneath; this screen reads what it files.
        self.set_interval(1.0, self._redraw)
        if self._follows_logs:
            self.set_interval(0.2, self._take_log_lines)
            self.run_worker(self._follow_logs, thread=True, group="logs", description="follow logs")

    def on_unmount(self) -> None:
        self._stop_following.set()

    # -- logs: followed in a thread, shown in batches -----------------------------------

    def _follow_logs(self) -> None:
        docker, container = self.monitor.docker_for(self.service), self.service.container
        if docker is None or container is None:
            return
        history, said = LOG_HISTORY_LINES, ""
        while not self._stop_following.is_set():
            try:
                why = docker.follow_logs(
                    container, history, self._line_arrived, self._stop_following
                )
            except Exception as error:  # the daemon is down, or the container gone
                # Its host out of reach: ssh's words, not the transport's broken pipe.
                why = self._host_unreachable() or describe_error(error)
            if why == STOPPED:
                return
            if why != said:  # an exited container ends every follow: say so once
                self._line_arrived(f"── {why}; watching for it to come back ──")
                said = why
            # History was shown once; after a restart only what is new.
            history = 0
            self._stop_following.wait(FOLLOW_AGAIN_SECONDS)

    def _host_unreachable(self) -> str | None:
        """Why the host that runs the container cannot be reached, as its poll said it."""
        status = self.board.container(self.service.name)
        if status is None or status.unreachable is None:
            return None
        # This machine's engine says so itself ("this machine's docker: ...").
        return f"{status.host}: {status.unreachable}" if status.host else status.unreachable

    def _line_arrived(self, line: str) -> None:
        with self._arrived_lock:
            self._arrived.append(line)

    def _take_log_lines(self) -> None:
        with self._arrived_lock:
            lines, self._arrived = self._arrived, []
        if lines:
            self.query_one(LogTail).add_lines(lines)

    def _redraw(self) -> None:
        now = datetime.now(UTC)
        self._show("#service-summary", self._summary(now))
        history = self.board.history[self.service.name]
        self._show_trend("#p95-history", history.p95)
        self._show_trend("#error-history", history.error_rate)
        p95, errors, request_rate = metric_lines(self.board, self.service)
        self._show("#p95-figures", p95)
        self._show("#error-figures", errors)
        self._show("#request-rate", request_rate)
        why = self.board.metrics_error(self.service.name)
        measured = self.board.service_metrics(self.service.name)
        why = (measured.stale if measured else None) or why
        self._show("#service-metrics", Text(why or ""))
        self.query_one("#service-metrics").set_class(bool(why), "-shown")
        self.query_one("#service-container").set_class(bool(why), "-beside-metrics")
        self.query_one("#service-top").set_class(bool(why), "-explained")
        self._show(
            "#service-container",
            container_text(self.board.container(self.service.name), self._docker_state()),
        )
        check = self.board.statuses[self.service.name].latest
        self._show(
            "#service-body-text", Text(check.body if check and check.body else "(no answer)")
        )

    def _show(self, selector: str, content: Text) -> None:
        """Repaints a part only when what it says changed: this redraws every second."""
        key = (content.plain, tuple(content.spans), str(content.style))
        if self._shown.get(selector) != key:
            self._shown[selector] = key
            self.query_one(selector, Static).update(content)

    def _summary(self, now: datetime) -> Text:
        row = service_row(self.board, self.service.name, now)
        status = self.board.statuses[self.service.name]
        check = status.latest
        lines = [
            Text.assemble(row["health"], f"  for {row['for']}" if row["for"] else ""),
            Text(redact_url(self.service.health_url), style=formats.LOOK.quiet),
        ]
        if check is not None:
            answer = f"HTTP {check.status_code}" if check.status_code else "no answer"
            took = f" in {latency(check.latency)}" if check.latency is not None else ""
            lines.append(Text(f"{answer}{took} · {check.reason or 'ok'}"))
        return Text("\n").join(lines)

    def _show_trend(self, selector: str, trend: Trend) -> None:
        data = [value for _, value in trend.samples]
        sparkline = self.query_one(selector, Sparkline)
        if sparkline.data != data:
            sparkline.data = data

    def _docker_state(self) -> str | None:
        """Why there are no container figures, when there are none."""
        if not self.service.container:
            return "no container configured for this service"
        if self.monitor.docker_for(self.service) is None:
            return 'Docker not configured: add [docker] base_url = "…", or its [[hosts]]'
        tracked = self.board.containers
        if tracked.latest is not None and tracked.latest.error:
            return f"{formats.BAD} Docker unreachable: {tracked.latest.error}"
        return None


def metric_lines(board: Board, service: ServiceSection) -> tuple[Text, Text, Text]:
    """The P95 line, the errors line, the request rate of a service's screen."""
    history = board.history[service.name]
    measured = board.service_metrics(service.name)
    # A figure missing says why: the source's reason (a name or label it does not hold),
    # else no traffic in the window.
    why = board.metrics_error(service.name)
    if measured is None:
        said = f"metrics: {why}" if why else "no metrics"
        return (
            Text(f"P95 — {said}", style=formats.LOOK.quiet),
            Text("errors —", style=formats.LOOK.quiet),
            Text(),
        )
    p95_limit = board.config.p95_threshold(service)
    err_limit = board.config.error_rate_threshold(service)
    said = f"— metrics: {why}" if why else f"— {measured.note or 'no requests in the window'}"
    missing = Text(said, style=formats.LOOK.quiet)
    p95 = (
        figure_line("P95", measured.p95_seconds, p95_limit, history.p95, formats.seconds)
        if measured.p95_seconds is not None
        else Text.assemble("P95 ", missing)
    )
    errors = (
        figure_line("errors", measured.error_rate, err_limit, history.error_rate, formats.percent)
        if measured.error_rate is not None
        else Text.assemble("errors ", missing)
    )
    return p95, errors, Text(f"{formats.rate(measured.request_rate)} req/s")


def figure_line(
    label: str, value: float, limit: float, trend: Trend, shown: Callable[[float], str]
) -> Text:
    """`P95 350ms (max 1.2s) < 2s`: now, the worst of the history, and the threshold."""
    worst = max((v for _, v in trend.samples), default=None)
    return Text.assemble(
        f"{label} ",
        formats.judged(shown(value), value > limit),
        f" (max {shown(worst)})" if worst is not None else "",
        f" < {shown(limit)}",
    )


def container_text(container: ContainerStatus | None, problem: str | None) -> Text:
    if container is None:
        return Text(problem or "… waiting for Docker", style=formats.LOOK.quiet)
    if container.unreachable is not None:
        # What was last seen, said as such: its engine cannot be asked now. Never seen:
        # nothing to show, and no figures made up.
        where = f"{container.host}: " if container.host else ""  # this machine's says so
        said = Text(f"{formats.BAD} {where}{container.unreachable}")
        if container.state == UNKNOWN:
            return Text("\n").join([said, Text("not seen yet", style=formats.LOOK.quiet)])
        figures = container_text(replace(container, unreachable=None), problem)
        figures.stylize(formats.LOOK.quiet)
        return Text("\n").join([said, Text("last known:", style=formats.LOOK.quiet), figures])
    lines = [
        Text.assemble(
            "state ",
            formats.judged(container.state, container.state != "running"),
            f" ({container.health})" if container.health else "",
        ),
        Text(f"restarts {container.restart_count}"),
        Text.assemble("OOMKilled ", formats.judged("yes", True) if container.oom_killed else "no"),
    ]
    if container.exit_code is not None:
        lines.append(Text(f"exit code {container.exit_code}"))
    if container.cpu_percent is not None:
        lines.append(Text(f"CPU {significant_percent(container.cpu_percent)}"))
    if container.memory_bytes is not None:
        limit = (
            f" of {formats.size(container.memory_limit_bytes)}"
            if container.memory_limit_bytes
            else ""
        )
        lines.append(Text(f"memory {formats.size(container.memory_bytes)}{limit}"))
    if container.started_at:
        lines.append(Text(f"started {container.started_at[:19].replace('T', ' ')} UTC"))
    if problem:
        lines.append(Text(f"{problem}; last known above", style=formats.LOOK.quiet))
    return Text("\n").join(lines)


def significant_percent(value: float) -> str:
    return f"{formats.significant(value)}%"
