"""How far each loaded batch has gone down the chain: computed into indicators, published.

The load ledger (warehouse) says a batch is loaded; `chain_progress` adds when indicators
and the publication first included it. Stages read their work from here, not from the event
that started them: a trigger window lets one indicator run follow several loads, and a run
restarted after a crash finds exactly the batches still owed. Marks are written after the
work, so a crash in between repeats idempotent work and never loses a batch.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Column, DateTime, Engine, MetaData, String, Table, select

from warehouse.tables import load_ledger

# Kept apart from the warehouse's own metadata: only the orchestration reads or writes it.
progress_metadata = MetaData()

chain_progress = Table(
    "chain_progress",
    progress_metadata,
    Column("batch_id", String, primary_key=True),
    Column("indicated_at", DateTime(timezone=True), nullable=False),
    Column("published_at", DateTime(timezone=True)),
)


@dataclass(frozen=True)
class LedgerBatch:
    """A loaded batch as the ledger records it."""

    batch_id: str
    feed: str  # the warehouse feed (police_incidents, ...)
    source: str  # the source profile id
    file_name: str
    periods: tuple[str, ...]


def ensure_progress_table(engine: Engine) -> None:
    """Create `chain_progress` when the warehouse does not have it yet."""
    progress_metadata.create_all(engine)


def batches_to_compute(engine: Engine) -> list[LedgerBatch]:
    """Loaded batches that no indicator computation has included yet, oldest first."""
    query = (
        select(load_ledger)
        .outerjoin(chain_progress, chain_progress.c.batch_id == load_ledger.c.batch_id)
        .where(chain_progress.c.batch_id.is_(None))
        .order_by(load_ledger.c.loaded_at, load_ledger.c.batch_id)
    )
    return _ledger_batches(engine, query)


def batches_to_publish(engine: Engine) -> list[LedgerBatch]:
    """Batches in the indicators that no publication has included yet, oldest first."""
    query = (
        select(load_ledger)
        .join(chain_progress, chain_progress.c.batch_id == load_ledger.c.batch_id)
        .where(chain_progress.c.published_at.is_(None))
        .order_by(load_ledger.c.loaded_at, load_ledger.c.batch_id)
    )
    return _ledger_batches(engine, query)


def batch_stage(engine: Engine, batch_id: str) -> str | None:
    """ "published", "indicated", "loaded", or None for a batch the ledger does not know."""
    with engine.connect() as conn:
        loaded = conn.execute(
            select(load_ledger.c.batch_id).where(load_ledger.c.batch_id == batch_id)
        ).first()
        marks = conn.execute(
            select(chain_progress.c.published_at).where(chain_progress.c.batch_id == batch_id)
        ).first()
    if loaded is None:
        return None
    if marks is None:
        return "loaded"
    return "indicated" if marks.published_at is None else "published"


def mark_indicated(engine: Engine, batch_ids: Collection[str]) -> None:
    """Record that the indicators now include these batches."""
    if not batch_ids:
        return
    now = datetime.now(UTC)
    with engine.begin() as conn:
        known = set(
            conn.execute(
                select(chain_progress.c.batch_id).where(chain_progress.c.batch_id.in_(batch_ids))
            ).scalars()
        )
        rows = [{"batch_id": b, "indicated_at": now} for b in sorted(set(batch_ids) - known)]
        if rows:
            conn.execute(chain_progress.insert(), rows)


def mark_published(engine: Engine, batch_ids: Collection[str]) -> None:
    """Record that a publication included these batches."""
    if not batch_ids:
        return
    with engine.begin() as conn:
        conn.execute(
            chain_progress.update()
            .where(chain_progress.c.batch_id.in_(list(batch_ids)))
            .where(chain_progress.c.published_at.is_(None))
            .values(published_at=datetime.now(UTC))
        )


def _ledger_batches(engine: Engine, query) -> list[LedgerBatch]:
    with engine.connect() as conn:
        rows = conn.execute(query).mappings().all()
    return [
        LedgerBatch(
            batch_id=r["batch_id"],
            feed=r["feed"],
            source=r["source"],
            file_name=r["file_name"],
            periods=tuple(json.loads(r["periods"])),
        )
        for r in rows
    ]
