"""The log tail as the user drives it: lines, filter, pause, following and its bound."""

from __future__ import annotations

from textual.app import App, ComposeResult
from textual.pilot import Pilot
from textual.widgets import Input, Log

from opsconsole.tui.widgets.log_tail import LogTail

SIZE = (80, 12)  # 10 rows of log, its horizontal scrollbar, the filter bar


class TailApp(App[None]):
    def __init__(self, max_lines: int = 5_000, lines: list[str] | None = None) -> None:
        super().__init__()
        self.max_lines = max_lines
        self.lines = lines or []
        self.escapes = 0

    def compose(self) -> ComposeResult:
        tail = LogTail(max_lines=self.max_lines)
        tail.add_lines(self.lines)  # before it is mounted
        yield tail

    def key_escape(self) -> None:
        """What Escape does when the tail has no use for it."""
        self.escapes += 1

    @property
    def tail(self) -> LogTail:
        return self.query_one(LogTail)

    @property
    def log_view(self) -> Log:
        return self.query_one(Log)

    def screen_lines(self) -> list[str]:
        """The log's rows as they are drawn, trailing blanks dropped."""
        view = self.log_view
        height = view.scrollable_content_region.height  # less the horizontal scrollbar
        rows = [view.render_line(y).text.rstrip() for y in range(height)]
        while rows and not rows[-1]:
            rows.pop()
        return rows


def numbered(start: int, stop: int, text: str = "line") -> list[str]:
    return [f"{text} {i}" for i in range(start, stop)]


async def type_filter(pilot: Pilot[None], text: str) -> None:
    """f to the filter, ctrl+u to empty it, the text, and Enter."""
    await pilot.press("f", "ctrl+u", *text, "enter")
    await pilot.pause()


async def test_lines_are_shown_and_the_view_follows_the_end() -> None:
    app = TailApp(lines=["first", ""])
    async with app.run_test(size=SIZE) as pilot:
        app.tail.add_lines(["tab\there", "carriage\rreturn"])
        await pilot.pause()
        # One line given is one line shown, blank or not.
        assert app.screen_lines() == ["first", "", "tab     here", "carriage\ufffdreturn"]
        assert app.tail.status == "4 lines"

        app.tail.add_lines(numbered(0, 30))
        await pilot.pause()
        assert app.screen_lines() == numbered(20, 30)
        assert app.tail.following


async def test_scrolled_up_the_view_stays_put_until_end() -> None:
    app = TailApp()
    async with app.run_test(size=SIZE) as pilot:
        app.tail.add_lines(numbered(0, 30))
        await pilot.pause()
        assert app.log_view.has_focus
        await pilot.press("home")
        app.tail.add_lines(numbered(30, 40))
        await pilot.pause()
        assert app.screen_lines() == numbered(0, 10)
        assert not app.tail.following
        assert app.tail.status == "scrolled up · End follows · 40 lines"

        await pilot.press("end")
        app.tail.add_lines(numbered(40, 45))
        await pilot.pause()
        assert app.screen_lines() == numbered(35, 45)
        assert app.tail.status == "45 lines"


async def test_substring_filter_narrows_and_escape_clears_it() -> None:
    app = TailApp()
    async with app.run_test(size=SIZE) as pilot:
        app.tail.add_lines(["GET /a 200", "ERROR db down", "GET /b 500", "error: retry", "ok"])
        await pilot.pause()

        await type_filter(pilot, "error")  # no capitals: any case
        assert app.screen_lines() == ["ERROR db down", "error: retry"]
        assert app.tail.status == '2 of 5 lines match "error"'
        assert app.log_view.has_focus  # Enter goes back to the log

        # New lines meet the filter as they come.
        app.tail.add_lines(["another ERROR", "fine"])
        await pilot.pause()
        assert app.screen_lines() == ["ERROR db down", "error: retry", "another ERROR"]

        await type_filter(pilot, "ERROR")  # a capital: exact case
        assert app.query_one(Input).value == "ERROR"
        assert app.screen_lines() == ["ERROR db down", "another ERROR"]

        await pilot.press("escape")
        await pilot.pause()
        assert app.screen_lines() == [
            "GET /a 200",
            "ERROR db down",
            "GET /b 500",
            "error: retry",
            "ok",
            "another ERROR",
            "fine",
        ]
        assert app.query_one(Input).value == ""
        assert app.tail.status == "7 lines"
        # Escape leaves the filter too; with nothing to clear nor leave, it is the screen's.
        await pilot.press("f")
        assert app.query_one(Input).has_focus
        await pilot.press("escape")
        assert app.log_view.has_focus
        assert app.escapes == 0
        await pilot.press("escape")
        assert app.escapes == 1


async def test_regex_filter_and_a_bad_one() -> None:
    app = TailApp()
    async with app.run_test(size=SIZE) as pilot:
        app.tail.add_lines(["GET /a 200", "GET /b 503", "POST /c 500", "GET /d 404"])
        await pilot.pause()

        await type_filter(pilot, "/ 5[0-9]{2}$/")
        assert app.screen_lines() == ["GET /b 503", "POST /c 500"]
        assert app.tail.status == "2 of 4 lines match / 5[0-9]{2}$/"

        # A bad regex is said, not raised; the filter in force stays, and so does the focus.
        await type_filter(pilot, "/(GET/")
        assert app.screen_lines() == ["GET /b 503", "POST /c 500"]
        assert app.tail.status.startswith("bad regex: missing ), unterminated subpattern")
        assert "filter unchanged" in app.tail.status
        assert app.tail.status.endswith("2 of 4 lines match / 5[0-9]{2}$/")
        assert app.query_one(Input).has_focus
        assert app.query_one(Input).has_class("-invalid")

        # Mended, it applies; the message goes.
        await pilot.press("left", ")")
        await pilot.press("enter")
        await pilot.pause()
        assert app.screen_lines() == ["GET /a 200", "GET /b 503", "GET /d 404"]
        assert app.tail.status == "3 of 4 lines match /(GET)/"
        assert not app.query_one(Input).has_class("-invalid")

        # A slash alone, or unclosed, is text to look for.
        await type_filter(pilot, "/b")
        assert app.screen_lines() == ["GET /b 503"]


