"""Every real feed file loads into the WAREHOUSE, and its totals reconcile with the file.

The files (../shared/data/real, see SOURCES.md) go through their shipped profiles and
`BatchLoader` into a real DuckDB file and a real PostgreSQL schema; each test then queries the
warehouse tables and compares with figures read from the source file by the csv module or
pyarrow, independently of the connector code.
"""

from __future__ import annotations

import json
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

import pyarrow.parquet as pq
import pytest
from sqlalchemy import Engine, text

from tests.conftest import SHARED_DATA, missing
from tests.warehouse.real_feed_files import (
    CO_MUNICIPAL,
    CT,
    ES_MIR,
    ES_YEARS,
    MEDELLIN,
    NYC,
    NYC_YEARS,
    REAL_FEED_FILES,
    UK_DFE,
    csv_rows,
    load_file,
    spanish_integer,
)
from warehouse.engine import create_warehouse_engine, open_warehouse
from warehouse.loads import LoadResult
from warehouse.tables import RECORD_ROWS

MUNICIPALITY = ("Municipio de ", "Municipo de ")  # 2019-2023 labels (one misspelt)
ES_TOTAL = ("TOTAL INFRACCIONES PENALES", "III. TOTAL INFRACCIONES PENALES")


@dataclass
class Loaded:
    """A warehouse holding every real feed file, and what each load reported."""

    engine: Engine
    results: dict[str, LoadResult]  # by file name

    def rows(self, sql: str, **params) -> list[tuple]:
        with self.engine.connect() as conn:
            return [tuple(r) for r in conn.execute(text(sql), params)]

    def value(self, sql: str, **params):
        [(value,)] = self.rows(sql, **params)
        return value


@pytest.fixture(scope="module", params=["duckdb", "postgresql"])
def warehouse(request, tmp_path_factory) -> Iterator[Loaded]:
    """One warehouse per backend with every real feed file loaded (once per module)."""
    if not SHARED_DATA.is_dir():
        missing(f"the real data folder {SHARED_DATA} is not there")
    if request.param == "duckdb":
        url = f"duckdb:///{tmp_path_factory.mktemp('real-feeds') / 'warehouse.duckdb'}"
    else:
        base = request.getfixturevalue("postgres_url")
        schema = f"real_{uuid.uuid4().hex[:8]}"
        setup = create_warehouse_engine(base)
        with setup.begin() as conn:
            conn.execute(text(f"CREATE SCHEMA {schema}"))
        setup.dispose()
        url = f"{base}?options=-csearch_path%3D{schema}"
    engine = open_warehouse(url)
    results = {path.name: load_file(engine, profile, path) for profile, path in REAL_FEED_FILES}
    yield Loaded(engine, results)
    engine.dispose()


def _es_current(year: int) -> list[dict[str, str]]:
    """Municipality rows of the file's own year (each file restates the year before)."""
    return [
        r
        for r in csv_rows(ES_MIR / f"{year}_4_municipios.csv", delimiter=";")
        if (r["Geografía"].lstrip("- ").startswith(MUNICIPALITY) or r["Geografía"][:5].isdigit())
        and r["Periodos:"].endswith(str(year))
        and not r["Periodos:"].startswith("Variaci")
    ]


def test_madrid_2024_conventional_criminality_is_200749_in_the_warehouse(warehouse):
    [source] = [
        r
        for r in _es_current(2024)
        if r["Geografía"] == "28079 Madrid"
        and r["Tipología penal"] == "I. CRIMINALIDAD CONVENCIONAL"
    ]
    assert spanish_integer(source["Total"]) == 200_749
    conventional = warehouse.value(
        'SELECT SUM("count") FROM police_incidents WHERE source = :source '
        "AND territory_code = '28079' AND period = '2024' "
        "AND category NOT IN ('cyber_fraud', 'cybercrime')",
        source="es-mir-balance-criminalidad",
    )
    assert conventional == 200_749


