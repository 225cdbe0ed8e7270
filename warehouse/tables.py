"""Warehouse tables in SQLAlchemy Core (defined in code: reflection fails on DuckDB 2.0).

The schema of a database is created and upgraded by the Alembic revisions in
`warehouse/migrations`; this module is the model they must match (a test checks it).
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    Date,
    DateTime,
    Double,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

metadata = MetaData()

territories = Table(
    "territories",
    metadata,
    Column("code", String, primary_key=True),
    Column("name", String, nullable=False),
    Column("level", String, nullable=False),
    Column("parent_code", String),
    Column("geometry", Text),  # GeoJSON geometry, when known
)

territory_population = Table(
    "territory_population",
    metadata,
    Column("code", String, primary_key=True),
    Column("year", Integer, primary_key=True, autoincrement=False),
    Column("population", Integer, nullable=False),
)


def _fact_columns() -> list[Column]:
    # Every fact row knows its batch and the period it belongs to, so that a revised file
    # for a period replaces exactly that period.
    return [Column("batch_id", String, nullable=False), Column("period", String, nullable=False)]


police_incidents = Table(
    "police_incidents",
    metadata,
    Column("incident_id", String, nullable=False),
    Column("source", String, nullable=False),
    Column("occurred_date", Date, nullable=False),
    Column("occurred_time", String),
    Column("territory_code", String, nullable=False),
    Column("latitude", Double),
    Column("longitude", Double),
    Column("category", String, nullable=False),
    Column("source_label", String, nullable=False),
    Column("modality", String),
    Column("victim_sex", String, nullable=False),
    Column("victim_age_group", String, nullable=False),
    Column("minor_involved", Boolean, nullable=False),
    Column("domestic", Boolean, nullable=False),
    Column("person_key", String),
    Column("count", Integer, nullable=False),
    *_fact_columns(),
)

social_cases = Table(
    "social_cases",
    metadata,
    Column("case_id", String, nullable=False),
    Column("source", String, nullable=False),
    Column("person_key", String, nullable=False),
    Column("sex", String, nullable=False),
    Column("age_group", String, nullable=False),
    Column("territory_code", String, nullable=False),
    Column("opened_date", Date, nullable=False),
    Column("closed_date", Date),
    Column("intervention_type", String, nullable=False),
    Column("referral_source", String, nullable=False),
    *_fact_columns(),
)

school_absence = Table(
    "school_absence",
    metadata,
    Column("record_id", String, nullable=False),
    Column("source", String, nullable=False),
    Column("student_key", String),
    Column("school_code", String, nullable=False),
    Column("territory_code", String, nullable=False),
    Column("possible_sessions", Integer, nullable=False),
    Column("absent_sessions", Integer, nullable=False),
    Column("unjustified_sessions", Integer, nullable=False),
    Column("enrolments", Integer, nullable=False),
    *_fact_columns(),
)

# PostgreSQL reads a period or a person's cases through these indexes (incremental recompute,
# period replacement, cross-institution joins). DuckDB's zone maps do that job without the
# insert cost of an ART index, so the indexes exist on PostgreSQL only.
for _table in (police_incidents, social_cases, school_absence):
    Index(f"ix_{_table.name}_period_source", _table.c.period, _table.c.source).ddl_if(
        dialect="postgresql"
    )
Index("ix_social_cases_person_key", social_cases.c.person_key).ddl_if(dialect="postgresql")
# Cases still open after a date: open cases at a month's end, intervention spells.
Index("ix_social_cases_closed_date", social_cases.c.closed_date).ddl_if(dialect="postgresql")

FACT_TABLES: dict[str, Table] = {
    "police_incidents": police_incidents,
    "social_cases": social_cases,
    "school_absence": school_absence,
}

# Which canonical date column puts a fact row in a period (school absence carries its own).
PERIOD_SOURCE: dict[str, str | None] = {
    "police_incidents": "occurred_date",
    "social_cases": "opened_date",
    "school_absence": None,
}

load_ledger = Table(
    "load_ledger",
    metadata,
    Column("batch_id", String, primary_key=True),
    Column("feed", String, nullable=False),
    Column("source", String, nullable=False),
    Column("file_name", String, nullable=False),
    Column("content_hash", String, nullable=False),
    Column("rows_read", Integer, nullable=False),
    Column("rows_loaded", Integer, nullable=False),
    Column("rows_quarantined", Integer, nullable=False),
    Column("periods", Text, nullable=False),  # JSON list of "YYYY-MM"
    Column("loaded_at", DateTime(timezone=True), nullable=False),
)

quarantine = Table(
    "quarantine",
    metadata,
    Column("batch_id", String, nullable=False),
    Column("feed", String, nullable=False),
    Column("source_row", Integer, nullable=False),
    Column("raw", Text, nullable=False),  # JSON of the row as received
    Column("reasons", Text, nullable=False),  # JSON list of every rule the row broke
)

indicator_values = Table(
    "indicator_values",
    metadata,
    Column("indicator_id", String, primary_key=True),
    Column("territory_code", String, primary_key=True),
    Column("territory_level", String, nullable=False),
    Column("period", String, primary_key=True),
    Column("breakdown", String, primary_key=True),
    Column("units", Double),  # persons or records behind the figure (disclosure control)
    Column("numerator", Double),
    Column("denominator", Double),
    Column("value", Double),
    # Why a value is missing: no_denominator, small_denominator or small_population.
    Column("flags", String),
)

# Code lists copied from `schemas` so that indicator SQL can cross-join every category.
code_list_values = Table(
    "code_list_values",
    metadata,
    Column("list", String, primary_key=True),
    Column("code", String, primary_key=True),
)
