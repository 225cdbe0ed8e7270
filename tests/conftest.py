"""Shared fixtures: an isolated Prefect, PostgreSQL, the demo configuration in a temp folder."""

from __future__ import annotations

import os
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

# Prefect reads its settings at import: isolate it before anything imports it.
_PREFECT_HOME = Path(tempfile.mkdtemp(prefix="convive-prefect-"))
os.environ["PREFECT_HOME"] = str(_PREFECT_HOME)
os.environ["PREFECT_LOCAL_STORAGE_PATH"] = str(_PREFECT_HOME / "storage")
os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
os.environ["DO_NOT_TRACK"] = "1"
os.environ["PREFECT_LOGGING_LEVEL"] = "WARNING"
os.environ.pop("CONVIVE_PSEUDONYM_KEY", None)

pytest_plugins = ["tests.fixtures.ckan_portal"]

_EXIT_STATUS = pytest.StashKey[int]()
REPO = Path(__file__).resolve().parent.parent
CASES = Path(__file__).resolve().parent / "cases"
SHARED_DATA = REPO.parent / "shared" / "data" / "real"
DEMO_DIR = REPO / "demo"
PG_URL = os.environ.get("CONVIVE_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432")


def missing(reason: str) -> None:
    """Skip for a missing service locally; in CI nothing may be skipped, so fail."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI is set: a missing service is a failure, not a skip)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def prefect_harness() -> Iterator[None]:
    """One temporary Prefect API for the whole session (per test it costs ~8 s)."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness():
        yield


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database for the session, dropped afterwards."""
    from sqlalchemy import create_engine, text

    admin = create_engine(f"{PG_URL}/postgres", isolation_level="AUTOCOMMIT")
    name = f"convive_test_{uuid.uuid4().hex[:8]}"
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as error:  # noqa: BLE001 - any connection failure means no server
        missing(f"PostgreSQL is not reachable at {PG_URL}: {error.__class__.__name__}")
    try:
        yield f"{PG_URL}/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def write_demo_config(folder: Path, **overrides: str) -> Path:
    """The demo's convive.toml, rewritten to read the shipped data and write under `folder`."""
    text = (DEMO_DIR / "convive.toml").read_text(encoding="utf-8")
    text = text.replace('"data/', f'"{DEMO_DIR / "data"}/')
    for old, new in overrides.items():
        text = text.replace(old, new)
    path = folder / "convive.toml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def demo_config_path(tmp_path: Path) -> Path:
    """A demo configuration whose outputs go to a temporary folder."""
    return write_demo_config(tmp_path)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Remember the exit status for pytest_unconfigure."""
    session.config.stash[_EXIT_STATUS] = int(exitstatus)


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    """End the process without interpreter teardown, keeping pytest's summary the last line.

    After a Prefect flow has used DuckDB in this process, DuckDB's native bindings print
    pages of spurious "nanobind: leaked instance" warnings at teardown; every result is
    already reported and flushed by now.
    """
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(config.stash.get(_EXIT_STATUS, 0))