@pytest.mark.parametrize("year", ES_YEARS)
def test_each_ministry_year_is_its_own_period_and_reconciles_with_the_file(warehouse, year):
    """Loaded counts plus quarantined counts give the file's TOTAL INFRACCIONES PENALES."""
    name = f"{year}_4_municipios.csv"
    result = warehouse.results[name]
    assert result.periods == [str(year)]  # the reference period, not the month "YYYY-01"
    expected = sum(
        spanish_integer(r["Total"]) for r in _es_current(year) if r["Tipología penal"] in ES_TOTAL
    )
    loaded = warehouse.value(
        'SELECT SUM("count") FROM police_incidents WHERE batch_id = :batch '
        "AND period = :year AND reference_period = :year",
        batch=result.batch_id,
        year=str(year),
    )
    raws = warehouse.rows("SELECT raw FROM quarantine WHERE batch_id = :b", b=result.batch_id)
    quarantined = sum(spanish_integer(json.loads(raw)["Total"]) for (raw,) in raws)
    assert len(raws) == result.rows_quarantined == (1 if year == 2023 else 0)
    assert loaded + quarantined == expected


def test_medellin_homicides_per_year_equal_the_record_counts(warehouse):
    path = MEDELLIN / "homicidios_medellin_2003_2023.csv"
    expected = Counter(r["FECHA_HECHO"][:4] for r in csv_rows(path))
    assert warehouse.results[path.name].rows_quarantined == 0
    per_year = warehouse.rows(
        'SELECT SUBSTR(period, 1, 4), SUM("count"), COUNT(*) FROM police_incidents '
        "WHERE source = 'co-medellin-homicidios' GROUP BY SUBSTR(period, 1, 4)"
    )
    assert {year: n for year, n, _ in per_year} == dict(expected)
    assert {year: rows for year, _, rows in per_year} == dict(expected)  # one row per victim
    assert sum(expected.values()) == 18_516


def test_records_and_aggregates_of_the_same_homicides_are_told_apart(warehouse):
    """The comuna-month file counts the same homicides as the records (2018-2019 exactly):
    the record-level condition keeps the records alone, so nothing is counted twice."""
    police = RECORD_ROWS["police_incidents"]
    sources = warehouse.rows(f"SELECT DISTINCT source FROM police_incidents WHERE {police}")
    assert sources == [("co-medellin-homicidios",)]
    monthly_sql = (
        'SELECT period, SUM("count") FROM police_incidents WHERE source = :source '
        "AND period BETWEEN '2018-01' AND '2019-12' GROUP BY period"
    )
    records = dict(warehouse.rows(monthly_sql, source="co-medellin-homicidios"))
    aggregates = dict(warehouse.rows(monthly_sql, source="co-medellin-homicidios-comuna-mes"))
    assert len(records) == 24 and records == aggregates
    unfiltered = warehouse.value(
        "SELECT SUM(\"count\") FROM police_incidents WHERE territory_code LIKE '05001-%' "
        "AND period BETWEEN '2018-01' AND '2019-12'"
    )
    assert unfiltered == 2 * sum(records.values())  # what a sum without the condition gives
    # A range of months also catches whole-year periods ("2019" sorts between them).
    years = warehouse.rows(
        "SELECT DISTINCT period FROM police_incidents "
        "WHERE period BETWEEN '2018-01' AND '2019-12' AND period NOT LIKE '%-%'"
    )
    assert years == [("2019",)]


def test_colombian_municipal_crimes_per_year_equal_the_parquet_totals(warehouse):
    source = pq.read_table(CO_MUNICIPAL / "tabla_maestra_h3.parquet").to_pylist()
    expected = Counter()
    for row in source:
        expected[str(row["anio"])] += row["n_carga_total"]
    per_year = warehouse.rows(
        'SELECT period, SUM("count") FROM police_incidents '
        "WHERE source = 'co-delitos-municipales' AND reference_period = period GROUP BY period"
    )
    assert dict(per_year) == dict(expected)
    assert set(warehouse.results["tabla_maestra_h3.parquet"].periods) == set(expected)


