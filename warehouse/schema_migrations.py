"""Bring a warehouse database to the newest schema with Alembic, on DuckDB or PostgreSQL.

The revisions live in `warehouse/migrations/versions`. Alembic has no DuckDB support of its
own; `DuckDBImpl` below registers one (DuckDB speaks PostgreSQL's DDL, and runs DDL inside
transactions). What DuckDB cannot alter in place is listed in warehouse/migrations/README.md.
"""

from __future__ import annotations

import functools
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.ddl.impl import DefaultImpl
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, text

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
# The revision that describes databases created by the walking skeleton (before migrations).
SKELETON_REVISION = "0001_skeleton"
# Any constant: it names the PostgreSQL advisory lock that serialises concurrent upgrades.
_UPGRADE_LOCK = 4_711_2026


class DuckDBImpl(DefaultImpl):
    """Alembic's operations for DuckDB (registered by subclassing: `__dialect__`)."""

    __dialect__ = "duckdb"
    transactional_ddl = True


def migration_config(connection: Connection | None = None) -> Config:
    """An Alembic configuration for the warehouse revisions (on `connection` if given)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


@functools.cache
def head_revision() -> str:
    """The newest revision id."""
    head = ScriptDirectory.from_config(migration_config()).get_current_head()
    assert head is not None, f"no Alembic revisions under {MIGRATIONS_DIR}"
    return head


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at (None for an empty or pre-migration database)."""
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade_warehouse(engine: Engine, revision: str = "head") -> None:
    """Upgrade the database in place to `revision`, in one transaction; a no-op when there.

    A database created by the walking skeleton (tables but no version table) is first
    stamped at the skeleton's revision, so its data are kept and only later changes run.
    """
    target = head_revision() if revision == "head" else revision
    if current_revision(engine) == target:
        return
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _UPGRADE_LOCK})
        context = MigrationContext.configure(conn)
        config = migration_config(conn)
        if context.get_current_revision() is None and _has_table(conn, "territories"):
            command.stamp(config, SKELETON_REVISION)
        command.upgrade(config, target)


def _has_table(conn: Connection, name: str) -> bool:
    query = text(
        "SELECT COUNT(*) FROM information_schema.tables "
        "WHERE table_schema = current_schema() AND table_name = :name"
    )
    return bool(conn.execute(query, {"name": name}).scalar())
