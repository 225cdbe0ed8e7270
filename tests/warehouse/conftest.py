"""Every warehouse test runs on both real backends: DuckDB and PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest
from sqlalchemy import text

from warehouse.engine import create_warehouse_engine, open_warehouse


@pytest.fixture(params=["duckdb", "postgresql"])
def new_warehouse_url(request, tmp_path) -> Callable[[], str]:
    """Make URLs of EMPTY databases on each backend (a fresh schema each on PostgreSQL)."""
    if request.param == "duckdb":
        return lambda: f"duckdb:///{tmp_path / uuid.uuid4().hex[:8]}.duckdb"
    base = request.getfixturevalue("postgres_url")

    def make() -> str:
        schema = f"t_{uuid.uuid4().hex[:8]}"
        setup = create_warehouse_engine(base)
        with setup.begin() as conn:
            conn.execute(text(f"CREATE SCHEMA {schema}"))
        setup.dispose()
        return f"{base}?options=-csearch_path%3D{schema}"

    return make


@pytest.fixture
def warehouse_url(new_warehouse_url) -> str:
    """The URL of an empty database on each backend."""
    return new_warehouse_url()


@pytest.fixture
def engine(warehouse_url):
    """A warehouse at the newest schema, empty, on each backend."""
    engine = open_warehouse(warehouse_url)
    yield engine
    engine.dispose()
