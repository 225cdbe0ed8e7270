"""Stream JSON files (one array of records, or NDJSON) into Arrow record batches.

Values come out as strings exactly as written in the source, like every text source: numbers
keep their JSON text (``1.50`` stays ``"1.50"``, no float round trip), ``true``/``false`` become
``"true"``/``"false"``, ``null`` and missing keys become nulls. Source profiles parse types.

Nested objects are flattened to dotted column names (``{"geo": {"lat": 6.2}}`` gives the
column ``geo.lat``), so a profile can map any leaf by name; arrays are kept as compact JSON
text (``[1,2]``), because their length varies from record to record. An empty nested object
gives no column. A record whose flattened names collide (a key ``"geo.lat"`` beside a nested
``geo.lat``) is rejected with rule ``column-collision``.

Every batch has the same columns: the file is read twice, first to collect every column name
(in order of first appearance), then to yield the records. Records that omit a key (Socrata
exports omit nulls) get a null there. ``_row`` is the 1-based physical line on which the
record starts. Memory stays bounded by ``batch_rows`` records: the array is parsed one
record at a time from a sliding text window (no ijson needed).
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import BinaryIO, NoReturn

import pyarrow as pa

from connectors.errors import SourceError

ROW_COLUMN = "_row"

_CHUNK_BYTES = 1 << 20
# A record larger than this is refused rather than buffered without end (e.g. an
# unterminated string in a multi-gigabyte file).
MAX_RECORD_CHARS = 64 << 20
_WHITESPACE = " \t\r\n"
_STRUCTURAL = re.compile(r'["\[\]{}]')
_STRING_TAIL = re.compile(r'[^"\\]*(?:\\.[^"\\]*)*"', re.S)
_quote = json.encoder.encode_basestring  # a JSON string literal, non-ASCII kept as is
_SCALAR_END = re.compile(r"[\s,\]}]")


class JsonNumber(str):
    """A JSON number kept as its source text, so no precision or formatting is lost."""


_DECODER = json.JSONDecoder(parse_float=JsonNumber, parse_int=JsonNumber, parse_constant=JsonNumber)


def read_json(
    path: str | Path, *, records_path: str | None = None, batch_rows: int = 65_536
) -> Iterator[pa.RecordBatch]:
    """Yield the records of a JSON array as string batches with a ``_row`` line column.

    ``records_path`` is a dotted path of object keys to the array when it is nested, e.g.
    ``"data.items"`` for ``{"data": {"items": [...]}}``. Bad JSON raises ``SourceError``
    naming the file, the line and the rule (``json-syntax``, ``records-path``,
    ``record-type``, ``encoding``, ``column-collision``, ``record-too-large``).
    """
    source = str(path)
    columns = _column_names(_array_records(path, records_path), source)
    yield from _batches(_array_records(path, records_path), columns, source, batch_rows)


def read_ndjson(path: str | Path, *, batch_rows: int = 65_536) -> Iterator[pa.RecordBatch]:
    """Yield the records of a newline-delimited JSON file (one object per line).

    Blank lines are skipped (they still count for ``_row``). Same values, columns and rules
    as ``read_json``.
    """
    source = str(path)
    columns = _column_names(_ndjson_records(path), source)
    yield from _batches(_ndjson_records(path), columns, source, batch_rows)


def loads_exact(text: str) -> object:
    """Parse one JSON document keeping numbers as their source text (``JsonNumber``)."""
    return _DECODER.decode(text)


def flatten_record(record: dict[str, object], out: dict[str, str | None], prefix: str = "") -> None:
    """Write ``record``'s leaves into ``out`` as dotted names -> text (see module docstring).

    Raises ``ValueError`` naming the column when two leaves flatten to the same name.
    """
    for key, value in record.items():
        name = prefix + key
        kind = type(value)
        if kind is dict:
            flatten_record(value, out, name + ".")  # type: ignore[arg-type]
            continue
        if name in out or name == ROW_COLUMN:
            raise ValueError(name)
        # Exact type checks first: strings and numbers are nearly every leaf.
        out[name] = value if kind is str or kind is JsonNumber else leaf_text(value)


def flat_names(record: dict[str, object], out: dict[str, None], prefix: str = "") -> None:
    """Add the dotted column names of ``record``'s leaves to ``out`` (an ordered set)."""
    for key, value in record.items():
        if type(value) is dict:
            flat_names(value, out, prefix + key + ".")  # type: ignore[arg-type]
        else:
            out[prefix + key] = None


