"""Apply a source profile to a batch read from a source: raw columns in, canonical columns out.

Values that cannot be parsed are not dropped: they become nulls in the mapped frame and a
reason keyed by the batch's `_row` value, so the contract check sends the row to quarantine
with every reason at once. Sentinel values (e.g. -9999 "suppressed") are not failures: they
become nulls and the row's `figure_status` says why.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import string
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from connectors.datetime_parsing import parse_dates, parse_times
from connectors.errors import SourceError
from connectors.source_profiles import ALL_CONTRACTS, ColumnSpec, SourceProfile
from connectors.value_parsing import ParsedColumn, map_values, pad_codes, parse_numbers
from connectors.year_to_date import YTD_THROUGH, YTD_YEAR, label_fields
from schemas.code_lists import AGE_GROUPS, FIGURE_STATUSES, UNKNOWN_AGE_GROUP
from schemas.contracts import ROW_NUMBER
from schemas.person_keys import pseudonymise

TERRITORY_OVERRIDE = "_territory"  # set by row rules that keep totals as another territory
# Mapping works on a column's distinct values when each repeats this often on average.
MIN_REPEATS = 4


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
    columns = {"source": _Column(pa.repeat(pa.scalar(profile.id), len(batch)))}
    statuses: list[pa.Array] = []
    cache: dict[tuple, object] = {}  # columns that read the same source share the work
    for name, spec in profile.columns.items():
        column = _column(batch, name, spec, profile, source_name, secret, cache)
        if name == "territory_code" and TERRITORY_OVERRIDE in batch.schema.names:
            column = _overridden(column, batch.column(TERRITORY_OVERRIDE))
        _collect_reasons(reasons, rows, name, spec, column, batch)
        columns[name] = column
        if column.status is not None:
            statuses.append(column.status)
    if statuses and "figure_status" not in profile.columns:
        columns["figure_status"] = _Column(_worst_status(statuses))
    extra = (
        _year_to_date_fields(batch, profile, reasons, source_name) if profile.year_to_date else {}
    )
    frame = pl.DataFrame(
        [
            *[column.series(name) for name, column in columns.items()],
            pl.Series(ROW_NUMBER, rows),
            *[pl.Series(name, values) for name, values in extra.items()],
        ]
    )
    contract = ALL_CONTRACTS[profile.feed]
    # Nullable columns a profile does not map (e.g. no coordinates in the source) are null.
    frame = frame.select(
        *[
            (pl.col(c) if c in columns else pl.lit(None))
            .cast(contract.columns[c].dtype.type)
            .alias(c)
            for c in contract.columns
        ],
        pl.col(ROW_NUMBER).cast(pl.Int64),
        *[pl.col(name) for name in extra],
    )
    return MappedBatch(frame=frame, raw=batch, reasons=reasons)


@dataclass
class _Column:
    """One mapped column: values, the failed rows of each step, and sentinel statuses.

    With ``positions``, ``values`` holds the column's distinct values and row i's value is
    ``values[positions[i]]``: polars spreads them over the rows (`series`) far cheaper than
    Arrow's take, which copies every string.
    """

    values: pa.Array
    failures: list[tuple[pa.Array, str]] = field(default_factory=list)
    status: pa.Array | None = None
    positions: pa.Array | None = None

    def rows(self) -> pa.Array:
        """The value of each row."""
        return self.values if self.positions is None else pc.take(self.values, self.positions)

    def series(self, name: str) -> pl.Series:
        """The value of each row, as a polars Series."""
        if self.positions is None:
            return pl.Series(name, self.values)
        return pl.Series(name, self.values).gather(pl.Series(self.positions))

    def failed(self, parsed: ParsedColumn, rule: str) -> pa.Array:
        """Record the rows `parsed` could not read under `rule`; return its values."""
        if parsed.invalid is not None:
            self.failures.append((parsed.invalid, rule))
        return parsed.values


def _collect_reasons(
    reasons: dict[int, list[str]],
    rows: pa.Array,
    name: str,
    spec: ColumnSpec,
    column: _Column,
    batch: pa.RecordBatch,
) -> None:
    """One reason per failed step and row, quoting the raw value."""
    raw = None
    for mask, rule in column.failures:
        if not pc.any(mask).as_py():
            continue
        raw = _raw_text(batch, spec) if raw is None else raw
        origin = f"column {spec.source!r}" if spec.source else f"template {spec.template!r}"
        for index in np.flatnonzero(mask.to_numpy(zero_copy_only=False)):
            reasons.setdefault(rows[int(index)].as_py(), []).append(
                f"{name}: {rule}: {raw[int(index)].as_py()!r} ({origin})"
            )


def _source_columns(batch: pa.RecordBatch) -> list[str]:
    return [n for n in batch.schema.names if not n.startswith("_")]


def _pseudonyms(text: pa.Array, secret: bytes) -> pa.Array:
    """Pseudonymise each distinct identifier once (feeds repeat the same person a lot)."""
    distinct = pc.unique(text)
    keys = pa.array(pseudonymise(distinct.to_pylist(), secret), pa.string())
    return pc.take(keys, pc.index_in(text, distinct))


def per_distinct(text: pa.Array, function: Callable[[str], str | None]) -> pa.Array:
    """Apply a Python function once per distinct value (labels repeat a lot in real files)."""
    distinct = pc.unique(text)
    results = pa.array(
        [None if v is None else function(v) for v in distinct.to_pylist()], pa.string()
    )
    return pc.take(results, pc.index_in(text, distinct))


def _raw_text(batch: pa.RecordBatch, spec: ColumnSpec) -> pa.Array:
    if spec.template is not None:
        return _filled_template(batch, spec.template)
    return pc.cast(batch.column(spec.source), pa.string())


def _filled_template(batch: pa.RecordBatch, template: str) -> pa.Array:
    """Fill "{AÑO}-{MES}" from each row's columns (a null cell reads as empty)."""
    size = len(batch)
    parts: list[pa.Array] = []
    for literal, name, _, _ in string.Formatter().parse(template):
        if literal:
            parts.append(pa.array([literal] * size, pa.string()))
        if name is not None:
            parts.append(pc.fill_null(pc.cast(batch.column(name), pa.string()), ""))
    if len(parts) == 1:
        return parts[0]
    return pc.binary_join_element_wise(*parts, "")


