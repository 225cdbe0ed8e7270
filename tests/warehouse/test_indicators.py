"""The indicator catalogue computed in the warehouse, checked against the synthetic data.

Numbers come from the synthetic generator read by the real connectors; the expected values
come from indicator_oracle (the definitions re-implemented row by row in Python).
"""

from __future__ import annotations

import dataclasses
import random

import pandas as pd
import pytest
from sqlalchemy import Engine, select

from publish.disclosure_audit import additive_structure, check_additive
from tests.warehouse import indicator_oracle as oracle
from tests.warehouse.synthetic_batches import (
    DISTRICTS,
    MUNICIPALITY,
    REGION,
    WINDOW,
    district_population,
    feed_tables,
    half_year_batches,
    load_batch,
    load_territories,
)
from warehouse.engine import open_warehouse
from warehouse.indicator_inputs import BREAKDOWN_CODES
from warehouse.indicators import (
    Indicator,
    affected_periods,
    compute_indicators,
    load_catalogue,
)
from warehouse.tables import indicator_values, load_ledger

THRESHOLD = 0.10
WINDOW_DAYS = 30
CATALOGUE = load_catalogue()


@pytest.fixture(scope="module")
def source_rows() -> dict[str, list[dict]]:
    """The canonical rows of each synthetic feed, as Python dicts."""
    return {feed: table.to_pylist() for feed, table in feed_tables().items()}


def _load_all(engine: Engine) -> None:
    load_territories(engine)
    for batch in half_year_batches():
        load_batch(engine, batch)


def _compute_all(engine: Engine, catalogue: list[Indicator], window_days=WINDOW_DAYS) -> None:
    compute_indicators(
        engine,
        catalogue,
        {i.id: WINDOW for i in catalogue},
        chronic_threshold=THRESHOLD,
        referral_window_days=window_days,
    )


def _values(engine: Engine) -> dict[tuple, tuple]:
    with engine.connect() as conn:
        rows = conn.execute(select(indicator_values)).mappings().all()
    return {
        (r["indicator_id"], r["territory_code"], r["period"], r["breakdown"]): (
            r["territory_level"],
            r["units"],
            r["numerator"],
            r["denominator"],
            r["value"],
            r["flags"],
        )
        for r in rows
    }


def _expected_row(indicator: Indicator, cells: list[tuple[int, int, int]], population):
    """(units, numerator, denominator, value, flags) of a sum of expected leaf cells."""
    units = sum(c[0] for c in cells)
    numerator = sum(c[1] for c in cells)
    denominator = (
        population if indicator.denominator_kind == "population" else sum(c[2] for c in cells)
    )
    value, flags = None, None
    if not denominator:
        flags = "no_denominator"
    elif denominator < indicator.min_denominator:
        flags = (
            "small_population"
            if indicator.denominator_kind == "population"
            else ("small_denominator")
        )
    else:
        value = numerator / denominator * indicator.scale
    return units, numerator, denominator, value, flags


def _assert_row(got: tuple, expected: tuple, where: tuple) -> None:
    _, units, numerator, denominator, value, flags = got
    assert (units, numerator, denominator, flags) == expected[:3] + expected[4:], where
    if expected[3] is None:
        assert value is None, where
    else:
        assert value == pytest.approx(expected[3], rel=1e-12), where


def test_every_indicator_follows_its_definition(engine, source_rows):
    _load_all(engine)
    _compute_all(engine, CATALOGUE)
    values = _values(engine)
    expected = oracle.expected_leaf_cells(source_rows, WINDOW, THRESHOLD, WINDOW_DAYS)
    assert len(CATALOGUE) >= 15
    for indicator in CATALOGUE:
        leaf = expected[indicator.id]
        categories = BREAKDOWN_CODES[indicator.breakdown]
        for period in WINDOW:
            year = int(period[:4])
            for breakdown in (*categories, "all") if len(categories) > 1 else categories:
                chosen = categories if breakdown == "all" else (breakdown,)
                all_cells = []
                for district in DISTRICTS:
                    cells = [leaf.get((district, period, b), (0, 0, 0)) for b in chosen]
                    all_cells += cells
                    key = (indicator.id, district, period, breakdown)
                    row = _expected_row(indicator, cells, district_population(district, year))
                    _assert_row(values[key], row, key)
                key = (indicator.id, MUNICIPALITY, period, breakdown)
                population = sum(district_population(d, year) for d in DISTRICTS)
                _assert_row(values[key], _expected_row(indicator, all_cells, population), key)
        # The data exercise the indicator: some persons or records behind it, some values.
        rows = [v for k, v in values.items() if k[0] == indicator.id]
        assert sum(r[1] for r in rows) > 0, indicator.id
        assert any(r[4] is not None and r[4] > 0 for r in rows), indicator.id
    # Only the catalogue's levels are stored: the region above the municipality is not.
    assert {v[0] for v in values.values()} == {"municipality", "district"}


