"""SQL query reader against real DuckDB (a temporary file) and real PostgreSQL.

Both databases get the real DIVIPOLA extract (datos.gov.co gdxc-w37w) in a table with typed
columns. PostgreSQL is the session database of the ``postgres_url`` fixture (server at
CONVIVE_TEST_PG_URL, default 127.0.0.1:5432); when it is unreachable these tests skip
locally and fail when CI is set.
"""

from __future__ import annotations

import csv
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pytest
import sqlalchemy as sa

from connectors.errors import SourceError
from connectors.sql_source import read_sql_query

REAL_DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "real"  # beside the repo
DIVIPOLA = REAL_DATA / "co-municipal-delitos-poblacion-2018-2024" / "divipola_gdxc-w37w.csv"
QUERY = """
    SELECT cod_mpio, nom_mpio, longitud, latitud, poblacion_prueba, actualizado
    FROM {table} WHERE cod_dpto = :dpto ORDER BY cod_mpio
"""


def _divipola() -> list[dict[str, str]]:
    with DIVIPOLA.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def _load(engine: sa.Engine, table: str) -> None:
    """Create ``table`` with typed columns and the real rows (one made-up nullable column)."""
    rows = [
        {
            **r,
            "longitud": Decimal(r["longitud"]),
            "latitud": float(r["latitud"]),
            # Null except in the last Antioquia rows: the first batches hold only nulls.
            "poblacion_prueba": 1000 + i
            if r["cod_mpio"] >= "05800" and r["cod_dpto"] == "05"
            else None,
        }
        for i, r in enumerate(_divipola())
    ]
    with engine.begin() as connection:
        connection.execute(
            sa.text(f"""
            CREATE TABLE {table} (
                cod_dpto VARCHAR(2), dpto VARCHAR(80), cod_mpio VARCHAR(5), nom_mpio VARCHAR(80),
                tipo_municipio VARCHAR(40), longitud NUMERIC(11, 6), latitud DOUBLE PRECISION,
                poblacion_prueba BIGINT,
                actualizado TIMESTAMP DEFAULT TIMESTAMP '2024-03-01 08:00:00'
            )""")
        )
        columns = (
            "cod_dpto, dpto, cod_mpio, nom_mpio, tipo_municipio, longitud, latitud, "
            "poblacion_prueba"
        )
        values = ", ".join(f":{c.strip()}" for c in columns.split(","))
        connection.execute(sa.text(f"INSERT INTO {table} ({columns}) VALUES ({values})"), rows)


@pytest.fixture(scope="module")
def duckdb_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    url = f"duckdb:///{tmp_path_factory.mktemp('sql') / 'divipola.duckdb'}"
    engine = sa.create_engine(url)
    _load(engine, "municipios")
    engine.dispose()
    yield url


@pytest.fixture
def postgres(postgres_url: str) -> Iterator[tuple[sa.Engine, str, str]]:
    """(engine, url, table): a uniquely named table in the session's PostgreSQL database.

    ``postgres_url`` (tests/conftest.py) skips when PostgreSQL is unreachable, and fails
    when CI is set.
    """
    url = postgres_url
    engine = sa.create_engine(url)
    table = f"convive_sql_source_{uuid.uuid4().hex[:12]}"
    _load(engine, table)
    try:
        yield engine, url, table
    finally:
        with engine.begin() as connection:
            connection.execute(sa.text(f"DROP TABLE IF EXISTS {table}"))
        engine.dispose()


def _check_antioquia(batches: list[pa.RecordBatch]) -> None:
    """Assertions shared by both databases, from the real file."""
    antioquia = sorted(
        (r for r in _divipola() if r["cod_dpto"] == "05"), key=lambda r: r["cod_mpio"]
    )
    table = pa.Table.from_batches(batches)
    assert table.num_rows == len(antioquia) == 125
    assert [b.num_rows for b in batches] == [50, 50, 25]
    assert {b.schema for b in batches} == {batches[0].schema}  # same types in every batch
    schema = batches[0].schema
    assert schema.field("cod_mpio").type == pa.string()
    assert schema.field("longitud").type == pa.decimal128(11, 6)
    assert schema.field("latitud").type == pa.float64()
    assert schema.field("poblacion_prueba").type == pa.int64()  # first batch: all null
    assert schema.field("actualizado").type == pa.timestamp("us")
    assert batches[0].column("poblacion_prueba").null_count == 50
    assert table.column("cod_mpio").to_pylist() == [r["cod_mpio"] for r in antioquia]
    assert table.column("longitud").to_pylist() == [Decimal(r["longitud"]) for r in antioquia]
    assert table.column("_row").to_pylist() == list(range(1, 126))