def _column(
    batch: pa.RecordBatch,
    name: str,
    spec: ColumnSpec,
    profile: SourceProfile,
    source_name: str,
    secret: bytes,
    cache: dict[tuple, object],
) -> _Column:
    """Compute one canonical column: origin, sentinels, extract, map, parse (in that order).

    Repeated values are computed once: the steps run on the distinct values of the source
    column and the results are spread back over the rows. ``cache`` keeps the trimmed source
    text, its distinct values and parsed values of this batch, so that two columns read
    from the same source (an age giving both age group and minor flag) read it once."""
    if spec.value is not None:
        return _Column(pa.repeat(pa.scalar(spec.value), len(batch)))
    if spec.hash_of is not None:
        return _Column(_row_hashes(batch, spec.hash_of, profile.id, source_name, secret))
    needed = [spec.source] if spec.source is not None else _template_columns(spec)
    missing = [n for n in needed if n not in batch.schema.names]
    if missing:
        raise SourceError(
            source_name,
            None,
            "profile-column",
            f"profile {profile.id!r} maps {name} from column {missing[0]!r}, which the source "
            f"does not have (columns: {', '.join(_source_columns(batch))})",
        )
    origin = (spec.source, spec.template)
    raw = _cached(cache, ("raw", origin), lambda: _raw_text(batch, spec))
    if spec.parse == "text" and spec.map is None and not (spec.sentinels or spec.extract):
        return _steps(_trimmed(cache, origin, raw), spec, secret, cache, "rows")  # no repeats
    distinct = _cached(cache, ("distinct", origin), lambda: _distinct(raw))
    if distinct is None:
        return _steps(_trimmed(cache, origin, raw), spec, secret, cache, "rows")
    values, positions = distinct
    return _expanded(_steps(values, spec, secret, cache, "distinct"), positions)


def _cached(cache: dict[tuple, object], key: tuple, compute: Callable[[], object]) -> object:
    if key not in cache:
        cache[key] = compute()
    return cache[key]


def _trimmed(cache: dict[tuple, object], origin: tuple, raw: pa.Array) -> pa.Array:
    return _cached(cache, ("trimmed", origin), lambda: pc.utf8_trim_whitespace(raw))


def _distinct(raw: pa.Array) -> tuple[pa.Array, pa.Array] | None:
    """The distinct values of ``raw`` (null included), trimmed, and each row's position
    among them, when values repeat enough for that to pay (dates, codes and labels do;
    identifiers do not)."""
    encoded = pc.dictionary_encode(raw, null_encoding="encode")
    if len(encoded.dictionary) * MIN_REPEATS > len(raw):
        return None
    return pc.utf8_trim_whitespace(encoded.dictionary), encoded.indices


