"""Idempotent bulk loads of checked batches, one transaction per source file.

Rows are staged through each engine's fast path (Arrow into DuckDB, COPY into PostgreSQL),
then, in the same transaction, the periods the file touches are replaced for its source and
the load ledger records the file's content hash. The same bytes again change nothing.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
from sqlalchemy import Connection, Engine, Table, bindparam, insert, select, text

from warehouse.tables import FACT_TABLES, PERIOD_SOURCE, load_ledger, quarantine


@dataclass
class LoadResult:
    """What one file's load did."""

    batch_id: str
    feed: str
    skipped: bool  # the same content was loaded before
    rows_read: int = 0
    rows_loaded: int = 0
    rows_quarantined: int = 0
    periods: list[str] = field(default_factory=list)


def batch_id_for(source: str, content_hash: str) -> str:
    """A deterministic batch id: the same file of the same source always gets the same id."""
    return f"{source}-{content_hash[:16]}"


def find_loaded(engine: Engine, feed: str, source: str, content_hash: str) -> str | None:
    """The batch id of an earlier load of exactly this content, if any."""
    query = select(load_ledger.c.batch_id).where(
        load_ledger.c.feed == feed,
        load_ledger.c.source == source,
        load_ledger.c.content_hash == content_hash,
    )
    with engine.connect() as conn:
        return conn.execute(query).scalar()


class BatchLoader:
    """Stage a file's checked batches, then replace its periods and record it, atomically.

    Use as a context manager: `add` each checked batch; leaving the block without error
    commits everything, an error rolls everything back (nothing half-loaded).
    """

    def __init__(
        self,
        engine: Engine,
        *,
        feed: str,
        source: str,
        file_name: str,
        content_hash: str,
        replace_periods: bool = True,
    ) -> None:
        self.engine, self.table = engine, FACT_TABLES[feed]
        self.result = LoadResult(
            batch_id=batch_id_for(source, content_hash), feed=feed, skipped=False
        )
        self.source, self.file_name, self.content_hash = source, file_name, content_hash
        self._periods: set[str] = set()
        # False for corrected rows re-ingested from quarantine: they complete their periods.
        self._replace = replace_periods
        self._conn: Connection | None = None

    @property
    def connection(self) -> Connection:
        """The load's connection: work done on it commits or rolls back with the load."""
        return self._conn

    def __enter__(self) -> BatchLoader:
        self._conn = self.engine.connect()
        self._transaction = self._conn.begin()
        return self

    def add(self, rows: pa.Table, quarantined: Iterable[Mapping], rows_read: int) -> None:
        """Insert valid canonical rows and record quarantined ones (source_row, raw, reasons).

        Rows go straight into the fact table inside the open transaction (no staging copy);
        the older rows of the periods they touch are deleted when the load completes.
        """
        if rows.num_rows:
            if self._conn.dialect.name == "duckdb":
                self._insert_duckdb(rows)
            else:
                _copy_postgres(self._conn, self.table.name, self._with_batch_columns(rows))
            self._periods.update(self._periods_of(rows))
        entries = [
            {
                "batch_id": self.result.batch_id,
                "feed": self.result.feed,
                "source_row": q["source_row"],
                "raw": q["raw"],
                "reasons": json.dumps(list(q["reasons"]), ensure_ascii=False),
            }
            for q in quarantined
        ]
        if entries:
            self._conn.execute(insert(quarantine), entries)
        self.result.rows_read += rows_read
        self.result.rows_loaded += rows.num_rows
        self.result.rows_quarantined += len(entries)

    def __exit__(self, kind, error, trace) -> None:
        try:
            if error is None and self._already_loaded():
                # The same content again: nothing may change (not even the ledger).
                self._transaction.rollback()
                self.result.skipped = True
                self.result.rows_loaded = self.result.rows_quarantined = 0
            elif error is None:
                self._replace_periods()
                self._transaction.commit()
            else:
                self._transaction.rollback()
        finally:
            self._conn.close()

    def _already_loaded(self) -> bool:
        query = select(load_ledger.c.batch_id).where(load_ledger.c.batch_id == self.result.batch_id)
        return self._conn.execute(query).first() is not None

    def _insert_duckdb(self, rows: pa.Table) -> None:
        """INSERT ... SELECT from the Arrow rows, the batch's own columns computed by DuckDB.

        The batch id, the period and the columns a profile leaves null are SQL expressions,
        not Arrow columns: a million-row file then hands DuckDB fewer columns to convert.
        """
        present = set(rows.column_names)
        expressions = {
            "batch_id": _sql_text(self.result.batch_id),
            "period": self._period_sql(present),
        }
        select = ", ".join(
            f'"{c.name}"' if c.name in present else expressions.get(c.name, "NULL")
            for c in self.table.columns
        )
        _duckdb_insert(self._conn, self.table.name, rows, select)

    def _period_sql(self, present: set[str]) -> str:
        date_column = PERIOD_SOURCE[self.result.feed]
        if date_column is None:
            return '"period"'
        period = f"strftime(\"{date_column}\", '%Y-%m')"
        if "reference_period" in present:
            # A pre-aggregated count belongs to the period it covers ("2024", "2024-Q3"),
            # not to the month of its first day: a revised year replaces only that year.
            period = f'coalesce("reference_period", {period})'
        return period

    def _periods_of(self, rows: pa.Table) -> set[str]:
        """The periods the rows belong to, as `_period_sql` and `_with_batch_columns` give them."""
        date_column = PERIOD_SOURCE[self.result.feed]
        if date_column is None:
            return set(pl.from_arrow(rows.select(["period"]))["period"].unique().to_list())
        columns = [c for c in (date_column, "reference_period") if c in rows.column_names]
        # Distinct (date, reference period) pairs first: a file has a few hundred of them.
        pairs = pl.from_arrow(rows.select(columns)).unique()
        period = pl.col(date_column).dt.strftime("%Y-%m")
        if "reference_period" in columns:
            period = pl.coalesce(pl.col("reference_period"), period)
        return set(pairs.select(period.unique()).to_series().to_list())

    def _with_batch_columns(self, rows: pa.Table) -> pa.Table:
        """The rows with the batch's own columns, in the table's order (for COPY)."""
        date_column = PERIOD_SOURCE[self.result.feed]
        rows = _without_string_views(rows)
        if date_column is not None:
            # ISO text of a date starts with YYYY-MM; far cheaper than strftime.
            iso = pc.cast(rows[date_column], pa.string())
            period = pc.utf8_slice_codeunits(iso, 0, 7)
            if "reference_period" in rows.column_names:
                period = pc.coalesce(pc.cast(rows["reference_period"], pa.string()), period)
            rows = rows.append_column("period", period)
        rows = rows.append_column(
            "batch_id", pa.array([self.result.batch_id] * rows.num_rows, pa.string())
        )
        # Nullable columns added by later revisions (aggregate figures) may be absent from
        # rows shaped before them (re-ingested quarantine, older callers): they load as nulls.
        arrow_types = {str: pa.string(), int: pa.int64(), float: pa.float64()}
        for column in self.table.columns:
            if column.name not in rows.column_names and column.nullable:
                kind = arrow_types.get(column.type.python_type, pa.null())
                rows = rows.append_column(column.name, pa.nulls(rows.num_rows, kind))
        return rows.select([c.name for c in self.table.columns])

    def _replace_periods(self) -> None:
        conn, name = self._conn, self.table.name
        periods = sorted(self._periods)
        # A revised file for a period replaces that period for its source, nothing else.
        if periods and self._replace:
            conn.execute(
                text(
                    f"DELETE FROM {name} WHERE source = :source AND batch_id <> :batch "
                    "AND period IN :periods"
                ).bindparams(bindparam("periods", expanding=True)),
                {"source": self.source, "batch": self.result.batch_id, "periods": periods},
            )
        self.result.periods = periods
        if conn.dialect.name == "postgresql" and self.result.rows_loaded:
            # Fresh statistics now, not whenever autovacuum gets round to it: the indicator
            # queries that follow filter on the new periods, which stale statistics think
            # empty (and then plan nested loops over a month of rows).
            conn.exec_driver_sql(f"ANALYZE {name}")
        conn.execute(
            insert(load_ledger).values(
                batch_id=self.result.batch_id,
                feed=self.result.feed,
                source=self.source,
                file_name=self.file_name,
                content_hash=self.content_hash,
                rows_read=self.result.rows_read,
                rows_loaded=self.result.rows_loaded,
                rows_quarantined=self.result.rows_quarantined,
                periods=json.dumps(periods),
                loaded_at=datetime.now(UTC),
            )
        )


