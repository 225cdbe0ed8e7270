"""Row rules of a source profile: which raw rows are totals or comparisons, and what to do.

Rules are tried in order and the first rule whose condition holds decides a row: `skip`
leaves it out (counted per rule, never silently), `keep` keeps it even if a later rule would
skip it, optionally as another territory (a total kept as a higher territory level). Rows no
rule matches are kept.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import pyarrow as pa
import pyarrow.compute as pc

from connectors.errors import SourceError
from connectors.profile_mapping import TERRITORY_OVERRIDE, per_distinct
from connectors.source_profiles import RowRule


def apply_row_rules(
    batch: pa.RecordBatch, rules: Sequence[RowRule], *, source_name: str
) -> tuple[pa.RecordBatch, dict[str, int]]:
    """The rows to map (with a territory override column if a rule sets one) and the
    number of rows each `skip` rule left out."""
    if not rules or len(batch) == 0:
        return batch, {}
    size = len(batch)
    decided = pa.array([False] * size)
    dropped = pa.array([False] * size)
    territory = pa.nulls(size, pa.string())
    skipped: dict[str, int] = {}
    for rule in rules:
        hit = pc.and_(_condition(batch, rule, source_name), pc.invert(decided))
        decided = pc.or_(decided, hit)
        if rule.action == "skip":
            dropped = pc.or_(dropped, hit)
            count = pc.sum(hit).as_py() or 0
            if count:
                skipped[rule.name] = skipped.get(rule.name, 0) + count
        elif rule.territory_code is not None:
            territory = pc.if_else(hit, pa.scalar(rule.territory_code, pa.string()), territory)
    if pc.any(pc.is_valid(territory)).as_py():
        batch = batch.append_column(TERRITORY_OVERRIDE, territory)
    return batch.filter(pc.invert(dropped)), skipped


def _condition(batch: pa.RecordBatch, rule: RowRule, source_name: str) -> pa.Array:
    """Whether each row meets the rule's condition (cells are compared trimmed)."""
    if rule.column not in batch.schema.names:
        names = ", ".join(n for n in batch.schema.names if not n.startswith("_"))
        raise SourceError(
            source_name,
            None,
            "profile-column",
            f"row rule {rule.name!r} tests column {rule.column!r}, which the source does not "
            f"have (columns: {names})",
        )
    text = pc.fill_null(
        pc.utf8_trim_whitespace(pc.cast(batch.column(rule.column), pa.string())), ""
    )
    if rule.equals is not None:
        return pc.is_in(text, pa.array([v.strip() for v in rule.equals], pa.string()))
    pattern = re.compile(rule.matches if rule.matches is not None else rule.not_matches)
    found = per_distinct(text, lambda v: "1" if pattern.search(v) else "")
    hit = pc.equal(found, "1")
    return hit if rule.matches is not None else pc.invert(hit)
