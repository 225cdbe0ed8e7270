"""Record rules shared by both CSV parsing paths: column names, output schema, ragged rows.

Both the exact line-by-line parser (``csv_source``) and the Arrow fast path
(``csv_fast_path``) apply these, so the two produce the same names, errors and quarantine
texts by construction.
"""

from __future__ import annotations

import csv
import io
import re
from typing import Literal

import pyarrow as pa

from connectors.csv_dialect import CsvDialect
from connectors.errors import SourceError

ROW_COLUMN = "_row"
DEFECT_COLUMN = "_defect"
RAW_COLUMN = "_raw"
RESERVED_COLUMNS = frozenset({ROW_COLUMN, DEFECT_COLUMN, RAW_COLUMN})
FIELD_COUNT_RULE = "field-count"

Ragged = Literal["raise", "quarantine"]
NumberedRecord = tuple[int, list[str]]  # (first physical line, fields)


def column_names(first: NumberedRecord | None, dialect: CsvDialect, file: str) -> tuple[str, ...]:
    """Validated column names from the first record (the header, unless ``header`` is false).

    Raises ``SourceError`` for a file without records (unless names are given and there is no
    header), a ``column_names`` override of the wrong length, and empty, duplicate or
    reserved names.
    """
    if first is None and (dialect.header or dialect.column_names is None):
        raise SourceError(file, None, "empty-file", "no header row (the file has no records)")
    if not dialect.header:
        count = len(first[1]) if first else 0
        names = dialect.column_names or tuple(f"column_{i}" for i in range(1, count + 1))
        _check_names(names, file, None)
        return names
    line, fields = first
    names = tuple(name.replace("\ufeff", "").strip() for name in fields)
    if dialect.column_names is not None:
        if len(dialect.column_names) != len(names):
            raise SourceError(
                file,
                line,
                "header",
                f"column_names gives {len(dialect.column_names)} names but the header has "
                f"{len(names)} fields",
            )
        names = dialect.column_names
    _check_names(names, file, line)
    return names


def _check_names(names: tuple[str, ...], file: str, line: int | None) -> None:
    """Reject empty, duplicate or reserved column names with a SourceError."""
    seen: dict[str, int] = {}
    for position, name in enumerate(names, start=1):
        if not name:
            raise SourceError(file, line, "header", f"column {position} has an empty name")
        if name in RESERVED_COLUMNS:
            raise SourceError(file, line, "header", f"column {position} uses reserved {name!r}")
        if name in seen:
            raise SourceError(
                file,
                line,
                "header",
                f"duplicate column name {name!r} (columns {seen[name]} and {position})",
            )
        seen[name] = position


def batch_schema(names: tuple[str, ...], ragged: Ragged) -> pa.Schema:
    """String columns, non-null int64 ``_row``, and ``_defect``/``_raw`` in quarantine mode."""
    fields = [pa.field(name, pa.string()) for name in names]
    fields.append(pa.field(ROW_COLUMN, pa.int64(), nullable=False))
    if ragged == "quarantine":
        fields += [pa.field(DEFECT_COLUMN, pa.string()), pa.field(RAW_COLUMN, pa.string())]
    return pa.schema(fields)


def field_count_message(width: int, found: int) -> str:
    """The message of a ragged-row error (rule ``field-count``)."""
    return f"expected {width} fields, found {found}"


def rejoin_fields(fields: list[str], delimiter: str) -> str:
    """Re-join a record's fields with the file's delimiter (quoting only where needed)."""
    out = io.StringIO()
    csv.writer(out, delimiter=delimiter, lineterminator="").writerow(fields)
    return out.getvalue()


def first_filled_cell(fields: list[str]) -> str | None:
    """The first cell that is not empty once stripped, stripped; None if there is none."""
    return next((cell.strip() for cell in fields if cell.strip()), None)


def is_dropped(fields: list[str], pattern: re.Pattern[str] | None) -> bool:
    """Whether ``drop_rows_matching`` drops this record (searched in its first filled cell)."""
    if pattern is None:
        return False
    first_cell = first_filled_cell(fields)
    return first_cell is not None and pattern.search(first_cell) is not None
