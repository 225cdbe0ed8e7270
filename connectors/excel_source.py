"""Stream one sheet of an Excel workbook (.xlsx, or legacy .xls) into Arrow record batches.

Cells come out as strings, as a person reads them, ready for the same source profiles as
CSV: text as typed; numbers as their value without a spurious ``.0`` and rounded to Excel's
15 significant digits (``3`` not ``3.0``, ``0.3`` not ``0.30000000000000004``; display
formats such as thousands separators, fixed decimals or percent are not applied: ``25%`` is
``0.25``); dates as ISO ``2019-04-23`` (``2019-04-23T07:30:00`` when there is a time);
times as ``07:30:00``; booleans as ``TRUE``/``FALSE``; error cells as shown (``#DIV/0!``);
formulas as their cached result (none if the file was never calculated). ``_row`` is the
sheet row number, as Excel shows it.

Rules, in order: the first ``skip_rows`` sheet rows are skipped (title rows); empty rows are
ignored anywhere (they still count for ``_row``); the first remaining row is the header when
``header`` is true (trailing empty header cells are dropped; an empty name between named
columns, a duplicate or a reserved name raises rule ``header``); rows whose first non-empty
cell matches ``drop_rows_matching`` are dropped; the last ``footer_rows`` rows are dropped.
Rows shorter than the header are padded with nulls (Excel does not store trailing empty
cells); a non-empty cell right of the last column raises rule ``field-count``.

.xlsx is streamed with openpyxl's read-only mode (memory bounded by ``batch_rows``); .xls is
read with xlrd, which loads the sheet whole (the format caps it at 65,536 rows).
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
import zipfile
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import pyarrow as pa

from connectors.errors import SourceError

ROW_COLUMN = "_row"
RESERVED_COLUMNS = frozenset({ROW_COLUMN, "_defect", "_raw"})

SheetRow = tuple[int, list[str | None]]  # (sheet row number, cell texts)


def read_xlsx(
    path: str | Path,
    *,
    sheet: str | int | None = None,
    skip_rows: int = 0,
    footer_rows: int = 0,
    header: bool = True,
    column_names: Sequence[str] | None = None,
    drop_rows_matching: str | None = None,
    batch_rows: int = 65_536,
) -> Iterator[pa.RecordBatch]:
    """Yield one sheet of an .xlsx file as string batches plus ``_row`` (see module doc).

    ``sheet`` is a name or a 0-based index (default: the first sheet). ``column_names``
    names the columns when ``header`` is false (default ``column_1``...), or overrides the
    header's names. Yields at least one (possibly empty) batch once the columns are known.
    """
    import openpyxl  # imported on use: only Excel sources need it
    from openpyxl.utils.exceptions import InvalidFileException

    source = str(path)
    try:
        workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except (InvalidFileException, zipfile.BadZipFile, OSError, KeyError, ValueError) as error:
        if isinstance(error, FileNotFoundError):
            raise
        raise SourceError(
            source, None, "excel", f"not a readable .xlsx workbook: {error}"
        ) from None
    try:
        worksheet = workbook[_sheet_name(workbook.sheetnames, sheet, source)]
        width = worksheet.max_column  # from the sheet's stored dimension; may be absent
        # The stored dimension can be wrong (some writers get it wrong) and would cut rows off.
        worksheet.reset_dimensions()
        rows = (
            (number, [_cell_text(value) for value in values])
            for number, values in enumerate(
                worksheet.iter_rows(min_row=1, min_col=1, values_only=True), start=1
            )
        )
        yield from _sheet_batches(
            rows,
            source,
            _Layout(skip_rows, footer_rows, header, column_names, drop_rows_matching, width),
            batch_rows,
        )
    finally:
        workbook.close()


def read_xls(
    path: str | Path,
    *,
    sheet: str | int | None = None,
    skip_rows: int = 0,
    footer_rows: int = 0,
    header: bool = True,
    column_names: Sequence[str] | None = None,
    drop_rows_matching: str | None = None,
    batch_rows: int = 65_536,
) -> Iterator[pa.RecordBatch]:
    """Yield one sheet of a legacy .xls (BIFF) file; same arguments and output as ``read_xlsx``."""
    import xlrd  # imported on use: only legacy Excel sources need it

    source = str(path)
    try:
        book = xlrd.open_workbook(str(path), on_demand=True)
    except xlrd.XLRDError as error:
        raise SourceError(source, None, "excel", f"not a readable .xls workbook: {error}") from None
    try:
        worksheet = book.sheet_by_name(_sheet_name(book.sheet_names(), sheet, source))
        rows = (
            (index + 1, [_xls_cell_text(cell, book.datemode) for cell in worksheet.row(index)])
            for index in range(worksheet.nrows)
        )
        layout = _Layout(
            skip_rows, footer_rows, header, column_names, drop_rows_matching, worksheet.ncols
        )
        yield from _sheet_batches(rows, source, layout, batch_rows)
    finally:
        book.release_resources()


def _sheet_name(names: list[str], sheet: str | int | None, source: str) -> str:
    if sheet is None:
        sheet = 0
    if isinstance(sheet, int):
        if 0 <= sheet < len(names):
            return names[sheet]
    elif sheet in names:
        return sheet
    raise SourceError(source, None, "sheet", f"no sheet {sheet!r} (sheets: {', '.join(names)})")


def _cell_text(value: object) -> str | None:
    """The text a person reads in a cell (see the module docstring)."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _number_text(value)
    if isinstance(value, dt.datetime):
        return _datetime_text(value)
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        seconds = round(value.total_seconds())
        sign, seconds = ("-", -seconds) if seconds < 0 else ("", seconds)
        return f"{sign}{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"
    return str(value)


