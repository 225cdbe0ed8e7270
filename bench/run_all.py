"""`make bench`: run every benchmark in bench/ in turn (each prints its own ratios)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCHES = ["ingest.py", "disclosure.py", "warehouse.py", "latency.py"]


def main() -> int:
    folder = Path(__file__).resolve().parent
    failed = 0
    for name in BENCHES:
        script = folder / name
        if not script.exists():
            continue
        print(f"== {name}", flush=True)
        failed |= subprocess.run([sys.executable, str(script)], check=False).returncode
    return failed


if __name__ == "__main__":
    sys.exit(main())
