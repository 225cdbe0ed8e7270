"""The local catalogue: files, DCAT JSON-LD that parses, deterministic and atomic releases."""

from __future__ import annotations

import hashlib
import json

import pandas as pd
import pytest
from rdflib import Graph, Literal, URIRef
from rdflib.namespace import DCAT, DCTERMS, RDF

from publish import local_catalogue
from publish.dcat import Publisher
from publish.local_catalogue import write_catalogue
from publish.package import DatasetPackage, FieldDoc

PUBLISHER = Publisher(
    name="Test",
    url="https://example.org/",
    email="d@example.org",
    licence="https://creativecommons.org/licenses/by/4.0/",
    language="es",
    base_uri="https://datos.example.org",
)


def _package(name: str, values: list[float]) -> DatasetPackage:
    table = pd.DataFrame(
        {
            "territory_code": ["05001-01"] * len(values),
            "period": [f"2021-{m:02d}" for m in range(1, len(values) + 1)],
            "value": values,
        }
    )
    return DatasetPackage(
        name=name,
        title=f"Título {name}",
        title_en=f"Title {name}",
        description="Desc",
        keywords=["convivencia"],
        theme="security",
        frequency="monthly",
        temporal_start="2021-01-01",
        temporal_end="2021-12-31",
        spatial_code="05001",
        spatial_name="Medellín",
        synthetic=True,
        table=table,
        fields=[FieldDoc("value", "number", 'Valor "x"')],
        disclosure={"cells_suppressed": 0},
    )


def test_writes_every_resource_and_a_dcat_catalogue_that_describes_them(tmp_path):
    index = write_catalogue(
        [_package("b-set", [1.5, 2.0]), _package("a-set", [3.0])],
        tmp_path / "catalogue",
        PUBLISHER,
        title="Catálogo",
    )
    root = index.parent
    html = index.read_text(encoding="utf-8")
    assert html.index("Título a-set") < html.index("Título b-set")
    assert "datos sintéticos" in html
    csv_bytes = (root / "a-set" / "a-set.csv").read_bytes()
    assert csv_bytes == b"territory_code,period,value\n05001-01,2021-01,3.0\n"
    assert pd.read_parquet(root / "b-set" / "b-set.parquet")["value"].tolist() == [1.5, 2.0]
    graph = Graph().parse(root / "catalog.jsonld", format="json-ld")
    datasets = set(graph.subjects(RDF.type, DCAT.Dataset))
    assert datasets == {
        URIRef("https://datos.example.org/dataset/a-set"),
        URIRef("https://datos.example.org/dataset/b-set"),
    }
    csv_dist = URIRef("https://datos.example.org/dataset/a-set/distribution/a-set.csv")
    assert (URIRef("https://datos.example.org/dataset/a-set"), DCAT.distribution, csv_dist) in graph
    size = graph.value(csv_dist, DCAT.byteSize)
    assert int(size) == len(csv_bytes)
    checksum = json.loads((root / "catalog.jsonld").read_text())["@graph"]
    assert hashlib.sha256(csv_bytes).hexdigest() in json.dumps(checksum)
    assert (
        URIRef("https://datos.example.org/dataset/a-set"),
        DCTERMS.title,
        Literal("Título a-set", lang="es"),
    ) in graph


def test_same_packages_give_the_same_release_and_a_change_switches_it(tmp_path):
    target = tmp_path / "catalogue"
    write_catalogue([_package("a", [1.0])], target, PUBLISHER, title="C")
    first = target.resolve()
    write_catalogue([_package("a", [1.0])], target, PUBLISHER, title="C")
    assert target.resolve() == first
    write_catalogue([_package("a", [2.0])], target, PUBLISHER, title="C")
    assert target.resolve() != first
    assert (target / "a" / "a.csv").read_text().endswith("2.0\n")


def test_crash_while_building_leaves_the_previous_catalogue_whole(tmp_path, monkeypatch):
    target = tmp_path / "catalogue"
    write_catalogue([_package("a", [1.0])], target, PUBLISHER, title="C")
    before = {p.name: p.read_bytes() for p in target.rglob("*") if p.is_file()}

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(local_catalogue, "_index", crash)
    with pytest.raises(OSError, match="disk full"):
        write_catalogue([_package("a", [5.0]), _package("b", [1.0])], target, PUBLISHER, title="C")
    after = {p.name: p.read_bytes() for p in target.rglob("*") if p.is_file()}
    assert after == before
    releases = tmp_path / ".catalogue-releases"
    assert not [p for p in releases.iterdir() if p.name.startswith("build-")]
