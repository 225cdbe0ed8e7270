"""Warehouse benchmark: 5 years of 3 feeds, every indicator in full, then one month more.

1. Build 5 years of history (police incidents, social-services cases, school absence, about
   1M rows a year each, seeded synthetic rows with shared pseudonymous keys) and load them as
   Arrow tables straight through the warehouse's BatchLoader (no CSV, no connectors: this is
   about the warehouse), one batch per feed and year.
2. Compute every catalogue indicator for all 60 months (full), the building blocks
   (pupil months, case spells) rebuilt from scratch.
3. Load one more month of the three feeds and recompute only what it affects (incremental):
   the building blocks take in the new batches, the indicators their affected periods.
   Goal: incremental <= 10 % of full.
4. The floor: a fresh DuckDB reading the same history from Parquet and running one plain
   GROUP BY per indicator (counts by territory, month and breakdown; no zero-filling, no
   hierarchy, no cross-institution logic). Reported as full / floor.

Each side runs in its own process so that peak memory (max RSS) is its own. On PostgreSQL the
server's memory is not in the figure (it is another process). Every computation runs
--repeats times (default 2) and the fastest run counts; an incremental repeat first loads the
month again as a revised file (new rows, new content hash), so that each one has a month of
new batches to take in. Usage:
    python bench/warehouse.py [--backend duckdb|postgresql|both] [--rows-per-year N]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

PG_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432"
ROOT = "05001"
DISTRICTS = [f"{ROOT}-{c:02d}" for c in [*range(1, 17), 50, 60, 70, 80, 90]]
FIRST, LAST, ADDED = "2019-07", "2024-06", "2024-07"  # 60 months of history, then one more
SCHOOL_MONTHS = range(2, 12)  # February to November (calendar A)
CATEGORIES = {
    "theft_person": 0.46,
    "injury": 0.17,
    "domestic_violence": 0.12,
    "theft_home": 0.06,
    "theft_vehicle": 0.08,
    "sexual_offence": 0.04,
    "extortion": 0.02,
    "drug_offence": 0.04,
    "homicide": 0.01,
}
INTERVENTIONS = {
    "family_support": 0.4,
    "child_protection": 0.25,
    "domestic_violence_support": 0.15,
    "economic_support": 0.15,
    "other": 0.05,
}
REFERRALS = {"police": 0.2, "school": 0.25, "health": 0.2, "self": 0.25, "other": 0.1}
REFERRAL_WINDOW_DAYS = 30  # indicators.referral_window_days, as the flows pass it


def months(first: str, last: str) -> list[str]:
    """Every YYYY-MM from `first` to `last`."""
    from warehouse.indicator_periods import shift_period

    out = [first]
    while out[-1] < last:
        out.append(shift_period(out[-1], 1))
    return out


class History:
    """Seeded synthetic canonical rows; the same pupils and residents across feeds and months."""

    def __init__(self, rows_per_year: int, seed: int = 20_241_123) -> None:
        self.rng = np.random.default_rng(seed)
        self.per_month = rows_per_year // 12
        self.population = self.rng.integers(40_000, 200_000, len(DISTRICTS))
        weights = self.population / self.population.sum()
        self.weights = weights
        pupils = rows_per_year // len(SCHOOL_MONTHS)
        self.pupil_keys = np.array([f"{i:032x}" for i in range(pupils)], dtype=object)
        self.pupil_district = self.rng.choice(len(DISTRICTS), pupils, p=weights)
        self.propensity = self.rng.beta(1.2, 14.0, pupils)
        # A quarter of the pupils (the most absent) are the ones social services know.
        self.known_pupils = np.argsort(-self.propensity)[: pupils // 4]

    def territory_tables(self) -> tuple[pa.Table, pa.Table]:
        """Territories (municipality and its districts) and population for every year."""
        codes = [ROOT, *DISTRICTS]
        territories = pa.table(
            {
                "code": codes,
                "name": ["Municipio", *(f"Distrito {d[-2:]}" for d in DISTRICTS)],
                "level": ["municipality", *(["district"] * len(DISTRICTS))],
                "parent_code": [None, *([ROOT] * len(DISTRICTS))],
                "geometry": pa.array([None] * len(codes), pa.string()),
            }
        )
        years = range(int(FIRST[:4]), int(ADDED[:4]) + 1)
        pops = [int(self.population.sum()), *map(int, self.population)]
        population = pa.table(
            {
                "code": [c for _ in years for c in codes],
                "year": [y for y in years for _ in codes],
                "population": [p for _ in years for p in pops],
            }
        )
        return territories, population

    def police(self, period: str) -> pa.Table:
        """One month of police incidents; 8 % involve a minor, who is one of the pupils."""
        n, rng = self.per_month, self.rng
        day = self._days(period, n)
        category = rng.choice(list(CATEGORIES), n, p=list(CATEGORIES.values()))
        minor = rng.random(n) < 0.08
        pupil = rng.integers(0, len(self.pupil_keys), n)
        return pa.table(
            {
                "incident_id": [f"P{period}{i:07d}" for i in range(n)],
                "source": ["bench-police"] * n,
                "occurred_date": day,
                "occurred_time": ["12:00"] * n,
                "territory_code": self._districts(rng.choice(len(DISTRICTS), n, p=self.weights)),
                "latitude": pa.nulls(n, pa.float64()),
                "longitude": pa.nulls(n, pa.float64()),
                "category": category,
                "source_label": np.char.upper(category.astype(str)),
                "modality": pa.nulls(n, pa.string()),
                "victim_sex": rng.choice(["F", "M", "U"], n, p=[0.46, 0.52, 0.02]),
                "victim_age_group": np.where(minor, "10-14", "25-34"),
                "minor_involved": minor,
                "domestic": category == "domestic_violence",
                "person_key": pa.array(np.where(minor, self.pupil_keys[pupil], None)),
                "count": np.ones(n, dtype=np.int32),
            }
        )

    def social(self, period: str) -> pa.Table:
        """One month of new social-services cases; 5 % are pupils social services know."""
        n, rng = self.per_month, self.rng
        opened = self._days(period, n)
        closed = np.array(opened, dtype="datetime64[D]") + rng.exponential(240, n).astype(int)
        still_open = closed > np.datetime64(f"{LAST}-28")
        is_pupil = rng.random(n) < 0.05
        pupil = self.known_pupils[rng.integers(0, len(self.known_pupils), n)]
        adults = np.array([f"a{i:031x}" for i in rng.integers(0, 3 * n * 12, n)], dtype=object)
        district = np.where(
            is_pupil,
            self.pupil_district[pupil],
            rng.choice(len(DISTRICTS), n, p=self.weights),
        )
        return pa.table(
            {
                "case_id": [f"C{period}{i:07d}" for i in range(n)],
                "source": ["bench-social"] * n,
                "person_key": np.where(is_pupil, self.pupil_keys[pupil], adults),
                "sex": rng.choice(["F", "M"], n),
                "age_group": np.where(is_pupil, "10-14", "35-44"),
                "territory_code": self._districts(district),
                "opened_date": opened,
                "closed_date": pa.array(closed, pa.date32(), mask=still_open),
                "intervention_type": rng.choice(
                    list(INTERVENTIONS), n, p=list(INTERVENTIONS.values())
                ),
                "referral_source": rng.choice(list(REFERRALS), n, p=list(REFERRALS.values())),
            }
        )

    def school(self, period: str) -> pa.Table | None:
        """One school month: a row per pupil (none in December and January)."""
        if int(period[5:]) not in SCHOOL_MONTHS:
            return None
        rng, n = self.rng, len(self.pupil_keys)
        possible = rng.integers(16, 23, n)
        rate = np.clip(self.propensity * rng.lognormal(0, 0.5, n), 0, 1)
        absent = rng.binomial(possible, rate)
        return pa.table(
            {
                "record_id": [f"S{period}{i:07d}" for i in range(n)],
                "source": ["bench-school"] * n,
                "student_key": self.pupil_keys,
                "school_code": [f"IE-{d:02d}" for d in self.pupil_district],
                "territory_code": self._districts(self.pupil_district),
                "possible_sessions": possible.astype(np.int32),
                "absent_sessions": absent.astype(np.int32),
                "unjustified_sessions": rng.binomial(absent, 0.45).astype(np.int32),
                "enrolments": np.ones(n, dtype=np.int32),
                "period": [period] * n,
            }
        )

    def _days(self, period: str, n: int) -> pa.Array:
        start = date(int(period[:4]), int(period[5:]), 1)
        length = ((start + timedelta(days=32)).replace(day=1) - start).days
        days = np.datetime64(start) + self.rng.integers(0, length, n).astype("timedelta64[D]")
        return pa.array(np.sort(days), pa.date32())

    @staticmethod
    def _districts(index: np.ndarray) -> pa.Array:
        return pa.array(np.array(DISTRICTS, dtype=object)[index])


FEEDS = ("police_incidents", "social_cases", "school_absence")


def _month_tables(history: History, period: str) -> dict[str, pa.Table | None]:
    return {
        "police_incidents": history.police(period),
        "social_cases": history.social(period),
        "school_absence": history.school(period),
    }


def _load(engine, feed: str, tables: list[pa.Table], label: str) -> list[str]:
    from warehouse.loads import BatchLoader

    # The rows' own source: a revised file replaces the periods of its source only, so
    # another name would add the month's rows a second time instead of replacing them.
    with BatchLoader(
        engine,
        feed=feed,
        source=tables[0]["source"][0].as_py(),
        file_name=f"{feed}-{label}.arrow",
        content_hash=uuid.uuid4().hex * 2,
    ) as loader:
        for table in tables:
            loader.add(table, [], table.num_rows)
    return loader.result.periods


def build_history(engine, history: History, parquet: Path) -> dict:
    """Load the 60 months, one batch per feed and year; write the same rows to Parquet."""
    from warehouse.loads import replace_table
    from warehouse.tables import territories, territory_population

    territory_rows, population_rows = history.territory_tables()
    replace_table(engine, territories, territory_rows)
    replace_table(engine, territory_population, population_rows)
    by_year: dict[str, list[str]] = {}
    for period in months(FIRST, LAST):
        by_year.setdefault(period[:4], []).append(period)
    rows, seconds = 0, 0.0
    for year, periods in by_year.items():
        tables: dict[str, list[pa.Table]] = {feed: [] for feed in FEEDS}
        for period in periods:
            for feed, table in _month_tables(history, period).items():
                if table is not None:
                    tables[feed].append(table)
        for feed, parts in tables.items():
            if not parts:
                continue
            folder = parquet / feed
            folder.mkdir(parents=True, exist_ok=True)
            pq.write_table(pa.concat_tables(parts), folder / f"{year}.parquet")
            started = time.perf_counter()
            _load(engine, feed, parts, year)
            seconds += time.perf_counter() - started
            rows += sum(t.num_rows for t in parts)
    return {"history_rows": rows, "load_seconds": seconds}


def run_warehouse(backend: str, folder: Path, rows_per_year: int, repeats: int) -> dict:
    """Build, compute in full, add a month, compute incrementally (one process, one backend).

    Each computation runs `repeats` times (the same work again) and the fastest counts, so
    that a busy machine disturbs the ratio less.
    """
    from sqlalchemy import create_engine, text

    from warehouse.engine import open_warehouse
    from warehouse.indicators import compute_indicators, load_catalogue

    admin, url = None, f"duckdb:///{folder / 'bench.duckdb'}"
    if backend == "postgresql":
        name = f"convive_bench_{uuid.uuid4().hex[:8]}"
        admin = create_engine(f"{PG_ADMIN_URL}/postgres", isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        url = f"{PG_ADMIN_URL}/{name}"
    engine = open_warehouse(url)
    try:
        history = History(rows_per_year)
        result = build_history(engine, history, folder / "parquet")
        if backend == "postgresql":  # what autovacuum would do after a bulk load
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.exec_driver_sql("ANALYZE")
        catalogue = load_catalogue()
        window = {i.id: months(FIRST, LAST) for i in catalogue}
        full = [
            _timed(compute_indicators, engine, catalogue, window, rebuild_blocks=True)
            for _ in range(repeats)
        ]
        result["full_seconds"] = min(seconds for seconds, _ in full)
        result["full_rows"] = sum(full[0][1].values())
        result |= add_month(engine, history, catalogue, repeats)
    finally:
        engine.dispose()
        if admin is not None:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()
    return result


def add_month(engine, history: History, catalogue, repeats: int) -> dict:
    """Load the next month of each feed, then recompute only the periods it affects."""
    from warehouse.indicators import affected_periods, compute_indicators

    known = months(FIRST, ADDED)
    runs, loads = [], []
    for _ in range(repeats):
        started = time.perf_counter()
        touched = {}
        for feed, table in _month_tables(history, ADDED).items():
            touched[feed] = set(_load(engine, feed, [table], ADDED))
        loads.append(time.perf_counter() - started)
        periods = {
            i.id: affected_periods(i, touched, known, referral_window_days=REFERRAL_WINDOW_DAYS)
            for i in catalogue
        }
        runs.append(
            _timed(
                compute_indicators,
                engine,
                catalogue,
                periods,
                referral_window_days=REFERRAL_WINDOW_DAYS,
            )
        )
    return {
        "month_load_seconds": loads[0],
        "incremental_runs": [round(seconds, 3) for seconds, _ in runs],
        "incremental_seconds": min(seconds for seconds, _ in runs),
        "incremental_rows": sum(runs[0][1].values()),
        "incremental_periods": sorted({p for ps in periods.values() for p in ps}),
    }


def _timed(function, *args, **kwargs):
    started = time.perf_counter()
    result = function(*args, **kwargs)
    return time.perf_counter() - started, result


# The floor: one plain GROUP BY per indicator over the same history (no zero-filling,
# no hierarchy, no windows, no cross-institution matching).
FLOOR_QUERIES = {
    "incidents_per_10k": "SELECT territory_code, {p_police}, category, SUM(count) FROM police "
    "GROUP BY ALL",
    "incidents_vs_previous_month": "SELECT territory_code, {p_police}, category, SUM(count) "
    "FROM police GROUP BY ALL",
    "incidents_vs_year_earlier": "SELECT territory_code, {p_police}, category, SUM(count) "
    "FROM police GROUP BY ALL",
    "incidents_involving_minors_per_10k": "SELECT territory_code, {p_police}, category, "
    "SUM(count) FROM police WHERE minor_involved GROUP BY ALL",
    "open_social_cases_per_1k": "SELECT territory_code, {p_social}, COUNT(*) FROM social "
    "GROUP BY ALL",
    "new_referrals_per_1k_by_intervention": "SELECT territory_code, {p_social}, "
    "intervention_type, COUNT(*) FROM social GROUP BY ALL",
    "new_referrals_per_1k_by_source": "SELECT territory_code, {p_social}, referral_source, "
    "COUNT(*) FROM social GROUP BY ALL",
    "school_absence_rate": "SELECT territory_code, period, SUM(absent_sessions), "
    "SUM(possible_sessions) FROM school GROUP BY ALL",
    "unjustified_absence_rate": "SELECT territory_code, period, SUM(unjustified_sessions), "
    "SUM(possible_sessions) FROM school GROUP BY ALL",
    "chronic_absentee_share": "SELECT territory_code, period, COUNT(DISTINCT student_key) "
    "FROM school GROUP BY ALL",
    "chronic_absent_with_open_case": "SELECT territory_code, period, "
    "COUNT(DISTINCT student_key) FROM school GROUP BY ALL",
    "minors_in_incidents_chronically_absent": "SELECT territory_code, {p_police}, "
    "COUNT(DISTINCT person_key) FROM police WHERE minor_involved GROUP BY ALL",
    "minors_in_incidents_with_open_case": "SELECT territory_code, {p_police}, "
    "COUNT(DISTINCT person_key) FROM police WHERE minor_involved GROUP BY ALL",
    "school_referrals_with_intervention": "SELECT territory_code, period, "
    "COUNT(DISTINCT student_key) FROM school GROUP BY ALL",
    "police_referrals_with_intervention": "SELECT territory_code, {p_police}, "
    "COUNT(DISTINCT person_key) FROM police WHERE minor_involved GROUP BY ALL",
}


def run_floor(folder: Path, repeats: int) -> dict:
    """DuckDB over the history's Parquet files: one GROUP BY per indicator."""
    import duckdb

    from warehouse.indicators import load_catalogue

    conn = duckdb.connect()
    for view, feed in (
        ("police", "police_incidents"),
        ("social", "social_cases"),
        ("school", "school_absence"),
    ):
        files = str(folder / "parquet" / feed / "*.parquet")
        conn.execute(f"CREATE VIEW {view} AS SELECT * FROM read_parquet('{files}')")
    missing = {i.id for i in load_catalogue()} - set(FLOOR_QUERIES)
    assert not missing, f"no floor query for {sorted(missing)}"
    queries = [
        q.format(
            p_police="strftime(occurred_date, '%Y-%m')", p_social="strftime(opened_date, '%Y-%m')"
        )
        for q in FLOOR_QUERIES.values()
    ]
    runs = []
    for _ in range(repeats):
        started = time.perf_counter()
        for query in queries:
            conn.execute(query).fetchall()
        runs.append(time.perf_counter() - started)
    return {"floor_seconds": min(runs)}


