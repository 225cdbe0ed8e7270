"""Warehouse tables in SQLAlchemy Core (defined in code: reflection fails on DuckDB 2.0).

The schema of a database is created and upgraded by the Alembic revisions in
`warehouse/migrations`; this module is the model they must match (a test checks it).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
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
    # Columns added by later revisions come last, where ALTER TABLE puts them: the DuckDB
    # bulk insert is positional (`SELECT *`).
    # Pre-aggregated rows: the period the count covers ("2024", "2024-Q3", "2024-01/2024-06"),
    # which is also their `period`. Null on records (one row per incident or victim).
    Column("reference_period", String),
)

social_cases = Table(
    "social_cases",
    metadata,
    Column("case_id", String, nullable=False),
    Column("source", String, nullable=False),
    Column("person_key", String),  # null only on pre-aggregated rows
    Column("sex", String, nullable=False),
    Column("age_group", String, nullable=False),
    Column("territory_code", String, nullable=False),
    Column("opened_date", Date, nullable=False),
    Column("closed_date", Date),
    Column("intervention_type", String, nullable=False),
    Column("referral_source", String, nullable=False),
    *_fact_columns(),
    # Pre-aggregated rows (a shelter census): how many cases the row stands for; null on
    # records, which are one case each. (Added by 0003: last, as in the database.)
    Column("count", Integer),
)

school_absence = Table(
    "school_absence",
    metadata,
    Column("record_id", String, nullable=False),
    Column("source", String, nullable=False),
    Column("student_key", String),
    Column("school_code", String),  # null on figures above school level
    Column("territory_code", String, nullable=False),
    # Required on pupil records; published aggregates may lack them. BIGINT: a country's
    # possible sessions in a year exceed 2^31.
    Column("possible_sessions", BigInteger),
    Column("absent_sessions", BigInteger),
    Column("unjustified_sessions", BigInteger),
    Column("enrolments", BigInteger),
    *_fact_columns(),
    # Added by 0003 (last, as in the database). Aggregates only, null on pupil records:
    # which pupils the row describes, how many of them missed at least 10 % of their
    # sessions (count and published percentage), and why a figure is absent ("suppressed"
    # and "missing" stay distinct; null = as published).
    Column("pupil_group", String),
    Column("chronically_absent", BigInteger),
    Column("chronic_absence_pct", Double),
    Column("figure_status", String),
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

# The rows of each fact table that are records (one incident or victim, one case, one
# pupil-month), as SQL conditions. Indicators read records only; pre-aggregated rows
# (published counts) are stored beside them for reconciliation and are never added to them
# (see "Aggregate rows in the warehouse" in docs/decisions.md).
RECORD_ROWS: dict[str, str] = {
    "police_incidents": "reference_period IS NULL",
    "social_cases": '"count" IS NULL',
    "school_absence": "student_key IS NOT NULL",
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

# Building blocks of the cross-institution and school indicators, derived from the fact
# tables and kept up to date by warehouse.pupil_months and warehouse.case_spells: each
# computation refreshes only what the batches loaded since the last one changed. No primary
# key, and no index on DuckDB: an ART index would cost more on every refresh than it saves.

# One row per pupil (pseudonymised) and month on roll, with the school year (the calendar
# year) to date summed over all their schools; "chronically absent" is derived from the two
# sums at reading time, so that the threshold may change without a rebuild.
pupil_months = Table(
    "pupil_months",
    metadata,
    Column("student_key", String, nullable=False),
    Column("year", Integer, nullable=False),
    Column("period", String, nullable=False),
    Column("territory_code", String, nullable=False),  # lowest of the month's schools
    Column("absent_to_date", BigInteger),
    Column("possible_to_date", BigInteger),
    Column("next_period", String),  # the pupil's next month with a record in the year
)

# The persons the cross-institution indicators may ask about (pupils, minors in police
# incidents), whose social-services cases are kept merged in case_spells.
case_spell_persons = Table(
    "case_spell_persons",
    metadata,
    Column("person_key", String, nullable=False),
)

# Their social-services cases (copied from social_cases, period = the month opened): a
# person's spells are recomputed from these few rows, not from every case of every person.
case_spell_cases = Table(
    "case_spell_cases",
    metadata,
    Column("person_key", String, nullable=False),
    Column("period", String, nullable=False),
    Column("opened_date", Date, nullable=False),
    Column("closed_date", Date),
)
# On PostgreSQL a refresh reads a few months of these tables; without an index on the month
# each statement scans them whole (DuckDB skips row groups by their zone maps instead).
Index("ix_pupil_months_period", pupil_months.c.period).ddl_if(dialect="postgresql")
Index("ix_case_spell_cases_period", case_spell_cases.c.period).ddl_if(dialect="postgresql")

# Each such person's cases merged into spells of intervention (closed 9999-12-31 while open).
case_spells = Table(
    "case_spells",
    metadata,
    Column("person_key", String, nullable=False),
    Column("opened_date", Date, nullable=False),
    Column("closed_date", Date, nullable=False),
)

# Which load-ledger batches each building block reflects: the ones missing here are what a
# refresh has to take in.
indicator_block_batches = Table(
    "indicator_block_batches",
    metadata,
    Column("block", String, primary_key=True),
    Column("batch_id", String, primary_key=True),
)