def test_connecticut_suppressed_and_missing_stay_distinct_in_the_warehouse(warehouse):
    source = csv_rows(CT / "chronic_absenteeism_by_grade_2012-2020.csv")
    by_status = dict(
        warehouse.rows(
            "SELECT COALESCE(figure_status, 'published'), COUNT(*) FROM school_absence "
            "WHERE source = 'us-ct-chronic-absenteeism' AND chronic_absence_pct IS NULL "
            "GROUP BY figure_status"
        )
    )
    assert by_status == {
        "suppressed": sum(r["Value"] == "-9999" for r in source),
        "missing": sum(r["Value"] == "-6666" for r in source),
    }
    published = warehouse.rows(
        "SELECT COUNT(*), SUM(chronic_absence_pct), SUM(CASE WHEN chronic_absence_pct = 0 "
        "THEN 1 ELSE 0 END) FROM school_absence WHERE source = 'us-ct-chronic-absenteeism' "
        "AND figure_status IS NULL"
    )
    values = [float(r["Value"]) for r in source if r["Value"] not in ("-9999", "-6666")]
    [(count, total, zeros)] = published
    assert (count, zeros) == (len(values), values.count(0.0))
    assert total == pytest.approx(sum(values))
    periods = {
        p
        for (p,) in warehouse.rows(
            "SELECT DISTINCT period FROM school_absence WHERE source = 'us-ct-chronic-absenteeism'"
        )
    }
    assert periods == {f"{r['Year'][:4]}/{r['Year'][-2:]}" for r in source}  # "2016/17"


def test_connecticut_export_counts_reconcile(warehouse):
    source = [
        r
        for r in csv_rows(CT / "raw_chronic-absenteeism__2019-20_grade.csv", skip=4)
        if r["District"]
    ]
    total, suppressed = warehouse.rows(
        "SELECT SUM(chronically_absent), SUM(CASE WHEN figure_status = 'suppressed' "
        "THEN 1 ELSE 0 END) FROM school_absence "
        "WHERE source = 'us-ct-chronic-absenteeism-edsight' AND period = '2019/20'"
    )[0]
    assert total == sum(int(r["Student Count"]) for r in source if r["Student Count"] != "*")
    assert suppressed == sum("*" in (r["Student Count"], r["%"]) for r in source)


def test_england_absence_sums_need_bigint_and_reconcile(warehouse):
    source = csv_rows(UK_DFE)
    columns = {
        "enrolments": "enrolments",
        "possible_sessions": "sess_possible",
        "absent_sessions": "sess_overall",
        "unjustified_sessions": "sess_unauthorised",
        "chronically_absent": "enrolments_PA_10_exact",
    }
    sums = warehouse.rows(
        f"SELECT {', '.join(f'SUM({c})' for c in columns)}, MAX(possible_sessions) "
        "FROM school_absence WHERE source = 'uk-dfe-absence-characteristics'"
    )[0]
    expected = [sum(int(r[c]) for r in source if r[c] != "x") for c in columns.values()]
    assert [int(s) for s in sums[:-1]] == expected
    assert sums[-1] > 2**31  # one national row alone overflows a 32-bit INTEGER
    suppressed = warehouse.rows(
        "SELECT pupil_group, figure_status, enrolments, possible_sessions FROM school_absence "
        "WHERE source = 'uk-dfe-absence-characteristics' AND figure_status IS NOT NULL"
    )
    [row] = [r for r in source if r["enrolments"] == "x"]
    assert suppressed == [
        (f"{row['school_type']} / {row['characteristic']}", "suppressed", None, None)
    ]


@pytest.mark.parametrize("year", NYC_YEARS)
def test_shelter_counts_are_aggregate_cases_that_reconcile(warehouse, year):
    expected = {
        level: sum(
            float(r[f"DHS_shelter_{year}"])
            for r in csv_rows(NYC / f"DHS_shelter_{year}_{level}.csv")
        )
        for level in ("borough", "citywide")
    }
    per_level = warehouse.rows(
        'SELECT source, SUM("count"), COUNT(person_key) FROM social_cases '
        "WHERE period = :period GROUP BY source",
        period=f"{year}-03",
    )
    assert {s.removeprefix("us-nyc-dhs-shelter-"): n for s, n, _ in per_level} == expected
    assert expected["borough"] == expected["citywide"]
    assert {keys for _, _, keys in per_level} == {0}  # no person behind an aggregate


@pytest.mark.parametrize("feed", sorted(RECORD_ROWS))
def test_no_aggregate_row_passes_for_a_record(warehouse, feed):
    """Of all the real files only the Medellín homicide file holds records."""
    records = warehouse.value(f"SELECT COUNT(*) FROM {feed} WHERE {RECORD_ROWS[feed]}")
    assert records == (18_516 if feed == "police_incidents" else 0)
