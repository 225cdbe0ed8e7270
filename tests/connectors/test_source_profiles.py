"""Profiles: every shipped profile validates; mistakes name the file, the line and the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from connectors.errors import SourceError
from connectors.source_profiles import PROFILES_DIR, load_profile


@pytest.mark.parametrize("path", sorted(PROFILES_DIR.glob("*.toml")), ids=lambda p: p.stem)
def test_shipped_profiles_are_valid(path: Path):
    profile = load_profile(path)
    assert profile.id == path.stem


def test_unknown_parse_kind_names_file_line_and_key(tmp_path: Path):
    text = (PROFILES_DIR / "synthetic-social-cases.toml").read_text(encoding="utf-8")
    broken = text.replace(
        'age_group = { from = "EDAD", parse = "age_group" }',
        'age_group = { from = "EDAD", parse = "agegroup" }',
    )
    path = tmp_path / "broken.toml"
    path.write_text(broken, encoding="utf-8")
    with pytest.raises(SourceError) as caught:
        load_profile(path)
    expected_line = (
        broken.splitlines().index('age_group = { from = "EDAD", parse = "agegroup" }') + 1
    )
    assert caught.value.file == str(path)
    assert caught.value.line == expected_line
    assert "columns.age_group.parse" in caught.value.message


def test_missing_required_column_and_toml_syntax_errors(tmp_path: Path):
    text = (PROFILES_DIR / "synthetic-social-cases.toml").read_text(encoding="utf-8")
    path = tmp_path / "missing.toml"
    path.write_text(text.replace('case_id = { from = "ID_CASO" }\n', ""), encoding="utf-8")
    with pytest.raises(SourceError, match="columns missing for feed social_cases: case_id"):
        load_profile(path)
    path.write_text(text.replace("[read]", "[read"), encoding="utf-8")
    with pytest.raises(SourceError) as caught:
        load_profile(path)
    assert caught.value.rule == "profile-syntax" and caught.value.line is not None
