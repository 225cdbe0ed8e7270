"""A real file through its profile and contract: counts reconcile with the source."""

from __future__ import annotations

import csv
from collections import Counter

import polars as pl

from connectors.feed_batches import checked_batches
from connectors.source_profiles import PROFILES_DIR, load_profile
from tests.conftest import DEMO_DIR

HOMICIDES = DEMO_DIR / "data" / "homicidios_medellin_2003_2023.csv"
COMUNAS = frozenset(f"05001-{c:02d}" for c in [*range(1, 17), 50, 60, 70, 80, 90])


def test_medellin_homicides_load_whole_and_per_year_counts_match_the_records():
    profile = load_profile(PROFILES_DIR / "co-medellin-homicidios.toml")
    batches = list(
        checked_batches(
            HOMICIDES, profile, secret=b"k" * 16, known_territories=COMUNAS, batch_rows=5_000
        )
    )
    loaded = pl.concat([pl.from_arrow(b.valid) for b in batches])
    with open(HOMICIDES, encoding="utf-8", newline="") as handle:
        records = list(csv.DictReader(handle))
    assert sum(b.rows_read for b in batches) == len(records) == loaded.height
    assert not any(b.quarantined for b in batches)
    per_year = Counter(r["FECHA_HECHO"][:4] for r in records)
    got = dict(loaded.group_by(pl.col("occurred_date").dt.year().cast(pl.Utf8)).len().iter_rows())
    assert got == dict(per_year)
    assert loaded["incident_id"].n_unique() == loaded.height
    # Unknown ages (-1) are the 'unknown' group; women are 'F'.
    unknown_age = sum(r["EDAD"] == "-1" for r in records)
    assert loaded.filter(pl.col("victim_age_group") == "unknown").height == unknown_age
    assert loaded.filter(pl.col("victim_sex") == "F").height == sum(
        r["SEXO"] == "Mujer" for r in records
    )


def test_quarantined_rows_keep_the_raw_row_with_identifiers_pseudonymised(tmp_path):
    source = tmp_path / "cases.csv"
    source.write_text(
        "título\nID_CASO;DOCUMENTO;SEXO;EDAD;COMUNA;FECHA_APERTURA;FECHA_CIERRE;"
        "TIPO_INTERVENCION;REMITENTE\n"
        "C1;DOC-123;F;12;01;05/03/2021;;OTRA;COLEGIO\n"
        "C2;DOC-456;M;15;01;31/02/2021;;OTRA;COLEGIO\n",
        encoding="utf-8",
    )
    profile = load_profile(PROFILES_DIR / "synthetic-social-cases.toml")
    [batch] = checked_batches(source, profile, secret=b"k" * 16, known_territories=COMUNAS)
    assert batch.valid.num_rows == 1
    [bad] = batch.quarantined
    assert bad.source_row == 4
    assert "DOC-456" not in bad.raw and "31/02/2021" in bad.raw
    assert bad.reasons == (
        "opened_date: cannot read as date: '31/02/2021' (column 'FECHA_APERTURA')",
    )


def test_ragged_row_is_quarantined_with_its_line_and_its_text_withheld(tmp_path):
    source = tmp_path / "cases.csv"
    source.write_text(
        "título\nID_CASO;DOCUMENTO;SEXO;EDAD;COMUNA;FECHA_APERTURA;FECHA_CIERRE;"
        "TIPO_INTERVENCION;REMITENTE\n"
        "C1;DOC-123;F;12;01;05/03/2021;;OTRA;COLEGIO\n"
        "C2;DOC-456;M;15;01;05/03/2021;OTRA;COLEGIO\n",
        encoding="utf-8",
    )
    profile = load_profile(PROFILES_DIR / "synthetic-social-cases.toml")
    [batch] = checked_batches(source, profile, secret=b"k" * 16, known_territories=COMUNAS)
    assert batch.valid.num_rows == 1 and batch.rows_read == 2
    [bad] = batch.quarantined
    assert bad.source_row == 4 and bad.reasons[0].startswith("field-count")
    assert "DOC-456" not in bad.raw and "line 4" in bad.raw