def test_duckdb_query_streams_typed_batches(duckdb_url: str) -> None:
    batches = list(
        read_sql_query(
            duckdb_url, QUERY.format(table="municipios"), params={"dpto": "05"}, batch_rows=50
        )
    )
    _check_antioquia(batches)


def test_duckdb_empty_result_still_gives_its_columns(duckdb_url: str) -> None:
    (batch,) = read_sql_query(duckdb_url, QUERY.format(table="municipios"), params={"dpto": "00"})
    assert batch.num_rows == 0
    assert batch.schema.names == [
        "cod_mpio",
        "nom_mpio",
        "longitud",
        "latitud",
        "poblacion_prueba",
        "actualizado",
        "_row",
    ]
    assert batch.schema.field("longitud").type == pa.decimal128(11, 6)


def test_a_failing_query_is_a_source_error_without_password(tmp_path: Path) -> None:
    url = f"duckdb:///{tmp_path / 'empty.duckdb'}"
    with pytest.raises(SourceError) as caught:
        list(read_sql_query(url, "SELECT * FROM municipios"))
    assert caught.value.rule == "sql"
    assert "municipios" in caught.value.message
    with pytest.raises(SourceError) as secret:
        list(read_sql_query("postgresql+psycopg://lector:s3creto@127.0.0.1:1/none", "SELECT 1"))
    assert "s3creto" not in str(secret.value)
    assert secret.value.file == "postgresql+psycopg://lector:***@127.0.0.1:1/none"


def test_a_reserved_column_name_is_refused(duckdb_url: str) -> None:
    with pytest.raises(SourceError, match="reserved-column"):
        list(read_sql_query(duckdb_url, "SELECT 1 AS _row"))


@pytest.mark.postgres
def test_postgres_query_streams_typed_batches(postgres: tuple[sa.Engine, str, str]) -> None:
    _, url, table = postgres
    batches = list(
        read_sql_query(url, QUERY.format(table=table), params={"dpto": "05"}, batch_rows=50)
    )
    _check_antioquia(batches)


@pytest.mark.postgres
def test_postgres_reads_through_a_server_side_cursor(postgres: tuple[sa.Engine, str, str]) -> None:
    engine, url, table = postgres
    name = f"convive-test-{uuid.uuid4().hex[:8]}"
    reader = sa.create_engine(url, connect_args={"application_name": name})
    batches = read_sql_query(reader, f"SELECT * FROM {table} ORDER BY cod_mpio", batch_rows=100)
    first = next(batches)
    # While the reader is paused after one batch, its session sits on an open cursor.
    with engine.connect() as monitor:
        activity = (
            monitor.execute(
                sa.text("SELECT query FROM pg_stat_activity WHERE application_name = :name"),
                {"name": name},
            )
            .scalars()
            .all()
        )
    rest = sum(b.num_rows for b in batches)
    reader.dispose()
    assert len(activity) == 1 and activity[0].startswith("FETCH FORWARD")
    assert first.num_rows == 100 and first.num_rows + rest == 1122
    assert first.schema.field("tipo_municipio").type == pa.string()


@pytest.mark.postgres
def test_postgres_types_without_a_fixed_scale(postgres: tuple[sa.Engine, str, str]) -> None:
    _, url, table = postgres
    query = f"""SELECT AVG(latitud::numeric) AS media, COUNT(*) AS n,
                       MIN(actualizado) AT TIME ZONE 'America/Bogota' AS primera,
                       json_build_object('dpto', MIN(cod_dpto)) AS extra,
                       gen_random_uuid() AS clave
                FROM {table} WHERE cod_dpto = :dpto"""
    (batch,) = read_sql_query(url, query, params={"dpto": "05"})
    row = batch.to_pylist()[0]
    latitudes = [float(r["latitud"]) for r in _divipola() if r["cod_dpto"] == "05"]
    assert batch.schema.field("media").type == pa.float64()
    assert row["media"] == pytest.approx(sum(latitudes) / len(latitudes))
    assert (row["n"], row["extra"]) == (125, '{"dpto": "05"}')
    assert batch.schema.field("primera").type == pa.timestamp("us", tz="UTC")
    assert row["primera"].isoformat() == "2024-03-01T13:00:00+00:00"  # 08:00 in Bogotá
    assert len(row["clave"]) == 36
