"""The attacker: what a reader can work out about suppressed cells of a published table.

A published aggregate table is a set of cells, some with their counts blanked. The reader knows
every published count, that counts are non-negative, and every additive relation of the table
(a parent cell equals the sum of its children with the other dimensions held fixed). From that
alone the reader can bound each suppressed cell by linear programming: the smallest and largest
value the cell can take in any table that agrees with everything published. This module builds
those relations, computes the bounds with ``scipy.optimize.linprog`` (HiGHS) and reports every
suppressed cell whose feasible interval is narrower than the protection a rule demands.

Only the LP solves that can change an answer are run: bound propagation, feasible points from
earlier solves and connected components of the suppression pattern settle most cells first.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from scipy import sparse
from scipy.optimize import linprog
from scipy.sparse.csgraph import connected_components

from publish.disclosure_cache import DisclosureCache, content_key, hierarchies_digest

if TYPE_CHECKING:
    from publish.small_cells import SmallCellRule

# Two LP bounds closer than this are the same number; counts are integers, so it is tiny.
_TOLERANCE = 1e-6


class TableStructureError(ValueError):
    """The table cannot be read as cells of an additive hierarchical table."""


@dataclass(frozen=True)
class AdditiveStructure:
    """The cells of a long table and the additive relations an attacker knows between them.

    ``matrix`` has one row per relation and one column per cell (positions 0..n-1 in the order
    of ``keys``): +1 on the parent cell, -1 on each child, so that ``matrix @ counts == 0``.
    """

    keys: pd.DataFrame
    matrix: sparse.csr_array
    relation_parent: np.ndarray
    relation_dimension: np.ndarray

    @property
    def n_cells(self) -> int:
        """Number of cells in the table."""
        return len(self.keys)

    def describe_cell(self, position: int) -> str:
        """A readable name for one cell, e.g. ``territory=05001, month=2023-01``."""
        row = self.keys.iloc[position]
        return ", ".join(f"{name}={row[name]}" for name in self.keys.columns)


def additive_structure(
    cells: pd.DataFrame,
    *,
    dimensions: Sequence[str],
    hierarchies: Mapping[str, Mapping[str, str]],
) -> AdditiveStructure:
    """Build the additive relations of a long table.

    For every dimension with a hierarchy and every parent value, each combination of the other
    dimensions whose parent row exists gives one relation: the parent row equals the sum of the
    child rows present (a missing child row counts as a known zero). Raises
    ``TableStructureError`` naming the column, row or value when the table cannot be read so.
    """
    dimensions = list(dimensions)
    _check_columns(cells, dimensions, hierarchies)
    keys = cells[dimensions].reset_index(drop=True)
    _check_unique_keys(keys)
    for dimension, hierarchy in hierarchies.items():
        _check_acyclic(dimension, hierarchy)
    index = pd.MultiIndex.from_frame(keys) if len(dimensions) > 1 else pd.Index(keys.iloc[:, 0])

    row_parts: list[np.ndarray] = []
    col_parts: list[np.ndarray] = []
    sign_parts: list[np.ndarray] = []
    relation_parent_parts: list[np.ndarray] = []
    relation_dim_parts: list[np.ndarray] = []
    offset = 0
    for dimension, hierarchy in hierarchies.items():
        child_pos, parent_pos = _child_parent_positions(keys, index, dimension, hierarchy)
        parents, relation_of_child = np.unique(parent_pos, return_inverse=True)
        row_parts += [offset + np.arange(len(parents)), offset + relation_of_child]
        col_parts += [parents, child_pos]
        sign_parts += [np.ones(len(parents)), -np.ones(len(child_pos))]
        relation_parent_parts.append(parents)
        relation_dim_parts.append(np.full(len(parents), dimension, dtype=object))
        offset += len(parents)

    empty_int = np.zeros(0, dtype=np.int64)
    matrix = sparse.csr_array(
        (
            np.concatenate(sign_parts or [np.zeros(0)]),
            (np.concatenate(row_parts or [empty_int]), np.concatenate(col_parts or [empty_int])),
        ),
        shape=(offset, len(keys)),
        dtype=np.float64,
    )
    return AdditiveStructure(
        keys=keys,
        matrix=matrix,
        relation_parent=np.concatenate(relation_parent_parts or [empty_int]).astype(np.int64),
        relation_dimension=np.concatenate(relation_dim_parts or [np.zeros(0, dtype=object)]),
    )


def _check_columns(
    cells: pd.DataFrame, dimensions: list[str], hierarchies: Mapping[str, Mapping[str, str]]
) -> None:
    missing = [name for name in dimensions if name not in cells.columns]
    if missing:
        raise TableStructureError(f"table has no dimension column(s) {missing}")
    if not dimensions:
        raise TableStructureError("a table needs at least one dimension column")
    unknown = [name for name in hierarchies if name not in dimensions]
    if unknown:
        raise TableStructureError(f"hierarchies given for {unknown}, which are not dimensions")
    for name in dimensions:
        nulls = cells[name].isna().to_numpy().nonzero()[0]
        if len(nulls):
            raise TableStructureError(
                f"dimension {name!r} is empty in row {int(nulls[0])}: every cell needs a key"
            )


def _check_unique_keys(keys: pd.DataFrame) -> None:
    duplicated = keys.duplicated(keep=False).to_numpy().nonzero()[0]
    if len(duplicated):
        first = keys.iloc[int(duplicated[0])].to_dict()
        raise TableStructureError(
            f"rows {duplicated[:5].tolist()} repeat the cell {first}: one row per cell"
        )


def _check_acyclic(dimension: str, hierarchy: Mapping[str, str]) -> None:
    for start in hierarchy:
        seen = {start}
        value = hierarchy[start]
        while value in hierarchy:
            if value in seen:
                raise TableStructureError(
                    f"hierarchy of {dimension!r} loops through {value!r}: a value cannot be "
                    "its own ancestor"
                )
            seen.add(value)
            value = hierarchy[value]


def _child_parent_positions(
    keys: pd.DataFrame, index: pd.Index, dimension: str, hierarchy: Mapping[str, str]
) -> tuple[np.ndarray, np.ndarray]:
    """Positions of child rows whose parent row exists, and the position of that parent."""
    parent_values = keys[dimension].map(dict(hierarchy))
    has_parent = parent_values.notna().to_numpy()
    child_pos = np.flatnonzero(has_parent)
    if len(child_pos) == 0:
        return child_pos, child_pos.copy()
    parent_keys = keys.iloc[child_pos].copy()
    parent_keys[dimension] = parent_values.iloc[child_pos].to_numpy()
    if isinstance(index, pd.MultiIndex):
        lookup = pd.MultiIndex.from_frame(parent_keys)
    else:
        lookup = pd.Index(parent_keys.iloc[:, 0])
    parent_pos = index.get_indexer(lookup)
    found = parent_pos >= 0
    return child_pos[found], parent_pos[found].astype(np.int64)


def independent_parts(
    structure: AdditiveStructure, hierarchies: Mapping[str, Mapping[str, str]]
) -> list[np.ndarray]:
    """Ascending cell positions of each sub-table that no relation links to another.

    Every relation varies one dimension that has a hierarchy and holds the others fixed, so
    cells differing in a dimension without one (e.g. the period) are never related: there
    is one sub-table per combination of the values of those dimensions.
    """
    free = [name for name in structure.keys.columns if not hierarchies.get(name)]
    if not free or structure.n_cells == 0:
        return [np.arange(structure.n_cells, dtype=np.int64)]
    groups = structure.keys.groupby(free, sort=False).indices
    parts = [np.asarray(rows, dtype=np.int64) for rows in groups.values()]
    return sorted(parts, key=lambda rows: int(rows[0]))


def split_structure(
    structure: AdditiveStructure, parts: list[np.ndarray]
) -> list[AdditiveStructure]:
    """Each part (from ``independent_parts``) as a table of its own, positions from 0.

    The relations keep their order, so a part gives the same structure as the sub-table
    built on its own: whatever is computed on it depends on the part's cells only.
    """
    if len(parts) == 1:
        return [structure]
    columns = sparse.csc_array(structure.matrix)
    split = []
    for rows in parts:
        block = sparse.csr_array(columns[:, rows])
        relations = np.flatnonzero(np.diff(block.indptr) > 0)
        split.append(
            AdditiveStructure(
                keys=structure.keys.iloc[rows].reset_index(drop=True),
                matrix=sparse.csr_array(block[relations]),
                relation_parent=np.searchsorted(rows, structure.relation_parent[relations]),
                relation_dimension=structure.relation_dimension[relations],
            )
        )
    return split


def check_additive(structure: AdditiveStructure, counts: np.ndarray) -> None:
    """Raise ``TableStructureError`` if a parent cell is not the sum of its children."""
    residual = structure.matrix @ counts
    broken = np.flatnonzero(np.abs(residual) > _TOLERANCE)
    if len(broken) == 0:
        return
    relation = int(broken[0])
    parent = int(structure.relation_parent[relation])
    raise TableStructureError(
        f"row {parent} ({structure.describe_cell(parent)}) is not the sum of its children along "
        f"{structure.relation_dimension[relation]!r}: it holds {counts[parent]:g}, the children "
        f"add up to {counts[parent] - residual[relation]:g} ({len(broken)} relation(s) broken; "
        "add the missing children, e.g. an 'unknown' value, so totals add up)"
    )


def published_knowledge(
    values: np.ndarray, *, rounding_base: int | None = None, threshold: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Per-cell lower and upper bounds a reader knows from a published column.

    ``values`` holds the published counts with NaN where suppressed. A suppressed cell is only
    known to be >= 0. A published count is exact, or with rounding to base ``b`` (half up) lies
    in ``[v - b//2, v + (b-1)//2]``; a reader who knows the threshold also knows that a
    published non-zero count was at least ``threshold`` and a published zero was a true zero.
    """
    suppressed = np.isnan(values)
    lower = np.where(suppressed, 0.0, values)
    upper = np.where(suppressed, np.inf, values)
    if rounding_base is None or rounding_base <= 1:
        return lower, upper
    below, above = rounding_base // 2, (rounding_base - 1) // 2
    published = ~suppressed
    lower[published] = np.maximum(values[published] - below, 0.0)
    upper[published] = values[published] + above
    at_least_threshold = published & (values > 0) & (upper >= threshold)
    lower[at_least_threshold] = np.maximum(lower[at_least_threshold], threshold)
    if threshold > above:
        true_zero = published & (values == 0)
        upper[true_zero] = 0.0
    return lower, upper