def _expanded(column: _Column, positions: pa.Array) -> _Column:
    """A column computed on distinct values, put back on the rows (every step works value by
    value, so this is what computing it on the rows gives)."""
    # Most steps fail nowhere: only a mask that holds a failure is spread over the rows.
    failures = [(mask, rule) for mask, rule in column.failures if pc.any(mask).as_py()]
    return _Column(
        column.values,
        [(pc.take(mask, positions), rule) for mask, rule in failures],
        None if column.status is None else pc.take(column.status, positions),
        positions,
    )


def _steps(
    text: pa.Array, spec: ColumnSpec, secret: bytes, cache: dict[tuple, object], level: str
) -> _Column:
    """Sentinels, extract, map and parse applied to trimmed ``text``; ``level`` says whether
    it holds the rows or their distinct values (cached parses are per level)."""
    column = _Column(text)
    if spec.sentinels:  # before anything else: sentinels are raw cell values
        status = map_values(text, spec.sentinels, default="").values
        column.status = pc.if_else(pc.equal(status, ""), pa.scalar(None, pa.string()), status)
        text = pc.if_else(pc.is_valid(column.status), pa.scalar(None, pa.string()), text)
    if spec.extract is not None:
        text = column.failed(
            _extracted(text, spec.extract), f"no match for extract '{spec.extract}'"
        )
    if spec.map is not None:
        text = column.failed(
            map_values(text, spec.map, default=spec.default), "not in the profile's value map"
        )
        if spec.parse == "text":
            column.values = text
            return column
    steps = (level, _text_steps(spec))
    column.values = column.failed(
        _parse(text, spec, secret, cache, steps), f"cannot read as {spec.parse}"
    )
    return column


def _text_steps(spec: ColumnSpec) -> tuple:
    """What makes the text a column parses: its origin and the steps before parsing."""
    steps = spec.model_dump(include={"source", "template", "sentinels", "extract", "map"})
    return (repr(steps), spec.default)


def _template_columns(spec: ColumnSpec) -> list[str]:
    return [n for _, n, _, _ in string.Formatter().parse(spec.template or "") if n is not None]


def _extracted(text: pa.Array, pattern: str) -> ParsedColumn:
    """The first group (or the whole match) of `pattern` searched in each value."""
    compiled = re.compile(pattern)

    def first_group(value: str) -> str | None:
        found = compiled.search(value)
        if found is None:
            return None
        return found.group(1) if compiled.groups else found.group(0)

    extracted = per_distinct(text, first_group)
    failed = pc.and_(pc.is_valid(text), pc.is_null(extracted))
    return ParsedColumn(extracted, pc.fill_null(failed, False))


def _overridden(column: _Column, override: pa.Array) -> _Column:
    """Rows a `keep` rule re-assigned to a territory take that code, whatever they held."""
    given = pc.is_valid(override)
    kept = pc.invert(given)
    return _Column(
        pc.if_else(given, override, column.rows()),
        [(pc.and_(mask, kept), rule) for mask, rule in column.failures],
        column.status,
    )


def _worst_status(statuses: list[pa.Array]) -> pa.Array:
    """The most severe sentinel status per row, in the order of FIGURE_STATUSES."""
    worst = pa.nulls(len(statuses[0]), pa.string())
    for status in reversed(list(FIGURE_STATUSES)):  # the most severe is applied last, and wins
        for column in statuses:
            hit = pc.fill_null(pc.equal(column, status), False)
            worst = pc.if_else(hit, pa.scalar(status, pa.string()), worst)
    return worst


def _parse(
    text: pa.Array, spec: ColumnSpec, secret: bytes, cache: dict[tuple, object], steps: tuple
) -> ParsedColumn:
    """Read trimmed text as the spec's kind (empty values give nulls, not failures).

    ``steps`` says where ``text`` came from: the same steps give the same text, so a parse
    done before on it is taken from ``cache``."""
    kind = spec.parse
    if kind == "text":
        return ParsedColumn(_empty_to_null(text, spec.default), None)
    if kind in ("number", "integer"):
        return _numbers(text, spec)
    if kind == "date":
        return parse_dates(text, formats=spec.formats)
    if kind == "period":
        dates = parse_dates(text, formats=spec.formats)
        return ParsedColumn(pc.strftime(dates.values, format="%Y-%m"), dates.invalid)
    if kind == "time":
        return parse_times(text, formats=spec.formats)
    if kind == "school_year":
        return _school_years(text)
    if kind == "code":
        codes = pad_codes(text, width=spec.width) if spec.width else ParsedColumn(text, None)
        return ParsedColumn(
            pc.binary_join_element_wise(spec.prefix, codes.values, ""), codes.invalid
        )
    if kind in ("age_group", "minor"):
        key = ("ages", steps)
        if key not in cache:
            cache[key] = parse_numbers(text, integer=True)
        ages = cache[key]
        return ParsedColumn(_ages(ages.values, kind), ages.invalid)
    if kind == "boolean":
        lowered = pc.utf8_lower(pc.fill_null(text, ""))
        is_true = pc.is_in(lowered, pa.array([v.lower() for v in spec.true_values]))
        is_false = pc.is_in(lowered, pa.array([v.lower() for v in spec.false_values]))
        return ParsedColumn(is_true, pc.invert(pc.or_(is_true, is_false)))
    if kind == "pseudonym":
        return ParsedColumn(_pseudonyms(text, secret), None)
    raise AssertionError(f"unhandled parse kind {kind}")  # the profile model forbids others


