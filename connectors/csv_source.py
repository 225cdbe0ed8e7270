"""Stream a delimited text file into Arrow record batches of untyped (string) columns.

Every column comes out exactly as written in the file (no trimming, no type inference: source
profiles parse types, and quarantine keeps rows as received), plus ``_row``: the 1-based
physical line on which the record starts. A record whose quoted field contains line breaks
spans several physical lines; its ``_row`` is its first line and the next record's ``_row``
counts all of them, so line numbers always match what a text editor shows.

Rules, in the order they apply to the lines of a file:

1. ``skip_rows`` physical lines are skipped unparsed (title rows; a stray quote there is fine).
2. Blank lines are ignored anywhere (they still count for line numbers).
3. The first remaining record is the header when ``header`` is true.
4. Records whose first non-empty cell matches ``drop_rows_matching`` are dropped (TOTAL rows).
5. The last ``footer_rows`` remaining records are dropped (only they are held back in memory).
6. A record with the wrong number of fields is a ragged row: by default it raises
   ``SourceError`` with rule ``field-count``; with ``ragged="quarantine"`` it is yielded with
   every data column null and two extra string columns explain it: ``_defect`` (rule and
   message, null on good rows) and ``_raw`` (the record's fields re-joined with the
   delimiter), so a profile can route it to quarantine without losing it.

Rows 4 and 5 are applied before 6, so a ragged TOTAL or footer row is dropped, not an error.
Memory stays bounded by ``batch_rows`` rows (plus ``footer_rows`` held back) whatever the file
size.

Two parsers give the same output. The exact one decodes the file incrementally and parses it
with the standard ``csv`` module (strict), line by line. The fast one (``csv_fast_path``)
parses with Arrow's C++ streaming reader; it is used when a byte scan of the file
(``csv_line_scan``, tens of milliseconds for 70 MB) proves that every record sits on one line
and that Arrow splits fields exactly as ``csv`` does, so ``_row`` can be computed. Files with
quoted line breaks, odd quoting, old Mac line ends, UTF-16 and the like use the exact parser.
"""

from __future__ import annotations

import codecs
import csv
import io
import itertools
import re
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Literal

import pyarrow as pa

from connectors.csv_dialect import AUTO, CsvDialect
from connectors.csv_fast_path import arrow_batches
from connectors.csv_records import (
    DEFECT_COLUMN,
    FIELD_COUNT_RULE,
    RAW_COLUMN,
    RESERVED_COLUMNS,
    ROW_COLUMN,
    NumberedRecord,
    Ragged,
    batch_schema,
    column_names,
    field_count_message,
    is_dropped,
    rejoin_fields,
)
from connectors.errors import SourceError

__all__ = [
    "AUTO",
    "DEFAULT_DIALECT",
    "DEFECT_COLUMN",
    "DELIMITER_CANDIDATES",
    "RAW_COLUMN",
    "RESERVED_COLUMNS",
    "ROW_COLUMN",
    "CsvDialect",
    "Engine",
    "Ragged",
    "detect_encoding",
    "read_csv",
    "sniff_dialect",
]

DELIMITER_CANDIDATES = (",", ";", "\t", "|")

_SCAN_CHUNK_BYTES = 1 << 20
_SNIFF_SAMPLE_CHARS = 1 << 16
_SNIFF_MAX_RECORDS = 200
# Bytes that cp1252 leaves undefined; a file holding them can only be read as Latin-1.
_CP1252_UNDEFINED = (b"\x81", b"\x8d", b"\x8f", b"\x90", b"\x9d")
# Encodings auto-detection has proven the whole file decodes in.
_DETECTED_DECODABLE = frozenset({"utf-8", "cp1252", "latin-1"})

Engine = Literal["auto", "python"]
DEFAULT_DIALECT = CsvDialect()  # everything sniffed; frozen, so safe as a default


def detect_encoding(path: str | Path) -> str:
    """Return the codec for a file: a BOM wins, then strict UTF-8, then cp1252, then latin-1.

    The whole file is scanned in 1 MiB chunks (fast, constant memory) because a single
    accented cp1252 byte may sit on the last line.
    """
    with open(path, "rb") as handle:
        head = handle.read(4)
        if head.startswith(codecs.BOM_UTF8):
            return "utf-8-sig"
        if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            return "utf-16"
        handle.seek(0)
        if _decodes_as_utf8(handle):
            return "utf-8"
        handle.seek(0)
        while chunk := handle.read(_SCAN_CHUNK_BYTES):
            if any(byte in chunk for byte in _CP1252_UNDEFINED):
                return "latin-1"
    return "cp1252"