def propagate_bounds(
    matrix: sparse.csr_array, lower: np.ndarray, upper: np.ndarray, *, rounds: int = 8
) -> tuple[np.ndarray, np.ndarray]:
    """Tighten per-cell bounds by reading each relation on its own (interval arithmetic).

    Every bound returned is valid (the LP interval lies inside it), so a cell whose propagated
    interval is already narrow is certainly exposed, and an LP optimum that reaches a
    propagated bound is exact without solving the other side.
    """
    coo = matrix.tocoo()
    rows, cols, signs = coo.row, coo.col, coo.data
    lower, upper = lower.copy(), upper.copy()
    n_rel = matrix.shape[0]
    for _ in range(rounds):
        term_low = np.where(signs > 0, lower[cols], -upper[cols])
        term_high = np.where(signs > 0, upper[cols], -lower[cols])
        high_inf = np.isinf(term_high)
        low_inf = np.isinf(term_low)
        high_sum = np.bincount(rows, np.where(high_inf, 0.0, term_high), n_rel)
        low_sum = np.bincount(rows, np.where(low_inf, 0.0, term_low), n_rel)
        high_infs = np.bincount(rows, high_inf, n_rel)
        low_infs = np.bincount(rows, low_inf, n_rel)
        # The term of this cell is minus the sum of the other terms of its relation.
        others_high = np.where(
            high_infs[rows] - high_inf > 0,
            np.inf,
            high_sum[rows] - np.where(high_inf, 0.0, term_high),
        )
        others_low = np.where(
            low_infs[rows] - low_inf > 0, -np.inf, low_sum[rows] - np.where(low_inf, 0.0, term_low)
        )
        own_low, own_high = -others_high, -others_low
        cell_low = np.where(signs > 0, own_low, -own_high)
        cell_high = np.where(signs > 0, own_high, -own_low)
        new_lower, new_upper = lower.copy(), upper.copy()
        np.maximum.at(new_lower, cols, cell_low)
        np.minimum.at(new_upper, cols, cell_high)
        if np.array_equal(new_lower, lower) and np.array_equal(new_upper, upper):
            break
        lower, upper = new_lower, new_upper
    return lower, upper


