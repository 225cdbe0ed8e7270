"""One source file through its profile and its contract: checked batches ready to load.

Connectors never touch the warehouse: the caller (a flow) loads `valid` and `quarantined`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from connectors.csv_source import DEFECT_COLUMN as DEFECT
from connectors.csv_source import RAW_COLUMN as RAW_TEXT
from connectors.profile_mapping import map_batch
from connectors.source_files import read_source
from connectors.source_profiles import SourceProfile
from schemas.contracts import CONTRACTS, ROW_NUMBER, check_rows
from schemas.person_keys import pseudonymise


@dataclass(frozen=True)
class QuarantinedRow:
    """A source row that broke the contract: where it was, what it held, and every reason."""

    source_row: int
    raw: str  # JSON object of the row as received (person identifiers pseudonymised)
    reasons: tuple[str, ...]


@dataclass
class CheckedBatch:
    """Canonical rows that honour the contract, and the rows sent to quarantine."""

    valid: pa.Table
    quarantined: list[QuarantinedRow]
    rows_read: int


def checked_batches(
    path: str | Path,
    profile: SourceProfile,
    *,
    secret: bytes,
    known_territories: frozenset[str] | None = None,
    batch_rows: int = 65_536,
) -> Iterator[CheckedBatch]:
    """Read `path` with `profile`, map every batch and check it row by row."""
    contract = CONTRACTS[profile.feed]
    personal = [s.source for s in profile.columns.values() if s.parse == "pseudonym"]
    for raw in read_source(path, profile.read, batch_rows=batch_rows):
        rows_read = len(raw)
        raw, ragged = _split_ragged(raw, path, withhold=bool(personal))
        mapped = map_batch(raw, profile, source_name=str(path), secret=secret)
        checked = check_rows(
            mapped.frame,
            contract,
            known_territories=known_territories,
            earlier_reasons=mapped.reasons,
        )
        yield CheckedBatch(
            valid=checked.valid.drop(ROW_NUMBER).to_arrow(),
            quarantined=ragged + _quarantined(raw, checked.reasons, personal, secret),
            rows_read=rows_read,
        )


def _split_ragged(
    raw: pa.RecordBatch, path: str | Path, *, withhold: bool
) -> tuple[pa.RecordBatch, list[QuarantinedRow]]:
    """Take out rows the reader could not split into the header's fields.

    Their text cannot be mapped, so it cannot be pseudonymised either: when the profile has
    person identifiers the text is withheld and the entry points at the file and line instead.
    """
    if DEFECT not in raw.schema.names:
        return raw, []
    defective = pc.is_valid(raw.column(DEFECT))
    entries = []
    for row in raw.filter(defective).to_pylist():
        text = (
            f"withheld (may hold identifiers): see {path} line {row[ROW_NUMBER]}"
            if withhold
            else row[RAW_TEXT]
        )
        entries.append(
            QuarantinedRow(
                source_row=row[ROW_NUMBER],
                raw=json.dumps({RAW_TEXT: text}, ensure_ascii=False),
                reasons=(row[DEFECT],),
            )
        )
    kept = raw.filter(pc.invert(defective))
    return kept.drop_columns([DEFECT, RAW_TEXT]), entries


def _quarantined(
    raw: pa.RecordBatch,
    reasons: dict[int, list[str]],
    personal: list[str | None],
    secret: bytes,
) -> list[QuarantinedRow]:
    if not reasons:
        return []
    frame = pl.from_arrow(pa.Table.from_batches([raw]))
    bad = frame.filter(pl.col(ROW_NUMBER).is_in(list(reasons)))
    out = []
    for row in bad.iter_rows(named=True):
        number = row.pop(ROW_NUMBER)
        for column in personal:  # the original identifier never reaches the warehouse
            if column in row and row[column] is not None:
                row[column] = pseudonymise([str(row[column])], secret)[0]
        out.append(
            QuarantinedRow(
                source_row=number,
                raw=json.dumps(row, ensure_ascii=False, sort_keys=True, default=str),
                reasons=tuple(reasons[number]),
            )
        )
    return out
