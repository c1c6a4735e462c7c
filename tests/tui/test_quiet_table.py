"""The services table repaints only the cells that changed, and what it paints is the new
text: read back from the table's own rendering, through the caches it keeps."""

from __future__ import annotations

from textual.app import App, ComposeResult

from opsconsole.tui.widgets.quiet_table import QuietTable

ROWS = ("one", "two", "three")


class TableApp(App[None]):
    def compose(self) -> ComposeResult:
        yield QuietTable(cursor_type="row")

    def on_mount(self) -> None:
        table = self.query_one(QuietTable)
        for column in ("a", "b", "c"):
            table.add_column(column.upper(), key=column)
        for row in ROWS:
            table.add_row(f"{row}-a", f"{row}-b", f"{row}-c", key=row)


def lines(table: QuietTable) -> list[str]:
    return [table.render_line(y).text.rstrip() for y in range(len(ROWS) + 1)]


async def test_a_changed_cell_shows_its_new_text_and_nothing_else_moves() -> None:
    app = TableApp()
    async with app.run_test(size=(60, 10)) as pilot:
        table = app.query_one(QuietTable)
        await pilot.pause()
        before = lines(table)
        assert before[2].split() == ["two-a", "two-b", "two-c"]

        table.set_cells([("two", "b", "TWO-B"), ("three", "c", "3-c"), ("one", "a", "one-a")])
        await pilot.pause()
        after = lines(table)
        assert after[2].split() == ["two-a", "TWO-B", "two-c"]
        assert after[3].split() == ["three-a", "three-b", "3-c"]
        assert after[:2] == before[:2]  # the header and the unchanged row

        # Moved onto and off the changed row, the cursor's renders show the new text too.
        await pilot.press("down", "down")
        assert lines(table)[2].split() == ["two-a", "TWO-B", "two-c"]
        table.set_cell("two", "b", "two-b")
        await pilot.press("up")
        assert lines(table)[2].split() == ["two-a", "two-b", "two-c"]


async def test_a_column_widens_for_a_wider_value_and_narrows_again_after_it() -> None:
    """Widths computed from what the cells show now, as the services table gives DETAIL
    the room the others leave, hold only if no column stays as wide as it once was."""
    app = TableApp()
    async with app.run_test(size=(60, 10)) as pilot:
        table = app.query_one(QuietTable)
        await pilot.pause()
        table.set_cell("one", "b", "a much longer value")
        await pilot.pause()
        assert lines(table)[1].split() == ["one-a", "a", "much", "longer", "value", "one-c"]
        assert lines(table)[2].split() == ["two-a", "two-b", "two-c"]

        table.set_cell("one", "b", "one-b")
        await pilot.pause()
        row = lines(table)[1]
        assert row.split() == ["one-a", "one-b", "one-c"]
        # Column b is as wide as its widest cell now, "three-b", and no wider.
        assert row.index("one-c") - row.index("one-b") == len("three-b") + 2 * table.cell_padding
