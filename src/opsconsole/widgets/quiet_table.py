"""A DataTable that redraws only the cells whose text changed.

DataTable.update_cell refreshes the whole table: on a 120x40 terminal that is some 10 KB
written for every changed number, which a slow SSH link to a bastion feels. Here an
unchanged cell costs nothing and a changed one repaints its own region only.
"""

from __future__ import annotations

from rich.text import Text
from textual.coordinate import Coordinate
from textual.widgets import DataTable
from textual.widgets.data_table import ColumnKey, RowKey

Cell = Text | str


def same(a: Cell, b: Cell) -> bool:
    """Equal as the user sees them: Text's own == ignores the base style (the colour)."""
    if isinstance(a, Text) and isinstance(b, Text):
        return a.plain == b.plain and a.style == b.style and a.spans == b.spans
    return type(a) is type(b) and a == b


class QuietTable(DataTable[Cell]):
    def set_cell(self, row_key: str, column_key: str, value: Cell) -> None:
        if same(self.get_cell(row_key, column_key), value):
            return
        column = self.columns[ColumnKey(column_key)]
        width = value.cell_len if isinstance(value, Text) else Text(value).cell_len
        if width > column.content_width:
            self.update_cell(row_key, column_key, value, update_width=True)
            return
        # What update_cell does, less its refresh of the whole widget (Textual 8.x; the
        # upper bound on textual in pyproject.toml guards these two private names).
        self._data[RowKey(row_key)][ColumnKey(column_key)] = value
        self._update_count += 1
        self.refresh_coordinate(
            Coordinate(self.get_row_index(row_key), self.get_column_index(column_key))
        )
