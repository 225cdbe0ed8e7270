"""Alembic revisions build exactly the model of warehouse/tables.py, on DuckDB and PostgreSQL."""

from __future__ import annotations

from alembic import command
from sqlalchemy import Engine, text

from warehouse.engine import create_warehouse_engine, open_warehouse
from warehouse.schema_migrations import (
    SKELETON_REVISION,
    current_revision,
    head_revision,
    migration_config,
    upgrade_warehouse,
)
from warehouse.tables import metadata


def _columns(engine: Engine) -> dict[tuple[str, str], tuple[str, bool]]:
    """(table, column) -> (data type, nullable), read from information_schema."""
    query = text(
        "SELECT table_name, column_name, data_type, is_nullable FROM information_schema.columns "
        "WHERE table_schema = current_schema() AND table_name <> 'alembic_version'"
    )
    with engine.connect() as conn:
        return {(t, c): (d.upper(), n == "YES") for t, c, d, n in conn.execute(query)}


def _primary_keys(engine: Engine) -> dict[str, set[str]]:
    query = text(
        "SELECT k.table_name, k.column_name FROM information_schema.table_constraints c "
        "JOIN information_schema.key_column_usage k "
        "  ON k.constraint_name = c.constraint_name AND k.table_name = c.table_name "
        " AND k.table_schema = c.table_schema "
        "WHERE c.constraint_type = 'PRIMARY KEY' AND c.table_schema = current_schema() "
        "  AND c.table_name <> 'alembic_version'"
    )
    keys: dict[str, set[str]] = {}
    with engine.connect() as conn:
        for table, column in conn.execute(query):
            keys.setdefault(table, set()).add(column)
    return keys


def _indexes(engine: Engine) -> set[str]:
    if engine.dialect.name == "duckdb":
        query = "SELECT index_name FROM duckdb_indexes() WHERE schema_name = current_schema()"
    else:
        query = (
            "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema() "
            "AND indexname NOT LIKE '%%_pkey' AND indexname NOT LIKE 'alembic_%%'"
        )
    with engine.connect() as conn:
        return {r[0] for r in conn.exec_driver_sql(query)}


def _model_columns(engine: Engine) -> dict[tuple[str, str], tuple[str, bool]]:
    """What tables.py says, compiled for the engine's dialect (DuckDB reports TEXT as VARCHAR)."""
    model = {}
    for table in metadata.sorted_tables:
        for column in table.columns:
            kind = column.type.compile(dialect=engine.dialect).upper()
            kind = {
                "TEXT": "VARCHAR" if engine.dialect.name == "duckdb" else "TEXT",
                "VARCHAR": "CHARACTER VARYING"
                if engine.dialect.name == "postgresql"
                else "VARCHAR",
                "TIMESTAMP WITH TIME ZONE": "TIMESTAMP WITH TIME ZONE",
                "FLOAT": "DOUBLE PRECISION",
            }.get(kind, kind)
            if engine.dialect.name == "duckdb" and kind == "DOUBLE PRECISION":
                kind = "DOUBLE"
            model[(table.name, column.name)] = (kind, column.nullable)
    return model


def _model_indexes(engine: Engine) -> set[str]:
    names = set()
    for table in metadata.sorted_tables:
        for index in table.indexes:
            condition = index._ddl_if
            if condition is None or condition.dialect in (None, engine.dialect.name):
                names.add(index.name)
    return names


def test_an_empty_database_upgraded_to_head_is_exactly_the_model(warehouse_url):
    engine = open_warehouse(warehouse_url)
    try:
        assert current_revision(engine) == head_revision()
        assert _columns(engine) == _model_columns(engine)
        assert _primary_keys(engine) == {
            t.name: {c.name for c in t.primary_key.columns}
            for t in metadata.sorted_tables
            if t.primary_key.columns
        }
        assert _indexes(engine) == _model_indexes(engine)
        expected_indexes = 7 if engine.dialect.name == "postgresql" else 0
        assert len(_indexes(engine)) == expected_indexes
    finally:
        engine.dispose()


def test_upgrading_twice_changes_nothing(warehouse_url):
    engine = open_warehouse(warehouse_url)
    try:
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO code_list_values VALUES ('l', 'c')"))
        before = (_columns(engine), _indexes(engine), current_revision(engine))
        upgrade_warehouse(engine)
        with engine.begin() as conn:  # even forced through Alembic itself
            command.upgrade(migration_config(conn), "head")
        assert (_columns(engine), _indexes(engine), current_revision(engine)) == before
        with engine.connect() as conn:
            assert conn.execute(text("SELECT COUNT(*) FROM code_list_values")).scalar() == 1
    finally:
        engine.dispose()


def test_a_skeleton_database_is_upgraded_in_place_keeping_its_data(warehouse_url):
    # A database made by the walking skeleton: its tables, no Alembic version table.
    engine = create_warehouse_engine(warehouse_url)
    try:
        upgrade_warehouse(engine, SKELETON_REVISION)
        with engine.begin() as conn:
            conn.execute(text("DROP TABLE alembic_version"))
            conn.execute(
                text(
                    "INSERT INTO indicator_values VALUES "
                    "('incidents_per_10k', 'T', 'municipality', '2023-01', 'all', 3, 3, 30000, 1)"
                )
            )
        assert current_revision(engine) is None
        assert ("indicator_values", "flags") not in _columns(engine)
        upgrade_warehouse(engine)
        assert current_revision(engine) == head_revision()
        assert _columns(engine) == _model_columns(engine)
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT units, value, flags FROM indicator_values")).all()
        assert [tuple(r) for r in rows] == [(3.0, 1.0, None)]
    finally:
        engine.dispose()


def test_head_downgrades_to_the_skeleton_and_back(warehouse_url):
    engine = open_warehouse(warehouse_url)
    try:
        with engine.begin() as conn:
            command.downgrade(migration_config(conn), SKELETON_REVISION)
        assert current_revision(engine) == SKELETON_REVISION
        assert ("indicator_values", "flags") not in _columns(engine)
        assert _indexes(engine) == set()
        upgrade_warehouse(engine)
        assert _columns(engine) == _model_columns(engine)
        assert _indexes(engine) == _model_indexes(engine)
    finally:
        engine.dispose()