def _decodes_as_utf8(handle: io.BufferedReader) -> bool:
    """Whether the rest of ``handle`` is valid UTF-8 (read in chunks)."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        while chunk := handle.read(_SCAN_CHUNK_BYTES):
            decoder.decode(chunk)
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def sniff_dialect(path: str | Path, dialect: CsvDialect = DEFAULT_DIALECT) -> CsvDialect:
    """Return ``dialect`` with its ``"auto"`` encoding and delimiter resolved for this file.

    The delimiter is the candidate that splits the first records after ``skip_rows`` into the
    most consistent number of fields (ties: more fields, then the order , ; tab |). A file
    where no candidate gives two or more fields is read as one column with delimiter ",".
    """
    encoding = detect_encoding(path) if dialect.encoding == AUTO else dialect.encoding
    resolved = replace(dialect, encoding=encoding)
    if dialect.delimiter != AUTO:
        return resolved
    with open(path, encoding=encoding, errors="replace", newline="") as text:
        for _ in range(dialect.skip_rows):
            text.readline()
        sample = text.read(_SNIFF_SAMPLE_CHARS)
        complete = not text.read(1)
    return replace(resolved, delimiter=_best_delimiter(sample, complete, dialect.quotechar))


def _best_delimiter(sample: str, complete: bool, quotechar: str) -> str:
    """Pick the candidate delimiter giving the most consistent field count in ``sample``."""
    best, best_score = ",", (0.0, 1)
    for candidate in DELIMITER_CANDIDATES:
        counts = _field_counts(sample, complete, candidate, quotechar)
        if not counts:
            continue
        modal = max(set(counts), key=counts.count)
        score = (counts.count(modal) / len(counts), modal)
        if modal >= 2 and score > best_score:
            best, best_score = candidate, score
    return best


def _field_counts(sample: str, complete: bool, delimiter: str, quotechar: str) -> list[int]:
    """Field counts of the non-blank records in ``sample`` (a cut-off last record left out)."""
    reader = csv.reader(io.StringIO(sample, newline=""), delimiter=delimiter, quotechar=quotechar)
    try:
        counts = [len(fields) for fields in itertools.islice(reader, _SNIFF_MAX_RECORDS) if fields]
    except csv.Error:
        return []
    if not complete and len(counts) > 1 and len(counts) < _SNIFF_MAX_RECORDS:
        counts.pop()
    return counts


def read_csv(
    path: str | Path,
    dialect: CsvDialect = DEFAULT_DIALECT,
    *,
    batch_rows: int = 65_536,
    ragged: Ragged = "raise",
    engine: Engine = "auto",
) -> Iterator[pa.RecordBatch]:
    """Stream ``path`` as record batches of string columns plus int64 ``_row`` (see module doc).

    Yields at least one batch (possibly empty) once the column names are known, so a header-only
    file still tells the caller its columns. Raises ``SourceError`` (file, line, rule) for an
    empty file, a bad header, a ragged row (unless ``ragged="quarantine"``), broken quoting or
    bytes that the encoding cannot decode. ``engine="auto"`` parses with Arrow whenever that
    gives exact line numbers; ``"python"`` forces the exact line-by-line parser (same output,
    several times slower: the reference the fast path is tested against).
    """
    if batch_rows < 1:
        raise ValueError("batch_rows must be >= 1")
    if ragged not in ("raise", "quarantine"):
        raise ValueError(f"ragged must be 'raise' or 'quarantine': {ragged!r}")
    if engine not in ("auto", "python"):
        raise ValueError(f"engine must be 'auto' or 'python': {engine!r}")
    path = Path(path)
    resolved = sniff_dialect(path, dialect)
    if engine == "auto":
        decoded = dialect.encoding == AUTO and resolved.encoding in _DETECTED_DECODABLE
        fast = arrow_batches(path, resolved, decoded=decoded, batch_rows=batch_rows, ragged=ragged)
        if fast is not None:
            yield from fast
            return
    yield from _python_batches(path, resolved, batch_rows, ragged)


def _python_batches(
    path: Path, dialect: CsvDialect, batch_rows: int, ragged: Ragged
) -> Iterator[pa.RecordBatch]:
    """The exact parser: Python's csv module over the incrementally decoded text."""
    file = str(path)
    with open(path, encoding=dialect.encoding, newline="") as text:
        records = _numbered_records(text, dialect, file)
        first = next(records, None)
        names = column_names(first, dialect, file)
        if not dialect.header and first is not None:
            records = itertools.chain([first], records)
        body = _without_footer(_without_dropped(records, dialect), dialect.footer_rows)
        assembler = _BatchAssembler(names, dialect.delimiter, ragged, file)
        yield from assembler.batches(body, batch_rows)


