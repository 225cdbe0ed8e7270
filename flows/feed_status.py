"""What the data team looks at every morning: feed status and the quarantine.

Plain functions over the warehouse (no Prefect); `flows.cli` prints them as tables or JSON.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine, select

from connectors.feed_batches import checked_batches
from connectors.source_profiles import ReadOptions
from flows.config import Config
from flows.steps import feed_profile, file_sha256, load_batches
from warehouse.loads import BatchLoader
from warehouse.tables import load_ledger, quarantine, territories

BATCHES_SHOWN = 3


@dataclass
class BatchSummary:
    """One loaded batch as the status shows it."""

    batch_id: str
    loaded_at: str
    rows_loaded: int
    rows_quarantined: int
    periods: list[str]


@dataclass
class FeedStatus:
    """A feed's recent batches, freshness and open quarantine."""

    feed: str
    source: str
    expected_every_days: int
    age_days: float | None
    fresh: bool
    quarantined_open: int
    batches: list[BatchSummary] = field(default_factory=list)


@dataclass
class Status:
    """Every feed, plus the last publication of the local catalogue."""

    feeds: list[FeedStatus]
    last_publication: str | None
    catalogue: str


def feed_status(config: Config, engine: Engine, *, now: datetime | None = None) -> Status:
    """Status of every configured feed and of the last publication."""
    now = now or datetime.now(UTC)
    feeds = []
    with engine.connect() as conn:
        for feed in config.feeds:
            profile = feed_profile(config, feed)
            rows = (
                conn.execute(
                    select(load_ledger)
                    .where(load_ledger.c.source == profile.id)
                    .order_by(load_ledger.c.loaded_at.desc())
                )
                .mappings()
                .all()
            )
            batch_ids = [r["batch_id"] for r in rows]
            open_rows = 0
            if batch_ids:
                open_rows = len(
                    conn.execute(
                        select(quarantine.c.source_row).where(quarantine.c.batch_id.in_(batch_ids))
                    ).all()
                )
            age = None
            if rows:
                loaded = rows[0]["loaded_at"]
                loaded = loaded if loaded.tzinfo else loaded.replace(tzinfo=UTC)
                age = (now - loaded).total_seconds() / 86_400
            feeds.append(
                FeedStatus(
                    feed=feed.name,
                    source=profile.id,
                    expected_every_days=feed.expected_every_days,
                    age_days=None if age is None else round(age, 2),
                    fresh=age is not None and age <= feed.expected_every_days,
                    quarantined_open=open_rows,
                    batches=[_summary(r) for r in rows[:BATCHES_SHOWN]],
                )
            )
    index = config.path(config.publish.catalogue_dir) / "index.html"
    published = None
    if index.exists():
        published = datetime.fromtimestamp(index.stat().st_mtime, UTC).isoformat(timespec="seconds")
    return Status(feeds=feeds, last_publication=published, catalogue=str(index))


def _summary(row) -> BatchSummary:
    periods = json.loads(row["periods"])
    return BatchSummary(
        batch_id=row["batch_id"],
        loaded_at=row["loaded_at"].isoformat(timespec="seconds"),
        rows_loaded=row["rows_loaded"],
        rows_quarantined=row["rows_quarantined"],
        periods=[periods[0], periods[-1]] if len(periods) > 1 else periods,
    )


@dataclass
class QuarantinedEntry:
    """One quarantined row: where it came from, what it held, why it was refused."""

    feed: str
    batch_id: str
    source_row: int
    raw: dict
    reasons: list[str]


def quarantined_rows(
    config: Config, engine: Engine, *, feed: str | None = None
) -> list[QuarantinedEntry]:
    """Quarantined rows of the configured feeds (or of one feed), oldest batch first."""
    sources = {
        feed_profile(config, f).id: f.name for f in config.feeds if feed is None or f.name == feed
    }
    with engine.connect() as conn:
        batches = dict(
            conn.execute(
                select(load_ledger.c.batch_id, load_ledger.c.source).where(
                    load_ledger.c.source.in_(list(sources))
                )
            ).all()
        )
        rows = (
            conn.execute(
                select(quarantine)
                .where(quarantine.c.batch_id.in_(list(batches)))
                .order_by(quarantine.c.batch_id, quarantine.c.source_row)
            )
            .mappings()
            .all()
        )
    return [
        QuarantinedEntry(
            feed=sources[batches[r["batch_id"]]],
            batch_id=r["batch_id"],
            source_row=r["source_row"],
            raw=json.loads(r["raw"]),
            reasons=json.loads(r["reasons"]),
        )
        for r in rows
    ]


def export_quarantine(entries: list[QuarantinedEntry], path: Path) -> int:
    """Write the rows as received, one column per source column, for a person to correct.

    The first columns say where each row came from and why it was refused; they are ignored
    by the profile when the corrected file is ingested again (`reingest_quarantine`).
    Pseudonymised identifiers stay pseudonymised (marked "pseudonym:").
    """
    columns = sorted({key for e in entries for key in e.raw})
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["_batch_id", "_source_row", "_reasons", *columns])
    for e in entries:
        writer.writerow(
            [e.batch_id, e.source_row, " | ".join(e.reasons), *[e.raw.get(c, "") for c in columns]]
        )
    path.write_text(buffer.getvalue(), encoding="utf-8")
    return len(entries)


@dataclass
class Reingest:
    """What re-ingesting a corrected export did."""

    batch_id: str
    rows_read: int
    rows_loaded: int
    rows_quarantined_again: int
    resolved: int


def reingest_quarantine(
    config: Config, engine: Engine, feed_name: str, path: Path, *, secret: bytes
) -> Reingest:
    """Load corrected rows (a file written by export_quarantine) into their feed.

    The rows go through the feed's profile and contract again, as a new batch that adds to
    its periods (it does not replace them). Their old quarantine entries are removed; rows
    that still break the contract are quarantined again under the new batch.
    """
    feed = next((f for f in config.feeds if f.name == feed_name), None)
    if feed is None:
        raise ValueError(f"no feed named {feed_name!r} in {config.source_file}")
    profile = feed_profile(config, feed)
    # The export is a plain UTF-8 CSV whatever the source looked like.
    plain = profile.model_copy(
        update={
            "read": ReadOptions(
                format="csv", encoding="utf-8", delimiter=",", skip_rows=0, footer_rows=0
            )
        }
    )
    with path.open(encoding="utf-8", newline="") as handle:
        origins = [(r["_batch_id"], int(r["_source_row"])) for r in csv.DictReader(handle)]
    with engine.connect() as conn:
        known = frozenset(conn.execute(select(territories.c.code)).scalars())
    with BatchLoader(
        engine,
        feed=profile.feed,
        source=profile.id,
        file_name=path.name,
        content_hash=file_sha256(path),
        replace_periods=False,
    ) as loader:
        load_batches(loader, checked_batches(path, plain, secret=secret, known_territories=known))
        for batch_id, source_row in origins:
            loader.connection.execute(
                quarantine.delete().where(
                    quarantine.c.batch_id == batch_id, quarantine.c.source_row == source_row
                )
            )
    result = loader.result
    return Reingest(
        batch_id=result.batch_id,
        rows_read=result.rows_read,
        rows_loaded=result.rows_loaded,
        rows_quarantined_again=result.rows_quarantined,
        resolved=len(origins) - result.rows_quarantined,
    )