def test_units_add_up_every_level_and_breakdown_as_publication_requires(engine):
    _load_all(engine)
    # Three levels: region -> municipality -> districts.
    catalogue = [
        dataclasses.replace(i, levels=("region", "municipality", "district")) for i in CATALOGUE
    ]
    _compute_all(engine, catalogue)
    values = _values(engine)
    parents = {d: MUNICIPALITY for d in DISTRICTS} | {MUNICIPALITY: REGION}
    for indicator in catalogue:
        rows = pd.DataFrame(
            [
                {"territory_code": k[1], "period": k[2], "breakdown": k[3], "units": v[1]}
                for k, v in values.items()
                if k[0] == indicator.id
            ]
        )
        assert len(rows) == len(WINDOW) * (len(DISTRICTS) + 2) * (
            len(BREAKDOWN_CODES[indicator.breakdown]) + (indicator.breakdown != "all")
        )
        units = rows["units"].to_numpy()
        assert (units >= 0).all() and (units == units.round()).all(), indicator.id
        hierarchies = {"territory_code": parents}
        if indicator.breakdown != "all":
            hierarchies["breakdown"] = dict.fromkeys(BREAKDOWN_CODES[indicator.breakdown], "all")
        structure = additive_structure(
            rows, dimensions=["territory_code", "period", "breakdown"], hierarchies=hierarchies
        )
        check_additive(structure, units)
        # Rates at the region use the population of the leaves counted, not its own figure.
        region = rows[rows["territory_code"] == REGION]["units"].sum()
        assert region == rows[rows["territory_code"] == MUNICIPALITY]["units"].sum()
    region_rate = values[("incidents_per_10k", REGION, WINDOW[0], "all")]
    municipality_rate = values[("incidents_per_10k", MUNICIPALITY, WINDOW[0], "all")]
    assert region_rate[1:] == municipality_rate[1:]


def _incremental_load(engine: Engine, batches) -> list[bool]:
    """Load each batch, recomputing only what it touched; return which loads were skipped."""
    skipped = []
    for batch in batches:
        result = load_batch(engine, batch)
        skipped.append(result.skipped)
        touched = {batch.feed: set(result.periods) & set(WINDOW)}
        periods = {
            i.id: affected_periods(i, touched, WINDOW, referral_window_days=WINDOW_DAYS)
            for i in CATALOGUE
        }
        compute_indicators(
            engine,
            CATALOGUE,
            periods,
            chronic_threshold=THRESHOLD,
            referral_window_days=WINDOW_DAYS,
        )
    return skipped


def test_batches_in_any_order_twice_give_the_same_values(new_warehouse_url):
    batches = half_year_batches()
    reference = open_warehouse(new_warehouse_url())
    shuffled = open_warehouse(new_warehouse_url())
    try:
        # The reference: everything loaded at once, then computed once for all it touched.
        load_territories(reference)
        touched: dict[str, set[str]] = {}
        for batch in batches:
            touched.setdefault(batch.feed, set()).update(load_batch(reference, batch).periods)
        compute_indicators(
            reference,
            CATALOGUE,
            {i.id: affected_periods(i, touched, WINDOW) for i in CATALOGUE},
            chronic_threshold=THRESHOLD,
            referral_window_days=WINDOW_DAYS,
        )
        load_territories(shuffled)
        # Newest half-years first, the feeds interleaved: each earlier batch must recompute
        # the later months that read it (previous month, a year earlier, year to date).
        first = sorted(batches, key=lambda b: (b.first_period, b.feed), reverse=True)
        second = batches[:]
        random.Random(11).shuffle(second)
        assert _incremental_load(shuffled, first) == [False] * len(batches)
        assert _incremental_load(shuffled, second) == [True] * len(batches)
        expected = _values(reference)
        assert len(expected) > 10_000
        assert _values(shuffled) == expected
        with shuffled.connect() as conn:
            ledger = conn.execute(select(load_ledger.c.batch_id)).scalars().all()
        assert sorted(ledger) == sorted({f"{b.source}-{b.content_hash[:16]}" for b in batches})
    finally:
        reference.dispose()
        shuffled.dispose()


def test_a_longer_referral_window_finds_more_interventions(engine, source_rows):
    _load_all(engine)
    referrals = [i for i in CATALOGUE if i.id.endswith("_referrals_with_intervention")]
    found = {}
    for days in (0, 90):
        _compute_all(engine, referrals, window_days=days)
        values = _values(engine)
        found[days] = {k: v for k, v in values.items() if k[1] == MUNICIPALITY}
        leaf = oracle.expected_leaf_cells(source_rows, WINDOW, THRESHOLD, days)
        for indicator in referrals:
            total = sum(c[1] for c in leaf[indicator.id].values())
            stored = sum(v[2] for k, v in found[days].items() if k[0] == indicator.id)
            assert stored == total, (indicator.id, days)
    for key, row in found[90].items():
        assert row[2] >= found[0][key][2], key  # numerators can only grow with the window
        assert row[3] == found[0][key][3], key  # the referrals themselves do not change
    assert sum(r[2] for r in found[90].values()) > sum(r[2] for r in found[0].values())


def test_indicators_computed_together_give_what_each_gives_alone(new_warehouse_url):
    # One statement computes every indicator: each one's months and parameters must stay
    # its own, so every indicator gets other months here (every third month, shifted).
    periods = {i.id: WINDOW[number % 3 :: 3] for number, i in enumerate(CATALOGUE)}
    together, alone = open_warehouse(new_warehouse_url()), open_warehouse(new_warehouse_url())
    options = {"chronic_threshold": THRESHOLD, "referral_window_days": WINDOW_DAYS}
    try:
        _load_all(together)
        _load_all(alone)
        written = compute_indicators(together, CATALOGUE, periods, **options)
        written_alone = {}
        for indicator in CATALOGUE:
            written_alone |= compute_indicators(
                alone, [indicator], {indicator.id: periods[indicator.id]}, **options
            )
        assert written == written_alone
        values = _values(together)
        assert {(i, p) for i, _, p, _ in values} == {(i, p) for i in periods for p in periods[i]}
        assert values == _values(alone)
    finally:
        together.dispose()
        alone.dispose()
