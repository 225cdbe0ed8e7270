"""Apply a source profile to a batch read from a source: raw columns in, canonical columns out.

Values that cannot be parsed are not dropped: they become nulls in the mapped frame and a
reason keyed by the source row number, so the contract check sends the row to quarantine
with every reason at once.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from connectors.errors import SourceError
from connectors.source_profiles import ColumnSpec, SourceProfile
from connectors.value_parsing import (
    ParsedColumn,
    map_values,
    pad_codes,
    parse_dates,
    parse_numbers,
    parse_times,
)
from schemas.code_lists import AGE_GROUPS, UNKNOWN_AGE_GROUP
from schemas.contracts import CONTRACTS, ROW_NUMBER
from schemas.person_keys import pseudonymise


@dataclass
class MappedBatch:
    """A batch mapped onto its canonical table, with parse failures per source row."""

    frame: pl.DataFrame
    raw: pa.RecordBatch
    reasons: dict[int, list[str]] = field(default_factory=dict)


def map_batch(
    batch: pa.RecordBatch, profile: SourceProfile, *, source_name: str, secret: bytes
) -> MappedBatch:
    """Map one raw batch (string columns + `_row`) onto the profile's canonical table."""
    rows = batch.column(ROW_NUMBER)
    reasons: dict[int, list[str]] = {}
    columns: dict[str, pa.Array] = {"source": pa.array([profile.id] * len(batch), pa.string())}
    for name, spec in profile.columns.items():
        parsed = _column(batch, name, spec, profile, source_name, secret)
        if parsed.invalid is not None and pc.any(parsed.invalid).as_py():
            raw = _raw_text(batch, spec)
            rule = "not in the profile's value map" if spec.map else f"cannot read as {spec.parse}"
            for index in np.flatnonzero(parsed.invalid.to_numpy(zero_copy_only=False)):
                reasons.setdefault(rows[int(index)].as_py(), []).append(
                    f"{name}: {rule}: {raw[int(index)].as_py()!r} (column {spec.source!r})"
                )
        columns[name] = parsed.values
    columns[ROW_NUMBER] = rows
    frame = pl.from_arrow(pa.table(columns))
    contract = CONTRACTS[profile.feed]
    # Nullable columns a profile does not map (e.g. no coordinates in the source) are null.
    frame = frame.select(
        *[
            (pl.col(c) if c in columns else pl.lit(None))
            .cast(contract.columns[c].dtype.type)
            .alias(c)
            for c in contract.columns
        ],
        pl.col(ROW_NUMBER).cast(pl.Int64),
    )
    return MappedBatch(frame=frame, raw=batch, reasons=reasons)


def _source_columns(batch: pa.RecordBatch) -> list[str]:
    return [n for n in batch.schema.names if n != ROW_NUMBER]


def _pseudonyms(text: pa.Array, secret: bytes) -> pa.Array:
    """Pseudonymise each distinct identifier once (feeds repeat the same person a lot)."""
    distinct = pc.unique(text)
    keys = pa.array(pseudonymise(distinct.to_pylist(), secret), pa.string())
    return pc.take(keys, pc.index_in(text, distinct))


def _raw_text(batch: pa.RecordBatch, spec: ColumnSpec) -> pa.Array:
    return pc.cast(batch.column(spec.source), pa.string())


def _column(
    batch: pa.RecordBatch,
    name: str,
    spec: ColumnSpec,
    profile: SourceProfile,
    source_name: str,
    secret: bytes,
) -> ParsedColumn:
    if spec.value is not None:
        return ParsedColumn(pa.array([spec.value] * len(batch)), None)
    if spec.hash_of is not None:
        hashes = _row_hashes(batch, spec.hash_of, profile.id, source_name, secret)
        return ParsedColumn(hashes, None)
    if spec.source not in batch.schema.names:
        raise SourceError(
            source_name,
            None,
            "profile-column",
            f"profile {profile.id!r} maps {name} from column {spec.source!r}, which the source "
            f"does not have (columns: {', '.join(_source_columns(batch))})",
        )
    return _parse(_raw_text(batch, spec), spec, secret)


