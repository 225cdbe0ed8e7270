"""Process environment for Prefect: telemetry off, a project-owned home, no server needed.

Imported before Prefect by every entry point in `flows` (settings are read at import time).
"""

from __future__ import annotations

import os
from pathlib import Path


def configure_prefect(home: Path | None = None) -> None:
    """Set Prefect's environment unless the user already chose values."""
    home = home or Path(os.environ.get("CONVIVE_HOME", Path.cwd() / ".convive"))
    os.environ.setdefault("PREFECT_HOME", str(home / "prefect"))
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("PREFECT_SERVER_LOGGING_LEVEL", "WARNING")


def without_heartbeat():
    """Settings context with the flow heartbeat off: without a server it costs ~1 s a flow.

    (It can only be switched off in code; the environment variable takes integers only.)
    """
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings

    return temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None})
