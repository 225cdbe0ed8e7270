"""Read a CSV file with Arrow's C++ streaming parser, giving the exact parser's output.

``read_csv`` tries this path first. ``arrow_batches`` answers None, before reading any data,
when the file's records cannot be numbered by counting lines or Arrow could split them
differently from Python's strict ``csv`` module (``csv_line_scan`` decides); the caller then
falls back to the exact line-by-line parser. Otherwise it yields the same batches that
parser would: same columns, values, ``_row`` line numbers, batch sizes and errors.

How the rules of ``csv_source`` map onto Arrow:

- title rows and the header line are located by the byte scan; Arrow starts on the first
  data line with the validated column names, every column typed string, empty cells kept as
  "" (never null) and blank lines ignored;
- ``_row`` comes from each record's rank among the non-blank lines (``LineLayout``);
- ragged rows reach ``invalid_row_handler`` (with their rank), are parsed again by Python's
  ``csv`` and merged back in place, so the drop, footer and ragged rules see them in order;
- ``drop_rows_matching`` is applied per Arrow batch (``csv_row_filter``); ``footer_rows``
  holds back only that many rows across batches.
"""

from __future__ import annotations

import codecs
import csv
import re
from collections import deque
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

from connectors.csv_dialect import CsvDialect
from connectors.csv_line_scan import LineLayout, scan_lines, skip_title_lines
from connectors.csv_records import (
    DEFECT_COLUMN,
    FIELD_COUNT_RULE,
    RAW_COLUMN,
    ROW_COLUMN,
    Ragged,
    batch_schema,
    column_names,
    field_count_message,
    is_dropped,
    rejoin_fields,
)
from connectors.csv_row_filter import kept_rows
from connectors.errors import SourceError

# Codecs for which the byte scan is valid, and the name Arrow is given for each.
_ARROW_ENCODINGS = {
    "utf-8": "utf8",
    "utf-8-sig": "utf8",
    "cp1252": "cp1252",
    "iso8859-1": "latin-1",
    "ascii": "ascii",
}
# Arrow reads up to 32 blocks ahead of the consumer (not configurable), so blocks stay small:
# a quarter of a batch, between 64 KiB and 256 KiB (which parses as fast as 16 MiB here).
_MIN_BLOCK_BYTES = 64 << 10
_MAX_BLOCK_BYTES = 256 << 10


def arrow_batches(
    path: Path,
    dialect: CsvDialect,
    *,
    decoded: bool,
    batch_rows: int,
    ragged: Ragged,
) -> Iterator[pa.RecordBatch] | None:
    """Batches of ``path`` read by Arrow, or None when only the exact parser can read it.

    ``dialect`` must be resolved (no "auto"); ``decoded`` says the whole file is known to
    decode in its encoding (auto-detection checked it). Scans the file and checks the header
    now, raising ``SourceError`` as the exact parser would for a bad or missing header.
    """
    codec = codecs.lookup(dialect.encoding).name
    if codec not in _ARROW_ENCODINGS or not _plain_ascii(dialect.delimiter, dialect.quotechar):
        return None
    start = _after_bom(path, codec)
    title = skip_title_lines(path, start, dialect.skip_rows)
    check = None if decoded or codec == "iso8859-1" else codec.replace("-sig", "")
    if title is None or (check and not _decodes(path, start, title[0], check)):
        return None
    layout = scan_lines(
        path,
        title[0],
        title[1] + 1,
        delimiter=dialect.delimiter,
        quotechar=dialect.quotechar,
        encoding=check,
        field_size_limit=csv.field_size_limit(),
    )
    if layout is None:
        return None
    first = _first_record(path, layout, dialect)
    names = column_names(first, dialect, str(path))
    if not names:
        return None  # no columns at all: every record is ragged, a case left to the exact parser
    if layout.first_record is None:
        return _ArrowReader(path, dialect, layout, names, ragged).empty(batch_rows)
    data_start = layout.first_record[1 if dialect.header else 0]
    if codec.startswith("utf-8") and _starts_with_bom(path, data_start):
        return None  # Arrow would drop a BOM opening its input; Python keeps it as text
    reader = _ArrowReader(path, dialect, layout, names, ragged)
    return reader.batches(data_start, 1 if dialect.header else 0, batch_rows)


def _plain_ascii(delimiter: str, quotechar: str) -> bool:
    """The byte scan needs one-byte delimiter and quote chars that are not line ends."""
    chars = (delimiter, quotechar)
    return delimiter != quotechar and all(c.isascii() and c not in "\r\n\x00" for c in chars)


def _after_bom(path: Path, codec: str) -> int:
    """Offset of the text: past a UTF-8 BOM when the codec strips it, else 0."""
    return 3 if codec == "utf-8-sig" and _starts_with_bom(path, 0) else 0


def _starts_with_bom(path: Path, offset: int) -> bool:
    with open(path, "rb") as handle:
        handle.seek(offset)
        return handle.read(3) == codecs.BOM_UTF8


