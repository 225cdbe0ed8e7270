"""Small-cell suppression for aggregate tables: primary, secondary, optional rounding.

Primary suppression hides every count with ``0 < count < threshold``. Secondary suppression
then hides further cells so that no hidden cell can be recovered, or pinned to an interval
narrower than ``protection``, from the published cells and the table's totals. It works in
two steps, like Tau-Argus:

1. Hypercubes (the GHMITER idea, generalised to hierarchies): for each cell to protect, the
   cheapest balanced set of cells around it in which the cell and its partners can move by
   ``protection`` while every published total stays the same. Such a set is a certificate of
   protection for all its cells, and suppressing more cells never breaks it.
2. Audit and repair: the LP attacker of ``publish.disclosure_audit`` checks the whole pattern;
   any cell it finds too narrow gets a cheapest protecting pattern from a small LP, and the
   audit runs again until it passes. Secondary cells that the attacker can compute exactly are
   published again (that reveals nothing new).

Zeros are published: a zero count names nobody. Zeros may be chosen as secondary cells, so a
suppressed cell does not tell a reader that its count is non-zero.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import sparse
from scipy.optimize import linprog

from publish.disclosure_audit import (
    AdditiveStructure,
    TableStructureError,
    additive_structure,
    attack,
    check_additive,
    independent_parts,
    split_structure,
)
from publish.disclosure_cache import DisclosureCache, content_key, hierarchies_digest

SUPPRESSION_COLUMN = "suppression"
PRIMARY = "primary"
SECONDARY = "secondary"
# Marker for a suppressed value in published files (the GSS/ONS symbol for "confidential").
SUPPRESSED_MARKER = "[c]"
_TOLERANCE = 1e-6
_MAX_REPAIR_ROUNDS = 50
# Candidate hypercubes examined per cell (product over dimensions of the options kept).
_CUBE_BUDGET = 4096
# Dense grid of dimension codes used to find hypercube corners; beyond this, LP only.
_GRID_LIMIT = 20_000_000


@dataclass(frozen=True)
class SmallCellRule:
    """A small-cell rule: what is hidden, how well, and whether counts are rounded.

    - ``threshold``: a count with ``0 < count < threshold`` is suppressed (primary). Zero is
      published: it discloses no person.
    - ``protection``: the minimum width ``upper - lower`` of the interval a reader can derive
      for any suppressed cell from everything published (LP attacker, non-negative counts).
    - ``rounding_base``: if set, every published count is rounded to the nearest multiple
      (half up) after suppression.
    """

    threshold: int = 5
    protection: float = 5.0
    rounding_base: int | None = None

    def __post_init__(self) -> None:
        if self.threshold < 1:
            raise ValueError(f"threshold must be >= 1, got {self.threshold}")
        if self.protection <= 0:
            raise ValueError(f"protection must be > 0, got {self.protection}")
        if self.rounding_base is not None and self.rounding_base < 1:
            raise ValueError(f"rounding_base must be >= 1, got {self.rounding_base}")

    @classmethod
    def below_5(cls) -> SmallCellRule:
        """Suppress counts 1-4; a hidden count cannot be narrowed below a width of 5."""
        return cls(threshold=5, protection=5.0, rounding_base=None)

    @classmethod
    def ons_10_5(cls) -> SmallCellRule:
        """The ONS "10-5 rule" (rounding plus threshold, used for Census 2021 and in the
        Integrated Data Service): counts below 10 are suppressed and the others are rounded
        to the nearest 5. Here a hidden count also keeps a feasible width of at least 10."""
        return cls(threshold=10, protection=10.0, rounding_base=5)


@dataclass(frozen=True)
class SmallCellReport:
    """What protect_table did. Publishable: it holds no suppressed value."""

    threshold: int
    protection: float
    rounding_base: int | None
    cells_total: int
    cells_primary: int
    cells_secondary: int
    audit_passed: bool
    repair_rounds: int
    lp_solves: int

    @property
    def cells_suppressed(self) -> int:
        """Primary plus secondary suppressions."""
        return self.cells_primary + self.cells_secondary

    @property
    def information_loss(self) -> float:
        """Share of cells suppressed (0 to 1)."""
        return self.cells_suppressed / self.cells_total if self.cells_total else 0.0


@dataclass(frozen=True)
class ProtectedTable:
    """The protected cells (same rows and columns, count as nullable Int64 with <NA> where
    suppressed, plus the ``suppression`` reason column) and the report."""

    cells: pd.DataFrame
    report: SmallCellReport
    count: str

    def for_publication(self) -> pd.DataFrame:
        """The cells as they may be published: no suppression reason (primary and secondary
        must look the same to a reader) and a ``<count>_flag`` column holding
        ``SUPPRESSED_MARKER`` where the count is suppressed."""
        published = self.cells.drop(columns=[SUPPRESSION_COLUMN])
        flag = np.where(self.cells[SUPPRESSION_COLUMN].to_numpy() != "", SUPPRESSED_MARKER, "")
        published[f"{self.count}_flag"] = flag
        return published


def protect_table(
    cells: pd.DataFrame,
    *,
    count: str,
    dimensions: Sequence[str],
    hierarchies: Mapping[str, Mapping[str, str]],
    rule: SmallCellRule,
    derived: Sequence[str] = (),
    method: str = "hypercube",
    cache: DisclosureCache | None = None,
) -> ProtectedTable:
    """Apply primary and secondary suppression (and rounding) to a long aggregate table.

    ``cells`` has one row per cell, identified by ``dimensions``; ``count`` is a non-negative
    integer; ``hierarchies[dim]`` maps a child value to its parent value, and each parent row
    must equal the sum of its children. ``derived`` columns (e.g. a rate) are blanked wherever
    the count is. ``method="lp"`` skips the hypercubes and protects every cell the audit
    finds with the LP pattern (slower on large tables). Raises ``TableStructureError`` naming
    the row and rule on bad input.

    Sub-tables that no relation links (one per value of a dimension without a hierarchy)
    are protected one by one; with a ``cache``, a sub-table protected before with the same
    cells, hierarchies and rule gets its stored pattern, identical to a fresh one.
    """
    if method not in ("hypercube", "lp"):
        raise ValueError(f"method must be 'hypercube' or 'lp', got {method!r}")
    counts = _checked_counts(cells, count, derived)
    structure = additive_structure(cells, dimensions=dimensions, hierarchies=hierarchies)
    check_additive(structure, counts)
    primary = (counts > 0) & (counts < rule.threshold)
    suppressed = np.zeros(len(counts), dtype=bool)
    rounds = solves = 0
    digest = hierarchies_digest(hierarchies) if cache is not None else ""
    parts = independent_parts(structure, hierarchies)
    for rows, part in zip(parts, split_structure(structure, parts), strict=True):
        pattern = _part_pattern(part, counts[rows], hierarchies, rule, method, cache, digest)
        suppressed[rows] = pattern.suppressed
        rounds, solves = max(rounds, pattern.rounds), solves + pattern.solves
    reasons = np.where(primary, PRIMARY, np.where(suppressed, SECONDARY, ""))
    protected = _protected_frame(cells, count, derived, counts, reasons, rule.rounding_base)
    report = SmallCellReport(
        threshold=rule.threshold,
        protection=rule.protection,
        rounding_base=rule.rounding_base,
        cells_total=len(counts),
        cells_primary=int(primary.sum()),
        cells_secondary=int((suppressed & ~primary).sum()),
        audit_passed=True,
        repair_rounds=rounds,
        lp_solves=solves,
    )
    return ProtectedTable(cells=protected, report=report, count=count)


@dataclass(frozen=True)
class _Pattern:
    """Which cells of one sub-table are hidden, and what finding that out took."""

    suppressed: np.ndarray
    rounds: int
    solves: int


# Bump when a change to the suppression can change a pattern: cached patterns then expire.
_PATTERN_VERSION = 1


def _part_pattern(
    structure: AdditiveStructure,
    counts: np.ndarray,
    hierarchies: Mapping[str, Mapping[str, str]],
    rule: SmallCellRule,
    method: str,
    cache: DisclosureCache | None,
    digest: str,
) -> _Pattern:
    """The pattern of one independent sub-table: from the cache, or computed and stored."""
    if cache is None:
        return _suppress(structure, counts, hierarchies, rule, method)
    settings = {
        "version": _PATTERN_VERSION,
        "method": method,
        "threshold": rule.threshold,
        "protection": rule.protection,
    }
    key = content_key("pattern", settings, digest, structure.keys, counts)
    found = cache.get(key)
    if found is not None and len(found["hidden"]) == len(counts):
        hidden = np.frombuffer(found["hidden"].encode(), dtype=np.uint8) == ord("1")
        return _Pattern(hidden, int(found["rounds"]), int(found["solves"]))
    pattern = _suppress(structure, counts, hierarchies, rule, method)
    hidden = "".join(np.where(pattern.suppressed, "1", "0"))
    cache.put(key, {"hidden": hidden, "rounds": pattern.rounds, "solves": pattern.solves})
    return pattern


def _suppress(
    structure: AdditiveStructure,
    counts: np.ndarray,
    hierarchies: Mapping[str, Mapping[str, str]],
    rule: SmallCellRule,
    method: str,
) -> _Pattern:
    """Primary, hypercube and audit-and-repair suppression of one sub-table."""
    primary = (counts > 0) & (counts < rule.threshold)
    suppressed = primary.copy()
    grid = _Grid.build(structure, list(structure.keys.columns), hierarchies)
    certified = np.zeros(len(counts))
    if grid is not None and method == "hypercube":
        search = _HypercubeSearch(grid, structure, counts, suppressed, certified, rule.protection)
        search.protect_all()
    rounds, solves = _audit_and_repair(structure, grid, counts, suppressed, primary, rule)
    return _Pattern(suppressed, rounds, solves)


def hierarchical_totals(
    leaves: pd.DataFrame,
    *,
    count: str,
    dimensions: Sequence[str],
    hierarchies: Mapping[str, Mapping[str, str]],
) -> pd.DataFrame:
    """Add every parent row of the hierarchies to a table of leaf counts.

    Each dimension in turn: rows are rolled up level by level (child value -> parent value)
    and summed, so the result holds every combination of leaf and parent values, each parent
    equal to the sum of its children. Columns other than the dimensions and count are dropped.
    """
    table = leaves[[*dimensions, count]]
    for dimension in dimensions:
        mapping = dict(hierarchies.get(dimension, {}))
        levels, current = [table], table
        for _ in range(len(mapping) + 1):  # a loop in the hierarchy cannot go on forever
            parents = current[dimension].map(mapping)
            rolled = current.assign(**{dimension: parents}).loc[parents.notna()]
            if rolled.empty:
                break
            current = rolled.groupby(list(dimensions), as_index=False, sort=False)[count].sum()
            levels.append(current)
        table = pd.concat(levels, ignore_index=True)
    return table.reset_index(drop=True)


def round_half_up(values: np.ndarray, base: int) -> np.ndarray:
    """Round non-negative integers to the nearest multiple of ``base`` (ties go up)."""
    return np.floor(values / base + 0.5) * base


def _checked_counts(cells: pd.DataFrame, count: str, derived: Sequence[str]) -> np.ndarray:
    missing = [name for name in [count, *derived] if name not in cells.columns]
    if missing:
        raise TableStructureError(f"table has no column(s) {missing}")
    if SUPPRESSION_COLUMN in cells.columns:
        raise TableStructureError(
            f"table already has a {SUPPRESSION_COLUMN!r} column: protect the raw table once"
        )
    column = pd.to_numeric(cells[count], errors="coerce")
    values = column.to_numpy(dtype=float, na_value=np.nan)
    bad = np.flatnonzero(~np.isfinite(values) | (values < 0) | (values != np.round(values)))
    if len(bad):
        row = int(bad[0])
        raise TableStructureError(
            f"row {row}: {count!r} is {cells[count].iloc[row]!r}; counts must be non-negative "
            f"integers ({len(bad)} row(s) break this)"
        )
    return values


def _protected_frame(
    cells: pd.DataFrame,
    count: str,
    derived: Sequence[str],
    counts: np.ndarray,
    reasons: np.ndarray,
    rounding_base: int | None,
) -> pd.DataFrame:
    hidden = reasons != ""
    published = counts if not rounding_base else round_half_up(counts, rounding_base)
    out = cells.copy()
    out[count] = pd.array(np.where(hidden, 0, published).astype(np.int64), dtype="Int64")
    out.loc[hidden, count] = pd.NA
    for name in derived:
        column = out[name].astype(object) if out[name].dtype == bool else out[name]
        out[name] = column.where(~hidden)
    out[SUPPRESSION_COLUMN] = reasons
    return out


def _audit_and_repair(
    structure: AdditiveStructure,
    grid: _Grid | None,
    counts: np.ndarray,
    suppressed: np.ndarray,
    primary: np.ndarray,
    rule: SmallCellRule,
) -> tuple[int, int]:
    """Run the LP attacker on the exact counts until no suppressed cell is too narrow.

    The attacker here knows the exact published counts (stronger than a reader of a rounded
    table), so passing here implies passing on the published table.
    """
    solves = 0
    for round_number in range(_MAX_REPAIR_ROUNDS):
        bounds = attack(
            structure,
            np.where(suppressed, 0.0, counts),
            np.where(suppressed, np.inf, counts),
            required_width=rule.protection,
        )
        solves += bounds.lp_solves
        narrow = bounds.width < rule.protection - _TOLERANCE
        if not narrow.any():
            return round_number, solves
        pinned = narrow & (bounds.width <= _TOLERANCE) & ~primary[bounds.positions]
        # A secondary cell the attacker computes exactly protects nothing: publish it.
        suppressed[bounds.positions[pinned]] = False
        for cell in bounds.positions[narrow & ~pinned]:
            solves += _protect_with_lp(structure, grid, counts, suppressed, int(cell), rule)
    raise RuntimeError(
        f"secondary suppression did not converge in {_MAX_REPAIR_ROUNDS} audit rounds"
    )


def _protect_with_lp(
    structure: AdditiveStructure,
    grid: _Grid | None,
    counts: np.ndarray,
    suppressed: np.ndarray,
    cell: int,
    rule: SmallCellRule,
) -> int:
    """Suppress a cheapest set of cells that lets ``cell`` move by ``rule.protection``.

    Solves min sum(cost * |y|) over perturbations y with ``matrix @ y == 0``, ``y[cell] == 1``
    and ``counts + up * y >= 0``, ``counts - down * y >= 0`` (up + down = protection), first
    around the cell, then over the whole table. Every cell with ``y != 0`` is suppressed; y is
    then a feasible move for the attacker, which proves the cell's interval wide enough.
    """
    neighbourhoods = [grid.neighbourhood(cell)] if grid is not None else []
    neighbourhoods.append(np.arange(len(counts)))
    for solves, cells in enumerate(neighbourhoods, start=1):
        support = _cheapest_perturbation(structure, counts, suppressed, cell, cells, rule)
        if support is not None:
            suppressed[support] = True
            return solves
    raise RuntimeError(f"no protecting pattern exists for cell {structure.describe_cell(cell)}")


def _cheapest_perturbation(
    structure: AdditiveStructure,
    counts: np.ndarray,
    suppressed: np.ndarray,
    cell: int,
    cells: np.ndarray,
    rule: SmallCellRule,
) -> np.ndarray | None:
    down = min(counts[cell], rule.protection)
    up = rule.protection - down
    columns = sparse.csc_array(structure.matrix)[:, cells]
    rows = np.flatnonzero(np.diff(sparse.csr_array(columns).indptr) > 0)
    block = sparse.csr_array(columns)[rows]
    a_eq = sparse.hstack([block, -block], format="csc")
    values = counts[cells]
    with np.errstate(divide="ignore"):
        rise_cap = values / down if down > 0 else np.full(len(cells), np.inf)
        fall_cap = values / up if up > 0 else np.full(len(cells), np.inf)
    cost = np.where(suppressed[cells], 1e-3, values + 1.0)
    bounds = np.column_stack([np.zeros(2 * len(cells)), np.concatenate([rise_cap, fall_cap])])
    own = int(np.flatnonzero(cells == cell)[0])
    bounds[own] = (1.0, 1.0)
    bounds[len(cells) + own] = (0.0, 0.0)
    result = linprog(
        np.concatenate([cost, cost]),
        A_eq=a_eq,
        b_eq=np.zeros(len(rows)),
        bounds=bounds,
        method="highs",
    )
    if result.status != 0:
        return None
    move = result.x[: len(cells)] - result.x[len(cells) :]
    return cells[np.abs(move) > 1e-9]


@dataclass(frozen=True)
class _Grid:
    """Cells addressed by dimension codes, and each dimension's tree of values."""

    codes: np.ndarray  # (n_cells, n_dims) code of each cell's value in each dimension
    position: np.ndarray  # dense array over all code combinations: cell position or -1
    parent: list[np.ndarray]  # per dimension: parent code of each code, -1 for none
    children: list[list[np.ndarray]]  # per dimension: child codes of each code

    @classmethod
    def build(
        cls,
        structure: AdditiveStructure,
        dimensions: list[str],
        hierarchies: Mapping[str, Mapping[str, str]],
    ) -> _Grid | None:
        codes, parents, children, shape = [], [], [], []
        for name in dimensions:
            code, values = pd.factorize(structure.keys[name])
            parent_values = pd.Series(values).map(dict(hierarchies.get(name, {})))
            parent = pd.Index(values).get_indexer(parent_values)
            codes.append(code)
            parents.append(parent)
            children.append([np.flatnonzero(parent == value) for value in range(len(values))])
            shape.append(len(values))
        if int(np.prod(shape, dtype=np.float64)) > _GRID_LIMIT:
            return None
        stacked = np.column_stack(codes)
        position = np.full(shape, -1, dtype=np.int64)
        position[tuple(stacked.T)] = np.arange(len(stacked))
        return cls(stacked, position, parents, children)

    def family(self, dim: int, code: int) -> np.ndarray:
        """A value, its parent, its siblings and its children in one dimension."""
        parent = self.parent[dim][code]
        members = [np.array([code]), self.children[dim][code]]
        if parent >= 0:
            members += [np.array([parent]), self.children[dim][parent]]
        return np.unique(np.concatenate(members))

    def neighbourhood(self, cell: int) -> np.ndarray:
        """Cells whose every coordinate is in the family of the cell's coordinate."""
        families = [self.family(dim, code) for dim, code in enumerate(self.codes[cell])]
        block = self.position[np.ix_(*families)].ravel()
        return block[block >= 0]


