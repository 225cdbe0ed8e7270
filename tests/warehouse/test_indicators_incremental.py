"""Incremental computation gives exactly what a computation from scratch gives.

The building blocks (pupil_months, case_spells) are refreshed from the batches loaded since
the last computation; the indicators are recomputed for their affected periods only. After a
month is added, and after a month is revised (rows gone, rows changed), every indicator value
and the building blocks themselves must equal a rebuild from the fact tables.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from sqlalchemy import Engine, select, text

from tests.warehouse.synthetic_batches import (
    WINDOW,
    Batch,
    feed_tables,
    load_batch,
    load_territories,
    period_of,
)
from warehouse import case_spells, pupil_months
from warehouse.block_changes import pending_changes
from warehouse.indicators import affected_periods, compute_indicators, load_catalogue
from warehouse.tables import indicator_values

CATALOGUE = load_catalogue()
THRESHOLD, WINDOW_DAYS = 0.10, 30
ADDED = "2023-05"  # a school month in the middle of a year: earlier and later months exist


def _batch(feed: str, rows: pa.Table, label: str) -> Batch:
    """A file of `rows`; its source is the rows' own, so that it replaces their periods."""
    digest = hashlib.sha256(f"{feed}{label}{rows.num_rows}".encode()).hexdigest()
    return Batch(feed, rows["source"][0].as_py(), label, rows, digest)


def _rows(feed: str, keep) -> pa.Table:
    table = feed_tables()[feed]
    return table.filter(keep(period_of(feed, table)))


def _compute(engine: Engine, periods: dict[str, list[str]], **options) -> None:
    compute_indicators(
        engine,
        CATALOGUE,
        periods,
        chronic_threshold=THRESHOLD,
        referral_window_days=WINDOW_DAYS,
        **options,
    )


def _load_month(engine: Engine, batches: list[Batch]) -> dict[str, list[str]]:
    """Load one month's batches and recompute only what they affect (as the flows do)."""
    touched = {b.feed: set(load_batch(engine, b).periods) for b in batches}
    periods = {
        i.id: affected_periods(i, touched, WINDOW, referral_window_days=WINDOW_DAYS)
        for i in CATALOGUE
    }
    with engine.connect() as conn:  # the blocks will take in these batches, not rebuild
        for block in (pupil_months, case_spells):
            changes = pending_changes(conn, block.BLOCK, block.FEEDS)
            assert not changes.rebuild
            assert len(changes.batch_ids) == sum(b.feed in block.FEEDS for b in batches)
    _compute(engine, periods)
    return periods


def _snapshot(engine: Engine) -> dict[str, list[tuple]]:
    """Indicator values, pupil months, and the spells of the persons a rebuild keeps."""
    queries = {
        "values": select(indicator_values),
        "pupil_months": text("SELECT * FROM pupil_months"),
        "case_spells": text(
            "SELECT * FROM case_spells "
            "WHERE person_key IN (SELECT person_key FROM case_spell_persons)"
        ),
    }
    with engine.connect() as conn:
        return {name: sorted(map(tuple, conn.execute(q)), key=repr) for name, q in queries.items()}


def _assert_same_as_from_scratch(engine: Engine) -> None:
    incremental = _snapshot(engine)
    _compute(engine, {i.id: WINDOW for i in CATALOGUE}, rebuild_blocks=True)
    from_scratch = _snapshot(engine)
    for name, rows in from_scratch.items():
        assert incremental[name] == rows, name


def _revised(feed: str, rows: pa.Table) -> pa.Table:
    """A revision of a month: every third row gone, and cases closed a week later."""
    keep = pa.array([i % 3 != 0 for i in range(rows.num_rows)])
    rows = rows.filter(keep)
    if feed == "social_cases":
        closed = [d and d + timedelta(days=7) for d in rows["closed_date"].to_pylist()]
        index = rows.schema.get_field_index("closed_date")
        rows = rows.set_column(index, "closed_date", pa.array(closed, pa.date32()))
    return rows


@pytest.fixture
def history(engine) -> Engine:
    """Every month before ADDED loaded, and the whole window computed from scratch."""
    load_territories(engine)
    for feed in feed_tables():
        load_batch(engine, _batch(feed, _rows(feed, lambda p: pc.less(p, ADDED)), "history"))
    _compute(engine, {i.id: WINDOW for i in CATALOGUE}, rebuild_blocks=True)
    return engine


def test_adding_a_month_gives_the_values_of_a_computation_from_scratch(history):
    added = [
        _batch(feed, _rows(feed, lambda p: pc.equal(p, ADDED)), ADDED) for feed in feed_tables()
    ]
    assert all(b.rows.num_rows > 50 for b in added)
    periods = _load_month(history, added)
    # Only some periods were recomputed, and the month's pupils were added to the block.
    assert 0 < sum(map(len, periods.values())) < len(CATALOGUE) * len(WINDOW)
    before = _snapshot(history)
    assert sum(1 for row in before["pupil_months"] if row[2] == ADDED) == 400
    _assert_same_as_from_scratch(history)


def test_revising_a_month_gives_the_values_of_a_computation_from_scratch(history):
    month = "2023-03"  # before the last month loaded: later rows carry on from it
    revised = [
        _batch(feed, _revised(feed, _rows(feed, lambda p: pc.equal(p, month))), "revised")
        for feed in feed_tables()
    ]
    periods = _load_month(history, revised)
    assert "2023-04" in periods["chronic_absentee_share"]  # the rest of the school year
    snapshot = _snapshot(history)
    assert sum(1 for row in snapshot["pupil_months"] if row[2] == month) < 300
    _assert_same_as_from_scratch(history)


def test_another_chronic_threshold_needs_no_rebuild(history):
    everything = {i.id: WINDOW for i in CATALOGUE}
    at_ten_percent = _snapshot(history)["values"]
    compute_indicators(history, CATALOGUE, everything, chronic_threshold=0.25)
    refreshed = _snapshot(history)["values"]
    compute_indicators(history, CATALOGUE, everything, chronic_threshold=0.25, rebuild_blocks=True)
    assert _snapshot(history)["values"] == refreshed
    # The threshold does apply: fewer chronic pupils, but still some.
    chronic = {r[:5]: r[5] for r in refreshed if r[0] == "chronic_absentee_share"}
    before = {r[:5]: r[5] for r in at_ten_percent if r[0] == "chronic_absentee_share"}
    assert 0 < sum(chronic.values()) < sum(before.values())
