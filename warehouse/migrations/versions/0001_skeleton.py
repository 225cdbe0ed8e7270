"""The walking skeleton's warehouse: territories, facts, ledger, quarantine, indicator values.

Revision ID: 0001_skeleton
Revises:
Create Date: 2026-11-23

Written out in full (not imported from warehouse.tables) so that it keeps describing this
revision when the model moves on. Databases created by the skeleton with `create_all`, before
migrations existed, are stamped at this revision by `upgrade_warehouse`.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001_skeleton"
down_revision = None
branch_labels = None
depends_on = None


def _fact_columns() -> list[sa.Column]:
    return [
        sa.Column("batch_id", sa.String, nullable=False),
        sa.Column("period", sa.String, nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "territories",
        sa.Column("code", sa.String, primary_key=True),
        sa.Column("name", sa.String, nullable=False),
        sa.Column("level", sa.String, nullable=False),
        sa.Column("parent_code", sa.String),
        sa.Column("geometry", sa.Text),
    )
    op.create_table(
        "territory_population",
        sa.Column("code", sa.String, primary_key=True),
        sa.Column("year", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("population", sa.Integer, nullable=False),
    )
    op.create_table(
        "police_incidents",
        sa.Column("incident_id", sa.String, nullable=False),
        sa.Column("source", sa.String, nullable=False),
        sa.Column("occurred_date", sa.Date, nullable=False),
        sa.Column("occurred_time", sa.String),
        sa.Column("territory_code", sa.String, nullable=False),
        sa.Column("latitude", sa.Double),
        sa.Column("longitude", sa.Double),
        sa.Column("category", sa.String, nullable=False),
        sa.Column("source_label", sa.String, nullable=False),
        sa.Column("modality", sa.String),
        sa.Column("victim_sex", sa.String, nullable=False),
        sa.Column("victim_age_group", sa.String, nullable=False),
        sa.Column("minor_involved", sa.Boolean, nullable=False),
        sa.Column("domestic", sa.Boolean, nullable=False),
        sa.Column("person_key", sa.String),
        sa.Column("count", sa.Integer, nullable=False),
        *_fact_columns(),
    )
    op.create_table(
        "social_cases",
        sa.Column("case_id", sa.String, nullable=False),
        sa.Column("source", sa.String, nullable=False),
        sa.Column("person_key", sa.String, nullable=False),
        sa.Column("sex", sa.String, nullable=False),
        sa.Column("age_group", sa.String, nullable=False),
        sa.Column("territory_code", sa.String, nullable=False),
        sa.Column("opened_date", sa.Date, nullable=False),
        sa.Column("closed_date", sa.Date),
        sa.Column("intervention_type", sa.String, nullable=False),
        sa.Column("referral_source", sa.String, nullable=False),
        *_fact_columns(),
    )
    op.create_table(
        "school_absence",
        sa.Column("record_id", sa.String, nullable=False),
        sa.Column("source", sa.String, nullable=False),
        sa.Column("student_key", sa.String),
        sa.Column("school_code", sa.String, nullable=False),
        sa.Column("territory_code", sa.String, nullable=False),
        sa.Column("possible_sessions", sa.Integer, nullable=False),
        sa.Column("absent_sessions", sa.Integer, nullable=False),
        sa.Column("unjustified_sessions", sa.Integer, nullable=False),
        sa.Column("enrolments", sa.Integer, nullable=False),
        *_fact_columns(),
    )
    op.create_table(
        "load_ledger",
        sa.Column("batch_id", sa.String, primary_key=True),
        sa.Column("feed", sa.String, nullable=False),
        sa.Column("source", sa.String, nullable=False),
        sa.Column("file_name", sa.String, nullable=False),
        sa.Column("content_hash", sa.String, nullable=False),
        sa.Column("rows_read", sa.Integer, nullable=False),
        sa.Column("rows_loaded", sa.Integer, nullable=False),
        sa.Column("rows_quarantined", sa.Integer, nullable=False),
        sa.Column("periods", sa.Text, nullable=False),
        sa.Column("loaded_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "quarantine",
        sa.Column("batch_id", sa.String, nullable=False),
        sa.Column("feed", sa.String, nullable=False),
        sa.Column("source_row", sa.Integer, nullable=False),
        sa.Column("raw", sa.Text, nullable=False),
        sa.Column("reasons", sa.Text, nullable=False),
    )
    op.create_table(
        "indicator_values",
        sa.Column("indicator_id", sa.String, primary_key=True),
        sa.Column("territory_code", sa.String, primary_key=True),
        sa.Column("territory_level", sa.String, nullable=False),
        sa.Column("period", sa.String, primary_key=True),
        sa.Column("breakdown", sa.String, primary_key=True),
        sa.Column("units", sa.Double),
        sa.Column("numerator", sa.Double),
        sa.Column("denominator", sa.Double),
        sa.Column("value", sa.Double),
    )
    op.create_table(
        "code_list_values",
        sa.Column("list", sa.String, primary_key=True),
        sa.Column("code", sa.String, primary_key=True),
    )


def downgrade() -> None:
    for table in (
        "code_list_values",
        "indicator_values",
        "quarantine",
        "load_ledger",
        "school_absence",
        "social_cases",
        "police_incidents",
        "territory_population",
        "territories",
    ):
        op.drop_table(table)