class _HypercubeSearch:
    """Protect cells with hypercubes: products of one balanced move per dimension.

    A move in one dimension is a vector over its values that keeps every parent equal to the
    sum of its children (swap with a sibling, or climb to the root, each followed down to a
    leaf). The product of one move per dimension keeps every relation of the table, so its
    corners can shift together by as much as their counts allow: that amount is the
    protection it gives to each of its corners.
    """

    def __init__(
        self,
        grid: _Grid,
        structure: AdditiveStructure,
        counts: np.ndarray,
        suppressed: np.ndarray,
        certified: np.ndarray,
        protection: float,
    ) -> None:
        self.grid = grid
        self.columns = sparse.csc_array(structure.matrix)
        self.counts = counts
        self.suppressed = suppressed
        self.certified = certified
        self.protection = protection
        self.cost = counts + 1.0

    def protect_all(self) -> None:
        """Give every currently suppressed cell a hypercube, most aggregated cells first."""
        todo = np.flatnonzero(self.suppressed)
        depth = sum(
            np.array([len(kids) > 0 for kids in self.grid.children[dim]])[self.grid.codes[:, dim]]
            for dim in range(self.grid.codes.shape[1])
        )
        order = np.lexsort((self.counts[todo], -np.asarray(depth)[todo]))
        for cell in todo[order]:
            if self.certified[cell] < self.protection - _TOLERANCE:
                self.protect(int(cell))

    def protect(self, cell: int) -> bool:
        """Suppress the cheapest hypercube protecting ``cell``; False if none was found."""
        options = [self._moves(cell, dim) for dim in range(self.grid.codes.shape[1])]
        if any(not moves for moves in options):
            return False
        keep = _options_per_dimension([len(moves) for moves in options])
        options = [moves[:k] for moves, k in zip(options, keep, strict=True)]
        for corners, signs, capacity in self._cubes_by_price(options):
            # A dimension value whose children are missing on some lines breaks the product
            # argument there: check the move against the table's relations before using it.
            if np.abs(self.columns[:, corners] @ signs).max(initial=0.0) > _TOLERANCE:
                continue
            self.suppressed[corners] = True
            np.maximum.at(self.certified, corners, capacity)
            return True
        return False

    def _line(self, cell: int, dim: int) -> np.ndarray:
        """Positions of the cells that differ from ``cell`` only in dimension ``dim``."""
        index = list(self.grid.codes[cell])
        index[dim] = slice(None)
        return self.grid.position[tuple(index)]

    def _moves(self, cell: int, dim: int) -> list[tuple[np.ndarray, np.ndarray]]:
        """Balanced moves in one dimension, cheapest first, as (codes, signs)."""
        code = int(self.grid.codes[cell, dim])
        parent = self.grid.parent[dim][code]
        kids = self.grid.children[dim][code]
        if parent < 0 and len(kids) == 0:
            return [(np.array([code]), np.array([1.0]))]
        line = self._line(cell, dim)
        moves = []
        if parent >= 0:
            down = self._down_chain(dim, code, line)
            for sibling in self.grid.children[dim][parent]:
                if sibling != code and line[sibling] >= 0:
                    other = self._down_chain(dim, int(sibling), line)
                    moves.append(_signed(down, other))
            moves.append(_signed(np.concatenate([self._ancestors(dim, code), down]), None))
        else:
            for kid in kids:
                if line[kid] >= 0:
                    chain = np.concatenate([[code], self._down_chain(dim, int(kid), line)])
                    moves.append(_signed(chain, None))
        feasible = [move for move in moves if np.all(line[move[0]] >= 0)]
        if len(feasible) < 2:
            return feasible
        # Cheapest first along this line, moves that cannot give the protection last.
        codes, signs = _padded_moves(feasible)
        cells = line[codes]
        values = np.where(signs != 0, self.counts[cells], np.inf)
        capacity = np.where(signs > 0, values, np.inf).min(axis=1) + np.where(
            signs < 0, values, np.inf
        ).min(axis=1)
        price = np.where(signs != 0, self._price(cells), 0.0).sum(axis=1)
        order = np.lexsort((price, capacity < self.protection - _TOLERANCE))
        return [feasible[k] for k in order]

    def _down_chain(self, dim: int, code: int, line: np.ndarray) -> np.ndarray:
        """A path from ``code`` to a leaf, taking the cheapest child at each step."""
        chain = [code]
        kids = self.grid.children[dim][code]
        while len(kids):
            present = kids[line[kids] >= 0]
            if len(present) == 0:
                break
            step = present[np.argmin(self._price(line[present]))]
            chain.append(int(step))
            kids = self.grid.children[dim][step]
        return np.array(chain)

    def _ancestors(self, dim: int, code: int) -> np.ndarray:
        chain = []
        parent = self.grid.parent[dim][code]
        while parent >= 0:
            chain.append(int(parent))
            parent = self.grid.parent[dim][parent]
        return np.array(chain, dtype=np.int64)

    def _price(self, positions: np.ndarray) -> np.ndarray:
        return np.where(self.suppressed[positions], 0.0, self.cost[positions])

    def _cubes_by_price(
        self, options: list[list[tuple[np.ndarray, np.ndarray]]], tries: int = 3
    ) -> list[tuple[np.ndarray, np.ndarray, float]]:
        """Evaluate every product of the kept moves; the cheapest adequate ones first, each
        as (corner positions, corner signs, capacity)."""
        n_dims = len(options)
        index_parts, sign_parts = [], []
        for dim, moves in enumerate(options):
            codes, signs = _padded_moves(moves)
            # Axis ``dim`` picks the move, axis ``n_dims + dim`` the value within it.
            shape = [1] * (2 * n_dims)
            shape[dim], shape[n_dims + dim] = codes.shape
            index_parts.append(codes.reshape(shape))
            sign_parts.append(signs.reshape(shape))
        picks = tuple(len(moves) for moves in options)
        positions = self.grid.position[tuple(index_parts)].reshape(int(np.prod(picks)), -1)
        signs = functools.reduce(np.multiply, sign_parts).reshape(positions.shape)
        corner = signs != 0
        missing = corner & (positions < 0)
        values = np.where(corner, self.counts[positions], np.inf)
        rising = np.where(signs > 0, values, np.inf).min(axis=1)
        falling = np.where(signs < 0, values, np.inf).min(axis=1)
        capacity = rising + falling
        total = np.where(corner, self._price(positions), 0.0).sum(axis=1)
        adequate = ~missing.any(axis=1) & (capacity >= self.protection - _TOLERANCE)
        ranked = np.argsort(np.where(adequate, total, np.inf), kind="stable")
        cubes = []
        for choice in ranked[: min(tries, int(adequate.sum()))]:
            chosen = corner[choice]
            cubes.append((positions[choice][chosen], signs[choice][chosen], capacity[choice]))
        return cubes


def _padded_moves(moves: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """Moves of one dimension as equal-length rows; padding has sign 0 (not a corner)."""
    width = max(len(codes) for codes, _ in moves)
    codes = np.zeros((len(moves), width), dtype=np.int64)
    signs = np.zeros((len(moves), width))
    for k, (move_codes, move_signs) in enumerate(moves):
        codes[k] = move_codes[0]
        codes[k, : len(move_codes)] = move_codes
        signs[k, : len(move_signs)] = move_signs
    return codes, signs


def _signed(positive: np.ndarray, negative: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    if negative is None:
        return positive.astype(np.int64), np.ones(len(positive))
    codes = np.concatenate([positive, negative]).astype(np.int64)
    return codes, np.concatenate([np.ones(len(positive)), -np.ones(len(negative))])


def _options_per_dimension(available: list[int]) -> list[int]:
    """How many moves to keep per dimension so that their product stays within budget."""
    keep = [1] * len(available)
    while True:
        grew = False
        for dim in np.argsort(available):
            if keep[dim] < available[dim]:
                trial = keep.copy()
                trial[dim] += 1
                if np.prod(trial) <= _CUBE_BUDGET:
                    keep = trial
                    grew = True
        if not grew:
            return keep
