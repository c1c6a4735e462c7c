"""Where each key and value of a TOML document stands, by its path in the parsed data.

tomllib gives values without positions; tree-sitter's TOML grammar gives positions
without values. Indexing the syntax tree by the same paths that pydantic reports in
its errors (``("services", 2, "health_url")``) joins the two.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from functools import cache

import tree_sitter
import tree_sitter_toml

PathKey = tuple[str | int, ...]


@dataclass(frozen=True)
class Position:
    line: int  # 1-based
    col: int  # 1-based, in characters


@dataclass(frozen=True)
class Located:
    key: Position
    value: Position


@cache
def _parser() -> tree_sitter.Parser:
    return tree_sitter.Parser(tree_sitter.Language(tree_sitter_toml.language()))


@dataclass
class TomlPositions:
    """Positions of every table, key, value and array element in one document."""

    lines: list[bytes]
    index: dict[PathKey, Located] = field(default_factory=dict)
    _array_lengths: dict[PathKey, int] = field(default_factory=dict)

    @classmethod
    def of(cls, source: str) -> TomlPositions:
        raw = source.encode()
        positions = cls(lines=raw.split(b"\n"))
        positions._index_document(_parser().parse(raw).root_node)
        return positions

    def locate(self, path: PathKey, *, at_key: bool = False) -> Position:
        """The position of ``path``, or of its nearest ancestor that the file spells out.

        Segments that the file does not contain (a discriminator tag in a pydantic
        location, a missing key) are passed over, so an error about a missing field
        points at the table that lacks it.
        """
        found: PathKey = ()
        for segment in path:
            if (*found, segment) in self.index:
                found = (*found, segment)
        if not found:
            return Position(1, 1)
        located = self.index[found]
        return located.key if (at_key or found != path) else located.value

    def inside(self, at: Position, offset: int) -> Position:
        """The place `offset` characters into the string value that begins at `at`,
        escapes (`\\n`, `\\u00e9`) counted as the one character they stand for; the
        string itself when it spans lines."""
        line = (
            self.lines[at.line - 1].decode(errors="replace") if at.line <= len(self.lines) else ""
        )
        start = at.col - 1
        quote = line[start : start + 1]
        if quote not in ("'", '"') or line[start : start + 3] in ("'''", '"""'):
            return at
        i = start + 1
        for _ in range(offset):
            if i >= len(line) or line[i] == quote:
                return at
            escape = line[i + 1 : i + 2] if quote == '"' and line[i] == "\\" else ""
            i += {"": 1, "u": 6, "U": 10}.get(escape, 2)
        return Position(at.line, i + 1)

    # -- indexing ---------------------------------------------------------------

    def _position(self, node: tree_sitter.Node) -> Position:
        row, byte_col = node.start_point
        line = self.lines[row] if row < len(self.lines) else b""
        return Position(row + 1, len(line[:byte_col].decode(errors="replace")) + 1)

    def _remember(self, path: PathKey, key: tree_sitter.Node, value: tree_sitter.Node) -> None:
        # First spelling wins: a duplicate key is a TOML syntax error reported elsewhere.
        self.index.setdefault(path, Located(self._position(key), self._position(value)))

    def _index_document(self, root: tree_sitter.Node) -> None:
        table: PathKey = ()
        for node in root.named_children:
            if node.type == "pair":
                self._index_pair(node, table)
            elif node.type in ("table", "table_array_element"):
                key_node = _key_child(node)
                if key_node is None:
                    continue
                table = self._resolve_header(_key_segments(key_node))
                # A header stands for its table: a key missing from it is reported there.
                if node.type == "table_array_element":
                    element = self._array_lengths.get(table, 0)
                    self._array_lengths[table] = element + 1
                    self._remember(table, node, node)
                    table = (*table, element)
                self._remember(table, node, node)
                for child in node.named_children:
                    if child.type == "pair":
                        self._index_pair(child, table)

    def _resolve_header(self, segments: list[str]) -> PathKey:
        """``[runbooks.steps]`` inside ``[[runbooks]]`` means the last runbook's steps."""
        path: PathKey = ()
        for depth, segment in enumerate(segments, start=1):
            path = (*path, segment)
            length = self._array_lengths.get(path)
            if length and depth < len(segments):
                path = (*path, length - 1)
        return path

    def _index_pair(self, pair: tree_sitter.Node, table: PathKey) -> None:
        key_node = _key_child(pair)
        value = pair.named_children[-1] if pair.named_children else None
        if key_node is None or value is None:
            return
        path = (*table, *_key_segments(key_node))
        self._remember(path, key_node, value)
        self._index_value(path, value)

    def _index_value(self, path: PathKey, value: tree_sitter.Node) -> None:
        if value.type == "inline_table":
            for child in value.named_children:
                if child.type == "pair":
                    self._index_pair(child, path)
        elif value.type == "array":
            for number, element in enumerate(
                c for c in value.named_children if c.type != "comment"
            ):
                self._remember((*path, number), element, element)
                self._index_value((*path, number), element)


_KEY_TYPES = ("bare_key", "quoted_key", "dotted_key")


def _key_child(node: tree_sitter.Node) -> tree_sitter.Node | None:
    return next((c for c in node.named_children if c.type in _KEY_TYPES), None)


def _key_segments(key: tree_sitter.Node) -> list[str]:
    if key.type == "dotted_key":
        return [segment for part in key.named_children for segment in _key_segments(part)]
    text = (key.text or b"").decode()
    if key.type == "quoted_key":
        # Let the TOML parser itself undo quoting and escapes.
        return [next(iter(tomllib.loads(f"{text} = 0")))]
    return [text]
