"""Recovery: retry what may succeed next time (I/O), never what will not (contracts).

A bad row, a rejected share, a failed quality suite or a missing secret is a data or set-up
problem: the same input fails the same way, so those fail at once with their message. A
dropped connection, a timeout, a busy database or an unreachable portal may pass a few
seconds later: those are retried with exponential backoff.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from prefect.tasks import exponential_backoff

IO_RETRIES = 3
BACKOFF_SECONDS = 2.0  # 2 s, 4 s, 8 s, with jitter so that workers do not retry in step

_NEVER_RETRIED = (
    "connectors.errors.SourceError",
    "flows.steps.RejectedShareError",
    "flows.steps.PublicationError",
    "flows.config.ConfigError",
    "schemas.person_keys.PseudonymKeyError",
    "warehouse.quality_gate.QualityGateFailed",
    "pandera.errors.SchemaError",
    "pandera.errors.SchemaErrors",
    "pandera.errors.SchemaDefinitionError",
    "publish.ckan_target.CkanAuthError",
    "publish.ckan_target.CkanValidationError",
)
# Transient by nature, from libraries that do not derive them from OSError.
_TRANSIENT = (
    "sqlalchemy.exc.OperationalError",
    "sqlalchemy.exc.InterfaceError",
    "sqlalchemy.exc.DisconnectionError",
    "_duckdb.IOException",  # DuckDB names its module _duckdb
    "httpx.TransportError",
    "publish.ckan_target.CkanUnavailableError",
)
# OSErrors that say the input is wrong or gone, not that the system is busy.
_PERMANENT_OS_ERRORS = (FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError)


def is_transient(error: BaseException) -> bool:
    """Whether retrying may help: I/O failures yes, contract and set-up errors never."""
    names = {f"{c.__module__}.{c.__qualname__}" for c in type(error).__mro__}
    if names & set(_NEVER_RETRIED):
        return False
    if names & set(_TRANSIENT):
        return True
    if isinstance(error, _PERMANENT_OS_ERRORS):
        return False
    return isinstance(error, (OSError, TimeoutError, sqlite3.OperationalError))


def retry_on_io_error(task: Any, task_run: Any, state: Any) -> bool:
    """Prefect retry condition: retry a failed task only when its error is transient."""
    error = state.result(raise_on_failure=False)
    return isinstance(error, BaseException) and is_transient(error)


def io_retries() -> dict[str, Any]:
    """Task options: up to three retries with exponential backoff, for I/O errors only."""
    return {
        "retries": IO_RETRIES,
        "retry_delay_seconds": exponential_backoff(backoff_factor=BACKOFF_SECONDS),
        "retry_jitter_factor": 0.5,
        "retry_condition_fn": retry_on_io_error,
    }