def _decodes(path: Path, begin: int, end: int, codec: str) -> bool:
    """Whether the bytes from ``begin`` to ``end`` (title lines, at most 1 MiB) decode."""
    with open(path, "rb") as handle:
        handle.seek(begin)
        try:
            handle.read(end - begin).decode(codec)
        except UnicodeDecodeError:
            return False
    return True


def _first_record(
    path: Path, layout: LineLayout, dialect: CsvDialect
) -> tuple[int, list[str]] | None:
    """The first non-blank line, parsed by Python's csv module, with its line number."""
    if layout.first_record is None:
        return None
    begin, end = layout.first_record
    with open(path, "rb") as handle:
        handle.seek(begin)
        # A BOM here is mid-file (the scan starts past a leading one): keep it, as Python does.
        codec = codecs.lookup(dialect.encoding).name
        text = handle.read(end - begin).decode("utf-8" if codec == "utf-8-sig" else codec)
    fields = next(
        csv.reader([text], delimiter=dialect.delimiter, quotechar=dialect.quotechar, strict=True)
    )
    line = int(layout.line_numbers(np.zeros(1, np.int64))[0])
    return line, fields


class _ArrowReader:
    """Streams Arrow batches, numbering records and applying the drop/footer/ragged rules."""

    def __init__(
        self,
        path: Path,
        dialect: CsvDialect,
        layout: LineLayout,
        names: tuple[str, ...],
        ragged: Ragged,
    ):
        self.path = path
        self.file = str(path)
        self.dialect = dialect
        self.layout = layout
        self.names = names
        self.pattern = (
            re.compile(dialect.drop_rows_matching) if dialect.drop_rows_matching else None
        )
        self.ragged = ragged
        # Records carry _defect/_raw until emitted, so ragged rows survive drop and footer.
        self.schema = batch_schema(names, "quarantine")
        self.invalid: deque[tuple[int, str]] = deque()  # (Arrow's 1-based rank, row text)

    def empty(self, batch_rows: int) -> Iterator[pa.RecordBatch]:
        """The one empty batch of a file whose names are known but that holds no records."""
        return self._rebatcher(batch_rows).batches([])

    def batches(
        self, data_start: int, first_rank: int, batch_rows: int
    ) -> Iterator[pa.RecordBatch]:
        """Output batches of the data lines from byte ``data_start`` (line rank ``first_rank``)."""
        return self._rebatcher(batch_rows).batches(self._tables(data_start, first_rank, batch_rows))

    def _rebatcher(self, batch_rows: int) -> _Rebatcher:
        footer = self.dialect.footer_rows
        return _Rebatcher(batch_rows, footer, self.ragged, self.file, self.schema)

    def _tables(self, data_start: int, first_rank: int, batch_rows: int) -> Iterator[pa.Table]:
        """Numbered records left after ``drop_rows_matching``, in file order, per Arrow batch."""
        expected = self.layout.record_lines - first_rank
        if expected == 0:
            return  # Arrow refuses an input without lines
        consumed = 0  # records (good and ragged) before the current Arrow batch
        with open(self.path, "rb") as handle:
            handle.seek(data_start)
            for batch in pa_csv.open_csv(handle, **self._options(batch_rows)):
                invalid = self._claim_invalid(consumed + batch.num_rows)
                yield self._numbered(batch, consumed, first_rank, invalid)
                consumed += batch.num_rows + len(invalid)
        if self.invalid:  # ragged rows after the last good one
            invalid, self.invalid = list(self.invalid), deque()
            yield self._numbered(None, consumed, first_rank, invalid)
            consumed += len(invalid)
        if consumed != expected:  # the scan's promise broken: never number lines wrongly
            raise RuntimeError(f"{self.file}: Arrow read {consumed} records, expected {expected}")

    def _options(self, batch_rows: int) -> dict[str, object]:
        """Arrow options: all-string columns, "" kept, blocks of about a quarter batch."""
        layout, dialect = self.layout, self.dialect
        average = (self.path.stat().st_size - layout.start) // max(layout.record_lines, 1)
        block = min(max(batch_rows * average // 4, _MIN_BLOCK_BYTES), _MAX_BLOCK_BYTES)
        # A line must fit in a block; transcoding to UTF-8 can triple its bytes.
        block = max(block, 4 * layout.longest_line)
        encoding = _ARROW_ENCODINGS[codecs.lookup(dialect.encoding).name]
        return {
            "read_options": pa_csv.ReadOptions(
                use_threads=False,  # serial parsing is what numbers invalid rows
                block_size=block,
                column_names=list(self.names),
                encoding=encoding,
            ),
            "parse_options": pa_csv.ParseOptions(
                delimiter=dialect.delimiter,
                quote_char=dialect.quotechar,
                double_quote=True,
                escape_char=False,
                newlines_in_values=False,
                ignore_empty_lines=True,
                invalid_row_handler=self._on_invalid_row,
            ),
            "convert_options": pa_csv.ConvertOptions(
                column_types={name: pa.string() for name in self.names},
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
                check_utf8=False,  # decoding was checked by the scan or by auto-detection
            ),
        }

    def _on_invalid_row(self, row: pa_csv.InvalidRow) -> str:
        """Keep a ragged row aside (Arrow drops it from its batch) to merge it back later."""
        if row.number is None:
            raise RuntimeError(f"{self.file}: Arrow gave no row number for a ragged row")
        self.invalid.append((row.number, row.text))
        return "skip"

    def _claim_invalid(self, last_good: int) -> list[tuple[int, str]]:
        """The ragged rows that sit before the last good row of the current batch.

        The handler may already hold rows of later blocks (Arrow parses ahead): the j-th
        pending row belongs here when its rank is at most ``last_good + j``.
        """
        claimed: list[tuple[int, str]] = []
        while self.invalid and self.invalid[0][0] <= last_good + len(claimed):
            claimed.append(self.invalid.popleft())
        return claimed

    def _numbered(
        self,
        batch: pa.RecordBatch | None,
        consumed: int,
        first_rank: int,
        invalid: list[tuple[int, str]],
    ) -> pa.Table:
        """One Arrow batch plus its ragged rows, with ``_row``, without dropped records."""
        good = 0 if batch is None else batch.num_rows
        ranks = np.arange(consumed + 1, consumed + good + len(invalid) + 1, dtype=np.int64)
        if invalid:
            ranks = np.delete(ranks, [number - consumed - 1 for number, _ in invalid])
        parts = []
        if batch is not None and good:
            lines = self.layout.line_numbers(ranks + (first_rank - 1))
            parts.append(self._good_rows(batch, lines))
        if invalid:
            parts.append(self._ragged_rows(invalid, first_rank))
        table = pa.Table.from_batches(parts, schema=self.schema)
        return table.sort_by(ROW_COLUMN) if len(parts) > 1 else table

    def _good_rows(self, batch: pa.RecordBatch, lines: np.ndarray) -> pa.RecordBatch:
        nulls = pa.nulls(batch.num_rows, pa.string())
        arrays = [*batch.columns, pa.array(lines, pa.int64()), nulls, nulls]
        numbered = pa.RecordBatch.from_arrays(arrays, schema=self.schema)
        if self.pattern is None:
            return numbered
        return numbered.filter(kept_rows(batch, self.pattern))

    def _ragged_rows(self, invalid: list[tuple[int, str]], first_rank: int) -> pa.RecordBatch:
        """Ragged rows as the exact parser sees them: Python's csv splits their text again."""
        dialect, width = self.dialect, len(self.names)
        lines, defects, raws = [], [], []
        for number, text in invalid:
            fields = next(
                csv.reader(
                    [text], delimiter=dialect.delimiter, quotechar=dialect.quotechar, strict=True
                )
            )
            if is_dropped(fields, self.pattern):
                continue
            lines.append(number + first_rank - 1)
            defects.append(f"{FIELD_COUNT_RULE}: {field_count_message(width, len(fields))}")
            raws.append(rejoin_fields(fields, dialect.delimiter))
        numbers = self.layout.line_numbers(np.array(lines, dtype=np.int64))
        nulls = pa.nulls(len(lines), pa.string())
        arrays = [nulls] * width + [
            pa.array(numbers, pa.int64()),
            pa.array(defects),
            pa.array(raws),
        ]
        return pa.RecordBatch.from_arrays(arrays, schema=self.schema)


class _Rebatcher:
    """Cuts numbered tables into batches of exactly ``size`` rows, holding back the footer.

    Ragged rows travel with ``_defect`` set; in "raise" mode the first one to be emitted
    raises, so exactly the batches before it have been yielded, as with the exact parser.
    """

    def __init__(self, size: int, footer: int, ragged: Ragged, file: str, schema: pa.Schema):
        self.size = size
        self.footer = footer
        self.ragged = ragged
        self.file = file
        self.schema = schema

    def batches(self, tables: Iterable[pa.Table]) -> Iterator[pa.RecordBatch]:
        """Yield the rows of ``tables`` but the last ``footer``; always at least one batch."""
        held = self.schema.empty_table()
        yielded = False
        for table in tables:
            held = pa.concat_tables([held, table])
            while held.num_rows >= self.size + self.footer:
                yield self._emit(held.slice(0, self.size))
                held, yielded = held.slice(self.size), True
        remaining = held.num_rows - self.footer
        while remaining > 0:
            yield self._emit(held.slice(0, min(self.size, remaining)))
            held, remaining, yielded = held.slice(self.size), remaining - self.size, True
        if not yielded:
            yield self._emit(self.schema.empty_table())

    def _emit(self, table: pa.Table) -> pa.RecordBatch:
        if self.ragged == "raise":
            self._raise_first_defect(table)
            table = table.drop_columns([DEFECT_COLUMN, RAW_COLUMN])
        batches = table.combine_chunks().to_batches()
        return batches[0] if batches else pa.RecordBatch.from_pylist([], schema=table.schema)

    def _raise_first_defect(self, table: pa.Table) -> None:
        defects = table.column(DEFECT_COLUMN)
        if defects.null_count == table.num_rows:
            return
        index = pc.index(pc.is_valid(defects), True).as_py()
        rule, message = defects[index].as_py().split(": ", 1)
        raise SourceError(self.file, table.column(ROW_COLUMN)[index].as_py(), rule, message)
