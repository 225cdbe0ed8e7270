"""Ingest throughput: a 1M-row police CSV through connector + contract + load, vs DuckDB.

Baseline, same file, same run: DuckDB's own typed `read_csv` (rejects stored) + `INSERT`.
Each side runs in its own process so that peak memory (max RSS) is its own.
Usage: python bench/ingest.py [--rows N]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

COMUNAS = [*range(1, 17), 50, 60, 70, 80, 90]


def make_file(folder: Path, rows: int) -> Path:
    from connectors.synthetic_feeds import SyntheticSpec, write_synthetic_feeds

    spec = SyntheticSpec(
        territories={f"{c:02d}": 100_000 for c in COMUNAS},
        police_rows=rows,
        students=50,
        social_cases=50,
        bad_rows=10,
    )
    return write_synthetic_feeds(spec, folder)["police_incidents"]


def run_convive(path: Path, warehouse: Path) -> dict:
    from connectors.feed_batches import checked_batches
    from connectors.source_profiles import PROFILES_DIR, load_profile
    from warehouse.engine import open_warehouse
    from warehouse.loads import BatchLoader

    engine = open_warehouse(f"duckdb:///{warehouse}")
    profile = load_profile(PROFILES_DIR / "synthetic-police-incidents.toml")
    known = frozenset(f"05001-{c:02d}" for c in COMUNAS)
    started = time.perf_counter()
    with BatchLoader(
        engine,
        feed="police_incidents",
        source=profile.id,
        file_name=path.name,
        content_hash="bench",
    ) as loader:
        for batch in checked_batches(
            path, profile, secret=b"bench-secret-0000", known_territories=known
        ):
            loader.add(batch.valid, [vars(q) for q in batch.quarantined], batch.rows_read)
    seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "rows": loader.result.rows_loaded,
        "quarantined": loader.result.rows_quarantined,
    }


def run_duckdb(path: Path, warehouse: Path) -> dict:
    import duckdb

    conn = duckdb.connect(str(warehouse))
    started = time.perf_counter()
    # Typed read; malformed rows go to DuckDB's rejects table (our quarantine's equivalent).
    read = "read_csv(?, skip=1, store_rejects=true)"
    conn.execute(f"CREATE TABLE incidents AS SELECT * FROM {read} LIMIT 0", [str(path)])
    conn.execute(f"INSERT INTO incidents SELECT * FROM {read}", [str(path)])
    seconds = time.perf_counter() - started
    rows = conn.execute("SELECT COUNT(*) FROM incidents").fetchone()[0]
    return {"seconds": seconds, "rows": rows}


def _child(side: str, path: str, warehouse: str) -> None:
    result = (run_convive if side == "convive" else run_duckdb)(Path(path), Path(warehouse))
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(result))


def measure(side: str, path: Path, folder: Path) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--child", side, str(path), str(folder / f"{side}.duckdb")],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--child", nargs=3)
    args = parser.parse_args()
    if args.child:
        _child(*args.child)
        return
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        path = make_file(folder, args.rows)
        megabytes = path.stat().st_size / 1e6
        duck = measure("duckdb", path, folder)
        ours = measure("convive", path, folder)
    print(f"ingest: {args.rows:,} police rows, {megabytes:.1f} MB CSV")
    for name, r in (("duckdb read_csv+INSERT", duck), ("convive full path", ours)):
        print(
            f"  {name:24s} {r['seconds']:6.2f} s  {r['rows'] / r['seconds']:>10,.0f} rows/s  "
            f"{megabytes / r['seconds']:6.1f} MB/s  peak RSS {r['peak_rss_mb']:.0f} MB"
        )
    print(
        f"  ratio convive/duckdb: {ours['seconds'] / duck['seconds']:.2f}x (goal <= 2.0x); "
        f"quarantined {ours['quarantined']}"
    )


if __name__ == "__main__":
    main()