def _parse(raw: pa.Array, spec: ColumnSpec, secret: bytes) -> ParsedColumn:
    kind = spec.parse
    text = pc.utf8_trim_whitespace(raw)
    if kind == "text":
        if spec.map is not None:
            return map_values(text, spec.map, default=spec.default)
        return ParsedColumn(_empty_to_null(text, spec.default), None)
    if kind in ("number", "integer"):
        return parse_numbers(
            text, decimal=spec.decimal, thousands=spec.thousands, integer=kind == "integer"
        )
    if kind == "date":
        return parse_dates(text, formats=spec.formats)
    if kind == "period":
        dates = parse_dates(text, formats=spec.formats)
        return ParsedColumn(pc.strftime(dates.values, format="%Y-%m"), dates.invalid)
    if kind == "time":
        return parse_times(text, formats=spec.formats)
    if kind == "code":
        codes = pad_codes(text, width=spec.width) if spec.width else ParsedColumn(text, None)
        return ParsedColumn(
            pc.binary_join_element_wise(spec.prefix, codes.values, ""), codes.invalid
        )
    if kind in ("age_group", "minor"):
        ages = parse_numbers(text, integer=True)
        return ParsedColumn(_ages(ages.values, kind), ages.invalid)
    if kind == "boolean":
        lowered = pc.utf8_lower(pc.fill_null(text, ""))
        is_true = pc.is_in(lowered, pa.array([v.lower() for v in spec.true_values]))
        is_false = pc.is_in(lowered, pa.array([v.lower() for v in spec.false_values]))
        return ParsedColumn(is_true, pc.invert(pc.or_(is_true, is_false)))
    if kind == "pseudonym":
        return ParsedColumn(_pseudonyms(text, secret), None)
    raise AssertionError(f"unhandled parse kind {kind}")  # the profile model forbids others


def _empty_to_null(text: pa.Array, default: str | None) -> pa.Array:
    empty = pc.equal(pc.fill_null(text, ""), "")
    return pc.if_else(empty, pa.scalar(default, pa.string()), text)


def _ages(ages: pa.Array, kind: str) -> pa.Array:
    """Age in years -> canonical age group, or -> minor flag (unknown ages are not minors)."""
    values = np.asarray(pc.fill_null(ages, -1).to_numpy(zero_copy_only=False), dtype=np.int64)
    if kind == "minor":
        return pa.array((values >= 0) & (values < 18))
    edges = np.array([low for _, low, _ in AGE_GROUPS[1:]])
    labels = np.array([code for code, _, _ in AGE_GROUPS] + [UNKNOWN_AGE_GROUP], dtype=object)
    index = np.searchsorted(edges, values, side="right")
    index[values < 0] = len(AGE_GROUPS)
    return pa.array(labels[index], pa.string())


def _row_hashes(
    batch: pa.RecordBatch, names: list[str], prefix: str, source: str, secret: bytes
) -> pa.Array:
    """Deterministic ids for sources without one: a keyed hash of the listed raw columns.

    Keyed (HMAC), not a plain hash, because the columns may hold a person identifier.
    """
    missing = [n for n in names if n not in batch.schema.names]
    if missing:
        raise SourceError(
            source,
            None,
            "profile-column",
            f"hash_of names columns the source does not have: {missing}",
        )
    parts = [pc.fill_null(pc.cast(batch.column(n), pa.string()), "") for n in names]
    joined = pc.binary_join_element_wise(*parts, "\x1f").to_pylist()
    return pa.array(
        [
            f"{prefix}:{hmac.new(secret, v.encode(), hashlib.sha256).hexdigest()[:20]}"
            for v in joined
        ],
        pa.string(),
    )
