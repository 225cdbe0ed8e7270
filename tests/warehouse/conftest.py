"""Every warehouse test runs on both real backends: DuckDB and PostgreSQL."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import text

from warehouse.engine import open_warehouse


@pytest.fixture(params=["duckdb", "postgresql"])
def engine(request, tmp_path):
    """An empty warehouse on each backend (a fresh schema per test on PostgreSQL)."""
    if request.param == "duckdb":
        engine = open_warehouse(f"duckdb:///{tmp_path / 'w.duckdb'}")
        yield engine
        engine.dispose()
        return
    base = request.getfixturevalue("postgres_url")
    schema = f"t_{uuid.uuid4().hex[:8]}"
    setup = open_warehouse.__globals__["create_engine"](base)
    with setup.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    setup.dispose()
    engine = open_warehouse(f"{base}?options=-csearch_path%3D{schema}")
    yield engine
    engine.dispose()
