"""Fact tables take the pre-aggregated rows of published feeds, not only person records.

Revision ID: 0003_aggregate_feed_rows
Revises: 0002_indicator_flags
Create Date: 2026-11-23

- `police_incidents.reference_period`: the period a published count covers ("2024",
  "2024-Q3", "2024-01/2024-06"); null on records. The loader files such a row under that
  period (not under the month of its first day), so a year-to-date file replaces only itself.
- `social_cases.count`: how many cases a pre-aggregated row stands for (null on records),
  and `person_key` nullable (an aggregate has no person).
- `school_absence`: `school_code` and the session/enrolment counts nullable (published
  aggregates may lack them), those counts BIGINT (a country's possible sessions exceed 2^31),
  and the aggregate figures `pupil_group`, `chronically_absent`, `chronic_absence_pct` and
  `figure_status` (why a figure is absent: suppressed, missing, ...).

Every change is an in-place ALTER that DuckDB 2.0 and PostgreSQL both run inside the upgrade's
transaction; no column touched here is indexed (DuckDB cannot retype an indexed column).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context, op

revision = "0003_aggregate_feed_rows"
down_revision = "0002_indicator_flags"
branch_labels = None
depends_on = None

# School absence counts that become BIGINT and nullable.
SCHOOL_COUNTS = ("possible_sessions", "absent_sessions", "unjustified_sessions", "enrolments")


def upgrade() -> None:
    op.add_column("police_incidents", sa.Column("reference_period", sa.String))

    op.add_column("social_cases", sa.Column("count", sa.Integer))
    op.alter_column("social_cases", "person_key", existing_type=sa.String, nullable=True)

    op.alter_column("school_absence", "school_code", existing_type=sa.String, nullable=True)
    if context.get_context().dialect.name == "postgresql":
        # One statement, so PostgreSQL rewrites a large table once, not once per column.
        changes = ", ".join(
            f"ALTER COLUMN {c} TYPE BIGINT, ALTER COLUMN {c} DROP NOT NULL" for c in SCHOOL_COUNTS
        )
        op.execute(f"ALTER TABLE school_absence {changes}")
    else:  # DuckDB takes one change per ALTER TABLE
        for column in SCHOOL_COUNTS:
            op.alter_column("school_absence", column, existing_type=sa.Integer, type_=sa.BigInteger)
            op.alter_column("school_absence", column, existing_type=sa.BigInteger, nullable=True)
    op.add_column("school_absence", sa.Column("pupil_group", sa.String))
    op.add_column("school_absence", sa.Column("chronically_absent", sa.BigInteger))
    op.add_column("school_absence", sa.Column("chronic_absence_pct", sa.Double))
    op.add_column("school_absence", sa.Column("figure_status", sa.String))


def downgrade() -> None:
    # The older schema cannot hold aggregate rows: they go (their files can be loaded again
    # after a new upgrade); record-level rows are kept.
    op.execute("DELETE FROM police_incidents WHERE reference_period IS NOT NULL")
    op.execute("DELETE FROM social_cases WHERE person_key IS NULL OR count IS NOT NULL")
    op.execute(
        "DELETE FROM school_absence WHERE school_code IS NULL OR "
        + " OR ".join(f"{c} IS NULL" for c in SCHOOL_COUNTS)
    )
    for column in ("figure_status", "chronic_absence_pct", "chronically_absent", "pupil_group"):
        op.drop_column("school_absence", column)
    for column in SCHOOL_COUNTS:
        # DuckDB's ALTER TYPE still converts the rows deleted above in this transaction (a
        # national total beyond INTEGER fails the downgrade), hence the range guard.
        op.execute(
            f"ALTER TABLE school_absence ALTER COLUMN {column} TYPE INTEGER USING CASE WHEN "
            f"{column} BETWEEN -2147483648 AND 2147483647 THEN CAST({column} AS INTEGER) END"
        )
        op.alter_column("school_absence", column, existing_type=sa.Integer, nullable=False)
    op.alter_column("school_absence", "school_code", existing_type=sa.String, nullable=False)

    op.alter_column("social_cases", "person_key", existing_type=sa.String, nullable=False)
    op.drop_column("social_cases", "count")

    op.drop_column("police_incidents", "reference_period")