def _numbered_records(
    text: io.TextIOWrapper, dialect: CsvDialect, file: str
) -> Iterator[NumberedRecord]:
    """Yield (first physical line, fields) for every non-blank record after the title rows."""
    line = previous_end = 0
    try:
        for _ in range(dialect.skip_rows):
            if text.readline():
                line += 1
        reader = csv.reader(
            text, delimiter=dialect.delimiter, quotechar=dialect.quotechar, strict=True
        )
        for fields in reader:
            start, previous_end = line + previous_end + 1, reader.line_num
            if fields:
                yield start, fields
    except UnicodeDecodeError:
        # The text layer decodes ahead of the parser, so find the offending line afresh.
        where, detail = _first_undecodable_line(file, dialect.encoding)
        raise SourceError(
            file, where, "encoding", f"not valid {dialect.encoding}: {detail}"
        ) from None
    except csv.Error as error:
        where = line + previous_end + 1
        raise SourceError(file, where, "csv-syntax", str(error)) from None


def _first_undecodable_line(file: str, encoding: str) -> tuple[int | None, str]:
    """The 1-based line holding the first bytes ``encoding`` cannot decode, and why."""
    decoder = codecs.getincrementaldecoder(encoding)()
    with open(file, "rb") as handle:
        for number, raw in enumerate(handle, start=1):
            try:
                decoder.decode(raw)
            except UnicodeDecodeError as error:
                bad = error.object[error.start : error.end]
                return number, f"{error.reason}: byte 0x{bad.hex()}"
    return None, "undecodable bytes"


def _without_dropped(
    records: Iterable[NumberedRecord], dialect: CsvDialect
) -> Iterator[NumberedRecord]:
    """Drop records whose first non-empty cell (stripped) matches ``drop_rows_matching``."""
    if dialect.drop_rows_matching is None:
        yield from records
        return
    pattern = re.compile(dialect.drop_rows_matching)
    for record in records:
        if not is_dropped(record[1], pattern):
            yield record


def _without_footer(
    records: Iterable[NumberedRecord], footer_rows: int
) -> Iterator[NumberedRecord]:
    """Yield all but the last ``footer_rows`` records, holding back only that many."""
    if footer_rows == 0:
        yield from records
        return
    held: deque[NumberedRecord] = deque()
    for record in records:
        held.append(record)
        if len(held) > footer_rows:
            yield held.popleft()


class _BatchAssembler:
    """Collects records into fixed-size Arrow batches, checking each record's field count."""

    def __init__(self, names: tuple[str, ...], delimiter: str, ragged: Ragged, file: str):
        self.names = names
        self.delimiter = delimiter
        self.ragged = ragged
        self.file = file
        self.schema = batch_schema(names, ragged)

    def batches(self, records: Iterable[NumberedRecord], size: int) -> Iterator[pa.RecordBatch]:
        """Yield batches of ``size`` rows, and always at least one (maybe empty) batch."""
        width, yielded = len(self.names), False
        rows: list[list[str] | list[None]] = []
        lines: list[int] = []
        defects: dict[int, tuple[str, str]] = {}  # position in batch -> (defect, raw)
        for line, fields in records:
            # Hot loop: one length check per record, the rest only for ragged rows.
            rows.append(
                fields if len(fields) == width else self._ragged(line, fields, defects, len(rows))
            )
            lines.append(line)
            if len(rows) == size:
                yield self._batch(rows, lines, defects)
                rows, lines, defects, yielded = [], [], {}, True
        if rows or not yielded:
            yield self._batch(rows, lines, defects)

    def _ragged(
        self, line: int, fields: list[str], defects: dict[int, tuple[str, str]], position: int
    ) -> list[None]:
        """Raise for a ragged row, or record its defect and return all-null cells."""
        message = field_count_message(len(self.names), len(fields))
        if self.ragged == "raise":
            raise SourceError(self.file, line, FIELD_COUNT_RULE, message)
        defects[position] = (
            f"{FIELD_COUNT_RULE}: {message}",
            rejoin_fields(fields, self.delimiter),
        )
        return [None] * len(self.names)

    def _batch(
        self,
        rows: list[list[str] | list[None]],
        lines: list[int],
        defects: dict[int, tuple[str, str]],
    ) -> pa.RecordBatch:
        columns = list(zip(*rows, strict=True)) if rows else [()] * len(self.names)
        arrays = [pa.array(column, pa.string()) for column in columns]
        arrays.append(pa.array(lines, pa.int64()))
        if self.ragged == "quarantine":
            defect: list[str | None] = [None] * len(rows)
            raw: list[str | None] = [None] * len(rows)
            for position, (reason, text) in defects.items():
                defect[position], raw[position] = reason, text
            arrays += [pa.array(defect, pa.string()), pa.array(raw, pa.string())]
        return pa.RecordBatch.from_arrays(arrays, schema=self.schema)
