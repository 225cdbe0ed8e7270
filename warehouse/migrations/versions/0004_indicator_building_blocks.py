"""Persistent building blocks of the indicators, refreshed incrementally.

Revision ID: 0004_indicator_building_blocks
Revises: 0003_aggregate_feed_rows
Create Date: 2026-11-23

- `pupil_months`: one row per pupil and month on roll, with the school year to date
  (absent and possible sessions) and the pupil's next month with a record.
- `case_spell_persons`, `case_spell_cases` and `case_spells`: the persons the
  cross-institution indicators ask about, their social-services cases, and those cases
  merged into spells of intervention.
- `indicator_block_batches`: which load-ledger batches each block already reflects.

They are derived data: empty after the upgrade, filled by the next indicator computation
(warehouse.pupil_months, warehouse.case_spells). On PostgreSQL only, `pupil_months` and
`case_spell_cases` are indexed on `period`, which every refresh reads by (see
warehouse/tables.py).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_indicator_building_blocks"
down_revision = "0003_aggregate_feed_rows"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "pupil_months",
        sa.Column("student_key", sa.String, nullable=False),
        sa.Column("year", sa.Integer, nullable=False),
        sa.Column("period", sa.String, nullable=False),
        sa.Column("territory_code", sa.String, nullable=False),
        sa.Column("absent_to_date", sa.BigInteger),
        sa.Column("possible_to_date", sa.BigInteger),
        sa.Column("next_period", sa.String),
    )
    op.create_table("case_spell_persons", sa.Column("person_key", sa.String, nullable=False))
    op.create_table(
        "case_spell_cases",
        sa.Column("person_key", sa.String, nullable=False),
        sa.Column("period", sa.String, nullable=False),
        sa.Column("opened_date", sa.Date, nullable=False),
        sa.Column("closed_date", sa.Date),
    )
    op.create_table(
        "case_spells",
        sa.Column("person_key", sa.String, nullable=False),
        sa.Column("opened_date", sa.Date, nullable=False),
        sa.Column("closed_date", sa.Date, nullable=False),
    )
    op.create_table(
        "indicator_block_batches",
        sa.Column("block", sa.String, primary_key=True),
        sa.Column("batch_id", sa.String, primary_key=True),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.create_index("ix_pupil_months_period", "pupil_months", ["period"])
        op.create_index("ix_case_spell_cases_period", "case_spell_cases", ["period"])


def downgrade() -> None:
    for table in (
        "indicator_block_batches",
        "case_spells",
        "case_spell_cases",
        "case_spell_persons",
        "pupil_months",
    ):
        op.drop_table(table)
