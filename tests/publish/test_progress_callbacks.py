"""Publish functions report progress through a plain (done, total) callback, one call per
dataset (flows draws the bars; publish never imports it)."""

from __future__ import annotations

from publish.local_catalogue import write_catalogue
from tests.publish.test_local_catalogue import PUBLISHER, _package


def test_write_catalogue_reports_each_package_written(tmp_path):
    calls: list[tuple[int, int]] = []
    packages = [_package(name, [1.0, 2.0]) for name in ("c-set", "a-set", "b-set")]
    index = write_catalogue(
        packages,
        tmp_path / "catalogue",
        PUBLISHER,
        title="Catálogo",
        progress=lambda done, total: calls.append((done, total)),
    )
    assert calls == [(1, 3), (2, 3), (3, 3)]
    assert sorted(p.name for p in index.parent.iterdir() if p.is_dir()) == [
        "a-set",
        "b-set",
        "c-set",
    ]


def test_write_catalogue_without_packages_reports_nothing(tmp_path):
    calls: list[tuple[int, int]] = []
    write_catalogue(
        [],
        tmp_path / "catalogue",
        PUBLISHER,
        title="Vacío",
        progress=lambda done, total: calls.append((done, total)),
    )
    assert calls == []
