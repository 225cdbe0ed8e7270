"""Stream the result of a SQL query (any SQLAlchemy database) into Arrow record batches.

Rows are fetched ``batch_rows`` at a time with ``stream_results``/``yield_per``: a server-side
cursor on PostgreSQL (psycopg), DuckDB's own incremental fetch through duckdb-engine. Columns
keep their database types, taken from the driver's description of the result, so every
batch has the same schema even when a batch holds only nulls:

- integers, floats, booleans, text, dates, times and timestamps map to the matching Arrow
  type (``timestamptz`` to UTC timestamps);
- ``numeric(p, s)``/``DECIMAL(p, s)`` to ``decimal128(p, s)``; a ``numeric`` without precision
  (PostgreSQL) to float64, as its scale can differ from row to row: cast it in the query
  (``CAST(x AS numeric(12, 2))``) to keep exact decimals;
- UUID and JSON to text; anything else is inferred from the first batch that has a value.

``_row`` is the 1-based position of the row in the result: pass an ``ORDER BY`` for it to
mean the same thing from one run to the next.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid
from collections.abc import Iterator, Mapping, Sequence
from decimal import Decimal
from typing import Any

import pyarrow as pa
import sqlalchemy as sa

from connectors.errors import SourceError

ROW_COLUMN = "_row"

_DECIMAL = re.compile(r"^(?:NUMERIC|DECIMAL)\((\d+),\s*(\d+)\)$")
_SIMPLE_TYPES: dict[str, pa.DataType] = {
    **dict.fromkeys(("INT2", "SMALLINT", "TINYINT", "UTINYINT"), pa.int16()),
    **dict.fromkeys(("INT4", "INTEGER", "INT", "USMALLINT"), pa.int32()),
    **dict.fromkeys(("INT8", "BIGINT", "UINTEGER", "OID"), pa.int64()),
    **dict.fromkeys(("HUGEINT", "UBIGINT"), pa.decimal128(38, 0)),
    **dict.fromkeys(("FLOAT4", "REAL", "FLOAT"), pa.float32()),
    **dict.fromkeys(("FLOAT8", "DOUBLE", "DOUBLE PRECISION", "NUMERIC", "DECIMAL"), pa.float64()),
    **dict.fromkeys(("BOOL", "BOOLEAN"), pa.bool_()),
    **dict.fromkeys(("TEXT", "VARCHAR", "BPCHAR", "CHAR", "NAME", "STRING"), pa.string()),
    **dict.fromkeys(("UUID", "JSON", "JSONB"), pa.string()),
    "DATE": pa.date32(),
    **dict.fromkeys(("TIME", "TIME WITHOUT TIME ZONE"), pa.time64("us")),
    **dict.fromkeys(
        (
            "TIMESTAMP",
            "TIMESTAMP WITHOUT TIME ZONE",
            "DATETIME",
            "TIMESTAMP_S",
            "TIMESTAMP_MS",
            "TIMESTAMP_NS",
        ),
        pa.timestamp("us"),
    ),
    **dict.fromkeys(("TIMESTAMPTZ", "TIMESTAMP WITH TIME ZONE"), pa.timestamp("us", tz="UTC")),
}


def read_sql_query(
    url: str | sa.Engine,
    query: str,
    *,
    params: Mapping[str, Any] | None = None,
    batch_rows: int = 65_536,
) -> Iterator[pa.RecordBatch]:
    """Yield the rows of ``query`` (SQL text with ``:name`` parameters) as typed batches.

    ``url`` is a SQLAlchemy URL (``duckdb:///file.duckdb``,
    ``postgresql+psycopg://user@host/db``; credentials belong in the environment-built URL,
    never in code) or an existing engine. Yields at least one (possibly empty) batch, so an
    empty result still tells its columns. A failing query raises ``SourceError`` (rule
    ``sql``) naming the database without its password.
    """
    if batch_rows < 1:
        raise ValueError(f"batch_rows must be positive: {batch_rows}")
    engine = sa.create_engine(url) if isinstance(url, str) else url
    where = engine.url.render_as_string(hide_password=True)
    try:
        with engine.connect() as connection:
            options = connection.execution_options(stream_results=True, yield_per=batch_rows)
            result = options.execute(sa.text(query), dict(params or {}))
            if not result.returns_rows:
                raise SourceError(where, None, "sql", "the statement returns no rows")
            columns = _Columns(result.cursor.description, list(result.keys()), where)
            yield from columns.batches(result.partitions(batch_rows))
    except sa.exc.DBAPIError as error:
        raise SourceError(where, None, "sql", str(error.orig).strip()) from None
    finally:
        if isinstance(url, str):
            engine.dispose()


class _Columns:
    """The result's column names and Arrow types; turns row lists into batches."""

    def __init__(self, description: Sequence[Sequence[Any]], names: list[str], where: str):
        if ROW_COLUMN in names:
            raise SourceError(
                where,
                None,
                "reserved-column",
                f"the query returns a column named {ROW_COLUMN!r}: rename it",
            )
        self.names = names
        self.where = where
        self.types: list[pa.DataType | None] = [declared_type(d) for d in description]
        self.next_row = 1

    def batches(self, partitions: Iterator[Sequence[Sequence[Any]]]) -> Iterator[pa.RecordBatch]:
        yielded = False
        for rows in partitions:
            yield self._batch(rows)
            yielded = True
        if not yielded:
            yield self._batch([])

    def _batch(self, rows: Sequence[Sequence[Any]]) -> pa.RecordBatch:
        arrays = [
            self._array(index, [row[index] for row in rows]) for index in range(len(self.names))
        ]
        arrays.append(pa.array(range(self.next_row, self.next_row + len(rows)), pa.int64()))
        self.next_row += len(rows)
        return pa.RecordBatch.from_arrays(arrays, names=[*self.names, ROW_COLUMN])

    def _array(self, index: int, values: list[Any]) -> pa.Array:
        kind = self.types[index]
        if kind == pa.string():
            values = [_as_text(v) for v in values]
        elif kind is not None and pa.types.is_floating(kind):
            values = [float(v) if isinstance(v, Decimal) else v for v in values]
        try:
            array = pa.array(values, type=kind)
        except (pa.ArrowInvalid, pa.ArrowTypeError) as error:
            raise SourceError(
                self.where,
                self.next_row,
                "sql-type",
                f"column {self.names[index]!r} does not fit {kind}: {error}",
            ) from None
        if kind is None and array.null_count < len(array):
            self.types[index] = array.type  # an undeclared type: fixed by its first values
        return array


def declared_type(column: Sequence[Any]) -> pa.DataType | None:
    """The Arrow type for one DB-API description entry, or None when it is not known.

    PostgreSQL (psycopg) describes a column by type OID plus precision and scale; DuckDB by a
    type name such as ``DECIMAL(18,3)``.
    """
    type_code, precision, scale = column[1], column[4], column[5]
    if isinstance(type_code, int):
        name = _postgres_type_name(type_code)
        if name == "numeric" and precision is not None and scale is not None:
            name = f"numeric({precision},{scale})"
    else:
        name = str(type_code)
    name = name.upper()
    match = _DECIMAL.match(name)
    if match is not None:
        return pa.decimal128(int(match.group(1)), int(match.group(2)))
    return _SIMPLE_TYPES.get(name)


def _postgres_type_name(oid: int) -> str:
    try:
        from psycopg.postgres import types
    except ImportError:  # another PostgreSQL driver: types are inferred instead
        return ""
    info = types.get(oid)
    return info.name if info is not None else ""


def _as_text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, uuid.UUID | dt.date | dt.time):
        return str(value)
    return json.dumps(value, ensure_ascii=False, default=str)