@dataclass(frozen=True)
class CellBounds:
    """What the attacker can say about the free (suppressed) cells of a table.

    ``positions`` are cell positions; ``lower``/``upper`` the bounds found for each. With
    ``exact`` both are the LP optimum; otherwise they come from feasible tables the attacker
    constructed, so the true interval is at least as wide (enough to prove a cell safe).
    """

    positions: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    exact: np.ndarray
    lp_solves: int

    @property
    def width(self) -> np.ndarray:
        """Width of each interval (infinite when a cell is unbounded above)."""
        return self.upper - self.lower


def attack(
    structure: AdditiveStructure,
    lower: np.ndarray,
    upper: np.ndarray,
    *,
    required_width: float | None = None,
    targets: np.ndarray | None = None,
    exact_narrow: bool = True,
) -> CellBounds:
    """Bound every free cell (``lower < upper``) given the relations and the fixed cells.

    With ``required_width=None`` the exact LP interval of every free cell is computed. With a
    width, a cell is settled as soon as two feasible tables put it at least that far apart
    (safe), or its exact interval is known (then it is narrower: exposed). With ``targets``
    (cell positions), only those free cells are settled; the others stay mere unknowns. With
    ``exact_narrow=False`` cells the first sweeps cannot prove safe are left as they are (not
    exact): a quick screen whose suspects need a second look.
    """
    outer_lower, outer_upper = propagate_bounds(structure.matrix, lower, upper)
    free = np.flatnonzero(upper - lower > _TOLERANCE)
    result_lower = outer_lower[free].copy()
    result_upper = outer_upper[free].copy()
    exact = np.zeros(len(free), dtype=bool)
    solves = 0
    wanted = np.ones(len(free), dtype=bool) if targets is None else np.isin(free, targets)
    for members, rows in _components(structure.matrix, free):
        if not wanted[members].any():
            continue
        problem = _ComponentProblem(structure.matrix, lower, upper, free[members], rows)
        found = problem.settle(
            outer_lower[free[members]],
            outer_upper[free[members]],
            required_width,
            wanted[members],
            exact_narrow,
        )
        result_lower[members], result_upper[members], exact[members] = found
        solves += problem.solves
    return CellBounds(free, result_lower, result_upper, exact, solves)


