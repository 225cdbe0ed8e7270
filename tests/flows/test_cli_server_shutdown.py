"""`convive run` stops Prefect's temporary API server before it exits.

The command ends with `os._exit` (flows.cli.main), which skips Prefect's atexit hook; the
server child then outlived the command holding its stdout, so `convive run | tail` never
ended. Here the real command runs in a subprocess, piped through `tail`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import write_demo_config

SMALL = {
    'first_period = "2018-01"': 'first_period = "2023-06"',
    "police_rows = 240000": "police_rows = 2000",
    "students = 2000": "students = 60",
    "social_cases = 6000": "social_cases = 300",
}
# Only guards against a hang (the bug this tests): a finished run takes far less.
HANG_GUARD_S = 1200


def _processes_with(variable: str) -> list[int]:
    """Pids of live processes whose environment holds `variable` (NAME=value), Linux /proc."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environment = (entry / "environ").read_bytes().split(b"\0")
        except OSError:  # gone meanwhile, or not ours
            continue
        if variable.encode() in environment:
            found.append(int(entry.name))
    return found


def test_run_piped_through_tail_ends_and_leaves_no_server(tmp_path):
    config = write_demo_config(tmp_path, **SMALL)
    home = tmp_path / "prefect-home"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_API")}
    env.update(
        PREFECT_HOME=str(home),
        PREFECT_LOCAL_STORAGE_PATH=str(home / "storage"),
        PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS="300",  # a loaded test machine
        CONVIVE_PSEUDONYM_KEY="a-test-key-of-enough-length",
    )
    convive = Path(sys.executable).parent / "convive"
    subprocess.run(
        [str(convive), "generate", "--config", str(config)],
        env=env,
        check=True,
        capture_output=True,
    )
    # Ends only once every holder of the pipe has closed it, the server child included.
    piped = subprocess.run(
        ["sh", "-c", f'"{convive}" run --json --config "{config}" | tail -n 100000'],
        env=env,
        capture_output=True,
        text=True,
        timeout=HANG_GUARD_S,
    )
    assert piped.returncode == 0, piped.stderr
    summary = json.loads(piped.stdout)
    assert summary["catalogue"].endswith("index.html") and summary["indicator_rows"]
    assert _processes_with(f"PREFECT_HOME={home}") == []
