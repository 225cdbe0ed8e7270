"""One writing stage at a time on the warehouse, across processes and machines.

DuckDB lets one process open a database file for writing; a second fails at once ("Could not
set lock on file"). Served flow runs are separate processes, so each stage holds an
exclusive `flock` on `<file>.lock` while it has the warehouse open, and the others wait.

On PostgreSQL, writers do not block each other, but two stages replacing the same periods at
once could still collide (both delete, both insert the same keys). A session-level advisory
lock serialises the stages of every worker machine; PostgreSQL drops it when the holder's
connection dies, as the OS drops a dead process's `flock`.
"""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

# Any fixed 64-bit number; shared by every Convive process that writes this database.
ADVISORY_LOCK_KEY = 0x636F6E76697665  # "convive"


def duckdb_file(url: str) -> Path | None:
    """The database file of a DuckDB URL; None for other backends and in-memory DuckDB."""
    if not url.startswith("duckdb:///"):
        return None
    path = url.removeprefix("duckdb:///")
    return Path(path) if path and path != ":memory:" else None


@contextmanager
def warehouse_lock(url: str) -> Iterator[None]:
    """Hold the warehouse's writer lock (DuckDB: a file lock; PostgreSQL: an advisory lock)."""
    if url.startswith("postgresql"):
        with _advisory_lock(url):
            yield
        return
    database = duckdb_file(url)
    if database is None:
        yield
        return
    with file_lock(database.with_name(database.name + ".lock")):
        yield


@contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """An exclusive `flock` on `path`: waits for the holder; the OS frees it if that dies."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextmanager
def _advisory_lock(url: str) -> Iterator[None]:
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": ADVISORY_LOCK_KEY})
            conn.commit()
            try:
                yield
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": ADVISORY_LOCK_KEY})
                conn.commit()
    finally:
        engine.dispose()
