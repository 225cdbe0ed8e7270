"""Indicator value flags; PostgreSQL indexes for incremental recomputation.

Revision ID: 0002_indicator_flags
Revises: 0001_skeleton
Create Date: 2026-11-23

`indicator_values.flags` says why a value is missing (no_denominator, small_denominator,
small_population). The fact tables get indexes on (period, source), and social cases on
person_key and closed_date, on PostgreSQL only: DuckDB prunes by zone maps, and an ART index
there would only slow down bulk loads.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context, op

revision = "0002_indicator_flags"
down_revision = "0001_skeleton"
branch_labels = None
depends_on = None

FACT_TABLES = ("police_incidents", "social_cases", "school_absence")


def _on_postgresql() -> bool:
    # The migration context knows the dialect both online and in offline (--sql) mode.
    return context.get_context().dialect.name == "postgresql"


def upgrade() -> None:
    op.add_column("indicator_values", sa.Column("flags", sa.String))
    if _on_postgresql():
        for table in FACT_TABLES:
            op.create_index(f"ix_{table}_period_source", table, ["period", "source"])
        op.create_index("ix_social_cases_person_key", "social_cases", ["person_key"])
        op.create_index("ix_social_cases_closed_date", "social_cases", ["closed_date"])


def downgrade() -> None:
    if _on_postgresql():
        op.drop_index("ix_social_cases_closed_date", table_name="social_cases")
        op.drop_index("ix_social_cases_person_key", table_name="social_cases")
        for table in FACT_TABLES:
            op.drop_index(f"ix_{table}_period_source", table_name=table)
    op.drop_column("indicator_values", "flags")
