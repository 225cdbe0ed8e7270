"""A pre-aggregated file replaces its own reference period in the warehouse, nothing else.

Inputs are excerpts of the Ministry of Interior's 2024 crime balance (Madrid's and
Barcelona's rows, header kept). The same figures relabelled "enero-junio" stand for a
half-year year-to-date file: its counts cover 2024-01/2024-06, a period distinct from the
whole year "2024", although both start on 1 January (the month a record-level load would
file them under).
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from connectors.feed_batches import checked_batches
from connectors.source_profiles import PROFILES_DIR, load_profile
from tests.conftest import missing
from tests.warehouse.real_feed_files import ES_MIR, csv_rows, spanish_integer
from warehouse.loads import BatchLoader, LoadResult

SOURCE = ES_MIR / "2024_4_municipios.csv"
MADRID, BARCELONA = "28079 Madrid", "08019 Barcelona"


@pytest.fixture(autouse=True)
def _real_data() -> None:
    if not SOURCE.is_file():
        missing(f"the real data file {SOURCE} is not there")


def _excerpt(folder: Path, name: str, places: set[str], *, through: str = "diciembre") -> Path:
    """The file's header and the rows of `places`, the period labels ending in `through`."""
    lines = SOURCE.read_text(encoding="utf-8-sig").splitlines()
    kept = [lines[0], *(line for line in lines[1:] if line.split(";", 1)[0] in places)]
    path = folder / name
    path.write_text("\n".join(kept).replace("diciembre", through) + "\n", encoding="utf-8")
    return path


def _load(engine: Engine, path: Path) -> LoadResult:
    profile = load_profile(PROFILES_DIR / "es-mir-balance-criminalidad.toml")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    with BatchLoader(
        engine, feed=profile.feed, source=profile.id, file_name=path.name, content_hash=digest
    ) as loader:
        for batch in checked_batches(path, profile, secret=b""):
            loader.add(batch.valid, [asdict(q) for q in batch.quarantined], batch.rows_read)
    return loader.result


def _totals(engine: Engine) -> dict[tuple[str, str], int]:
    query = text(
        'SELECT period, territory_code, SUM("count") FROM police_incidents '
        "WHERE category NOT IN ('cyber_fraud', 'cybercrime') GROUP BY period, territory_code"
    )
    with engine.connect() as conn:
        return {(p, t): int(n) for p, t, n in conn.execute(query)}


def _conventional(place: str) -> int:
    [row] = [
        r
        for r in csv_rows(SOURCE, delimiter=";")
        if r["Geografía"] == place
        and r["Tipología penal"] == "I. CRIMINALIDAD CONVENCIONAL"
        and r["Periodos:"].endswith("2024")
    ]
    return spanish_integer(row["Total"])


def test_a_revised_year_replaces_the_year_and_leaves_the_half_year(engine, tmp_path):
    madrid, barcelona = _conventional(MADRID), _conventional(BARCELONA)
    assert madrid == 200_749
    year = _load(engine, _excerpt(tmp_path, "2024_4.csv", {MADRID}))
    half = _load(engine, _excerpt(tmp_path, "2024_2.csv", {MADRID}, through="junio"))
    assert (year.periods, half.periods) == (["2024"], ["2024-01/2024-06"])
    assert _totals(engine) == {("2024", "28079"): madrid, ("2024-01/2024-06", "28079"): madrid}

    revised = _load(engine, _excerpt(tmp_path, "2024_4_rev.csv", {MADRID, BARCELONA}))
    assert revised.periods == ["2024"] and not revised.skipped
    assert _totals(engine) == {
        ("2024", "28079"): madrid,  # replaced, not doubled
        ("2024", "08019"): barcelona,
        ("2024-01/2024-06", "28079"): madrid,  # another period: untouched
    }
    with engine.connect() as conn:
        batches = conn.execute(
            text("SELECT period, COUNT(DISTINCT batch_id) FROM police_incidents GROUP BY period")
        ).all()
    assert sorted(tuple(b) for b in batches) == [("2024", 1), ("2024-01/2024-06", 1)]
