"""Record-level open data: generalisation, k-anonymity, sensitive removal, linkage attack."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from publish.record_level import (
    DIRECT_COLUMNS,
    SUPPRESSED_VALUE,
    RecordPolicy,
    RecordPolicyError,
    coarsen_age_group,
    grid_cell_centre,
    k_anonymise,
    publishable_incidents,
    to_age_group,
    to_grid_cell,
    to_iso_week,
    to_month,
    to_time_band,
)

AGE_GROUPS = ["15-17", "18-24", "25-34", "35-44", "45-54", "55-64", "65+", "unknown"]
CATEGORIES = ["theft", "robbery", "burglary", "assault", "sexual_offence", "domestic_violence"]
TERRITORIES = [f"050010{i}" for i in range(1, 7)]


def test_dates_become_months_and_iso_weeks() -> None:
    dates = pd.Series(pd.to_datetime(["2021-01-03", "2021-01-04", None, "2024-12-30"]))
    assert to_month(dates).tolist() == ["2021-01", "2021-01", "unknown", "2024-12"]
    # 3 January 2021 is a Sunday of the last ISO week of 2020; 30 Dec 2024 is in 2025-W01.
    assert to_iso_week(dates).tolist() == ["2020-W53", "2021-W01", "unknown", "2025-W01"]


def test_times_become_bands_and_bad_times_name_the_row() -> None:
    times = pd.Series(["00:00", "05:59", "06:00", "23:59", None])
    assert to_time_band(times).tolist() == ["00-05", "00-05", "06-11", "18-23", "unknown"]
    with pytest.raises(RecordPolicyError, match=r"row 1: occurred_time '25:00'"):
        to_time_band(pd.Series(["10:00", "25:00"]))


def test_ages_become_groups() -> None:
    assert to_age_group(pd.Series([0, 17, 18, 54, 55, None, -1])).tolist() == [
        "0-17",
        "0-17",
        "18-34",
        "35-54",
        "55+",
        "unknown",
        "unknown",
    ]
    coarse = coarsen_age_group(pd.Series(["5-9", "25-34", "65+", "unknown", None]))
    assert coarse.tolist() == ["0-17", "18-34", "55+", "unknown", "unknown"]
    with pytest.raises(RecordPolicyError, match="row 0: victim_age_group '30s'"):
        coarsen_age_group(pd.Series(["30s"]))


def test_points_become_grid_cells_of_the_requested_size() -> None:
    # Medellín: 0.0009 degrees of latitude is about 100 m.
    lat = pd.Series([6.2500, 6.2509, 6.2700, np.nan])
    lon = pd.Series([-75.5700, -75.5700, -75.5700, -75.57])
    cells = to_grid_cell(lat, lon, 1000)
    assert cells[0] == cells[1]
    assert cells[0] != cells[2]  # 2.2 km north
    assert cells[3] == "unknown"
    centre = grid_cell_centre(cells.iloc[:1])
    # The centre is within half a cell (and a bit for the diagonal) of the point.
    north_m = (centre["latitude"].iloc[0] - 6.25) * 111_320
    east_m = (centre["longitude"].iloc[0] + 75.57) * 111_320 * np.cos(np.radians(6.25))
    assert abs(north_m) <= 500 and abs(east_m) <= 501


def test_k_anonymise_suppresses_only_what_stands_out() -> None:
    records = pd.DataFrame(
        {
            "territory": ["a"] * 5 + ["b"] * 5 + ["c"],
            "sex": ["F"] * 5 + ["M"] * 4 + ["F", "F"],
        }
    )
    out, report = k_anonymise(records, ["territory", "sex"], k=5)
    # Five (a, F) records are already safe; (b, M) x4, (b, F) and (c, F) are not. A suppressed
    # value is a value of its own, so suppressing the territory of the six would give (*, M)
    # x4 and (*, F) x2: no good. Suppressing their sex makes (b, *) x5 safe; (c, *) stays
    # alone and is dropped.
    assert report.k_achieved == 5
    assert report.rows_dropped == 1
    assert out.loc[:4, "territory"].tolist() == ["a"] * 5
    assert out.loc[:4, "sex"].tolist() == ["F"] * 5
    assert out.loc[5:, "territory"].tolist() == ["b"] * 5
    assert out.loc[5:, "sex"].tolist() == [SUPPRESSED_VALUE] * 5
    assert report.values_suppressed == {"territory": 0, "sex": 5}
    sizes = out.groupby(["territory", "sex"]).size()
    assert sizes.min() >= 5


def test_k_counts_people_not_records_when_a_person_key_is_given() -> None:
    records = pd.DataFrame(
        {"territory": ["a"] * 6, "person": ["p1", "p1", "p1", "p2", "p3", "p4"]},
    )
    _, by_records = k_anonymise(records, ["territory"], k=5)
    assert by_records.k_achieved == 6 and by_records.rows_dropped == 0
    out, by_people = k_anonymise(records, ["territory"], k=5, entity="person")
    # Six incidents but four people: the class cannot be made safe, so it is dropped.
    assert by_people.rows_dropped == 6 and out.empty and by_people.k_achieved is None


def test_l_diversity_needs_distinct_sensitive_values() -> None:
    records = pd.DataFrame(
        {
            "territory": ["a"] * 5 + ["b"] * 5,
            "category": ["theft"] * 5 + ["theft", "robbery"] * 2 + ["theft"],
        }
    )
    out, report = k_anonymise(records, ["territory"], k=5, sensitive="category", l=2)
    # Everyone in territory a suffered a theft: publishing "a" would tell it. Merging a into
    # b is impossible without the suppressed value, so a's territory is suppressed... which
    # leaves (*) with five thefts: still not diverse, so those rows are dropped.
    assert report.l_achieved == 2
    assert out["territory"].tolist() == ["b"] * 5
    assert report.rows_dropped == 5


def synthetic_population(rng: np.random.Generator, size: int) -> pd.DataFrame:
    """A register of people: sex, age group and home territory."""
    return pd.DataFrame(
        {
            "person_id": [f"P{i:05d}" for i in range(size)],
            "victim_sex": rng.choice(["F", "M"], size),
            "victim_age_group": rng.choice(AGE_GROUPS[:-1], size),
            "territory_code": rng.choice(TERRITORIES, size),
        }
    )


def incidents_of(population: pd.DataFrame, rng: np.random.Generator, n: int) -> pd.DataFrame:
    """Incidents suffered by people of the register (some more than once), at home."""
    victims = population.iloc[rng.integers(0, len(population), n)].reset_index(drop=True)
    days = pd.date_range("2023-01-01", "2023-12-31")
    hours = rng.integers(0, 24, n)
    return pd.DataFrame(
        {
            "incident_id": [f"INC{i:06d}" for i in range(n)],
            "source": "police",
            "occurred_date": days[rng.integers(0, len(days), n)],
            "occurred_time": [
                f"{h:02d}:{m:02d}" for h, m in zip(hours, hours * 2 % 60, strict=True)
            ],
            "territory_code": victims["territory_code"],
            "latitude": 6.25 + rng.normal(0, 0.02, n),
            "longitude": -75.57 + rng.normal(0, 0.02, n),
            "category": rng.choice(CATEGORIES, n, p=[0.4, 0.2, 0.15, 0.15, 0.05, 0.05]),
            "source_label": "free text from the source",
            "modality": rng.choice(["street", "home"], n),
            "victim_sex": victims["victim_sex"],
            "victim_age_group": victims["victim_age_group"],
            "minor_involved": victims["victim_age_group"] == "15-17",
            "domestic": rng.random(n) < 0.03,
            "person_key": victims["person_id"].str.replace("P", "K"),
            "count": 1,
            "_person_id": victims["person_id"],
        }
    )


def test_sensitive_incidents_never_appear_at_record_level() -> None:
    rng = np.random.default_rng(7)
    incidents = incidents_of(synthetic_population(rng, 3000), rng, 4000)
    published, report = publishable_incidents(incidents.drop(columns="_person_id"))
    assert not published["category"].isin(["sexual_offence", "domestic_violence"]).any()
    sensitive = (
        incidents["category"].isin(["sexual_offence", "domestic_violence"])
        | incidents["minor_involved"]
        | incidents["domestic"]
    )
    assert report.rows_removed_sensitive == int(sensitive.sum())
    assert report.anonymity.rows_in == len(incidents) - int(sensitive.sum())
    assert not set(DIRECT_COLUMNS) & set(published.columns)
    assert not {"minor_involved", "domestic", "person_key"} & set(published.columns)
    # Ages of minors can only come from minors: none is left.
    assert "0-17" not in set(published["victim_age_group"])


def test_missing_flags_count_as_set() -> None:
    rng = np.random.default_rng(3)
    incidents = incidents_of(synthetic_population(rng, 200), rng, 50).drop(columns="_person_id")
    incidents["domestic"] = incidents["domestic"].astype(object)
    incidents.loc[0, "domestic"] = None
    incidents.loc[0, "minor_involved"] = False
    incidents.loc[0, "category"] = "theft"
    _, report = publishable_incidents(incidents, RecordPolicy(k=1, l=None, sensitive=None))
    expected = incidents["category"].isin(["sexual_offence", "domestic_violence"])
    expected |= incidents["minor_involved"].astype(bool)
    expected |= incidents["domestic"].astype("boolean").fillna(True).to_numpy(dtype=bool)
    assert report.rows_removed_sensitive == int(expected.sum())


def test_linkage_attack_finds_no_unique_match() -> None:
    """An attacker holding a register of people and when each was a victim joins it to the
    open data on the quasi-identifiers: no published record may point at one person."""
    rng = np.random.default_rng(2024)
    population = synthetic_population(rng, 2500)
    incidents = incidents_of(population, rng, 6000)
    # The attacker's knowledge: who was a victim, when and where (generalised as published).
    knowledge = pd.DataFrame(
        {
            "person_id": incidents["_person_id"],
            "period": to_month(incidents["occurred_date"]),
            "time_band": to_time_band(incidents["occurred_time"]),
            "territory_code": incidents["territory_code"],
            "victim_sex": incidents["victim_sex"],
            "victim_age_group": coarsen_age_group(incidents["victim_age_group"]),
        }
    )
    policy = RecordPolicy()
    published, report = publishable_incidents(incidents.drop(columns="_person_id"), policy)
    qis = list(report.quasi_identifiers)
    assert set(qis) <= set(knowledge.columns)
    assert len(published) > 0.5 * report.anonymity.rows_in  # the data stay useful
    matches = people_matching(published[qis], knowledge[["person_id", *qis]])
    assert matches.min() >= policy.k
    # The same join on the generalised data before k-anonymisation does single people out,
    # so the protection above is what prevents it.
    raw = knowledge.loc[knowledge.index.isin(np.flatnonzero(~_removed(incidents)))]
    raw_matches = people_matching(raw[qis], knowledge[["person_id", *qis]])
    assert (raw_matches == 1).any()


def _removed(incidents: pd.DataFrame) -> np.ndarray:
    return (
        incidents["category"].isin(["sexual_offence", "domestic_violence"])
        | incidents["minor_involved"]
        | incidents["domestic"]
    ).to_numpy()


def people_matching(published: pd.DataFrame, knowledge: pd.DataFrame) -> np.ndarray:
    """For each published record, how many distinct people of the attacker's table agree
    with it on every quasi-identifier (a suppressed value agrees with anything)."""
    codes = {}
    qis = list(published.columns)
    people = pd.factorize(knowledge["person_id"])[0]
    for name in qis:
        values, uniques = pd.factorize(
            pd.concat([published[name], knowledge[name]], ignore_index=True)
        )
        codes[name] = (values[: len(published)], values[len(published) :], uniques)
    counts = np.empty(len(published), dtype=np.int64)
    for start in range(0, len(published), 500):
        stop = min(start + 500, len(published))
        agree = np.ones((stop - start, len(knowledge)), dtype=bool)
        for name in qis:
            mine, theirs, uniques = codes[name]
            wildcard = (uniques == SUPPRESSED_VALUE)[mine[start:stop]]
            agree &= (mine[start:stop, None] == theirs[None, :]) | wildcard[:, None]
        for row in range(stop - start):
            counts[start + row] = len(np.unique(people[agree[row]]))
    return counts
