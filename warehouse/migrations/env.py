"""Alembic environment for the warehouse.

`warehouse.schema_migrations.upgrade_warehouse` passes an open connection in
`config.attributes["connection"]`. From the command line (`alembic upgrade head` with the
repository's alembic.ini) the URL comes from the environment variable CONVIVE_WAREHOUSE_URL,
never from a file; `alembic upgrade head --sql` prints the DDL without a database.
"""

from __future__ import annotations

import os

from alembic import context

from warehouse.engine import create_warehouse_engine

URL_VARIABLE = "CONVIVE_WAREHOUSE_URL"


def _url() -> str:
    url = os.environ.get(URL_VARIABLE)
    if not url:
        raise SystemExit(
            f"set {URL_VARIABLE} to the warehouse URL (duckdb:///... or postgresql...)"
        )
    return url


def _run_offline() -> None:
    context.configure(url=_url(), literal_binds=True, dialect_opts={"paramstyle": "named"})
    with context.begin_transaction():
        context.run_migrations()


def _run_on(connection) -> None:
    context.configure(connection=connection)
    with context.begin_transaction():
        context.run_migrations()


def _run_online() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run_on(connection)
        return
    engine = create_warehouse_engine(_url())
    try:
        with engine.begin() as connection:
            _run_on(connection)
    finally:
        engine.dispose()


if context.is_offline_mode():
    _run_offline()
else:
    _run_online()
