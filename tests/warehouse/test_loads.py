"""Idempotent bulk loads: same bytes are a no-op, a revised file replaces its periods only."""

from __future__ import annotations

import datetime as dt
import gc
import weakref

import pyarrow as pa
from sqlalchemy import text

from warehouse.loads import BatchLoader, find_loaded


def _incidents(ids: list[str], month: int, territory: str = "05001-01") -> pa.Table:
    n = len(ids)
    return pa.table(
        {
            "incident_id": ids,
            "source": ["src"] * n,
            "occurred_date": [dt.date(2021, month, 10)] * n,
            "occurred_time": ["10:00"] * n,
            "territory_code": [territory] * n,
            "latitude": pa.array([None] * n, pa.float64()),
            "longitude": pa.array([None] * n, pa.float64()),
            "category": ["injury"] * n,
            "source_label": ["LESIONES"] * n,
            "modality": pa.array([None] * n, pa.string()),
            "victim_sex": ["F"] * n,
            "victim_age_group": ["25-34"] * n,
            "minor_involved": [False] * n,
            "domestic": [False] * n,
            "person_key": pa.array([None] * n, pa.string()),
            "count": [1] * n,
        }
    )


def _load(engine, content_hash: str, *tables: pa.Table, quarantined=()):
    with BatchLoader(
        engine, feed="police_incidents", source="src", file_name="f.csv", content_hash=content_hash
    ) as loader:
        for table in tables:
            loader.add(table, quarantined, table.num_rows)
    return loader.result


def _by_period(engine) -> dict[str, int]:
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT period, COUNT(*) FROM police_incidents GROUP BY period ORDER BY period")
        )
        return dict(rows.fetchall())


def test_load_stages_batches_and_records_the_ledger(engine):
    result = _load(
        engine,
        "a" * 64,
        _incidents(["1", "2"], 1),
        _incidents(["3"], 2),
        quarantined=[{"source_row": 9, "raw": "{}", "reasons": ["x: bad"]}],
    )
    assert result.rows_loaded == 3 and result.periods == ["2021-01", "2021-02"]
    assert result.rows_quarantined == 2  # one quarantined entry per add() call
    assert _by_period(engine) == {"2021-01": 2, "2021-02": 1}
    assert find_loaded(engine, "police_incidents", "src", "a" * 64) == result.batch_id


def test_revised_file_replaces_only_its_periods(engine):
    _load(engine, "a" * 64, _incidents(["1", "2"], 1), _incidents(["3"], 2))
    _load(engine, "b" * 64, _incidents(["1", "2", "4", "5"], 2))
    assert _by_period(engine) == {"2021-01": 2, "2021-02": 4}


def test_failure_inside_a_load_leaves_nothing(engine):
    _load(engine, "a" * 64, _incidents(["1"], 1))
    try:
        with BatchLoader(
            engine, feed="police_incidents", source="src", file_name="f.csv", content_hash="c" * 64
        ) as loader:
            loader.add(_incidents(["9", "10"], 1), [], 2)
            raise RuntimeError("disk gone")
    except RuntimeError:
        pass
    assert _by_period(engine) == {"2021-01": 1}
    assert find_loaded(engine, "police_incidents", "src", "c" * 64) is None


def test_the_same_batch_twice_changes_nothing_the_second_time(engine):
    first = _load(engine, "a" * 64, _incidents(["1", "2"], 1))
    again = _load(
        engine,
        "a" * 64,
        _incidents(["1", "2", "3"], 1),
        quarantined=[{"source_row": 4, "raw": "{}", "reasons": ["x: bad"]}],
    )
    assert (first.skipped, again.skipped) == (False, True)
    assert (again.rows_loaded, again.rows_quarantined, again.periods) == (0, 0, [])
    assert _by_period(engine) == {"2021-01": 2}
    with engine.connect() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM load_ledger")).scalar() == 1
        assert conn.execute(text("SELECT COUNT(*) FROM quarantine")).scalar() == 0


def test_a_loaded_batch_is_not_held_until_the_load_commits(engine):
    # A file is loaded in one transaction; if each batch stayed referenced until the commit,
    # memory would grow with the file (DuckDB kept a view dropped mid-transaction alive).
    with BatchLoader(
        engine, feed="police_incidents", source="src", file_name="f.csv", content_hash="d" * 64
    ) as loader:
        rows = _incidents(["1", "2"], 1)
        loader.add(rows, [], rows.num_rows)
        batch = weakref.ref(rows)
        del rows
        gc.collect()
        assert batch() is None
    assert _by_period(engine) == {"2021-01": 2}
