"""docs/onboarding-a-feed.md is checked: it explains every profile option, and its worked
example does what the page says."""

from __future__ import annotations

import re
import typing
from pathlib import Path

import polars as pl
import pytest
from pydantic import BaseModel

from connectors import source_profiles
from connectors.feed_batches import checked_batches
from connectors.source_profiles import SourceProfile, load_profile
from tests.conftest import REPO

DOC = REPO / "docs" / "onboarding-a-feed.md"
TEXT = DOC.read_text(encoding="utf-8")


def _models() -> list[type[BaseModel]]:
    return [
        value
        for value in vars(source_profiles).values()
        if isinstance(value, type) and issubclass(value, BaseModel) and value is not BaseModel
    ]


def _option_names() -> set[str]:
    names = set()
    for model in _models():
        for name, field in model.model_fields.items():
            names.add(field.alias or name)
    return names


def _literal_values() -> set[str]:
    """Every value a Literal-typed option accepts (formats, feeds, parse kinds, actions...)."""
    values: set[str] = set()
    for model in _models():
        for field in model.model_fields.values():
            for part in [field.annotation, *typing.get_args(field.annotation)]:
                if typing.get_origin(part) is typing.Literal:
                    values.update(str(v) for v in typing.get_args(part))
    return values


def test_the_models_have_options_and_literals_to_document():
    assert {"from", "template", "sentinels", "year_to_date", "not_matches"} <= _option_names()
    assert {"school_year", "territory_population", "keep", "latest"} <= _literal_values()


@pytest.mark.parametrize("name", sorted(_option_names()))
def test_every_profile_option_is_explained(name: str):
    assert f"`{name}`" in TEXT, name


@pytest.mark.parametrize("value", sorted(_literal_values()))
def test_every_accepted_value_is_explained(value: str):
    assert f"`{value}`" in TEXT, value


def _worked_example() -> tuple[str, str]:
    """The example's source text and its profile (the TOML blocks, in order)."""
    section = TEXT[TEXT.index("## Worked example") : TEXT.index("## Checking a profile")]
    source = re.search(r"```text\n(.*?)```", section, re.S).group(1)
    profile = "\n".join(re.findall(r"```toml\n(.*?)```", section, re.S))
    return source, profile


def test_the_worked_example_loads_as_the_page_says(tmp_path: Path):
    source_text, profile_text = _worked_example()
    source = tmp_path / "hurtos_2024_03.csv"
    source.write_bytes(source_text.encode("cp1252"))  # the page says the export is cp1252
    path = tmp_path / "city-hurtos-barrio.toml"
    path.write_text(profile_text, encoding="utf-8")
    profile: SourceProfile = load_profile(path)
    [batch] = checked_batches(source, profile, secret=b"any test key")
    loaded = pl.from_arrow(batch.valid)
    assert loaded.select("territory_code", "category", "count").rows() == [
        ("05001-101", "theft_person", 1204),
        ("05001-101", "theft_home", 38),
    ]
    assert set(loaded["reference_period"]) == {"2024-03"}
    assert batch.rows_skipped == {"city total": 1}
    [withheld] = batch.quarantined
    assert withheld.source_row == 6
    assert withheld.reasons == ("count: cannot read as integer: '*' (column 'Casos')",)


def test_every_shipped_profile_is_listed_in_the_table_of_real_files():
    for path in sorted(source_profiles.PROFILES_DIR.glob("*.toml")):
        if load_profile(path).synthetic:
            continue
        assert f"`{path.stem}`" in TEXT or f"`-{path.stem.rsplit('-', 1)[-1]}`" in TEXT, path.stem