async def test_pause_holds_new_lines_and_resume_shows_them() -> None:
    app = TailApp()
    async with app.run_test(size=SIZE) as pilot:
        app.tail.add_lines(numbered(0, 3))
        await pilot.pause()
        await pilot.press("p")
        assert app.tail.paused
        assert app.tail.status == "paused · 0 new lines"

        app.tail.add_lines(["one more"])
        app.tail.add_lines(numbered(3, 39))
        await pilot.pause()
        assert app.screen_lines() == numbered(0, 3)
        assert app.tail.status == "paused · 37 new lines"

        # A filter set while paused still holds the new lines back.
        app.tail.set_filter("/[02468]$/")
        await pilot.pause()
        assert app.screen_lines() == ["line 0", "line 2"]
        assert app.tail.status == "paused · 37 new lines · filter /[02468]$/"

        await pilot.press("p")
        await pilot.pause()
        assert not app.tail.paused
        assert app.screen_lines() == [f"line {i}" for i in range(20, 39, 2)]
        assert app.tail.shown == [f"line {i}" for i in range(0, 39, 2)]
        assert app.tail.status == "20 of 40 lines match /[02468]$/"


async def test_the_buffer_is_bounded() -> None:
    app = TailApp(max_lines=100)
    async with app.run_test(size=SIZE) as pilot:
        for start in range(0, 1000, 50):
            app.tail.add_lines(numbered(start, start + 50))
        await pilot.pause()
        assert app.tail.shown == numbered(900, 1000)
        assert app.screen_lines() == numbered(990, 1000)
        assert app.tail.status == "100 lines"

        # Scrolled up, the lines read stay in place as the oldest go.
        await pilot.press("pageup")
        assert app.screen_lines() == numbered(980, 990)
        app.tail.add_lines(numbered(1000, 1020))
        await pilot.pause()
        assert app.screen_lines() == numbered(980, 990)
        assert app.tail.shown == numbered(920, 1020)
        await pilot.press("end")

        # Lines held back by a pause are bounded too.
        await pilot.press("p")
        app.tail.add_lines(numbered(1020, 1270))
        await pilot.pause()
        assert app.tail.status == "paused · 250 new lines"
        await pilot.press("p")
        await pilot.pause()
        assert app.tail.shown == numbered(1170, 1270)

        # A filter cleared shows the lines held, never more.
        app.tail.set_filter("line 12")
        await pilot.pause()
        assert app.tail.shown == numbered(1200, 1270)
        app.tail.set_filter("")
        await pilot.pause()
        assert app.tail.shown == numbered(1170, 1270)

        app.tail.clear()
        await pilot.pause()
        assert app.tail.shown == []
        assert app.tail.status == "0 lines"


class WrappingApp(TailApp):
    def compose(self) -> ComposeResult:
        tail = LogTail(max_lines=self.max_lines, wrap=True)
        tail.add_lines(self.lines)  # before it is laid out: wrapped once it is
        yield tail


DOCKER_ERROR = (
    "docker: Error response from daemon: driver failed programming external connectivity "
    "on endpoint backend: Bind for 0.0.0.0:8080 failed: port is already allocated."
)


async def test_a_line_wider_than_the_view_goes_on_below_it_whole() -> None:
    """The wizard's output at 80x24 is some 46 columns wide: an error's end was cut off."""
    app = WrappingApp(lines=["short", DOCKER_ERROR])
    async with app.run_test(size=(40, 12)) as pilot:
        await pilot.pause()
        rows = app.screen_lines()
        assert rows[0] == "short"
        assert rows[1] == DOCKER_ERROR[:38]  # 40 columns less the scroll bar's 2
        assert all(row.startswith("↪ ") and len(row) <= 38 for row in rows[2:])
        drawn = app.tail.rows  # as drawn, spaces at a row's end kept
        assert "".join([drawn[1], *(row[2:] for row in drawn[2:])]) == DOCKER_ERROR
        assert app.tail.shown == ["short", DOCKER_ERROR]  # lines, not rows
        assert app.tail.status == "2 lines"

        await pilot.resize_terminal(100, 12)  # wider: wrapped again, in fewer rows
        await pilot.pause()
        wide = app.screen_lines()
        assert wide[1] == DOCKER_ERROR[:98]
        assert wide[2:] == ["↪ " + DOCKER_ERROR[98:]]


async def test_wrapped_lines_leave_whole_when_the_bound_is_reached() -> None:
    app = WrappingApp(max_lines=3)
    async with app.run_test(size=(40, 12)) as pilot:
        app.tail.add_lines([DOCKER_ERROR, "b", "c", "d"])
        await pilot.pause()
        assert app.screen_lines() == ["b", "c", "d"]  # no row of the error is left behind
        app.tail.add_lines([DOCKER_ERROR])
        await pilot.pause()
        rows = app.screen_lines()
        assert rows[:2] == ["c", "d"]
        assert rows[2] == DOCKER_ERROR[:38]

        await type_filter(pilot, "Bind")  # the count is of lines, whatever rows they take
        assert app.tail.status == '1 of 3 lines match "Bind"'
        assert app.screen_lines()[0] == DOCKER_ERROR[:38]
