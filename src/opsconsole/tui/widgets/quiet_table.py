"""A DataTable that redraws only the cells whose text changed, its columns always as wide
as their widest cell.

DataTable.update_cell refreshes the whole table: on a 120x40 terminal that is some 10 KB
written for every changed number, which a slow SSH link to a bastion feels. Here an
unchanged cell costs nothing and a changed one repaints its own region only.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable
from typing import Any, TypeVar

from rich.cells import cell_len
from rich.text import Text
from textual.cache import LRUCache
from textual.coordinate import Coordinate
from textual.widgets import DataTable
from textual.widgets.data_table import ColumnKey, RowKey

Cell = Text | str
Key = TypeVar("Key", bound=Hashable)


def same(a: Cell, b: Cell) -> bool:
    """Equal as the user sees them: Text's own == ignores the base style (the colour)."""
    if isinstance(a, Text) and isinstance(b, Text):
        return a.plain == b.plain and a.style == b.style and a.spans == b.spans
    return type(a) is type(b) and a == b


def width(cell: Cell) -> int:
    return cell.cell_len if isinstance(cell, Text) else cell_len(cell)


class QuietTable(DataTable[Cell]):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        # What each cell shows now, by plain keys: DataTable.get_cell goes through its
        # key objects, and a dashboard compares every cell every second.
        self._shown: dict[tuple[str, str], Cell] = {}

    def add_row(self, *cells: Cell, key: str | None = None, **kwargs: Any) -> RowKey:
        row_key = super().add_row(*cells, key=key, **kwargs)
        if key is not None:
            for column, cell in zip(self.ordered_columns, cells, strict=False):
                self._shown[(key, str(column.key.value))] = cell
        return row_key

    def clear(self, columns: bool = False) -> QuietTable:
        self._shown.clear()
        super().clear(columns)
        return self

    def set_cell(self, row_key: str, column_key: str, value: Cell) -> None:
        self.set_cells([(row_key, column_key, value)])

    def set_cells(self, cells: Iterable[tuple[str, str, Cell]]) -> None:
        """Shows each value in its cell; only the cells whose text changed are drawn again."""
        changed: set[tuple[str, str]] = set()
        for row_key, column_key, value in cells:
            shown = self._shown.get((row_key, column_key))
            if shown is not None and same(shown, value):
                continue
            self._shown[(row_key, column_key)] = value
            column_width = self.columns[ColumnKey(column_key)].content_width
            if width(value) > column_width or (
                shown is not None
                and width(value) < width(shown) == column_width
                and self._widest(column_key) < column_width
            ):
                # Wider than its column, or it was the widest and the column narrows: every
                # cell to its right moves. DataTable measures the column again, draws it all.
                self.update_cell(row_key, column_key, value, update_width=True)
                continue
            self._data[RowKey(row_key)][ColumnKey(column_key)] = value
            changed.add((row_key, column_key))
        if not changed:
            return
        self._forget_renders(changed)
        for row_key, column_key in changed:
            self.refresh_coordinate(
                Coordinate(self.get_row_index(row_key), self.get_column_index(column_key))
            )

    def _widest(self, column_key: str) -> int:
        """The width the column needs for what it shows now, its label included."""
        label = self.columns[ColumnKey(column_key)].label
        shown = (self._shown.get((str(row.value), column_key), "") for row in self.rows)
        return max([label.cell_len, *(width(cell) for cell in shown)])

    def _forget_renders(self, cells: set[tuple[str, str]]) -> None:
        """Drops what DataTable cached of these cells' renders, and of their rows.

        update_cell bumps DataTable's update count instead, which makes every cached
        render of the table stale: each repainted line then renders all its cells again,
        and a dashboard left open spent a quarter of its CPU there. The caches and their
        keys are DataTable's private ones (Textual 8.x; the upper bound on textual in
        pyproject.toml guards them, and tests/test_quiet_table.py reads the rendering to see
        that a changed cell really shows its new text).
        """
        rows = {row_key for row_key, _ in cells}
        indices = {self.get_row_index(row_key) for row_key in rows}
        _discard(self._cell_render_cache, lambda key: (key[0].value, key[1].value) in cells)
        _discard(self._row_render_cache, lambda key: key[0].value in rows)
        _discard(self._row_renderable_cache, lambda key: key[1] in indices)
        self._line_cache.clear()  # keyed by screen line; rebuilt from the row cache


def _discard(cache: LRUCache[Key, Any], doomed: Callable[[Key], bool]) -> None:
    # LRUCache cannot be iterated itself, only its keys().
    for key in [key for key in cache.keys() if doomed(key)]:  # noqa: SIM118
        cache.discard(key)
