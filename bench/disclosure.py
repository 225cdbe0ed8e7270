"""Disclosure control speed: record-level anonymisation and small-cell suppression + audit.

1. ``publishable_incidents`` on a 1,000,000-row synthetic police incident table.
2. ``protect_table`` and the LP ``audit_table`` on the hierarchical aggregate of the same
   incidents: 21 comunas + city x 10 categories + all x 72 months + 6 years x F/M + all
   (56,628 cells).
3. The disclosure cache on an indicator-like slice of it (both sexes, months without a
   hierarchy: one sub-table per month): protected cold, then with one month revised.

Baseline, same data, same run: a plain pandas groupby (what publishing without disclosure
control would cost). Seeded and deterministic. Usage: python bench/disclosure.py [--rows N]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import numpy as np
import pandas as pd

T = TypeVar("T")
REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from publish.disclosure_audit import audit_table  # noqa: E402
from publish.disclosure_cache import DisclosureCache  # noqa: E402
from publish.record_level import publishable_incidents, to_month  # noqa: E402
from publish.small_cells import SmallCellRule, hierarchical_totals, protect_table  # noqa: E402

COMUNAS = [f"050010{c:02d}" for c in [*range(1, 17), 50, 60, 70, 80, 90]]
CATEGORIES = [
    "theft",
    "robbery",
    "burglary",
    "assault",
    "vehicle_theft",
    "fraud",
    "vandalism",
    "threats",
    "homicide",
    "extortion",
    "sexual_offence",
    "domestic_violence",
]
CATEGORY_SHARES = [0.28, 0.18, 0.12, 0.1, 0.08, 0.06, 0.05, 0.04, 0.01, 0.02, 0.03, 0.03]
AGE_GROUPS = ["0-4", "5-9", "10-14", "15-17", "18-24", "25-34", "35-44", "45-54", "55-64", "65+"]
AGE_SHARES = [0.01, 0.01, 0.02, 0.03, 0.16, 0.23, 0.2, 0.15, 0.1, 0.09]


def synthetic_incidents(rows: int, seed: int = 20240501) -> pd.DataFrame:
    """Canonical police incidents, 2018-2023, skewed across comunas and categories."""
    rng = np.random.default_rng(seed)
    comuna_weight = rng.gamma(2.0, 1.0, len(COMUNAS))
    days = pd.date_range("2018-01-01", "2023-12-31")
    minutes = rng.integers(0, 24 * 60, rows)
    times = pd.Series([f"{m // 60:02d}:{m % 60:02d}" for m in range(24 * 60)])[minutes]
    located = rng.random(rows) < 0.9
    return pd.DataFrame(
        {
            "incident_id": np.char.add("I", np.arange(rows).astype(str)),
            "source": "police",
            "occurred_date": days[rng.integers(0, len(days), rows)],
            "occurred_time": times.to_numpy(dtype=object),
            "territory_code": rng.choice(COMUNAS, rows, p=comuna_weight / comuna_weight.sum()),
            "latitude": np.where(located, 6.25 + rng.normal(0, 0.03, rows), np.nan),
            "longitude": np.where(located, -75.57 + rng.normal(0, 0.03, rows), np.nan),
            "category": rng.choice(CATEGORIES, rows, p=CATEGORY_SHARES),
            "source_label": "label",
            "modality": rng.choice(["street", "home", "transport", "business"], rows),
            "victim_sex": rng.choice(["F", "M", "U"], rows, p=[0.45, 0.5, 0.05]),
            "victim_age_group": rng.choice(AGE_GROUPS, rows, p=AGE_SHARES),
            "minor_involved": rng.random(rows) < 0.02,
            "domestic": rng.random(rows) < 0.02,
            "person_key": np.where(
                rng.random(rows) < 0.6, rng.integers(0, rows, rows).astype(str), None
            ),
            "count": 1,
        }
    )


def timed(action: Callable[[], T]) -> tuple[T, float]:
    start = time.perf_counter()
    result = action()
    return result, time.perf_counter() - start


def bench_records(incidents: pd.DataFrame) -> dict:
    (published, report), seconds = timed(lambda: publishable_incidents(incidents))
    months = to_month(incidents["occurred_date"])
    _, baseline = timed(
        lambda: (
            incidents.assign(period=months)
            .groupby(["period", "territory_code", "victim_sex", "victim_age_group"])
            .size()
        )
    )
    anonymity = report.anonymity
    return {
        "step": "publishable_incidents",
        "rows": len(incidents),
        "rows_published": len(published),
        "rows_removed_sensitive": report.rows_removed_sensitive,
        "k_achieved": anonymity.k_achieved,
        "l_achieved": anonymity.l_achieved,
        "rows_with_suppression": anonymity.rows_with_suppression,
        "rows_dropped": anonymity.rows_dropped,
        "seconds": round(seconds, 2),
        "baseline_groupby_seconds": round(baseline, 3),
        "ratio": round(seconds / baseline, 1),
    }


def aggregate_table(incidents: pd.DataFrame) -> tuple[pd.DataFrame, list[str], dict, float]:
    """Leaf counts (every combination, zeros included) plus all totals."""
    months = [f"{y}-{m:02d}" for y in range(2018, 2024) for m in range(1, 13)]
    categories = CATEGORIES[:10]
    dims = ["territory", "category", "month", "sex"]
    hierarchies = {
        "territory": {c: "05001" for c in COMUNAS},
        "category": {c: "all" for c in categories},
        "month": {m: m[:4] for m in months},
        "sex": {"F": "all", "M": "all"},
    }
    kept = incidents[incidents["category"].isin(categories) & incidents["victim_sex"].ne("U")]

    def leaf_counts() -> pd.DataFrame:
        frame = pd.DataFrame(
            {
                "territory": kept["territory_code"],
                "category": kept["category"],
                "month": to_month(kept["occurred_date"]),
                "sex": kept["victim_sex"],
            }
        )
        return frame.groupby(dims).size().rename("n").reset_index()

    leaves, baseline = timed(leaf_counts)
    grid = pd.MultiIndex.from_product(
        [COMUNAS, categories, months, ["F", "M"]], names=dims
    ).to_frame(index=False)
    leaves = grid.merge(leaves, on=dims, how="left").fillna({"n": 0})
    leaves["n"] = leaves["n"].astype(np.int64)
    table = hierarchical_totals(leaves, count="n", dimensions=dims, hierarchies=hierarchies)
    return table, dims, hierarchies, baseline


def bench_table(
    table: pd.DataFrame, dims: list[str], hierarchies: dict, baseline: float, rule_name: str
) -> dict:
    rule = getattr(SmallCellRule, rule_name)()
    protected, protect_seconds = timed(
        lambda: protect_table(table, count="n", dimensions=dims, hierarchies=hierarchies, rule=rule)
    )
    findings, audit_seconds = timed(
        lambda: audit_table(
            protected.for_publication(),
            count="n",
            dimensions=dims,
            hierarchies=hierarchies,
            rule=rule,
        )
    )
    report = protected.report
    return {
        "step": f"protect_table + audit_table ({rule_name})",
        "cells": report.cells_total,
        "primary": report.cells_primary,
        "secondary": report.cells_secondary,
        "share_suppressed": round(report.information_loss, 4),
        "repair_rounds": report.repair_rounds,
        "audit_findings": len(findings),
        "protect_seconds": round(protect_seconds, 2),
        "audit_seconds": round(audit_seconds, 2),
        "baseline_groupby_seconds": round(baseline, 3),
        "ratio": round((protect_seconds + audit_seconds) / baseline, 1),
    }


def bench_cache(table: pd.DataFrame, dims: list[str], hierarchies: dict) -> dict:
    """An indicator-like table (no hierarchy over months: one sub-table per month), protected
    cold, then again with one month changed, through the disclosure cache."""
    import tempfile

    leaf_months = list(hierarchies["month"])
    monthly = table[table["month"].isin(leaf_months) & table["sex"].eq("all")]
    monthly = monthly.drop(columns="sex").reset_index(drop=True)
    keys = ["territory", "category", "month"]
    levels = {k: hierarchies[k] for k in ("territory", "category")}
    rule = SmallCellRule.below_5()
    changed = monthly.copy()
    # A revision of one month: a leaf moves by 3 and its totals with it.
    last = changed["month"] == changed["month"].max()
    leaf = changed.index[last & changed["territory"].ne("05001") & changed["category"].ne("all")][0]
    territory, category = changed.loc[leaf, ["territory", "category"]]
    touched = (
        last
        & changed["territory"].isin([territory, "05001"])
        & changed["category"].isin([category, "all"])
    )
    changed.loc[touched, "n"] += 3

    def run(frame: pd.DataFrame, cache: DisclosureCache) -> float:
        _, seconds = timed(
            lambda: protect_table(
                frame, count="n", dimensions=keys, hierarchies=levels, rule=rule, cache=cache
            )
        )
        return seconds

    with tempfile.TemporaryDirectory() as folder:
        cold = run(monthly, DisclosureCache(Path(folder)))
        warm = DisclosureCache(Path(folder))
        revised = run(changed, warm)
    return {
        "step": "protect_table by month through the cache (below_5)",
        "cells": len(monthly),
        "cold_seconds": round(cold, 2),
        "one_month_changed_seconds": round(revised, 2),
        "months_reused": warm.hits,
        "months_protected": warm.misses,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--rules", nargs="+", default=["below_5", "ons_10_5"])
    args = parser.parse_args()
    incidents = synthetic_incidents(args.rows)
    print(json.dumps(bench_records(incidents)), flush=True)
    table, dims, hierarchies, baseline = aggregate_table(incidents)
    for rule_name in args.rules:
        print(json.dumps(bench_table(table, dims, hierarchies, baseline, rule_name)), flush=True)
    print(json.dumps(bench_cache(table, dims, hierarchies)), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
