"""Cutting a large CSV into parts that each read like the file (no Prefect needed)."""

from __future__ import annotations

from pathlib import Path

from connectors.source_profiles import PROFILES_DIR, load_profile
from connectors.synthetic_feeds import SyntheticSpec, write_synthetic_feeds
from flows.partitions import resolved_profile, split_csv


def _feeds(folder: Path) -> dict[str, Path]:
    spec = SyntheticSpec(
        territories={f"{c:02d}": 10_000 for c in range(1, 17)},
        first_year=2023,
        last_year=2023,
        police_rows=3000,
        students=200,
        social_cases=300,
    )
    return write_synthetic_feeds(spec, folder)


def _profile(name: str, source: Path):
    return resolved_profile(load_profile(PROFILES_DIR / f"{name}.toml"), source)


def test_parts_hold_every_data_line_once_behind_the_files_header(tmp_path):
    source = _feeds(tmp_path / "feeds")["police_incidents"]
    lines = source.read_bytes().splitlines(keepends=True)
    header, data = lines[:2], lines[2:]  # the synthetic title row, then the header
    parts = split_csv(source, _profile("synthetic-police-incidents", source), 3, tmp_path / "p")
    assert parts is not None and len(parts) == 3
    joined = []
    for part in parts:
        part_lines = part.path.read_bytes().splitlines(keepends=True)
        assert part_lines[:2] == header
        # Line 3 of a part is line 3 + offset of the file.
        assert part_lines[2] == lines[2 + part.line_offset]
        joined += part_lines[2:]
    assert joined == data
    assert [p.last for p in parts] == [False, False, True]


def test_a_cp1252_file_is_cut_with_its_encoding_fixed_for_every_part(tmp_path):
    source = _feeds(tmp_path / "feeds")["school_absence"]
    profile = _profile("synthetic-school-absence", source)
    assert profile.read.encoding == "cp1252" and profile.read.delimiter == ";"
    parts = split_csv(source, profile, 4, tmp_path / "p")
    assert parts is not None and len(parts) == 4
    total = sum(len(p.path.read_text(encoding="cp1252").splitlines()) - 2 for p in parts)
    assert total == len(source.read_text(encoding="cp1252").splitlines()) - 2


def test_a_record_spanning_lines_keeps_the_file_whole(tmp_path):
    source = tmp_path / "multiline.csv"
    rows = "".join(f'{i},"plain",2023-01-0{i % 9 + 1}\n' for i in range(200))
    source.write_text('title\nID,NOTE,FECHA\n1,"two\nlines",2023-01-01\n' + rows, "utf-8")
    profile = _profile("synthetic-police-incidents", source)
    assert split_csv(source, profile, 3, tmp_path / "p") is None
