"""One source file through its profile and its contract: checked batches ready to load.

Per raw batch: ragged rows out (to quarantine), row rules (totals skipped or kept), unpivot,
mapping, then the contract. Profiles with `year_to_date` or `deduplicate` look across rows,
so their file is mapped whole before the contract check and yields one batch.

Connectors never touch the warehouse: the caller (a flow) loads `valid` and `quarantined`.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from connectors.csv_source import DEFECT_COLUMN as DEFECT
from connectors.csv_source import RAW_COLUMN as RAW_TEXT
from connectors.prefetch import prefetched
from connectors.profile_mapping import MappedBatch, map_batch
from connectors.row_rules import apply_row_rules
from connectors.source_files import read_source
from connectors.source_profiles import ALL_CONTRACTS, SourceProfile
from connectors.unpivot import unpivot
from connectors.year_to_date import YTD_THROUGH, YTD_YEAR, per_period
from schemas.contracts import ROW_NUMBER, RowCheck, check_rows, warm_up
from schemas.person_keys import PSEUDONYM_PREFIX, pseudonymise

# The column `known_territories` applies to: the territory code of a fact, or of a count.
_TERRITORY_COLUMN = {"territory_population": "code"}


@dataclass(frozen=True)
class QuarantinedRow:
    """A source row that broke the contract: where it was, what it held, and every reason."""

    source_row: int
    raw: str  # JSON object of the row as received (person identifiers pseudonymised)
    reasons: tuple[str, ...]


@dataclass
class CheckedBatch:
    """Canonical rows that honour the contract, and the rows sent to quarantine.

    `rows_read` counts source rows; `rows_skipped` counts the source rows each profile rule
    left out on purpose (totals, comparison years, repeated keys), by the rule's name.
    """

    valid: pa.Table  # strings as string_view (see `_arrow`)
    quarantined: list[QuarantinedRow]
    rows_read: int
    rows_skipped: dict[str, int] = field(default_factory=dict)


@dataclass
class _Prepared:
    """A raw batch after rules, unpivot and mapping; `_row` holds keys unique in the file."""

    mapped: MappedBatch
    lines: np.ndarray  # source line (or record number) per key, keys counted from `first_key`
    first_key: int
    ragged: list[QuarantinedRow]
    skipped: dict[str, int]
    rows_read: int


def checked_batches(
    path: str | Path,
    profile: SourceProfile,
    *,
    secret: bytes,
    known_territories: frozenset[str] | None = None,
    batch_rows: int = 131_072,
) -> Iterator[CheckedBatch]:
    """Read `path` with `profile`, map every batch and check it row by row.

    The default batch is a little over a DuckDB row group (122,880 rows): the warehouse
    then writes each batch's rows straight to storage, at about two thirds of the cost of
    inserting them in halves.
    """
    personal = [s.source for s in profile.columns.values() if s.parse == "pseudonym"]
    held: list[_Prepared] = []
    next_key = 0
    # The contract's first use is paid in a thread while the file is scanned and read.
    warming = threading.Thread(target=warm_up, args=(ALL_CONTRACTS[profile.feed],), daemon=True)
    warming.start()
    for raw in prefetched(read_source(path, profile.read, batch_rows=batch_rows)):
        prepared = _prepare(raw, path, profile, secret, personal, next_key)
        next_key += len(prepared.lines)
        warming.join()
        if profile.whole_file:
            held.append(prepared)
            continue
        mapped = prepared.mapped
        checked = _check(mapped.frame, mapped.reasons, profile, known_territories)
        rejected = _quarantined([prepared], checked.reasons, personal, secret)
        yield CheckedBatch(
            valid=_arrow(checked.valid),
            quarantined=prepared.ragged + rejected,
            rows_read=prepared.rows_read,
            rows_skipped=prepared.skipped,
        )
    if profile.whole_file and held:  # a Parquet file with no row group yields no batch
        yield _whole_file(held, profile, known_territories, personal, secret)


def _prepare(
    raw: pa.RecordBatch,
    path: str | Path,
    profile: SourceProfile,
    secret: bytes,
    personal: list[str | None],
    first_key: int,
) -> _Prepared:
    source_name = str(path)
    rows_read = len(raw)
    raw, ragged = _split_ragged(raw, path, withhold=bool(personal))
    raw, skipped = apply_row_rules(raw, profile.rows, source_name=source_name)
    if profile.unpivot is not None:
        raw = unpivot(raw, profile.unpivot, source_name=source_name)
    # Unpivoted rows share their source line: key every row uniquely, remember its line.
    lines = raw.column(ROW_NUMBER).to_numpy(zero_copy_only=False)
    keys = pa.array(np.arange(first_key, first_key + len(raw), dtype=np.int64))
    raw = raw.set_column(raw.schema.get_field_index(ROW_NUMBER), ROW_NUMBER, keys)
    mapped = map_batch(raw, profile, source_name=source_name, secret=secret)
    return _Prepared(mapped, lines, first_key, ragged, skipped, rows_read)


def _whole_file(
    held: list[_Prepared],
    profile: SourceProfile,
    known_territories: frozenset[str] | None,
    personal: list[str | None],
    secret: bytes,
) -> CheckedBatch:
    """Apply the cross-row steps (year-to-date, de-duplication) to the whole file, then check."""
    frame = pl.concat([p.mapped.frame for p in held], how="vertical_relaxed")
    reasons: dict[int, list[str]] = {}
    skipped: dict[str, int] = {}
    for prepared in held:
        reasons.update(prepared.mapped.reasons)
        for name, count in prepared.skipped.items():
            skipped[name] = skipped.get(name, 0) + count
    if profile.year_to_date is not None:
        frame, reasons = _per_period(frame, reasons, skipped, profile)
    if profile.deduplicate is not None:
        frame, repeated = _deduplicated(frame, profile, reasons)
        if repeated:
            skipped[f"deduplicate on {', '.join(profile.deduplicate.on)}"] = repeated
    checked = _check(frame, reasons, profile, known_territories)
    return CheckedBatch(
        valid=_arrow(checked.valid),
        quarantined=[q for p in held for q in p.ragged]
        + _quarantined(held, checked.reasons, personal, secret),
        rows_read=sum(p.rows_read for p in held),
        rows_skipped=skipped,
    )


def _per_period(
    frame: pl.DataFrame,
    reasons: dict[int, list[str]],
    skipped: dict[str, int],
    profile: SourceProfile,
) -> tuple[pl.DataFrame, dict[int, list[str]]]:
    """Year-to-date figures to figures per period; `skipped` gains the years left out."""
    spec = profile.year_to_date
    result = per_period(
        frame,
        keys=_period_keys(profile),
        measures=spec.measures,
        years=spec.years,
        rejected=frozenset(reasons),
    )
    frame = result.frame.drop(YTD_YEAR, YTD_THROUGH)
    _merge(reasons, result.reasons)
    skipped.update(result.skipped)
    # Rows of earlier years left out on purpose are not quarantined either.
    kept = set(frame[ROW_NUMBER].to_list())
    return frame, {k: v for k, v in reasons.items() if k in kept}


def _check(
    frame: pl.DataFrame,
    reasons: dict[int, list[str]],
    profile: SourceProfile,
    known_territories: frozenset[str] | None,
) -> RowCheck:
    return check_rows(
        frame,
        ALL_CONTRACTS[profile.feed],
        known_territories=known_territories,
        earlier_reasons=reasons,
        territory_column=_TERRITORY_COLUMN.get(profile.feed, "territory_code"),
    )


def _period_keys(profile: SourceProfile) -> list[str]:
    """The columns that identify a series whose cumulative figures are differenced."""
    contract = ALL_CONTRACTS[profile.feed].columns
    identifiers = {name for name, column in contract.items() if column.unique}
    excluded = {*profile.year_to_date.measures, *identifiers, "reference_period", "occurred_date"}
    return [name for name in contract if name not in excluded]


def _merge(reasons: dict[int, list[str]], more: dict[int, list[str]]) -> None:
    for key, items in more.items():
        reasons.setdefault(key, []).extend(items)


def _deduplicated(
    frame: pl.DataFrame, profile: SourceProfile, reasons: dict[int, list[str]]
) -> tuple[pl.DataFrame, int]:
    """Keep one row per key among the rows without a reason (the others go to quarantine)."""
    spec = profile.deduplicate
    bad = frame.filter(pl.col(ROW_NUMBER).is_in(list(reasons)))
    good = frame.filter(~pl.col(ROW_NUMBER).is_in(list(reasons)))
    kept = good.unique(subset=spec.on, keep=spec.keep, maintain_order=True)
    result = pl.concat([kept, bad]).sort(ROW_NUMBER)
    return result, good.height - kept.height


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
    if not pc.any(defective).as_py():  # the usual case: no copy of the batch
        return raw.drop_columns([DEFECT, RAW_TEXT]), []
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
    held: list[_Prepared],
    reasons: dict[int, list[str]],
    personal: list[str | None],
    secret: bytes,
) -> list[QuarantinedRow]:
    if not reasons:
        return []
    out = []
    for prepared in held:
        raw = prepared.mapped.raw
        # Filtered in Arrow first: only the few rejected rows are converted.
        bad = raw.filter(pc.is_in(raw.column(ROW_NUMBER), pa.array(list(reasons), pa.int64())))
        for row in bad.to_pylist():
            key = row.pop(ROW_NUMBER)
            for column in [c for c in row if c.startswith("_")]:  # internal helper columns
                row.pop(column)
            for column in personal:  # the original identifier never reaches the warehouse
                key_value = pseudonymise([row.get(column)], secret)[0] if column in row else None
                if key_value is not None:
                    row[column] = PSEUDONYM_PREFIX + key_value
            out.append(
                QuarantinedRow(
                    source_row=int(prepared.lines[key - prepared.first_key]),
                    raw=json.dumps(row, ensure_ascii=False, sort_keys=True, default=str),
                    reasons=tuple(reasons[key]),
                )
            )
    return sorted(out, key=lambda q: q.source_row)


def _arrow(valid: pl.DataFrame) -> pa.Table:
    """The checked rows as Arrow, strings as string views: polars hands them over without a
    copy, and DuckDB stores strings in the same layout (a plain-string copy costs about a
    fifth of a million-row file's ingest)."""
    return valid.drop(ROW_NUMBER).to_arrow(compat_level=pl.CompatLevel.newest())
