"""The catalogue file: complete entries, clear errors, and docs/indicators.md kept in sync."""

from __future__ import annotations

import dataclasses
import re

import pytest

from warehouse.catalogue_docs import DOCS_FILE, main, render_markdown
from warehouse.indicators import CATALOGUE_FILE, CatalogueError, load_catalogue


def test_the_committed_docs_are_the_catalogue_regenerated():
    assert DOCS_FILE.read_text(encoding="utf-8") == render_markdown(load_catalogue()), (
        "docs/indicators.md is out of date: run python -m warehouse.catalogue_docs"
    )
    assert main(["--check"]) == 0


def test_the_check_fails_on_a_stale_file(tmp_path, capsys):
    stale = tmp_path / "indicators.md"
    stale.write_text(DOCS_FILE.read_text(encoding="utf-8").replace("15 indicators", "14"))
    assert main(["--check", "--output", str(stale)]) == 1
    assert "out of date" in capsys.readouterr().out
    assert main(["--output", str(stale)]) == 0
    assert main(["--check", "--output", str(stale)]) == 0


def test_every_entry_is_complete_and_the_docs_describe_each():
    catalogue = load_catalogue()
    assert len(catalogue) >= 15
    docs = render_markdown(catalogue)
    for indicator in catalogue:
        for field in dataclasses.fields(indicator):
            value = getattr(indicator, field.name)
            assert value not in ("", (), {}, None), (indicator.id, field.name)
        assert re.search(rf"^## {indicator.id}$", docs, re.MULTILINE)
        assert indicator.definition_en in docs
    crossing = [i.id for i in catalogue if i.cross_institution]
    assert len(crossing) >= 5


def test_a_bad_entry_names_the_file_the_indicator_and_the_problem(tmp_path):
    text = CATALOGUE_FILE.read_text(encoding="utf-8").replace(
        'propagates = { police_incidents = "next_month" }',
        'propagates = { police_incidents = "sometimes" }',
    )
    broken = tmp_path / "indicators.toml"
    broken.write_text(text, encoding="utf-8")
    with pytest.raises(
        CatalogueError,
        match=r"indicators\.toml: indicator "
        r"'incidents_vs_previous_month': unknown propagation rule 'sometimes'",
    ):
        load_catalogue(broken)
    broken.write_text(text.replace('definition_en = "Incidents recorded by', 'x = "'), "utf-8")
    with pytest.raises(
        CatalogueError,
        match=r"indicator #1 \(incidents_per_10k\): "
        r"missing keys \['definition_en'\], unknown keys \['x'\]",
    ):
        load_catalogue(broken)
