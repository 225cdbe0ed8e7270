"""The LP attacker: exact intervals, findings, and the shortcuts it takes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from publish.disclosure_audit import (
    DERIVED_VALUE_PUBLISHED,
    INTERVAL_TOO_NARROW,
    NOT_ROUNDED,
    RECOVERABLE,
    SMALL_COUNT_PUBLISHED,
    additive_structure,
    attack,
    audit_table,
    feasible_intervals,
    propagate_bounds,
    published_knowledge,
)
from publish.small_cells import SmallCellRule, hierarchical_totals

DIMS = ["row", "col"]
HIERARCHIES = {"row": {"r1": "R", "r2": "R", "r3": "R"}, "col": {"c1": "C", "c2": "C"}}
#        c1  c2 |  C
#   r1    2   8 | 10
#   r2    9  20 | 29
#   r3   15  30 | 45
#   R    26  58 | 84
BODY = {("r1", "c1"): 2, ("r1", "c2"): 8, ("r2", "c1"): 9, ("r2", "c2"): 20}
BODY |= {("r3", "c1"): 15, ("r3", "c2"): 30}


def table_with_hidden(hidden: list[tuple[str, str]]) -> pd.DataFrame:
    leaves = pd.DataFrame([(r, c, n) for (r, c), n in BODY.items()], columns=[*DIMS, "n"])
    table = hierarchical_totals(leaves, count="n", dimensions=DIMS, hierarchies=HIERARCHIES)
    table["n"] = table["n"].astype("Int64")
    for row, col in hidden:
        table.loc[(table["row"] == row) & (table["col"] == col), "n"] = pd.NA
    return table


def interval(frame: pd.DataFrame, row: str, col: str) -> tuple[float, float]:
    match = frame[(frame["row"] == row) & (frame["col"] == col)].iloc[0]
    return float(match["lower"]), float(match["upper"])


def test_a_lone_suppressed_cell_is_recovered_exactly() -> None:
    table = table_with_hidden([("r1", "c1")])
    intervals = feasible_intervals(table, count="n", dimensions=DIMS, hierarchies=HIERARCHIES)
    assert interval(intervals, "r1", "c1") == (2.0, 2.0)
    findings = audit_table(
        table, count="n", dimensions=DIMS, hierarchies=HIERARCHIES, rule=SmallCellRule.below_5()
    )
    assert [(f.cell, f.rule) for f in findings] == [({"row": "r1", "col": "c1"}, RECOVERABLE)]
    assert "r1" in findings[0].message() and "2" in findings[0].detail


def test_a_rectangle_gives_the_interval_worked_out_by_hand() -> None:
    table = table_with_hidden([("r1", "c1"), ("r1", "c2"), ("r2", "c1"), ("r2", "c2")])
    intervals = feasible_intervals(table, count="n", dimensions=DIMS, hierarchies=HIERARCHIES)
    # Moving t around the rectangle: r1c1 + t, r1c2 - t, r2c1 - t, r2c2 + t with all >= 0,
    # so t in [-min(2, 20), min(8, 9)] = [-2, 8].
    assert interval(intervals, "r1", "c1") == (0.0, 10.0)
    assert interval(intervals, "r1", "c2") == (0.0, 10.0)
    assert interval(intervals, "r2", "c1") == (1.0, 11.0)
    assert interval(intervals, "r2", "c2") == (18.0, 28.0)
    rule = SmallCellRule(threshold=5, protection=12.0)
    findings = audit_table(table, count="n", dimensions=DIMS, hierarchies=HIERARCHIES, rule=rule)
    assert {f.rule for f in findings} == {INTERVAL_TOO_NARROW}
    assert len(findings) == 4
    assert all(f.upper - f.lower == pytest.approx(10.0) for f in findings)


def test_suppressing_the_margins_too_makes_cells_unbounded() -> None:
    hidden = [("r1", "c1"), ("r1", "C"), ("R", "c1"), ("R", "C"), ("r2", "c1"), ("r2", "C")]
    table = table_with_hidden(hidden)
    intervals = feasible_intervals(table, count="n", dimensions=DIMS, hierarchies=HIERARCHIES)
    assert np.isinf(interval(intervals, "R", "C")[1])
    assert interval(intervals, "r1", "c1")[0] == 0.0


def test_published_small_counts_unrounded_counts_and_leaked_rates_are_found() -> None:
    table = table_with_hidden([])
    table["rate"] = 1.0
    table.loc[0, "rate"] = 1.0
    table.loc[(table["row"] == "r3") & (table["col"] == "c2"), ["n", "rate"]] = [pd.NA, 0.5]
    rule = SmallCellRule(threshold=5, protection=1.0, rounding_base=5)
    findings = audit_table(
        table, count="n", dimensions=DIMS, hierarchies=HIERARCHIES, rule=rule, derived=["rate"]
    )
    rules = {(f.rule, tuple(f.cell.values())) for f in findings}
    assert (SMALL_COUNT_PUBLISHED, ("r1", "c1")) in rules
    assert (NOT_ROUNDED, ("r2", "c1")) in rules  # 9 is not a multiple of 5
    assert (DERIVED_VALUE_PUBLISHED, ("r3", "c2")) in rules


def test_rounding_knowledge_bounds() -> None:
    values = np.array([np.nan, 0.0, 10.0, 15.0])
    lower, upper = published_knowledge(values, rounding_base=5, threshold=10)
    assert lower.tolist() == [0.0, 0.0, 10.0, 13.0]
    assert upper.tolist() == [np.inf, 0.0, 12.0, 17.0]
    lower, upper = published_knowledge(values, rounding_base=10, threshold=0)
    assert lower.tolist() == [0.0, 0.0, 5.0, 10.0]
    assert upper.tolist() == [np.inf, 4.0, 14.0, 19.0]


def test_bound_propagation_reads_single_relations() -> None:
    table = table_with_hidden([("r1", "c1"), ("r1", "c2")])
    structure = additive_structure(table, dimensions=DIMS, hierarchies=HIERARCHIES)
    values = table["n"].to_numpy(dtype=float, na_value=np.nan)
    lower, upper = propagate_bounds(structure.matrix, *published_knowledge(values))
    hidden = np.flatnonzero(np.isnan(values))
    # Each hidden cell sits alone in its column: the column total pins it.
    assert lower[hidden].tolist() == [2.0, 8.0]
    assert upper[hidden].tolist() == [2.0, 8.0]


@st.composite
def random_patterns(draw: st.DrawFn) -> tuple[pd.DataFrame, list[str], dict]:
    rows = [f"r{i}" for i in range(draw(st.integers(2, 4)))]
    cols = [f"c{i}" for i in range(draw(st.integers(2, 4)))]
    layers = [f"l{i}" for i in range(draw(st.integers(1, 3)))]
    dims = ["row", "col", "layer"]
    hierarchies = {
        "row": {r: "R" for r in rows},
        "col": {c: "C" for c in cols},
        "layer": {layer: "L" for layer in layers},
    }
    grid = pd.MultiIndex.from_product([rows, cols, layers], names=dims).to_frame(index=False)
    grid["n"] = draw(st.lists(st.integers(0, 12), min_size=len(grid), max_size=len(grid)))
    table = hierarchical_totals(grid, count="n", dimensions=dims, hierarchies=hierarchies)
    hide = draw(st.lists(st.booleans(), min_size=len(table), max_size=len(table)))
    table["n"] = table["n"].astype("Int64").where(~np.array(hide))
    return table, dims, hierarchies


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(random_patterns(), st.sampled_from([1.0, 4.0, 9.0]))
def test_the_audit_shortcuts_agree_with_exact_intervals(
    drawn: tuple[pd.DataFrame, list[str], dict], protection: float
) -> None:
    """Settling cells by feasible points and propagation flags exactly the cells whose exact
    LP interval is narrower than the protection."""
    table, dims, hierarchies = drawn
    exact = feasible_intervals(table, count="n", dimensions=dims, hierarchies=hierarchies)
    structure = additive_structure(table, dimensions=dims, hierarchies=hierarchies)
    values = table["n"].to_numpy(dtype=float, na_value=np.nan)
    quick = attack(structure, *published_knowledge(values), required_width=protection)
    flagged = set(quick.positions[quick.width < protection - 1e-6].tolist())
    hidden = np.flatnonzero(np.isnan(values))
    expected = set(hidden[exact["width"].to_numpy() < protection - 1e-6].tolist())
    assert flagged == expected
    # Flagged cells come with their exact interval.
    narrow = quick.width < protection - 1e-6
    exact_by_position = dict(zip(hidden.tolist(), exact["lower"], strict=True))
    for position, low in zip(quick.positions[narrow], quick.lower[narrow], strict=True):
        assert low == pytest.approx(exact_by_position[int(position)])


def test_rounding_widens_intervals_but_a_lone_hidden_cell_is_still_too_narrow() -> None:
    leaves = pd.DataFrame(
        [(r, c, n) for (r, c), n in {**BODY, ("r1", "c1"): 4}.items()], columns=[*DIMS, "n"]
    )
    table = hierarchical_totals(leaves, count="n", dimensions=DIMS, hierarchies=HIERARCHIES)
    table["n"] = (np.floor(table["n"] / 5 + 0.5) * 5).astype("Int64")
    table.loc[(table["row"] == "r1") & (table["col"] == "c1"), "n"] = pd.NA
    rule = SmallCellRule(threshold=3, protection=6.0, rounding_base=5)
    exact = feasible_intervals(
        table, count="n", dimensions=DIMS, hierarchies=HIERARCHIES, rounding_base=5, threshold=3
    )
    low, high = interval(exact, "r1", "c1")
    # Row r1: total 12 published as 10 (true 8-12), r1c2 = 8 published as 10 (true 8-12):
    # r1c1 = total - r1c2 lies in [8 - 12, 12 - 8] and is non-negative: [0, 4]. The column
    # relation is looser, so the row decides.
    assert (low, high) == (0.0, 4.0)
    findings = audit_table(table, count="n", dimensions=DIMS, hierarchies=HIERARCHIES, rule=rule)
    assert [(f.cell, f.rule) for f in findings] == [
        ({"row": "r1", "col": "c1"}, INTERVAL_TOO_NARROW)
    ]
    assert (findings[0].lower, findings[0].upper) == (0.0, 4.0)