def _bulk_insert(conn: Connection, table: str, rows: pa.Table) -> None:
    """Insert an Arrow table whose columns are the table's, in order, by the fast path."""
    if conn.dialect.name == "duckdb":
        _duckdb_insert(conn, table, rows, "*")
    else:
        _copy_postgres(conn, table, rows)


def _duckdb_insert(conn: Connection, table: str, rows: pa.Table, select: str) -> None:
    """INSERT INTO `table` SELECT `select` (every column, in order) FROM the Arrow rows.

    Through a relation, not a registered view: a view dropped inside a transaction lives on
    (with the Arrow table it holds) until the transaction ends, so a file loaded in one
    transaction kept every batch in memory.
    """
    driver = conn.connection.driver_connection
    driver.from_arrow(rows).project(select).insert_into(table)


def _sql_text(value: str) -> str:
    """A SQL string literal."""
    return "'" + value.replace("'", "''") + "'"


def _copy_postgres(conn: Connection, table: str, rows: pa.Table) -> None:
    buffer = io.BytesIO()
    pacsv.write_csv(_without_string_views(rows), buffer, pacsv.WriteOptions(include_header=False))
    columns = ", ".join(f'"{c}"' for c in rows.column_names)
    cursor = conn.connection.driver_connection.cursor()
    with cursor.copy(f"COPY {table} ({columns}) FROM STDIN WITH (FORMAT csv)") as copy:
        copy.write(buffer.getvalue())


def _without_string_views(rows: pa.Table) -> pa.Table:
    """Arrow's CSV writer and string kernels take plain strings, not polars' string views."""
    schema = pa.schema(
        field.with_type(pa.large_string()) if field.type == pa.string_view() else field
        for field in rows.schema
    )
    return rows if schema == rows.schema else rows.cast(schema)


def replace_table(engine: Engine, table: Table, rows: pa.Table) -> None:
    """Replace a small reference table (territories, population) in one transaction."""
    with engine.begin() as conn:
        conn.execute(table.delete())
        if rows.num_rows:
            _bulk_insert(conn, table.name, rows.select([c.name for c in table.columns]))
