"""Retries are for I/O: contract and set-up errors fail at once, with their message."""

from __future__ import annotations

import errno

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from connectors.errors import SourceError
from flows.config import ConfigError
from flows.recovery import is_transient
from flows.steps import RejectedShareError
from schemas.person_keys import PseudonymKeyError


def _refused_connection() -> OperationalError:
    """A real driver error: PostgreSQL on a port where nothing listens."""
    engine = create_engine("postgresql+psycopg://nobody@127.0.0.1:9/none")
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except OperationalError as error:
        return error
    finally:
        engine.dispose()
    raise AssertionError("a connection to port 9 was accepted")


def _pandera_error() -> Exception:
    import pandas as pd
    import pandera.pandas as pa

    schema = pa.DataFrameSchema({"count": pa.Column(int, pa.Check.ge(0))})
    try:
        schema.validate(pd.DataFrame({"count": [-1]}))
    except pa.errors.SchemaError as error:
        return error
    raise AssertionError("a negative count passed the schema")


def _gate_failure() -> Exception:
    from warehouse.quality_gate import ExpectationOutcome, QualityGateFailed

    outcome = ExpectationOutcome(
        suite="facts",
        table="police_incidents",
        expectation="expect_column_values_to_not_be_null",
        column="territory_code",
        description="every incident has a territory",
        success=False,
        observed="2 null",
    )
    return QualityGateFailed([outcome])


@pytest.mark.parametrize(
    "error",
    [
        SourceError("feed.csv", 7, "date", "'2021-13-45' is not a date"),
        RejectedShareError("feed.csv: rejected 9 of 10 rows"),
        PseudonymKeyError("CONVIVE_PSEUDONYM_KEY is not set"),
        ConfigError("convive.toml: feeds.0.name: bad"),
        FileNotFoundError(errno.ENOENT, "No such file", "inbox/feed.csv"),
        PermissionError(errno.EACCES, "Permission denied", "inbox/feed.csv"),
    ],
    ids=lambda e: type(e).__name__,
)
def test_contract_and_setup_errors_are_never_retried(error):
    assert not is_transient(error)


def test_schema_and_quality_failures_are_never_retried():
    assert not is_transient(_pandera_error())
    assert not is_transient(_gate_failure())


@pytest.mark.parametrize(
    "error",
    [
        ConnectionResetError(errno.ECONNRESET, "Connection reset by peer"),
        TimeoutError("read timed out"),
        OSError(errno.EIO, "Input/output error"),
    ],
    ids=lambda e: type(e).__name__,
)
def test_io_errors_are_retried(error):
    assert is_transient(error)


def test_a_refused_database_connection_is_retried():
    assert is_transient(_refused_connection())


def test_a_duckdb_file_held_by_another_process_is_retried(tmp_path):
    import subprocess
    import sys

    import duckdb

    path = str(tmp_path / "busy.duckdb")
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_DUCKDB, path],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "holding"
        with pytest.raises(duckdb.IOException) as refused:
            duckdb.connect(path)
        assert is_transient(refused.value)
    finally:
        holder.communicate("")  # closing its stdin lets it end


HOLD_DUCKDB = """
import sys, duckdb
connection = duckdb.connect(sys.argv[1])
print("holding", flush=True)
sys.stdin.read()
connection.close()
"""