def leaf_text(value: object) -> str | None:
    """The text of one JSON leaf: strings as they are, numbers as written, arrays as JSON."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):  # values parsed without loads_exact
        return json.dumps(value)
    return _compact_json(value)


def _compact_json(value: object) -> str:
    """JSON text of a nested value with ``JsonNumber`` written back unquoted."""
    kind = type(value)
    if kind is JsonNumber:
        return str.__str__(value)  # type: ignore[arg-type]
    if kind is str:
        return _quote(value)  # type: ignore[arg-type]
    if kind is list:
        return "[" + ",".join([_compact_json(v) for v in value]) + "]"  # type: ignore[attr-defined]
    if kind is dict:
        items = [_quote(k) + ":" + _compact_json(v) for k, v in value.items()]  # type: ignore[attr-defined]
        return "{" + ",".join(items) + "}"
    return json.dumps(value)  # true, false, null


class JsonBatchBuilder:
    """Collect JSON records and emit Arrow batches of string columns plus ``_row``.

    ``columns`` fixes the first columns of every batch (in that order); names met later are
    appended, so a builder fed without a complete ``columns`` list may widen between batches.
    """

    def __init__(self, source: str, columns: Iterable[str] = ()) -> None:
        self.source = source
        self.columns: dict[str, None] = dict.fromkeys(columns)
        self._records: list[dict[str, str | None]] = []
        self._rows: list[int] = []

    def __len__(self) -> int:
        return len(self._records)

    def add(self, record: object, row: int) -> None:
        """Flatten one record; raise ``SourceError`` if it is not an object or collides."""
        flat = flatten_json_object(record, self.source, row)
        for name in flat:
            if name not in self.columns:
                self.columns[name] = None
        self._records.append(flat)
        self._rows.append(row)

    def flush(self) -> pa.RecordBatch | None:
        """Return the collected records as one batch (None when empty) and start over."""
        if not self._records:
            return None
        arrays = [
            pa.array([r.get(name) for r in self._records], pa.string()) for name in self.columns
        ]
        arrays.append(pa.array(self._rows, pa.int64()))
        batch = pa.RecordBatch.from_arrays(arrays, names=[*self.columns, ROW_COLUMN])
        self._records, self._rows = [], []
        return batch


def flatten_json_object(record: object, source: str, row: int) -> dict[str, str | None]:
    """Flatten one record, raising ``SourceError`` naming ``source`` and ``row`` if it is bad."""
    if not isinstance(record, dict):
        kind = type(record).__name__ if record is not None else "null"
        raise SourceError(source, row, "record-type", f"a record must be a JSON object, not {kind}")
    flat: dict[str, str | None] = {}
    try:
        flatten_record(record, flat)
    except ValueError as clash:
        if str(clash) == ROW_COLUMN:
            message = f"a field is named {ROW_COLUMN!r}, which the reader adds"
            raise SourceError(source, row, "reserved-column", message) from None
        message = f"two fields flatten to the column name {clash}"
        raise SourceError(source, row, "column-collision", message) from None
    return flat


def _column_names(records: Iterator[tuple[int, object]], source: str) -> list[str]:
    names: dict[str, None] = {}
    for row, record in records:
        if not isinstance(record, dict):
            flatten_json_object(record, source, row)  # raises the record-type error
        flat_names(record, names)  # type: ignore[arg-type]
    return list(names)


def _batches(
    records: Iterator[tuple[int, object]], columns: Sequence[str], source: str, batch_rows: int
) -> Iterator[pa.RecordBatch]:
    if batch_rows < 1:
        raise ValueError(f"batch_rows must be positive: {batch_rows}")
    builder = JsonBatchBuilder(source, columns)
    for row, record in records:
        builder.add(record, row)
        if len(builder) >= batch_rows:
            yield builder.flush()  # type: ignore[misc]  # not None: just added records
    last = builder.flush()
    if last is not None:
        yield last


def _ndjson_records(path: str | Path) -> Iterator[tuple[int, object]]:
    source = str(path)
    with open(path, "rb") as handle:
        for line_number, raw in enumerate(handle, start=1):
            try:
                text = raw.decode("utf-8-sig" if line_number == 1 else "utf-8")
            except UnicodeDecodeError as error:
                message = f"not valid UTF-8 at byte {error.start + 1} of the line"
                raise SourceError(source, line_number, "encoding", message) from None
            if not text.strip():
                continue
            try:
                yield line_number, loads_exact(text)
            except json.JSONDecodeError as error:
                raise SourceError(
                    source, line_number, "json-syntax", f"{error.msg} (column {error.colno})"
                ) from None


def _array_records(path: str | Path, records_path: str | None) -> Iterator[tuple[int, object]]:
    with open(path, "rb") as handle:
        window = _TextWindow(handle, str(path))
        _enter_records_path(window, records_path)
        yield from _array_elements(window)
        if records_path is None and window.skip_whitespace() != "":
            window.fail(window.pos, "json-syntax", "unexpected content after the array")


def _enter_records_path(window: _TextWindow, records_path: str | None) -> None:
    """Move the window onto the ``[`` of the records array."""
    for key in records_path.split(".") if records_path else []:
        if window.skip_whitespace() != "{":
            window.fail(window.pos, "records-path", f"expected an object holding {key!r}")
        window.pos += 1
        _find_key(window, key, records_path)  # type: ignore[arg-type]
    char = window.skip_whitespace()
    if char == "":
        window.fail(window.pos, "json-syntax", "the file holds no JSON value")
    if char != "[":
        hint = " (set records_path to the array)" if char == "{" else ""
        window.fail(window.pos, "records-path", f"expected an array of records{hint}")
    window.pos += 1


def _find_key(window: _TextWindow, key: str, records_path: str) -> None:
    """Skip members of the open object until ``key``; leave the window on its value."""
    while True:
        char = window.skip_whitespace()
        if char == "}":
            window.fail(window.pos, "records-path", f"no key {key!r} on path {records_path!r}")
        start = window.pos
        name, _ = window.take_value()
        if type(name) is not str:  # a JsonNumber is a str too, but not a key
            window.fail(start, "json-syntax", "expected an object key")
        if window.skip_whitespace() != ":":
            window.fail(window.pos, "json-syntax", "expected ':' after an object key")
        window.pos += 1
        if name == key:
            return
        window.take_value()  # a sibling of the path: parsed and dropped
        char = window.skip_whitespace()
        if char == ",":
            window.pos += 1
        elif char != "}":
            window.fail(window.pos, "json-syntax", "expected ',' or '}' in an object")


def _array_elements(window: _TextWindow) -> Iterator[tuple[int, object]]:
    """Yield (line, value) for each element of the array whose ``[`` was just consumed."""
    if window.skip_whitespace() == "]":
        window.pos += 1
        return
    while True:
        value, line = window.take_value()
        yield line, value
        char = window.skip_whitespace()
        window.pos += 1
        if char == "]":
            return
        if char != ",":
            window.fail(window.pos - 1, "json-syntax", "expected ',' or ']' after a record")


class _TextWindow:
    """The unread part of a UTF-8 file as text, refilled on demand, with line numbers."""

    def __init__(self, handle: BinaryIO, source: str) -> None:
        self._handle = handle
        self._decoder = codecs.getincrementaldecoder("utf-8-sig")()
        self.source = source
        self.text = ""
        self.pos = 0
        self.eof = False
        self._counted_pos = 0  # text[:_counted_pos] holds (_counted_line - 1) line breaks
        self._counted_line = 1

    def line_at(self, pos: int) -> int:
        """The 1-based line of ``text[pos]``; positions must not go backwards."""
        self._counted_line += self.text.count("\n", self._counted_pos, pos)
        self._counted_pos = pos
        return self._counted_line

    def fail(self, pos: int, rule: str, message: str) -> NoReturn:
        raise SourceError(self.source, self.line_at(pos), rule, message)

    def read_more(self) -> bool:
        """Append the next chunk of the file; False at the end of the file."""
        if self.eof:
            return False
        chunk = self._handle.read(_CHUNK_BYTES)
        try:
            self.text += self._decoder.decode(chunk, final=not chunk)
        except UnicodeDecodeError as error:
            line = self.line_at(len(self.text)) + chunk[: error.start].count(b"\n")
            raise SourceError(self.source, line, "encoding", "not valid UTF-8") from None
        self.eof = not chunk
        return True

    def compact(self) -> None:
        """Drop consumed text; positions before the cursor become invalid."""
        if self.pos > len(self.text) // 2:  # amortised O(1) per character
            self.line_at(self.pos)
            self.text = self.text[self.pos :]
            self._counted_pos -= self.pos
            self.pos = 0

    def skip_whitespace(self) -> str:
        """Advance past whitespace; return the next character, or "" at the end of the file."""
        while True:
            text, pos = self.text, self.pos
            while pos < len(text) and text[pos] in _WHITESPACE:
                pos += 1
            self.pos = pos
            if pos < len(text):
                return text[pos]
            if not self.read_more():
                return ""

    def take_value(self) -> tuple[object, int]:
        """Parse the JSON value at the cursor; return it and the line it starts on."""
        if self.skip_whitespace() == "":
            self.fail(self.pos, "json-syntax", "unexpected end of file")
        self.compact()
        start = self.pos
        line = self.line_at(start)
        try:
            # Fast path: the value is already whole in the window. A value that ends exactly
            # at the window's end may be a number cut in two, so it is re-read below.
            value, end = _DECODER.raw_decode(self.text, start)
            if end < len(self.text) or self.eof:
                self.pos = end
                return value, line
        except json.JSONDecodeError as error:
            if self.eof:
                self.fail(error.pos, "json-syntax", error.msg)
        self._buffer_value(start)
        try:
            value, end = _DECODER.raw_decode(self.text, start)
        except json.JSONDecodeError as error:
            self.fail(error.pos, "json-syntax", error.msg)
        self.pos = end
        return value, line

    def _buffer_value(self, start: int) -> None:
        """Read until the value starting at ``start`` is wholly in the window (or EOF)."""
        opener = self.text[start]
        if opener in "{[":
            end = self._container_end(start)
        elif opener == '"':
            end = self._string_end(start + 1)
        else:
            end = self._scalar_end(start)
        if end - start > MAX_RECORD_CHARS:
            self.fail(
                start,
                "record-too-large",
                f"a value longer than {MAX_RECORD_CHARS} characters (or never closed)",
            )

    def _container_end(self, start: int) -> int:
        depth, pos = 0, start
        while True:
            match = _STRUCTURAL.search(self.text, pos)
            if match is None:
                pos = len(self.text)
                if pos - start > MAX_RECORD_CHARS or not self.read_more():
                    return pos
                continue
            char, pos = match.group(), match.end()
            if char == '"':
                pos = self._string_end(pos)
            elif char in "{[":
                depth += 1
            else:
                depth -= 1
                if depth == 0:
                    return pos

    def _string_end(self, body: int) -> int:
        """Position just after the closing quote of the string whose body starts at ``body``."""
        while True:
            match = _STRING_TAIL.match(self.text, body)
            if match is not None:
                return match.end()
            if len(self.text) - body > MAX_RECORD_CHARS or not self.read_more():
                return len(self.text)

    def _scalar_end(self, start: int) -> int:
        while True:
            match = _SCALAR_END.search(self.text, start)
            if match is not None:
                return match.start()
            if len(self.text) - start > MAX_RECORD_CHARS or not self.read_more():
                return len(self.text)
