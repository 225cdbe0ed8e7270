"""The synthetic generator: deterministic, marked synthetic, with overlapping person ids."""

from __future__ import annotations

import polars as pl

from connectors.synthetic_feeds import TITLE, SyntheticSpec, write_synthetic_feeds

SPEC = SyntheticSpec(
    territories={"01": 1000, "02": 3000},
    first_year=2022,
    last_year=2022,
    police_rows=500,
    students=40,
    social_cases=80,
    bad_rows=2,
)


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path):
    first = write_synthetic_feeds(SPEC, tmp_path / "a")
    second = write_synthetic_feeds(SPEC, tmp_path / "b")
    other = write_synthetic_feeds(SyntheticSpec(**{**SPEC.__dict__, "seed": 1}), tmp_path / "c")
    for feed in first:
        assert first[feed].read_bytes() == second[feed].read_bytes()
        assert first[feed].read_bytes() != other[feed].read_bytes()


def test_files_say_synthetic_and_person_ids_overlap_across_feeds(tmp_path):
    paths = write_synthetic_feeds(SPEC, tmp_path)
    title = TITLE.format(seed=SPEC.seed)
    assert paths["school_absence"].read_bytes().startswith(title.encode("cp1252"))
    assert paths["social_cases"].read_text(encoding="utf-8-sig").startswith(title)
    absence = pl.read_csv(
        paths["school_absence"], separator=";", skip_rows=1, encoding="cp1252", infer_schema=False
    )
    cases = pl.read_csv(paths["social_cases"], separator=";", skip_rows=1, infer_schema=False)
    police = pl.read_csv(paths["police_incidents"], skip_rows=1, infer_schema=False)
    pupils = set(absence["DOCUMENTO"])
    assert pupils & set(cases["DOCUMENTO"])
    assert pupils & set(police["DOC_MENOR"].drop_nulls())
    assert police.height == SPEC.police_rows and cases.height == SPEC.social_cases
