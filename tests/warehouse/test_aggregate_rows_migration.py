"""Revision 0003: a warehouse at 0002 takes aggregate rows after an in-place upgrade.

Runs on DuckDB and PostgreSQL (the `warehouse_url` fixture). Rows written at 0002 must come
through the upgrade unchanged; afterwards the fact tables accept what the aggregate profiles
produce (reference periods, case counts, school years, BIGINT sessions, null figures).
"""

from __future__ import annotations

from alembic import command
from sqlalchemy import Engine, text

from warehouse.engine import create_warehouse_engine
from warehouse.schema_migrations import current_revision, migration_config, upgrade_warehouse

BEFORE, AFTER = "0002_indicator_flags", "0003_aggregate_feed_rows"

_OLD_ROWS = (
    "INSERT INTO police_incidents (incident_id, source, occurred_date, territory_code, "
    "category, source_label, victim_sex, victim_age_group, minor_involved, domestic, "
    "\"count\", batch_id, period) VALUES ('i1', 'p', DATE '2023-05-02', '05001-01', "
    "'homicide', 'Homicidio', 'M', '18-28', FALSE, FALSE, 1, 'b1', '2023-05')",
    "INSERT INTO social_cases (case_id, source, person_key, sex, age_group, territory_code, "
    "opened_date, intervention_type, referral_source, batch_id, period) VALUES ('c1', 's', "
    "'k1', 'F', '12-17', '05001-01', DATE '2023-05-03', 'shelter', 'school', 'b2', '2023-05')",
    "INSERT INTO school_absence (record_id, source, student_key, school_code, territory_code, "
    "possible_sessions, absent_sessions, unjustified_sessions, enrolments, batch_id, period) "
    "VALUES ('r1', 'e', 'k1', 'S1', '05001-01', 40, 6, 2, 1, 'b3', '2023-05')",
)


def _snapshot(engine: Engine) -> dict[str, list[tuple]]:
    queries = {
        "police_incidents": 'SELECT incident_id, occurred_date, "count", period '
        "FROM police_incidents",
        "social_cases": "SELECT case_id, person_key, opened_date, period FROM social_cases",
        "school_absence": "SELECT record_id, student_key, possible_sessions, absent_sessions, "
        "enrolments, period FROM school_absence",
    }
    with engine.connect() as conn:
        return {t: sorted(tuple(r) for r in conn.execute(text(q))) for t, q in queries.items()}


def _at_0002_with_rows(url: str) -> Engine:
    engine = create_warehouse_engine(url)
    upgrade_warehouse(engine, BEFORE)
    with engine.begin() as conn:
        for statement in _OLD_ROWS:
            conn.execute(text(statement))
    return engine


def test_a_0002_warehouse_upgrades_in_place_keeping_its_rows(warehouse_url):
    engine = _at_0002_with_rows(warehouse_url)
    try:
        before = _snapshot(engine)
        assert [len(rows) for rows in before.values()] == [1, 1, 1]
        upgrade_warehouse(engine, AFTER)
        assert current_revision(engine) == AFTER
        assert _snapshot(engine) == before
        with engine.connect() as conn:
            new_columns = conn.execute(
                text(
                    'SELECT reference_period, s."count", pupil_group, chronically_absent, '
                    "chronic_absence_pct, figure_status FROM police_incidents, social_cases s, "
                    "school_absence"
                )
            ).one()
        assert tuple(new_columns) == (None,) * 6  # records: no aggregate figures
    finally:
        engine.dispose()


def test_after_the_upgrade_aggregate_rows_fit_and_a_downgrade_keeps_the_records(warehouse_url):
    engine = _at_0002_with_rows(warehouse_url)
    try:
        records = _snapshot(engine)
        upgrade_warehouse(engine, AFTER)
        with engine.begin() as conn:
            for statement in _AGGREGATE_ROWS:
                conn.execute(text(statement))
            sessions = conn.execute(
                text("SELECT possible_sessions FROM school_absence WHERE period = '2016/17'")
            ).scalar()
        assert sessions == 2_440_216_810  # England's possible sessions, beyond INTEGER
        with engine.begin() as conn:
            command.downgrade(migration_config(conn), BEFORE)
        assert current_revision(engine) == BEFORE
        assert _snapshot(engine) == records  # the aggregates went, the records stayed
    finally:
        engine.dispose()


_AGGREGATE_ROWS = (
    "INSERT INTO police_incidents (incident_id, source, occurred_date, territory_code, "
    "category, source_label, victim_sex, victim_age_group, minor_involved, domestic, "
    "\"count\", batch_id, period, reference_period) VALUES ('a1', 'es', DATE '2024-01-01', "
    "'28079', 'theft', 'Hurtos', 'U', 'unknown', FALSE, FALSE, 95000, 'b4', '2024', '2024')",
    "INSERT INTO social_cases (case_id, source, sex, age_group, territory_code, opened_date, "
    'closed_date, intervention_type, referral_source, batch_id, period, "count") VALUES '
    "('a2', 'nyc', 'U', 'unknown', '3651000', DATE '2018-03-31', DATE '2018-03-31', "
    "'shelter', 'unknown', 'b5', '2018-03', 61000)",
    "INSERT INTO school_absence (record_id, source, territory_code, possible_sessions, "
    "absent_sessions, enrolments, batch_id, period, pupil_group, chronically_absent, "
    "chronic_absence_pct, figure_status) VALUES ('a3', 'uk', 'E92000001', 2440216810, "
    "112000000, 7000000, 'b6', '2016/17', 'Total / Total', 700000, 10.8, NULL)",
    "INSERT INTO school_absence (record_id, source, territory_code, batch_id, period, "
    "pupil_group, figure_status) VALUES ('a4', 'ct', 'US-CT/X', 'b7', '2016/17', 'Grade 1', "
    "'suppressed')",
)
