"""The disclosure gate: the last check before anything is published.

``check_disclosure`` audits every aggregate table with the LP attacker and every record-level
table for k-anonymity, l-diversity, sensitive content and identifying columns, exactly as
they are about to be published. Any finding raises ``DisclosureViolation`` naming the table,
the cells or rows and the rule; publication stops on it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from publish.disclosure_audit import DisclosureFinding, audit_table
from publish.disclosure_cache import DisclosureCache
from publish.record_level import (
    DIRECT_COLUMNS,
    SENSITIVE_CATEGORIES,
    SENSITIVE_FLAGS,
    UNKNOWN,
)
from publish.small_cells import SUPPRESSION_COLUMN, SmallCellRule

# Rule names for record-level findings.
BELOW_K = "class_smaller_than_k"
BELOW_L = "class_less_diverse_than_l"
SENSITIVE_RECORD = "sensitive_record_published"
IDENTIFYING_COLUMN = "identifying_column_published"
REASON_PUBLISHED = "suppression_reason_published"
# How many findings a message lists before summarising the rest.
_SHOWN = 20


@dataclass(frozen=True)
class AggregateTable:
    """An aggregate table as it will be published, with the rule it must satisfy."""

    cells: pd.DataFrame
    count: str
    dimensions: Sequence[str]
    hierarchies: Mapping[str, Mapping[str, str]]
    rule: SmallCellRule
    derived: Sequence[str] = ()


@dataclass(frozen=True)
class RecordTable:
    """A record-level table as it will be published, with what it must satisfy."""

    records: pd.DataFrame
    quasi_identifiers: Sequence[str]
    k: int = 5
    sensitive: str | None = None
    l: int | None = None  # noqa: E741 - the l of l-diversity
    category: str = "category"
    excluded_categories: Sequence[str] = SENSITIVE_CATEGORIES
    excluded_flags: Sequence[str] = SENSITIVE_FLAGS
    forbidden_columns: Sequence[str] = field(default=DIRECT_COLUMNS)


class DisclosureViolation(Exception):
    """Publishing would disclose something; the message lists what, where and which rule."""

    def __init__(self, findings: list[DisclosureFinding]) -> None:
        self.findings = findings
        lines = [finding.message() for finding in findings[:_SHOWN]]
        if len(findings) > _SHOWN:
            lines.append(f"... and {len(findings) - _SHOWN} more finding(s)")
        super().__init__(
            f"disclosure check failed with {len(findings)} finding(s):\n" + "\n".join(lines)
        )


def check_disclosure(
    aggregates: Mapping[str, AggregateTable] | None = None,
    records: Mapping[str, RecordTable] | None = None,
    *,
    cache: DisclosureCache | None = None,
) -> None:
    """Audit every table about to be published; raise DisclosureViolation on any finding.

    With a ``cache``, an aggregate sub-table published exactly as one that passed the attack
    before is not attacked again (its verdict cannot differ); every other check always runs.
    """
    findings: list[DisclosureFinding] = []
    for name, table in sorted((aggregates or {}).items()):
        findings += _aggregate_findings(name, table, cache)
    for name, table in sorted((records or {}).items()):
        findings += record_findings(name, table)
    if findings:
        raise DisclosureViolation(findings)


def _aggregate_findings(
    name: str, table: AggregateTable, cache: DisclosureCache | None
) -> list[DisclosureFinding]:
    findings = []
    if SUPPRESSION_COLUMN in table.cells.columns:
        findings.append(
            DisclosureFinding(
                name,
                {"column": SUPPRESSION_COLUMN},
                REASON_PUBLISHED,
                "the suppression reason tells primary (small) cells from secondary ones; "
                "publish ProtectedTable.for_publication()",
            )
        )
    return findings + audit_table(
        table.cells,
        count=table.count,
        dimensions=table.dimensions,
        hierarchies=table.hierarchies,
        rule=table.rule,
        derived=table.derived,
        table=name,
        cache=cache,
    )


def record_findings(name: str, table: RecordTable) -> list[DisclosureFinding]:
    """Findings for one record-level table (also usable without raising)."""
    frame = table.records
    findings = [
        DisclosureFinding(name, {"column": column}, IDENTIFYING_COLUMN, "must not be published")
        for column in table.forbidden_columns
        if column in frame.columns
    ]
    if table.category in frame.columns:
        hits = frame[table.category].isin(table.excluded_categories).to_numpy()
        findings += _row_findings(name, frame, hits, SENSITIVE_RECORD, "sensitive category")
    for flag in table.excluded_flags:
        if flag in frame.columns:
            hits = frame[flag].astype("boolean").fillna(True).to_numpy(dtype=bool)
            findings += _row_findings(name, frame, hits, SENSITIVE_RECORD, f"{flag} is set")
    findings += _class_findings(name, table)
    return findings


def _row_findings(
    name: str, frame: pd.DataFrame, hits: np.ndarray, rule: str, detail: str
) -> list[DisclosureFinding]:
    rows = np.flatnonzero(hits)
    return [DisclosureFinding(name, {"row": int(row)}, rule, detail) for row in rows]


def _class_findings(name: str, table: RecordTable) -> list[DisclosureFinding]:
    frame = table.records
    qis = list(table.quasi_identifiers)
    missing = [column for column in qis if column not in frame.columns]
    if missing:
        return [
            DisclosureFinding(name, {"column": column}, BELOW_K, "quasi-identifier missing")
            for column in missing
        ]
    if frame.empty:
        return []
    keys = frame[qis].astype("string").fillna(UNKNOWN).reset_index(drop=True)
    findings = _small_classes(name, keys, _class_sizes(keys, qis), table.k, BELOW_K, "records")
    if table.sensitive and table.l:
        labels = frame[table.sensitive].astype("string").fillna(UNKNOWN).to_numpy()
        diversity = (
            keys.assign(_label=labels).groupby(qis, dropna=False)["_label"].transform("nunique")
        )
        findings += _small_classes(
            name, keys, diversity.to_numpy(), table.l, BELOW_L, f"distinct {table.sensitive!r}"
        )
    return findings


def _class_sizes(keys: pd.DataFrame, qis: list[str]) -> np.ndarray:
    return keys.groupby(qis, dropna=False, sort=False)[qis[0]].transform("size").to_numpy()


def _small_classes(
    name: str, keys: pd.DataFrame, measure: np.ndarray, required: int, rule: str, what: str
) -> list[DisclosureFinding]:
    findings = []
    small = keys.loc[measure < required].drop_duplicates()
    for position, row in small.iterrows():
        shown = {column: row[column] for column in keys.columns}
        detail = f"{int(measure[position])} {what} share these values, need {required}"
        findings.append(DisclosureFinding(name, shown, rule, detail))
    return findings
