"""Small-cell suppression: primary, secondary (checked with the LP attacker), rounding."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from publish.disclosure_audit import TableStructureError, audit_table, feasible_intervals
from publish.small_cells import (
    PRIMARY,
    SECONDARY,
    SUPPRESSED_MARKER,
    SUPPRESSION_COLUMN,
    SmallCellRule,
    hierarchical_totals,
    protect_table,
)

TWO_WAY = {"territory": {"a": "T", "b": "T", "c": "T"}, "category": {"x": "all", "y": "all"}}


def two_way_table(body: dict[tuple[str, str], int]) -> pd.DataFrame:
    """Territories a-c by categories x-y with all margins."""
    leaves = pd.DataFrame(
        [(territory, category, n) for (territory, category), n in body.items()],
        columns=["territory", "category", "n"],
    )
    return hierarchical_totals(
        leaves, count="n", dimensions=["territory", "category"], hierarchies=TWO_WAY
    )


def cell(frame: pd.DataFrame, territory: str, category: str) -> pd.Series:
    match = frame[(frame["territory"] == territory) & (frame["category"] == category)]
    assert len(match) == 1
    return match.iloc[0]


def test_single_small_cell_gets_enough_secondary_suppression() -> None:
    body = {("a", "x"): 20, ("a", "y"): 30, ("b", "x"): 2, ("b", "y"): 40}
    body |= {("c", "x"): 15, ("c", "y"): 12}
    table = two_way_table(body)
    protected = protect_table(
        table,
        count="n",
        dimensions=["territory", "category"],
        hierarchies=TWO_WAY,
        rule=SmallCellRule.below_5(),
    )
    cells = protected.cells
    assert cell(cells, "b", "x")[SUPPRESSION_COLUMN] == PRIMARY
    # One primary in a two-way table needs a rectangle: three secondary cells, and the
    # cheapest rectangle uses c (15, 12) rather than a (20, 30).
    secondary = cells[cells[SUPPRESSION_COLUMN] == SECONDARY]
    assert sorted(zip(secondary["territory"], secondary["category"], strict=True)) == [
        ("b", "y"),
        ("c", "x"),
        ("c", "y"),
    ]
    intervals = feasible_intervals(
        protected.for_publication(),
        count="n",
        dimensions=["territory", "category"],
        hierarchies=TWO_WAY,
    )
    primary = intervals[(intervals["territory"] == "b") & (intervals["category"] == "x")].iloc[0]
    # The cell can move down by its own 2 and up by min(40, 15) = 15 before a partner is empty.
    assert (primary["lower"], primary["upper"]) == pytest.approx((0.0, 17.0))
    assert (intervals["width"] >= 5).all()
    assert protected.report.cells_primary == 1
    assert protected.report.cells_secondary == 3


def test_published_cells_keep_their_counts_and_flag_marks_suppression() -> None:
    table = two_way_table({("a", "x"): 9, ("a", "y"): 3, ("b", "x"): 8, ("b", "y"): 7})
    table = table[table["territory"] != "c"].reset_index(drop=True)
    hierarchies = {"territory": {"a": "T", "b": "T"}, "category": TWO_WAY["category"]}
    protected = protect_table(
        table,
        count="n",
        dimensions=["territory", "category"],
        hierarchies=hierarchies,
        rule=SmallCellRule.below_5(),
    )
    published = protected.for_publication()
    assert SUPPRESSION_COLUMN not in published.columns
    hidden = published["n"].isna()
    assert (published.loc[hidden, "n_flag"] == SUPPRESSED_MARKER).all()
    assert (published.loc[~hidden, "n_flag"] == "").all()
    assert published.loc[~hidden, "n"].astype(int).tolist() == table.loc[~hidden, "n"].tolist()
    assert str(protected.cells["n"].dtype) == "Int64"


def test_derived_columns_are_blanked_with_the_count() -> None:
    table = two_way_table({("a", "x"): 20, ("a", "y"): 30, ("b", "x"): 2, ("b", "y"): 40})
    table = table[table["territory"] != "c"].reset_index(drop=True)
    table["rate"] = table["n"] / 1000
    hierarchies = {"territory": {"a": "T", "b": "T"}, "category": TWO_WAY["category"]}
    protected = protect_table(
        table,
        count="n",
        dimensions=["territory", "category"],
        hierarchies=hierarchies,
        rule=SmallCellRule.below_5(),
        derived=["rate"],
    )
    hidden = protected.cells["n"].isna()
    assert hidden.sum() == 4
    assert protected.cells.loc[hidden, "rate"].isna().all()
    assert protected.cells.loc[~hidden, "rate"].tolist() == table.loc[~hidden, "rate"].tolist()


def test_ons_10_5_rule_suppresses_below_10_and_rounds_to_5() -> None:
    rule = SmallCellRule.ons_10_5()
    assert (rule.threshold, rule.rounding_base) == (10, 5)
    body = {("a", "x"): 23, ("a", "y"): 31, ("b", "x"): 7, ("b", "y"): 44}
    body |= {("c", "x"): 18, ("c", "y"): 27}
    table = two_way_table(body)
    protected = protect_table(
        table,
        count="n",
        dimensions=["territory", "category"],
        hierarchies=TWO_WAY,
        rule=rule,
    )
    cells = protected.cells
    assert pd.isna(cell(cells, "b", "x")["n"])
    published = cells["n"].dropna().astype(int)
    assert (published % 5 == 0).all()
    assert cell(cells, "a", "x")["n"] == 25  # 23 rounds to 25
    assert cell(cells, "T", "all")["n"] == 150  # 150 stays
    assert (
        audit_table(
            cells.drop(columns=[SUPPRESSION_COLUMN]),
            count="n",
            dimensions=["territory", "category"],
            hierarchies=TWO_WAY,
            rule=rule,
        )
        == []
    )


def test_zero_is_published_and_not_primary() -> None:
    table = two_way_table({("a", "x"): 0, ("a", "y"): 30, ("b", "x"): 12, ("b", "y"): 40})
    table = table[table["territory"] != "c"].reset_index(drop=True)
    hierarchies = {"territory": {"a": "T", "b": "T"}, "category": TWO_WAY["category"]}
    protected = protect_table(
        table,
        count="n",
        dimensions=["territory", "category"],
        hierarchies=hierarchies,
        rule=SmallCellRule.below_5(),
    )
    assert protected.report.cells_primary == 0
    assert cell(protected.cells, "a", "x")["n"] == 0


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda t: t.assign(n=t["n"].where(t.index != 3, -1)), "row 3"),
        (lambda t: t.assign(n=t["n"].where(t.index != 2, 2.5)), "non-negative integers"),
        (lambda t: pd.concat([t, t.iloc[[0]]], ignore_index=True), "repeat the cell"),
        (lambda t: t.assign(n=t["n"].where(t.index != 0, 21)), "not the sum of its children"),
    ],
)
def test_bad_tables_are_rejected_with_row_and_rule(
    change: Callable[[pd.DataFrame], pd.DataFrame], message: str
) -> None:
    table = two_way_table({("a", "x"): 20, ("a", "y"): 30, ("b", "x"): 2, ("b", "y"): 40})
    with pytest.raises(TableStructureError, match=message):
        protect_table(
            change(table),
            count="n",
            dimensions=["territory", "category"],
            hierarchies=TWO_WAY,
            rule=SmallCellRule.below_5(),
        )


def test_hierarchical_totals_add_every_level() -> None:
    leaves = pd.DataFrame(
        {"month": ["2023-01", "2023-02", "2024-01"], "n": [3, 4, 5]},
    )
    hierarchy = {"month": {"2023-01": "2023", "2023-02": "2023", "2024-01": "2024"}}
    hierarchy["month"] |= {"2023": "all", "2024": "all"}
    table = hierarchical_totals(leaves, count="n", dimensions=["month"], hierarchies=hierarchy)
    assert dict(zip(table["month"], table["n"], strict=True)) == {
        "2023-01": 3,
        "2023-02": 4,
        "2024-01": 5,
        "2023": 7,
        "2024": 5,
        "all": 12,
    }


@st.composite
def hierarchical_tables(draw: st.DrawFn, n_dims: int) -> tuple[pd.DataFrame, list[str], dict]:
    """Random tables: each dimension has 2-4 leaves under a total, and the first may have a
    middle level (leaves -> groups -> total); counts lean small so suppression is busy."""
    dimensions = [f"d{i}" for i in range(n_dims)]
    hierarchies: dict[str, dict[str, str]] = {}
    leaves_per_dim = []
    for i, name in enumerate(dimensions):
        n_leaves = draw(st.integers(2, 4))
        leaves = [f"{name}v{j}" for j in range(n_leaves)]
        mapping = {leaf: "total" for leaf in leaves}
        if i == 0 and n_leaves == 4 and draw(st.booleans()):
            mapping = {leaf: f"g{j // 2}" for j, leaf in enumerate(leaves)}
            mapping |= {"g0": "total", "g1": "total"}
        hierarchies[name] = mapping
        leaves_per_dim.append(leaves)
    grid = pd.MultiIndex.from_product(leaves_per_dim, names=dimensions).to_frame(index=False)
    small = st.integers(0, 6)
    large = st.integers(7, 40)
    counts = draw(st.lists(st.one_of(small, large), min_size=len(grid), max_size=len(grid)))
    grid["n"] = counts
    table = hierarchical_totals(grid, count="n", dimensions=dimensions, hierarchies=hierarchies)
    return table, dimensions, hierarchies


def assert_protected(
    table: pd.DataFrame,
    dimensions: list[str],
    hierarchies: dict,
    rule: SmallCellRule,
    method: str = "hypercube",
) -> None:
    protected = protect_table(
        table, count="n", dimensions=dimensions, hierarchies=hierarchies, rule=rule, method=method
    )
    cells = protected.cells
    original = table["n"].to_numpy()
    hidden = cells["n"].isna().to_numpy()
    # Every small count is hidden; published counts are unchanged (or just rounded).
    assert hidden[(original > 0) & (original < rule.threshold)].all()
    expected = original if not rule.rounding_base else _rounded(original, rule.rounding_base)
    assert (cells.loc[~hidden, "n"].astype(int).to_numpy() == expected[~hidden]).all()
    intervals = feasible_intervals(
        protected.for_publication(),
        count="n",
        dimensions=dimensions,
        hierarchies=hierarchies,
        rounding_base=rule.rounding_base,
        threshold=rule.threshold if rule.rounding_base else 0,
    )
    assert len(intervals) == hidden.sum()
    narrow = intervals[intervals["width"] < rule.protection - 1e-6]
    assert narrow.empty, narrow


def _rounded(values: np.ndarray, base: int) -> np.ndarray:
    return (np.floor(values / base + 0.5) * base).astype(int)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(hierarchical_tables(2))
def test_two_way_tables_are_protected_against_the_lp_attacker(
    drawn: tuple[pd.DataFrame, list[str], dict],
) -> None:
    table, dimensions, hierarchies = drawn
    assert_protected(table, dimensions, hierarchies, SmallCellRule.below_5())


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(hierarchical_tables(3))
def test_three_way_tables_are_protected_against_the_lp_attacker(
    drawn: tuple[pd.DataFrame, list[str], dict],
) -> None:
    table, dimensions, hierarchies = drawn
    assert_protected(table, dimensions, hierarchies, SmallCellRule.below_5())


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(hierarchical_tables(3), st.sampled_from([3.0, 8.0]))
def test_other_protection_widths_and_rounding_hold(
    drawn: tuple[pd.DataFrame, list[str], dict], protection: float
) -> None:
    table, dimensions, hierarchies = drawn
    rule = SmallCellRule(threshold=4, protection=protection, rounding_base=3)
    assert_protected(table, dimensions, hierarchies, rule)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(hierarchical_tables(3))
def test_lp_only_secondary_suppression_also_protects(
    drawn: tuple[pd.DataFrame, list[str], dict],
) -> None:
    table, dimensions, hierarchies = drawn
    assert_protected(table, dimensions, hierarchies, SmallCellRule.below_5(), method="lp")
