"""Record-level open data (police incidents): generalise, remove the sensitive, k-anonymise.

A published incident must not single anybody out. Direct identifiers and free text are
dropped; sensitive incidents (sexual offences, domestic violence, anything involving a minor
or flagged domestic) are removed entirely and published only as protected aggregates; the
quasi-identifiers (when, where, who) are generalised; then every combination of
quasi-identifiers must be shared by at least ``k`` records (or ``k`` people, when a person key
is given), by local suppression: a quasi-identifier value is replaced by ``SUPPRESSED_VALUE``
in the records that need it, and records that still stand out are dropped.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from schemas import code_lists

SUPPRESSED_VALUE = "*"
UNKNOWN = "unknown"
SENSITIVE_CATEGORIES: tuple[str, ...] = tuple(sorted(code_lists.SENSITIVE_CATEGORIES))
SENSITIVE_FLAGS: tuple[str, ...] = ("minor_involved", "domestic")
# Identifiers, pseudonyms, exact place and time, and the source's own free-text label.
DIRECT_COLUMNS: tuple[str, ...] = (
    "incident_id",
    "person_key",
    "latitude",
    "longitude",
    "occurred_date",
    "occurred_time",
    "source_label",
)
DEFAULT_TIME_BANDS: tuple[tuple[int, str], ...] = (
    (0, "00-05"),
    (6, "06-11"),
    (12, "12-17"),
    (18, "18-23"),
)
DEFAULT_AGE_GROUPS: dict[str, str] = {
    "0-4": "0-17",
    "5-9": "0-17",
    "10-14": "0-17",
    "15-17": "0-17",
    "18-24": "18-34",
    "25-34": "18-34",
    "35-44": "35-54",
    "45-54": "35-54",
    "55-64": "55+",
    "65+": "55+",
}
_TIME = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
_METRES_PER_DEGREE = 111_320.0


class RecordPolicyError(ValueError):
    """Records or policy that cannot be processed; the message names the row and rule."""


@dataclass(frozen=True)
class KAnonymityReport:
    """What k_anonymise did. Publishable: counts only."""

    k_required: int
    k_achieved: int | None
    l_required: int | None
    l_achieved: int | None
    rows_in: int
    rows_out: int
    rows_dropped: int
    rows_with_suppression: int
    values_suppressed: dict[str, int]
    information_loss: float


@dataclass(frozen=True)
class RecordPolicy:
    """How police incidents become record-level open data.

    ``period`` is "month" or "week" (ISO); ``time_bands`` are (first hour, label) pairs, or
    None to drop the time of day; ``location`` is "territory" (coordinates dropped) or "grid"
    (coordinates replaced by a ``grid_size_m`` square cell); ``age_groups`` maps the canonical
    age groups to coarser ones. ``quasi_identifiers`` defaults to what an acquaintance of a
    victim may know: period, time band, territory (and grid cell), sex and age group. The
    category is the sensitive attribute: each class must show ``l`` distinct categories, so
    knowing someone is in a class does not tell what happened to them. k counts distinct
    people where ``person_key`` is known.
    """

    k: int = 5
    l: int | None = 2  # noqa: E741 - the l of l-diversity
    sensitive: str | None = "category"
    excluded_categories: tuple[str, ...] = SENSITIVE_CATEGORIES
    excluded_flags: tuple[str, ...] = SENSITIVE_FLAGS
    period: str = "month"
    time_bands: tuple[tuple[int, str], ...] | None = DEFAULT_TIME_BANDS
    location: str = "territory"
    grid_size_m: int = 1000
    age_groups: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_AGE_GROUPS))
    quasi_identifiers: tuple[str, ...] | None = None


@dataclass(frozen=True)
class RecordLevelReport:
    """What publishable_incidents did, for the disclosure report."""

    rows_in: int
    rows_removed_sensitive: int
    quasi_identifiers: tuple[str, ...]
    anonymity: KAnonymityReport

    @property
    def rows_published(self) -> int:
        """Rows left after removal, generalisation and k-anonymisation."""
        return self.anonymity.rows_out


INCIDENT_COLUMNS: tuple[str, ...] = (
    "incident_id",
    "source",
    "occurred_date",
    "occurred_time",
    "territory_code",
    "latitude",
    "longitude",
    "category",
    "source_label",
    "modality",
    "victim_sex",
    "victim_age_group",
    "minor_involved",
    "domestic",
    "person_key",
    "count",
)


def to_month(dates: pd.Series) -> pd.Series:
    """Dates to "YYYY-MM"; a missing date becomes "unknown"."""
    parsed = pd.to_datetime(dates, errors="coerce")
    key = (parsed.dt.year * 100 + parsed.dt.month).to_numpy(dtype=float, na_value=np.nan)
    return _labels(key, lambda value: f"{int(value) // 100:04d}-{int(value) % 100:02d}", dates)


def to_iso_week(dates: pd.Series) -> pd.Series:
    """Dates to ISO weeks "YYYY-Www" (the ISO year, which differs near New Year)."""
    iso = pd.to_datetime(dates, errors="coerce").dt.isocalendar()
    key = (iso["year"] * 100 + iso["week"]).to_numpy(dtype=float, na_value=np.nan)
    return _labels(key, lambda value: f"{int(value) // 100:04d}-W{int(value) % 100:02d}", dates)


def to_time_band(
    times: pd.Series, bands: Sequence[tuple[int, str]] = DEFAULT_TIME_BANDS
) -> pd.Series:
    """ "HH:MM" strings to the label of the band whose first hour is the latest not after it;
    a missing time becomes "unknown". Raises RecordPolicyError naming the row otherwise."""
    starts = np.array([start for start, _ in bands])
    if len(starts) == 0 or starts[0] != 0 or np.any(np.diff(starts) <= 0):
        raise RecordPolicyError("time bands must start at hour 0 and increase")
    text = times.astype("string")
    valid = text.str.match(_TIME.pattern).fillna(False).to_numpy(dtype=bool)
    present = text.notna().to_numpy()
    if np.any(present & ~valid):
        row = int(np.flatnonzero(present & ~valid)[0])
        raise RecordPolicyError(
            f'row {row}: occurred_time {times.iloc[row]!r} is not a time of day "HH:MM"'
        )
    hours = pd.to_numeric(text.str.slice(0, 2), errors="coerce").to_numpy(float, na_value=-1)
    band = np.searchsorted(starts, hours, side="right") - 1
    labels = np.array([label for _, label in bands] + [UNKNOWN], dtype=object)
    return pd.Series(labels[np.where(valid, band, len(bands))], index=times.index, dtype="str")


def to_age_group(ages: pd.Series, edges: Sequence[int] = (18, 35, 55)) -> pd.Series:
    """Ages in years to groups split at ``edges`` ("0-17", "18-34", "35-54", "55+" by
    default); a missing or negative age becomes "unknown"."""
    cuts = [0, *edges]
    labels = [f"{low}-{high - 1}" for low, high in zip(cuts, cuts[1:], strict=False)]
    labels.append(f"{cuts[-1]}+")
    values = pd.to_numeric(ages, errors="coerce").to_numpy(float, na_value=np.nan)
    group = np.searchsorted(np.asarray(edges), values, side="right")
    names = np.array([*labels, UNKNOWN], dtype=object)
    group = np.where(np.isnan(values) | (values < 0), len(labels), group)
    return pd.Series(names[group], index=ages.index, dtype="str")


def coarsen_age_group(groups: pd.Series, mapping: dict[str, str] = DEFAULT_AGE_GROUPS) -> pd.Series:
    """Canonical age groups to coarser ones; "unknown" and missing stay "unknown"."""
    text = groups.astype("string").fillna(UNKNOWN)
    mapped = text.map({**mapping, UNKNOWN: UNKNOWN})
    bad = mapped.isna().to_numpy()
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise RecordPolicyError(
            f"row {row}: victim_age_group {groups.iloc[row]!r} is not a known age group"
        )
    return mapped.astype("str")


def to_grid_cell(latitude: pd.Series, longitude: pd.Series, size_m: int) -> pd.Series:
    """WGS84 points to square grid cells of about ``size_m`` metres, as "<size>m:<row>:<col>".

    Rows are bands of equal latitude; within a band the longitude step keeps cells
    ``size_m`` wide at the band's centre. A missing point becomes "unknown".
    """
    if size_m <= 0:
        raise RecordPolicyError(f"grid size must be positive, got {size_m}")
    lat = pd.to_numeric(latitude, errors="coerce").to_numpy(float, na_value=np.nan)
    lon = pd.to_numeric(longitude, errors="coerce").to_numpy(float, na_value=np.nan)
    outside = (np.abs(lat) > 90) | (np.abs(lon) > 180)
    if outside.any():
        row = int(np.flatnonzero(outside)[0])
        raise RecordPolicyError(f"row {row}: point ({lat[row]}, {lon[row]}) is not WGS84")
    step = size_m / _METRES_PER_DEGREE
    band = np.floor(lat / step)
    centre = np.radians((band + 0.5) * step)
    column = np.floor(lon * np.cos(centre) / step)
    missing = np.isnan(lat) | np.isnan(lon)
    pairs = pd.DataFrame({"r": np.where(missing, 0, band), "c": np.where(missing, 0, column)})
    codes, uniques = pd.factorize(pd.MultiIndex.from_frame(pairs.astype(np.int64)))
    names = np.array([f"{size_m}m:{r}:{c}" for r, c in uniques] + [UNKNOWN], dtype=object)
    return pd.Series(
        names[np.where(missing, len(uniques), codes)], index=latitude.index, dtype="str"
    )


def grid_cell_centre(cells: pd.Series) -> pd.DataFrame:
    """Centre (latitude, longitude) of grid cells made by to_grid_cell, for maps."""
    parts = cells.astype("string").str.extract(r"^(\d+)m:(-?\d+):(-?\d+)$").astype(float)
    step = parts[0] / _METRES_PER_DEGREE
    lat = (parts[1] + 0.5) * step
    lon = (parts[2] + 0.5) * step / np.cos(np.radians(lat))
    return pd.DataFrame({"latitude": lat, "longitude": lon}, index=cells.index)


def _labels(key: np.ndarray, name: Callable[[float], str], original: pd.Series) -> pd.Series:
    """Format the few distinct keys once and spread them (fast on a million rows)."""
    bad = np.isnan(key) & original.notna().to_numpy()
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise RecordPolicyError(f"row {row}: {original.iloc[row]!r} is not a date")
    codes, uniques = pd.factorize(key, use_na_sentinel=True)
    names = np.array([name(value) for value in uniques] + [UNKNOWN], dtype=object)
    return pd.Series(
        names[np.where(codes < 0, len(uniques), codes)], index=original.index, dtype="str"
    )


def k_anonymise(
    records: pd.DataFrame,
    quasi_identifiers: Sequence[str],
    k: int = 5,
    *,
    sensitive: str | None = None,
    l: int | None = None,  # noqa: E741 - the l of l-diversity
    entity: str | None = None,
) -> tuple[pd.DataFrame, KAnonymityReport]:
    """Make every combination of quasi-identifiers shared by at least ``k`` records.

    With ``entity`` (e.g. a person key), k counts distinct entities, so one person's repeated
    records cannot make a class look large; a missing entity counts as a person of its own.
    With ``sensitive`` and ``l``, every class must also hold ``l`` distinct sensitive values.
    Local suppression, greedy and smallest first: among all single quasi-identifiers, then
    pairs, and so on, the one whose suppression (``SUPPRESSED_VALUE``) makes most exposed
    records safe is suppressed in exactly those records; repeated until nothing helps, then the
    next size. Records still exposed with everything suppressed are dropped. Only records in
    too-small classes are touched. Quasi-identifiers come back as strings, a
    missing value as "unknown".
    """
    qis = list(quasi_identifiers)
    _check_anonymity_arguments(records, qis, k, sensitive, l, entity)
    codes, names = _qi_codes(records, qis)
    people = _entity_codes(records, entity)
    labels = _sensitive_codes(records, sensitive)
    pattern = np.full(len(records), -1, dtype=np.int64)
    exposed = _exposed(codes, people, labels, k, l)
    subsets = [
        list(subset)
        for size in range(1, len(qis) + 1)
        for subset in itertools.combinations(reversed(range(len(qis))), size)
    ]
    for size in range(1, len(qis) + 1):
        candidates = [number for number, subset in enumerate(subsets) if len(subset) == size]
        while exposed.any():
            fixes = [
                _fixed_by(codes, pattern, exposed, number, subsets[number], people, labels, k, l)
                for number in candidates
            ]
            best = int(np.argmax([int(fixed.sum()) for fixed in fixes]))
            if not fixes[best].any():
                break
            rows = fixes[best]
            codes[np.ix_(rows, subsets[candidates[best]])] = -1
            pattern[rows] = candidates[best]
            # Classes of untouched records only lost exposed members: no safe record changes.
            exposed &= ~rows
    marked = codes < 0
    kept = ~exposed
    out = records.loc[kept].copy()
    for j, name in enumerate(qis):
        column = np.where(codes[kept, j] < 0, len(names[j]), codes[kept, j])
        out[name] = pd.Series(
            np.append(names[j], SUPPRESSED_VALUE)[column], index=out.index, dtype="str"
        )
    report = _anonymity_report(codes[kept], people[kept], labels, kept, marked, qis, k, l)
    return out, report


def _check_anonymity_arguments(
    records: pd.DataFrame,
    qis: list[str],
    k: int,
    sensitive: str | None,
    l: int | None,  # noqa: E741
    entity: str | None,
) -> None:
    if k < 1:
        raise RecordPolicyError(f"k must be >= 1, got {k}")
    if (l is None) != (sensitive is None):
        raise RecordPolicyError("l-diversity needs both a sensitive column and l")
    if not qis:
        raise RecordPolicyError("k-anonymity needs at least one quasi-identifier")
    wanted = [*qis, *([sensitive] if sensitive else []), *([entity] if entity else [])]
    missing = [name for name in wanted if name not in records.columns]
    if missing:
        raise RecordPolicyError(f"records have no column(s) {missing}")


def _qi_codes(records: pd.DataFrame, qis: list[str]) -> tuple[np.ndarray, list[np.ndarray]]:
    codes = np.empty((len(records), len(qis)), dtype=np.int64)
    names = []
    for j, name in enumerate(qis):
        text = records[name].astype("string").fillna(UNKNOWN)
        code, uniques = pd.factorize(text)
        codes[:, j] = code
        names.append(np.asarray(uniques, dtype=object))
    return codes, names


def _entity_codes(records: pd.DataFrame, entity: str | None) -> np.ndarray:
    if entity is None:
        return np.arange(len(records))
    code, uniques = pd.factorize(records[entity])
    # A record without a known entity counts as a person of its own.
    return np.where(code < 0, len(uniques) + np.arange(len(records)), code)


def _sensitive_codes(records: pd.DataFrame, sensitive: str | None) -> np.ndarray | None:
    if sensitive is None:
        return None
    return pd.factorize(records[sensitive].astype("string").fillna(UNKNOWN))[0]


def _class_ids(codes: np.ndarray) -> np.ndarray:
    """One id per distinct row of codes (-1, the suppressed value, is a value of its own)."""
    key = np.zeros(len(codes), dtype=np.int64)
    for column in codes.T:
        combined = key * (int(column.max(initial=0)) + 2) + (column + 1)
        key = pd.factorize(combined)[0].astype(np.int64)
    return key


def _distinct_per_class(classes: np.ndarray, values: np.ndarray) -> np.ndarray:
    """For each row, how many distinct ``values`` its class holds."""
    pairs = pd.factorize(classes * (int(values.max(initial=0)) + 1) + values)[0]
    first = np.unique(pairs, return_index=True)[1]
    per_class = np.bincount(classes[first], minlength=int(classes.max(initial=-1)) + 1)
    return per_class[classes]


def _exposed(
    codes: np.ndarray,
    people: np.ndarray,
    labels: np.ndarray | None,
    k: int,
    l: int | None,  # noqa: E741
) -> np.ndarray:
    if len(codes) == 0:
        return np.zeros(0, dtype=bool)
    classes = _class_ids(codes)
    exposed = _distinct_per_class(classes, people) < k
    if labels is not None and l is not None:
        exposed |= _distinct_per_class(classes, labels) < l
    return exposed


def _fixed_by(
    codes: np.ndarray,
    pattern: np.ndarray,
    exposed: np.ndarray,
    number: int,
    subset: list[int],
    people: np.ndarray,
    labels: np.ndarray | None,
    k: int,
    l: int | None,  # noqa: E741
) -> np.ndarray:
    """The exposed records that would be safe if ``subset`` were suppressed in all of them.

    A changed record can only share a class with other changed records and with records
    already suppressed in exactly ``subset``, so only those are recomputed. Safety is a
    property of a whole class, so the records returned can be changed alone.
    """
    involved = np.flatnonzero(exposed | (pattern == number))
    trial = codes[involved]
    changed = exposed[involved]
    trial[np.ix_(changed, subset)] = -1
    sub_labels = labels[involved] if labels is not None else None
    still = _exposed(trial, people[involved], sub_labels, k, l)
    fixed = np.zeros(len(codes), dtype=bool)
    fixed[involved[changed & ~still]] = True
    return fixed


def _anonymity_report(
    codes: np.ndarray,
    people: np.ndarray,
    labels: np.ndarray | None,
    kept: np.ndarray,
    marked: np.ndarray,
    qis: list[str],
    k: int,
    l: int | None,  # noqa: E741
) -> KAnonymityReport:
    classes = _class_ids(codes)
    k_achieved = int(_distinct_per_class(classes, people).min()) if len(codes) else None
    l_achieved = None
    if labels is not None and len(codes):
        l_achieved = int(_distinct_per_class(classes, labels[kept]).min())
    kept_marks = marked[kept]
    dropped = int((~kept).sum())
    total_values = max(1, len(kept) * len(qis))
    return KAnonymityReport(
        k_required=k,
        k_achieved=k_achieved,
        l_required=l,
        l_achieved=l_achieved,
        rows_in=len(kept),
        rows_out=int(kept.sum()),
        rows_dropped=dropped,
        rows_with_suppression=int(kept_marks.any(axis=1).sum()),
        values_suppressed={name: int(kept_marks[:, j].sum()) for j, name in enumerate(qis)},
        information_loss=round((int(kept_marks.sum()) + dropped * len(qis)) / total_values, 6),
    )


def publishable_incidents(
    incidents: pd.DataFrame, policy: RecordPolicy | None = None
) -> tuple[pd.DataFrame, RecordLevelReport]:
    """Turn canonical police incidents into k-anonymous record-level open data.

    Removes sensitive incidents entirely (the policy's categories; any row whose
    ``minor_involved`` or ``domestic`` flag is true or missing), drops direct identifiers,
    coordinates and free text, generalises date, time, place and age, then k-anonymises.
    """
    policy = policy or RecordPolicy()
    missing = [name for name in INCIDENT_COLUMNS if name not in incidents.columns]
    if missing:
        raise RecordPolicyError(f"incidents have no column(s) {missing}")
    keep = ~_sensitive_rows(incidents, policy)
    kept = incidents.loc[keep]
    generalised = _generalised(kept, policy)
    qis = tuple(policy.quasi_identifiers or _default_quasi_identifiers(generalised))
    published, anonymity = k_anonymise(
        generalised,
        qis,
        policy.k,
        sensitive=policy.sensitive,
        l=policy.l,
        entity="person_key",
    )
    published = published.drop(columns=["person_key"]).reset_index(drop=True)
    _assert_nothing_sensitive(published, policy)
    report = RecordLevelReport(
        rows_in=len(incidents),
        rows_removed_sensitive=int((~keep).sum()),
        quasi_identifiers=qis,
        anonymity=anonymity,
    )
    return published, report


def _sensitive_rows(incidents: pd.DataFrame, policy: RecordPolicy) -> np.ndarray:
    sensitive = incidents["category"].isin(policy.excluded_categories).to_numpy().copy()
    for flag in policy.excluded_flags:
        # A missing flag might hide a minor or a domestic case: treat it as set.
        values = incidents[flag].astype("boolean").fillna(True)
        sensitive |= values.to_numpy(dtype=bool)
    return sensitive


def _generalised(incidents: pd.DataFrame, policy: RecordPolicy) -> pd.DataFrame:
    if policy.period not in ("month", "week"):
        raise RecordPolicyError(f"period must be 'month' or 'week', got {policy.period!r}")
    if policy.location not in ("territory", "grid"):
        raise RecordPolicyError(f"location must be 'territory' or 'grid', not {policy.location!r}")
    dates = incidents["occurred_date"]
    out = pd.DataFrame(index=incidents.index)
    out["source"] = incidents["source"].astype("str")
    out["period"] = to_month(dates) if policy.period == "month" else to_iso_week(dates)
    if policy.time_bands is not None:
        out["time_band"] = to_time_band(incidents["occurred_time"], policy.time_bands)
    out["territory_code"] = incidents["territory_code"].astype("string").fillna(UNKNOWN)
    if policy.location == "grid":
        out["grid_cell"] = to_grid_cell(
            incidents["latitude"], incidents["longitude"], policy.grid_size_m
        )
    out["category"] = incidents["category"].astype("str")
    out["modality"] = incidents["modality"].astype("string").fillna(UNKNOWN)
    out["victim_sex"] = incidents["victim_sex"].astype("string").fillna("U")
    ages = incidents["victim_age_group"]
    out["victim_age_group"] = (
        coarsen_age_group(ages, policy.age_groups) if policy.age_groups else ages
    )
    out["count"] = incidents["count"]
    out["person_key"] = incidents["person_key"]
    return out


def _default_quasi_identifiers(generalised: pd.DataFrame) -> list[str]:
    known = ("period", "time_band", "territory_code", "grid_cell", "victim_sex", "victim_age_group")
    return [name for name in known if name in generalised.columns]


def _assert_nothing_sensitive(published: pd.DataFrame, policy: RecordPolicy) -> None:
    """Last line of defence: a bug upstream must not put a sensitive record in open data."""
    leaked = published["category"].isin(policy.excluded_categories)
    left = [name for name in DIRECT_COLUMNS + policy.excluded_flags if name in published.columns]
    if leaked.any() or left:
        raise RecordPolicyError(
            f"sensitive content survived: categories "
            f"{sorted(published.loc[leaked, 'category'].unique())}, columns {left}"
        )
