"""Ingest throughput: a 1M-row police CSV through connector + contract + load, vs DuckDB.

Baseline, same file, same run: DuckDB's own typed `read_csv` (rejects stored) + `INSERT`.
Each side runs in its own process so that peak memory (VmHWM) is its own. Convive's side is
the ingest flow's path: batches are read and checked in a thread while the previous one is
inserted. CPU time (all threads) is reported too: on a shared machine it varies less than
wall time. Each side runs --repeats times (default 3), alternating, and its fastest run counts:
other work on a shared machine only ever slows a run down.
Usage: python bench/ingest.py [--rows N] [--repeats N]
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
    from connectors.prefetch import prefetched
    from connectors.source_profiles import PROFILES_DIR, load_profile
    from warehouse.engine import open_warehouse
    from warehouse.loads import BatchLoader

    engine = open_warehouse(f"duckdb:///{warehouse}")
    profile = load_profile(PROFILES_DIR / "synthetic-police-incidents.toml")
    known = frozenset(f"05001-{c:02d}" for c in COMUNAS)
    started, cpu_started = time.perf_counter(), _cpu_seconds()
    with BatchLoader(
        engine,
        feed="police_incidents",
        source=profile.id,
        file_name=path.name,
        content_hash="bench",
    ) as loader:
        batches = checked_batches(
            path, profile, secret=b"bench-secret-0000", known_territories=known
        )
        # As the ingest flow does (flows.steps.load_batches): the next batch is read and
        # checked in a thread while this one is inserted.
        for batch in prefetched(batches):
            loader.add(batch.valid, [vars(q) for q in batch.quarantined], batch.rows_read)
    seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "cpu_seconds": _cpu_seconds() - cpu_started,
        "rows": loader.result.rows_loaded,
        "quarantined": loader.result.rows_quarantined,
    }


def run_duckdb(path: Path, warehouse: Path) -> dict:
    import duckdb

    conn = duckdb.connect(str(warehouse))
    started, cpu_started = time.perf_counter(), _cpu_seconds()
    # Typed read; malformed rows go to DuckDB's rejects table (our quarantine's equivalent).
    read = "read_csv(?, skip=1, store_rejects=true)"
    conn.execute(f"CREATE TABLE incidents AS SELECT * FROM {read} LIMIT 0", [str(path)])
    conn.execute(f"INSERT INTO incidents SELECT * FROM {read}", [str(path)])
    seconds = time.perf_counter() - started
    cpu_seconds = _cpu_seconds() - cpu_started
    rows = conn.execute("SELECT COUNT(*) FROM incidents").fetchone()[0]
    return {"seconds": seconds, "cpu_seconds": cpu_seconds, "rows": rows}


def _peak_rss_mb() -> float:
    """This process's peak resident memory. Linux's ru_maxrss carries over the peak of the
    parent that forked it (here the one that wrote the 1M-row file), so VmHWM is read."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _cpu_seconds() -> float:
    """CPU time of this process, all threads: on a shared machine, steadier than wall time."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _child(side: str, path: str, warehouse: str) -> None:
    result = (run_convive if side == "convive" else run_duckdb)(Path(path), Path(warehouse))
    result["peak_rss_mb"] = _peak_rss_mb()
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
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--child", nargs=3)
    args = parser.parse_args()
    if args.child:
        _child(*args.child)
        return
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        path = make_file(folder, args.rows)
        megabytes = path.stat().st_size / 1e6
        runs: dict[str, list[dict]] = {"duckdb": [], "convive": []}
        for _ in range(args.repeats):
            for side, results in runs.items():
                results.append(measure(side, path, folder))
                (folder / f"{side}.duckdb").unlink()
        duck, ours = (min(results, key=lambda r: r["seconds"]) for results in runs.values())
    print(
        f"ingest: {args.rows:,} police rows, {megabytes:.1f} MB CSV "
        f"(fastest of {args.repeats} runs each)"
    )
    for name, r in (("duckdb read_csv+INSERT", duck), ("convive full path", ours)):
        print(
            f"  {name:24s} {r['seconds']:6.2f} s  {r['rows'] / r['seconds']:>10,.0f} rows/s  "
            f"{megabytes / r['seconds']:6.1f} MB/s  CPU {r['cpu_seconds']:5.2f} s  "
            f"peak RSS {r['peak_rss_mb']:.0f} MB"
        )
    print(
        f"  ratio convive/duckdb: {ours['seconds'] / duck['seconds']:.2f}x (goal <= 2.0x), "
        f"CPU time {ours['cpu_seconds'] / duck['cpu_seconds']:.2f}x; "
        f"quarantined {ours['quarantined']}"
    )


if __name__ == "__main__":
    main()