def _child(side: str, folder: str, rows_per_year: int, repeats: int) -> None:
    if side == "floor":
        result = run_floor(Path(folder), repeats)
    else:
        result = run_warehouse(side, Path(folder), rows_per_year, repeats)
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(result))


def _measure(side: str, folder: Path, rows_per_year: int, repeats: int) -> dict:
    arguments = [side, str(folder), str(rows_per_year), str(repeats)]
    out = subprocess.run(
        [sys.executable, __file__, "--child", *arguments],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def _report(backend: str, ours: dict, floor: dict) -> None:
    ratio = ours["incremental_seconds"] / ours["full_seconds"]
    print(
        f"warehouse on {backend}: {ours['history_rows']:,} history rows loaded in "
        f"{ours['load_seconds']:.1f} s; peak RSS {ours['peak_rss_mb']:.0f} MB"
        + (" (client only; the server is another process)" if backend == "postgresql" else "")
    )
    print(
        f"  full: every indicator, {len(months(FIRST, LAST))} months, "
        f"{ours['full_rows']:,} values in {ours['full_seconds']:.2f} s"
    )
    print(
        f"  one month more: loaded in {ours['month_load_seconds']:.2f} s; incremental "
        f"{ours['incremental_rows']:,} values ({len(ours['incremental_periods'])} months) in "
        f"{ours['incremental_seconds']:.2f} s (runs: {ours['incremental_runs']})"
    )
    print(f"  ratio incremental/full: {ratio:.1%} (goal <= 10 %)")
    print(
        f"  floor (DuckDB, Parquet, one GROUP BY per indicator): {floor['floor_seconds']:.2f} s, "
        f"peak RSS {floor['peak_rss_mb']:.0f} MB; ratio full/floor: "
        f"{ours['full_seconds'] / floor['floor_seconds']:.1f}x"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["duckdb", "postgresql", "both"], default="duckdb")
    parser.add_argument("--rows-per-year", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=2, help="runs per computation; best")
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args.child[0], args.child[1], int(args.child[2]), int(args.child[3]))
        return
    backends = ["duckdb", "postgresql"] if args.backend == "both" else [args.backend]
    for backend in backends:
        with tempfile.TemporaryDirectory() as tmp:
            ours = _measure(backend, Path(tmp), args.rows_per_year, args.repeats)
            floor = _measure("floor", Path(tmp), args.rows_per_year, args.repeats)
        _report(backend, ours, floor)


if __name__ == "__main__":
    main()
