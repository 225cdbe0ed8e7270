"""Disclosure control per independent sub-table, and the cache that reuses unchanged ones.

A cached run must give exactly what a run without the cache gives, and the audit must still
pass on what is published.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from publish.disclosure_audit import RECOVERABLE, audit_table
from publish.disclosure_cache import DisclosureCache
from publish.small_cells import SmallCellRule, hierarchical_totals, protect_table

DIMS = ["territory", "category", "period"]
HIERARCHIES = {
    "territory": {"a": "T", "b": "T", "c": "T", "d": "T"},
    "category": {"x": "all", "y": "all", "z": "all"},
}
PERIODS = ["2023-01", "2023-02", "2023-03", "2023-04"]
RULE = SmallCellRule.below_5()


def monthly_table(
    seed: int, changed: dict[tuple[str, str, str], int] | None = None
) -> pd.DataFrame:
    """Territories x categories x months (no hierarchy over months), small counts in places."""
    rng = np.random.default_rng(seed)
    rows = [
        (t, c, p, int(rng.choice([0, 1, 3, 6, 9, 14, 25])))
        for p in PERIODS
        for t in "abcd"
        for c in "xyz"
    ]
    leaves = pd.DataFrame(rows, columns=[*DIMS, "n"])
    for (t, c, p), n in (changed or {}).items():
        leaves.loc[
            (leaves["territory"] == t) & (leaves["category"] == c) & (leaves["period"] == p), "n"
        ] = n
    table = hierarchical_totals(leaves, count="n", dimensions=DIMS, hierarchies=HIERARCHIES)
    return table.sort_values(DIMS).reset_index(drop=True)


def protect(table: pd.DataFrame, cache: DisclosureCache | None = None):
    return protect_table(
        table, count="n", dimensions=DIMS, hierarchies=HIERARCHIES, rule=RULE, cache=cache
    )


def audit(cells: pd.DataFrame, cache: DisclosureCache | None = None) -> list:
    return audit_table(
        cells, count="n", dimensions=DIMS, hierarchies=HIERARCHIES, rule=RULE, cache=cache
    )


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_cached_run_gives_exactly_the_uncached_result(tmp_path, seed) -> None:
    table = monthly_table(seed)
    plain = protect(table)
    cold_cache = DisclosureCache(tmp_path)
    cold = protect(table, cold_cache)
    warm_cache = DisclosureCache(tmp_path)
    warm = protect(table, warm_cache)
    assert plain.report.cells_suppressed > plain.report.cells_primary > 0  # real work done
    for result in (cold, warm):
        pd.testing.assert_frame_equal(result.cells, plain.cells)
        assert result.report == plain.report
    assert (cold_cache.hits, warm_cache.hits, warm_cache.misses) == (0, len(PERIODS), 0)
    assert audit(warm.for_publication().drop(columns=["n_flag"])) == []


def test_a_changed_month_is_protected_again_and_the_others_come_from_the_cache(tmp_path) -> None:
    cache = DisclosureCache(tmp_path)
    protect(monthly_table(4), cache)
    changed = monthly_table(4, {("b", "y", "2023-03"): 2, ("c", "x", "2023-03"): 30})
    again = DisclosureCache(tmp_path)
    result = protect(changed, again)
    assert (again.hits, again.misses) == (len(PERIODS) - 1, 1)
    pd.testing.assert_frame_equal(result.cells, protect(changed).cells)
    hidden = result.cells.set_index(DIMS)["suppression"]
    assert hidden[("b", "y", "2023-03")] == "primary"
    assert audit(result.for_publication().drop(columns=["n_flag"])) == []


def test_each_month_is_protected_as_if_it_were_a_table_of_its_own() -> None:
    # What makes the cache sound: a month's pattern depends on that month's cells only.
    table = monthly_table(5)
    whole = protect(table).cells
    for period in PERIODS:
        alone = protect(table[table["period"] == period].reset_index(drop=True)).cells
        part = whole[whole["period"] == period].reset_index(drop=True)
        pd.testing.assert_frame_equal(part, alone)


def test_the_audit_caches_passes_only(tmp_path) -> None:
    protected = protect(monthly_table(6)).for_publication().drop(columns=["n_flag"])
    cache = DisclosureCache(tmp_path)
    assert audit(protected, cache) == []
    warm = DisclosureCache(tmp_path)
    assert audit(protected, warm) == [] and warm.hits == len(PERIODS)
    # Publish every hidden cell of March but one small count: that month is attacked again
    # (its content changed), and the remaining small count is recovered exactly.
    raw = monthly_table(6)
    march = np.flatnonzero((protected["period"] == "2023-03").to_numpy() & protected["n"].isna())
    kept = next(int(row) for row in march if 0 < raw.loc[row, "n"] < RULE.threshold)
    leaked = protected.copy()
    shown = [int(row) for row in march if row != kept]
    leaked.loc[shown, "n"] = raw.loc[shown, "n"]
    for _ in range(2):
        findings = audit(leaked, DisclosureCache(tmp_path))
        recovered = [f for f in findings if f.rule == RECOVERABLE]
        assert [(f.cell["territory"], f.cell["category"], f.cell["period"]) for f in recovered] == [
            tuple(raw.loc[kept, DIMS])
        ]
        assert recovered[0].lower == raw.loc[kept, "n"]


def test_pruning_keeps_only_what_the_last_run_used(tmp_path) -> None:
    protect(monthly_table(7), DisclosureCache(tmp_path))
    changed = monthly_table(7, {("a", "z", "2023-01"): 1})
    cache = DisclosureCache(tmp_path)
    protect(changed, cache)
    assert cache.prune() == 1  # January's old pattern
    assert len(list(tmp_path.glob("*.json"))) == len(PERIODS)
    again = DisclosureCache(tmp_path)
    protect(changed, again)
    assert again.misses == 0
