"""Create the warehouse engine for a URL (DuckDB file by default, PostgreSQL in production)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, create_engine

from warehouse.schema_migrations import upgrade_warehouse


def create_warehouse_engine(url: str) -> Engine:
    """An engine for `url`, schema untouched (DuckDB: the file's folder is created)."""
    if url.startswith("duckdb:///"):
        path = url.removeprefix("duckdb:///")
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        # DuckDB must not try to download extensions: there is no network at run time.
        return create_engine(
            url,
            connect_args={
                "config": {
                    "autoinstall_known_extensions": False,
                    "autoload_known_extensions": False,
                }
            },
        )
    return create_engine(url)


def open_warehouse(url: str) -> Engine:
    """Open (and create if needed) the warehouse at `url`, upgraded to the newest schema."""
    engine = create_warehouse_engine(url)
    upgrade_warehouse(engine)
    return engine


def is_duckdb(engine: Engine) -> bool:
    """True when the engine talks to DuckDB (the Arrow fast path applies)."""
    return engine.dialect.name == "duckdb"
