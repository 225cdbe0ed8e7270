"""What changed under a persistent building block since it was last refreshed.

Fact rows only change through loads, and every load is a batch in the load ledger with the
periods it replaced or completed. A block records the batches it reflects
(indicator_block_batches); the ledger's other batches of the block's feeds are the changes to
take in, and their periods say where. A block that records nothing, or records a batch the
ledger no longer has (data changed outside the loader), is rebuilt from scratch.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy import Connection, insert, select

from warehouse.tables import indicator_block_batches, load_ledger


@dataclass(frozen=True)
class PendingChanges:
    """The batches a block has yet to take in (all on rebuild), and their periods per feed."""

    block: str
    rebuild: bool
    batch_ids: tuple[str, ...]
    periods: dict[str, set[str]] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        """True when the block is up to date."""
        return not self.rebuild and not self.batch_ids


def lock_blocks(conn: Connection) -> None:
    """Serialise refreshes on PostgreSQL (two at once would both insert the same rows).

    Readers are not blocked; DuckDB serialises writers by itself (a conflict aborts one).
    """
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql("LOCK TABLE indicator_block_batches IN SHARE ROW EXCLUSIVE MODE")


def pending_changes(
    conn: Connection, block: str, feeds: Iterable[str], *, rebuild: bool = False
) -> PendingChanges:
    """Compare the ledger's batches of `feeds` with those `block` already reflects."""
    feeds = tuple(feeds)
    ledger = conn.execute(
        select(load_ledger.c.batch_id, load_ledger.c.feed, load_ledger.c.periods).where(
            load_ledger.c.feed.in_(feeds)
        )
    ).all()
    seen = set(
        conn.execute(
            select(indicator_block_batches.c.batch_id).where(
                indicator_block_batches.c.block == block
            )
        ).scalars()
    )
    known = {batch_id for batch_id, _, _ in ledger}
    rebuild = rebuild or not seen or not seen <= known
    periods: dict[str, set[str]] = {feed: set() for feed in feeds}
    new = []
    for batch_id, feed, batch_periods in ledger:
        if rebuild or batch_id not in seen:
            new.append(batch_id)
            periods[feed].update(json.loads(batch_periods))
    return PendingChanges(block, rebuild, tuple(sorted(new)), periods)


def record_refreshed(conn: Connection, changes: PendingChanges) -> None:
    """Record that the block now reflects the batches of `changes` (all of them on rebuild)."""
    table = indicator_block_batches
    if changes.rebuild:
        conn.execute(table.delete().where(table.c.block == changes.block))
    if changes.batch_ids:
        conn.execute(
            insert(table), [{"block": changes.block, "batch_id": b} for b in changes.batch_ids]
        )