def _number_text(value: float) -> str:
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return format(value, ".15g")  # Excel keeps 15 significant digits


def _datetime_text(value: dt.datetime) -> str:
    if value.time() == dt.time(0):
        return value.date().isoformat()
    return value.isoformat(timespec="milliseconds" if value.microsecond else "seconds")


def _xls_cell_text(cell: object, datemode: int) -> str | None:
    import xlrd

    kind, value = cell.ctype, cell.value  # type: ignore[attr-defined]
    if kind in (xlrd.XL_CELL_EMPTY, xlrd.XL_CELL_BLANK):
        return None
    if kind == xlrd.XL_CELL_DATE:
        try:
            if 0 <= value < 1:  # a time of day with no date
                return dt.time(*xlrd.xldate_as_tuple(value, datemode)[3:]).isoformat()
            return _cell_text(xlrd.xldate.xldate_as_datetime(value, datemode))
        except xlrd.xldate.XLDateError:
            return _number_text(value)  # a date format on a number Excel cannot show as date
    if kind == xlrd.XL_CELL_BOOLEAN:
        return "TRUE" if value else "FALSE"
    if kind == xlrd.XL_CELL_ERROR:
        return xlrd.error_text_from_code.get(value, f"#ERROR{value}")
    if kind == xlrd.XL_CELL_NUMBER:
        return _number_text(value)
    return value


class _Layout:
    """Where the table sits in the sheet (arguments shared by both readers)."""

    def __init__(
        self,
        skip_rows: int,
        footer_rows: int,
        header: bool,
        column_names: Sequence[str] | None,
        drop_rows_matching: str | None,
        sheet_width: int | None,
    ) -> None:
        if skip_rows < 0 or footer_rows < 0:
            raise ValueError("skip_rows and footer_rows must be >= 0")
        self.skip_rows = skip_rows
        self.footer_rows = footer_rows
        self.header = header
        self.column_names = tuple(column_names) if column_names is not None else None
        self.drop = re.compile(drop_rows_matching) if drop_rows_matching else None
        self.sheet_width = sheet_width or 0