def _numbers(text: pa.Array, spec: ColumnSpec) -> ParsedColumn:
    """Numbers with the spec's separators, multiplied by `scale` when given."""
    integer = spec.parse == "integer"
    if spec.scale is None:
        return parse_numbers(text, decimal=spec.decimal, thousands=spec.thousands, integer=integer)
    parsed = parse_numbers(text, decimal=spec.decimal, thousands=spec.thousands)
    scaled = pc.multiply(parsed.values, spec.scale)
    if not integer:
        return ParsedColumn(scaled, parsed.invalid)
    rounded = pc.round(scaled)
    # A scaled integer that is not whole (1,5 thousand people = 1500 is fine; 1,2345 is not).
    fraction = pc.fill_null(pc.greater(pc.abs(pc.subtract(scaled, rounded)), 1e-6), False)
    values = pc.cast(pc.if_else(fraction, pa.scalar(None, pa.float64()), rounded), pa.int64())
    return ParsedColumn(values, pc.or_(parsed.invalid, fraction))


_SCHOOL_YEAR = re.compile(r"^(\d{4})\s*[-/]?\s*(\d{4}|\d{2})$")


def _school_years(text: pa.Array) -> ParsedColumn:
    """ "2016/17", "201617", "2016-17", "2016-2017", "2016/2017" -> "2016/17"."""

    def school_year(value: str) -> str | None:
        found = _SCHOOL_YEAR.match(value)
        if found is None:
            return None
        first, second = int(found.group(1)), int(found.group(2))
        if second % 100 != (first + 1) % 100 or (second >= 100 and second != first + 1):
            return None
        return f"{first}/{second % 100:02d}"

    values = per_distinct(text, school_year)
    return ParsedColumn(values, pc.fill_null(pc.and_(pc.is_valid(text), pc.is_null(values)), False))


def _empty_to_null(text: pa.Array, default: str | None) -> pa.Array:
    empty = pc.equal(pc.fill_null(text, ""), "")
    return pc.if_else(empty, pa.scalar(default, pa.string()), text)


def _ages(ages: pa.Array, kind: str) -> pa.Array:
    """Age in years -> canonical age group, or -> minor flag (unknown ages are not minors)."""
    values = np.asarray(pc.fill_null(ages, -1).to_numpy(zero_copy_only=False), dtype=np.int64)
    if kind == "minor":
        return pa.array((values >= 0) & (values < 18))
    edges = np.array([low for _, low, _ in AGE_GROUPS[1:]])
    labels = pa.array([code for code, _, _ in AGE_GROUPS] + [UNKNOWN_AGE_GROUP], pa.string())
    index = np.searchsorted(edges, values, side="right")
    index[values < 0] = len(AGE_GROUPS)
    return pc.take(labels, pa.array(index))


def _year_to_date_fields(
    batch: pa.RecordBatch,
    profile: SourceProfile,
    reasons: dict[int, list[str]],
    source_name: str,
) -> dict[str, pa.Array]:
    """Year and last month of each row's cumulative period, read from its label."""
    spec = profile.year_to_date
    if spec.period_from not in batch.schema.names:
        raise SourceError(
            source_name,
            None,
            "profile-column",
            f"year_to_date.period_from names {spec.period_from!r}, which the source does "
            f"not have (columns: {', '.join(_source_columns(batch))})",
        )
    labels = pc.cast(batch.column(spec.period_from), pa.string())
    years, months, failed = label_fields(labels, spec.pattern)
    rows = batch.column(ROW_NUMBER)
    for index in np.flatnonzero(failed):
        reasons.setdefault(rows[int(index)].as_py(), []).append(
            f"occurred_date: period label {labels[int(index)].as_py()!r} does not match "
            f"year_to_date.pattern '{spec.pattern}' (column {spec.period_from!r})"
        )
    return {YTD_YEAR: years, YTD_THROUGH: months}


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