def _components(matrix: sparse.csr_array, free: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """Groups of free cells linked through relations, each with the relations it touches."""
    if len(free) == 0:
        return []
    sub = sparse.csc_array(matrix)[:, free]
    touched = np.flatnonzero(np.diff(sparse.csr_array(sub).indptr) > 0)
    sub = sparse.csr_array(sub)[touched]
    pattern = (sub != 0).astype(np.int8)
    graph = sparse.bmat([[None, pattern.T], [pattern, None]], format="csr")
    _, labels = connected_components(graph, directed=False)
    cell_labels, row_labels = labels[: len(free)], labels[len(free) :]
    order_cells = np.argsort(cell_labels, kind="stable")
    order_rows = np.argsort(row_labels, kind="stable")
    cell_groups = np.split(order_cells, np.flatnonzero(np.diff(cell_labels[order_cells])) + 1)
    row_by_label: dict[int, np.ndarray] = {}
    if len(order_rows):
        splits = np.flatnonzero(np.diff(row_labels[order_rows])) + 1
        for group in np.split(order_rows, splits):
            row_by_label[int(row_labels[group[0]])] = touched[group]
    empty = np.zeros(0, dtype=np.int64)
    return [(group, row_by_label.get(int(cell_labels[group[0]]), empty)) for group in cell_groups]


class _ComponentProblem:
    """The attacker's LP for one connected group of free cells."""

    def __init__(
        self,
        matrix: sparse.csr_array,
        lower: np.ndarray,
        upper: np.ndarray,
        positions: np.ndarray,
        rows: np.ndarray,
    ) -> None:
        block = matrix[rows]
        fixed = upper - lower <= _TOLERANCE
        known = np.where(fixed, lower, 0.0)
        self.a_eq = sparse.csc_array(block[:, positions])
        self.b_eq = -(block @ known)
        self.lower = lower[positions]
        self.upper = upper[positions]
        self.solves = 0

    def settle(
        self,
        outer_lower: np.ndarray,
        outer_upper: np.ndarray,
        required: float | None,
        wanted: np.ndarray,
        exact_narrow: bool = True,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Lower, upper and exactness of each cell, solving only the LPs that matter."""
        seen = _Seen(outer_lower, outer_upper, required, wanted)
        self._sweep(seen)
        if not exact_narrow:
            return seen.low, seen.high, seen.exact_low & seen.exact_high
        for cell in np.flatnonzero(seen.open_cells()):
            self._solve_cell(int(cell), seen)
        return seen.low, seen.high, seen.exact_low & seen.exact_high

    def _sweep(self, seen: _Seen) -> None:
        """Push many open cells at once with a few LPs, each giving a feasible table."""
        cap = _finite_cap(self.lower, self.upper, self.b_eq, seen.required)
        capped = np.column_stack([self.lower, np.minimum(self.upper, cap)])
        hopeless = np.zeros(len(self.lower), dtype=bool)
        if seen.required is not None:
            hopeless = seen.outer_upper - seen.outer_lower < seen.required - _TOLERANCE
        previous = int(seen.open_cells().sum())
        for round_number in range(_SWEEP_ROUNDS):
            targets = seen.open_cells() & ~hopeless
            if not targets.any():
                return
            objective = np.zeros(len(self.lower))
            if round_number == 0:
                objective[targets] = 1.0
            elif round_number == 1:
                objective[targets] = -1.0
            else:
                # Push down the cells whose minimum is unknown, up the others.
                objective[targets & ~seen.exact_low] = 1.0
                objective[targets & seen.exact_low] = -1.0
            seen.absorb(self._solve_capped(objective, capped))
            remaining = int(seen.open_cells().sum())
            if round_number >= 2 and previous - remaining <= max(1, previous // 50):
                return
            previous = remaining

    def _solve_capped(self, objective: np.ndarray, capped: np.ndarray) -> np.ndarray:
        """Solve with finite upper bounds; raise them if they cut off every feasible table
        (a hidden total can exceed every published count of its group)."""
        for _ in range(6):
            try:
                return self._solve(objective, capped)
            except TableStructureError:
                finite = np.isfinite(self.upper)
                capped = capped.copy()
                capped[~finite, 1] *= 100.0
        return self._solve(objective, np.column_stack([self.lower, self.upper]))

    def _solve_cell(self, cell: int, seen: _Seen) -> None:
        """Exact maximum, then minimum, of one cell (each also a feasible table)."""
        bounds = np.column_stack([self.lower, self.upper])
        for direction in (-1.0, 1.0):
            if not seen.open_cells()[cell]:
                return
            is_exact = seen.exact_high if direction < 0 else seen.exact_low
            if is_exact[cell]:
                continue
            objective = np.zeros(len(self.lower))
            objective[cell] = direction
            point = self._solve(objective, bounds, allow_unbounded=direction < 0)
            if point is None:
                seen.high[cell] = np.inf
            else:
                seen.absorb(point)
            is_exact[cell] = True

    def _solve(
        self, objective: np.ndarray, bounds: np.ndarray, *, allow_unbounded: bool = False
    ) -> np.ndarray | None:
        self.solves += 1
        if self.a_eq.shape[0] == 0:
            # No relation touches these cells: each is free within its own bounds.
            if allow_unbounded and np.any((objective < 0) & np.isinf(bounds[:, 1])):
                return None
            return np.where(objective < 0, bounds[:, 1], bounds[:, 0])
        result = linprog(objective, A_eq=self.a_eq, b_eq=self.b_eq, bounds=bounds, method="highs")
        if allow_unbounded and result.status in (2, 3):
            # HiGHS may report "infeasible or unbounded": decide with a capped copy.
            cap = _finite_cap(self.lower, self.upper, self.b_eq, None) * 1e3
            capped = np.column_stack([bounds[:, 0], np.minimum(bounds[:, 1], cap)])
            point = self._solve(objective, capped)
            return None if point is not None and point[objective < 0].max() >= cap - 1 else point
        if result.status == 2:
            raise TableStructureError(
                "the published counts contradict the table's additive relations (no table "
                "agrees with them): check the rounding base, the threshold and the totals"
            )
        if result.status != 0:
            raise RuntimeError(f"disclosure LP failed: {result.message}")
        return result.x


_SWEEP_ROUNDS = 40


class _Seen:
    """What the LPs solved so far say about each cell of a component.

    ``low``/``high`` are the extremes seen in feasible tables (so the true interval contains
    them); a side is exact once an LP optimised it or it reached a valid outer bound.
    """

    def __init__(
        self,
        outer_lower: np.ndarray,
        outer_upper: np.ndarray,
        required: float | None,
        wanted: np.ndarray,
    ) -> None:
        self.outer_lower, self.outer_upper = outer_lower, outer_upper
        self.required, self.wanted = required, wanted
        self.exact_low = outer_upper - outer_lower <= _TOLERANCE
        self.exact_high = self.exact_low.copy()
        self.low = np.where(self.exact_low, outer_lower, np.inf)
        self.high = np.where(self.exact_high, outer_upper, -np.inf)

    def open_cells(self) -> np.ndarray:
        """Wanted cells not yet proven wide enough and not yet known exactly."""
        unresolved = self.wanted & ~(self.exact_low & self.exact_high)
        if self.required is not None:
            unresolved &= ~(self.high - self.low >= self.required - _TOLERANCE)
        return unresolved

    def absorb(self, point: np.ndarray) -> None:
        """Take in one feasible table."""
        np.minimum(self.low, point, out=self.low)
        np.maximum(self.high, point, out=self.high)
        self.exact_low |= self.low <= self.outer_lower + _TOLERANCE
        finite = np.isfinite(self.outer_upper)
        self.exact_high |= finite & (self.high >= self.outer_upper - _TOLERANCE)


def _finite_cap(
    lower: np.ndarray, upper: np.ndarray, b_eq: np.ndarray, required: float | None
) -> float:
    """An upper bound for sweeps: any feasible point under it is feasible, and reaching it
    already proves a cell wide enough."""
    finite = np.concatenate([lower, upper[np.isfinite(upper)], np.abs(b_eq), [0.0]])
    return float(finite.max()) * 2 + 2 * (required or 1.0) + 1.0


@dataclass(frozen=True)
class DisclosureFinding:
    """One way a published table breaks a disclosure rule."""

    table: str
    cell: Mapping[str, object]
    rule: str
    detail: str
    lower: float | None = None
    upper: float | None = None

    def message(self) -> str:
        """One line naming the table, the cell and the rule."""
        where = ", ".join(f"{name}={value}" for name, value in self.cell.items())
        return f"{self.table}: [{where}] {self.rule}: {self.detail}"


# Rule names used in findings.
SMALL_COUNT_PUBLISHED = "small_count_published"
NOT_ROUNDED = "count_not_rounded"
DERIVED_VALUE_PUBLISHED = "derived_value_of_suppressed_count_published"
RECOVERABLE = "suppressed_count_recoverable"
INTERVAL_TOO_NARROW = "suppressed_interval_narrower_than_protection"
INCONSISTENT_TOTALS = "published_counts_contradict_totals"


def published_values(cells: pd.DataFrame, count: str) -> np.ndarray:
    """The count column as floats with NaN where suppressed (<NA>, None or NaN)."""
    if count not in cells.columns:
        raise TableStructureError(f"table has no count column {count!r}")
    values = pd.to_numeric(cells[count], errors="coerce")
    bad = np.flatnonzero(values.isna().to_numpy() & cells[count].notna().to_numpy())
    if len(bad):
        row = int(bad[0])
        shown = cells[count].iloc[row]
        raise TableStructureError(f"row {row}: {count!r} is {shown!r}, not a count")
    return values.to_numpy(dtype=float, na_value=np.nan)


def feasible_intervals(
    protected_cells: pd.DataFrame,
    *,
    count: str,
    dimensions: Sequence[str],
    hierarchies: Mapping[str, Mapping[str, str]],
    rounding_base: int | None = None,
    threshold: int = 0,
) -> pd.DataFrame:
    """The exact interval an attacker can derive for every suppressed cell.

    Uses every published cell, every additive relation and non-negativity (LP relaxation, so
    the interval may be wider than the integer one by less than 1). With ``rounding_base``,
    published counts are known only to their rounding interval (and, with ``threshold``, to be
    at least the threshold when non-zero). Returns the dimension columns plus ``lower``,
    ``upper`` (inf when unbounded) and ``width``, one row per suppressed cell.
    """
    structure = additive_structure(protected_cells, dimensions=dimensions, hierarchies=hierarchies)
    values = published_values(protected_cells, count)
    lower, upper = published_knowledge(values, rounding_base=rounding_base, threshold=threshold)
    bounds = attack(structure, lower, upper, targets=np.flatnonzero(np.isnan(values)))
    suppressed = np.isnan(values[bounds.positions])
    positions = bounds.positions[suppressed]
    frame = structure.keys.iloc[positions].reset_index(drop=True)
    frame["lower"] = bounds.lower[suppressed]
    frame["upper"] = bounds.upper[suppressed]
    frame["width"] = frame["upper"] - frame["lower"]
    return frame


def audit_table(
    protected_cells: pd.DataFrame,
    *,
    count: str,
    dimensions: Sequence[str],
    hierarchies: Mapping[str, Mapping[str, str]],
    rule: SmallCellRule,
    derived: Sequence[str] = (),
    table: str = "table",
    cache: DisclosureCache | None = None,
) -> list[DisclosureFinding]:
    """Everything wrong with a table as published, checked as an attacker would.

    Findings: a published count below the threshold; a count not rounded to the rule's base;
    a derived value published next to a suppressed count; a suppressed cell the attacker can
    compute exactly or pin to an interval narrower than ``rule.protection``. The attack runs
    per independent sub-table; with a ``cache``, a sub-table published exactly as one that
    passed before (same cells, hierarchies and rule) is not attacked again.
    """
    structure = additive_structure(protected_cells, dimensions=dimensions, hierarchies=hierarchies)
    values = published_values(protected_cells, count)
    findings = _published_value_findings(structure, protected_cells, values, rule, derived, table)
    try:
        narrow_cells = _narrow_cells_by_part(structure, values, rule, hierarchies, cache)
    except TableStructureError as error:
        return [*findings, DisclosureFinding(table, {}, INCONSISTENT_TOTALS, str(error))]
    for position, low, high in narrow_cells:
        exact = high - low <= _TOLERANCE
        findings.append(
            DisclosureFinding(
                table=table,
                cell=structure.keys.iloc[position].to_dict(),
                rule=RECOVERABLE if exact else INTERVAL_TOO_NARROW,
                detail=(
                    f"an attacker can compute it as {low:g} from the published cells"
                    if exact
                    else f"an attacker can narrow it to [{low:g}, {high:g}], width "
                    f"{high - low:g} < protection {rule.protection:g}"
                ),
                lower=float(low),
                upper=float(high),
            )
        )
    return findings


def _published_value_findings(
    structure: AdditiveStructure,
    cells: pd.DataFrame,
    values: np.ndarray,
    rule: SmallCellRule,
    derived: Sequence[str],
    table: str,
) -> list[DisclosureFinding]:
    findings = []

    def add(mask: np.ndarray, rule_name: str, detail: str) -> None:
        for position in np.flatnonzero(mask):
            cell = structure.keys.iloc[position].to_dict()
            text = detail.format(values[position])
            findings.append(DisclosureFinding(table, cell, rule_name, text))

    add(
        (values > 0) & (values < rule.threshold),
        SMALL_COUNT_PUBLISHED,
        f"published count {{:g}} is below the threshold {rule.threshold}",
    )
    if rule.rounding_base and rule.rounding_base > 1:
        add(
            np.isfinite(values) & (np.mod(values, rule.rounding_base) != 0),
            NOT_ROUNDED,
            f"published count {{:g}} is not a multiple of {rule.rounding_base}",
        )
    for name in derived:
        if name not in cells.columns:
            raise TableStructureError(f"table has no derived column {name!r}")
        leaked = np.isnan(values) & cells[name].notna().to_numpy()
        add(leaked, DERIVED_VALUE_PUBLISHED, f"{name!r} is published for a suppressed count")
    return findings


# Bump when a change to the attack can change a verdict: cached verdicts then expire.
_AUDIT_VERSION = 1


def _narrow_cells_by_part(
    structure: AdditiveStructure,
    values: np.ndarray,
    rule: SmallCellRule,
    hierarchies: Mapping[str, Mapping[str, str]],
    cache: DisclosureCache | None,
) -> list[tuple[int, float, float]]:
    """``_narrow_cells`` of every independent sub-table, as positions in the whole table.

    Only passes are cached: a sub-table with a finding is attacked again each time.
    """
    settings = {
        "version": _AUDIT_VERSION,
        "threshold": rule.threshold,
        "protection": rule.protection,
        "rounding_base": rule.rounding_base,
    }
    digest = hierarchies_digest(hierarchies) if cache is not None else ""
    narrow: list[tuple[int, float, float]] = []
    parts = independent_parts(structure, hierarchies)
    for rows, part in zip(parts, split_structure(structure, parts), strict=True):
        key = None
        if cache is not None:
            key = content_key("audit", settings, digest, part.keys, values[rows])
            if cache.get(key) is not None:
                continue
        found = _narrow_cells(part, values[rows], rule)
        narrow += [(int(rows[position]), low, high) for position, low, high in found]
        if key is not None and not found:
            cache.put(key, {"passed": True})
    return sorted(narrow)


def _narrow_cells(
    structure: AdditiveStructure, values: np.ndarray, rule: SmallCellRule
) -> list[tuple[int, float, float]]:
    """Suppressed cells whose feasible interval is narrower than the protection.

    With rounding, the attacker's LP has a variable for every published cell. It is first cut
    through one table that agrees with everything published (fixing the published cells
    there gives an interval inside the true one, so a cell wide there is safe); suspects get
    the rounding slack back on the cells around them (one, then two relations away), and only
    cells still narrow are solved in the full problem.
    """
    lower, upper = published_knowledge(
        values, rounding_base=rule.rounding_base, threshold=rule.threshold
    )
    if not (rule.rounding_base and rule.rounding_base > 1):
        return _as_list(attack(structure, lower, upper, required_width=rule.protection), rule)
    fixed_lower, fixed_upper = _consistent_slice(structure, lower, upper, values)
    suspects = np.flatnonzero(np.isnan(values))
    for hops in (0, 1, 2):
        near = _within_relations(structure, suspects, hops) & ~np.isnan(values)
        screen = attack(
            structure,
            np.where(near, lower, fixed_lower),
            np.where(near, upper, fixed_upper),
            required_width=rule.protection,
            targets=suspects,
            exact_narrow=False,
        )
        wanted = np.isin(screen.positions, suspects)
        suspects = screen.positions[wanted & (screen.width < rule.protection - _TOLERANCE)]
        if len(suspects) == 0:
            return []
    full = attack(structure, lower, upper, required_width=rule.protection, targets=suspects)
    return _as_list(full, rule, suspects)


def _as_list(
    bounds: CellBounds, rule: SmallCellRule, among: np.ndarray | None = None
) -> list[tuple[int, float, float]]:
    narrow = bounds.width < rule.protection - _TOLERANCE
    if among is not None:
        narrow &= np.isin(bounds.positions, among)
    found = zip(bounds.positions[narrow], bounds.lower[narrow], bounds.upper[narrow], strict=True)
    return [(int(position), float(low), float(high)) for position, low, high in found]


def _within_relations(structure: AdditiveStructure, cells: np.ndarray, hops: int) -> np.ndarray:
    """Mask of the cells reachable from ``cells`` through at most ``hops`` relations."""
    mask = np.zeros(structure.n_cells, dtype=bool)
    mask[cells] = True
    columns = sparse.csc_array(structure.matrix)
    rows_of = sparse.csr_array(structure.matrix)
    for _ in range(hops):
        relations = np.unique(columns[:, np.flatnonzero(mask)].tocoo().row)
        mask[np.unique(rows_of[relations].tocoo().col)] = True
    return mask


def _consistent_slice(
    structure: AdditiveStructure, lower: np.ndarray, upper: np.ndarray, values: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Fix every published cell at a value consistent with all published knowledge: the
    consistent table closest (sum of absolute differences) to the published counts."""
    suppressed = np.isnan(values)
    published = np.flatnonzero(~suppressed)
    n, k = len(values), len(published)
    # Variables: the table x, then one distance d per published cell; |x - v| <= d.
    pick = sparse.csr_array((np.ones(k), (np.arange(k), published)), shape=(k, n))
    eye = sparse.identity(k, format="csr")
    a_ub = sparse.vstack([sparse.hstack([pick, -eye]), sparse.hstack([-pick, -eye])])
    b_ub = np.concatenate([values[published], -values[published]])
    a_eq = sparse.hstack([structure.matrix, sparse.csr_array((structure.matrix.shape[0], k))])
    bounds = np.vstack(
        [
            np.column_stack([lower, np.where(np.isinf(upper), None, upper)]),
            np.column_stack([np.zeros(k), np.full(k, None)]),
        ]
    )
    result = linprog(
        np.concatenate([np.zeros(n), np.ones(k)]),
        A_ub=a_ub.tocsc(),
        b_ub=b_ub,
        A_eq=a_eq.tocsc(),
        b_eq=np.zeros(structure.matrix.shape[0]),
        bounds=bounds,
        method="highs",
    )
    if result.status != 0:
        raise TableStructureError(
            "the published counts contradict the table's additive relations under the "
            f"rule's rounding and threshold ({result.message})"
        )
    anchor = result.x[:n]
    return np.where(suppressed, lower, anchor), np.where(suppressed, upper, anchor)