def _sheet_batches(
    rows: Iterable[SheetRow], source: str, layout: _Layout, batch_rows: int
) -> Iterator[pa.RecordBatch]:
    if batch_rows < 1:
        raise ValueError(f"batch_rows must be positive: {batch_rows}")
    records = (row for row in rows if row[0] > layout.skip_rows and not _is_empty(row[1]))
    names, records = _column_names(records, source, layout)
    body = _without_footer(_without_dropped(records, layout.drop), layout.footer_rows)
    chunk: list[SheetRow] = []
    yielded = False
    for record in body:
        chunk.append(record)
        if len(chunk) == batch_rows:
            yield _batch(chunk, names, source)
            chunk, yielded = [], True
    if chunk or not yielded:
        yield _batch(chunk, names, source)


def _is_empty(cells: list[str | None]) -> bool:
    return all(cell is None or not cell.strip() for cell in cells)


def _column_names(
    records: Iterator[SheetRow], source: str, layout: _Layout
) -> tuple[tuple[str, ...], Iterator[SheetRow]]:
    if not layout.header:
        width = layout.sheet_width
        if not width and layout.column_names is None:  # the sheet stores no dimension
            first = next(records, None)
            records = itertools.chain([first] if first else [], records)
            width = len(first[1]) if first else 0
        names = layout.column_names or tuple(f"column_{i}" for i in range(1, width + 1))
        _check_names(names, source, None)
        return names, records
    first = next(records, None)
    if first is None:
        raise SourceError(source, None, "empty-file", "no header row (the sheet has no rows)")
    number, cells = first
    header = [(cell or "").strip() for cell in cells]
    while header and not header[-1]:
        header.pop()
    names = tuple(header)
    if layout.column_names is not None:
        if len(layout.column_names) != len(names):
            raise SourceError(
                source,
                number,
                "header",
                f"column_names gives "
                f"{len(layout.column_names)} names but the header has {len(names)}",
            )
        names = layout.column_names
    _check_names(names, source, number)
    return names, records


def _check_names(names: tuple[str, ...], source: str, row: int | None) -> None:
    seen: dict[str, int] = {}
    for position, name in enumerate(names, start=1):
        if not name:
            raise SourceError(source, row, "header", f"column {position} has an empty name")
        if name in RESERVED_COLUMNS:
            raise SourceError(source, row, "header", f"column {position} uses reserved {name!r}")
        if name in seen:
            raise SourceError(
                source,
                row,
                "header",
                f"duplicate column name {name!r} (columns {seen[name]} and {position})",
            )
        seen[name] = position


def _without_dropped(
    records: Iterable[SheetRow], pattern: re.Pattern[str] | None
) -> Iterator[SheetRow]:
    for record in records:
        first = next((cell.strip() for cell in record[1] if cell and cell.strip()), "")
        if pattern is None or not pattern.search(first):
            yield record


def _without_footer(records: Iterable[SheetRow], footer_rows: int) -> Iterator[SheetRow]:
    held: deque[SheetRow] = deque()
    for record in records:
        held.append(record)
        if len(held) > footer_rows:
            yield held.popleft()


def _batch(chunk: list[SheetRow], names: tuple[str, ...], source: str) -> pa.RecordBatch:
    width = len(names)
    columns: list[list[str | None]] = [[] for _ in names]
    for number, cells in chunk:
        if len(cells) > width and not _is_empty(cells[width:]):
            raise SourceError(
                source, number, "field-count", f"a value right of the last of the {width} columns"
            )
        for index, column in enumerate(columns):
            column.append(cells[index] if index < len(cells) else None)
    arrays = [pa.array(column, pa.string()) for column in columns]
    arrays.append(pa.array([number for number, _ in chunk], pa.int64()))
    return pa.RecordBatch.from_arrays(arrays, names=[*names, ROW_COLUMN])
