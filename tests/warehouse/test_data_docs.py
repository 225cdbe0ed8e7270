"""Data Docs of a real quality report: offline (nothing on the network), complete, valid HTML."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from sqlalchemy import text

from tests.warehouse.test_quality_gate import MAX_AGE, PERSON_KEYS, WINDOW, build_warehouse
from warehouse.data_docs import MARKER, DataDocsError, write_data_docs
from warehouse.engine import open_warehouse
from warehouse.quality_gate import QualityReport, check_quality

VOID_TAGS = {
    "area",
    "base",
    "br",
    "col",
    "embed",
    "hr",
    "img",
    "input",
    "link",
    "meta",
    "source",
    "track",
    "wbr",
}
CSS_URL = re.compile(r"""url\(\s*['"]?([^'")]+)""")


class PageParser(HTMLParser):
    """Collects references, visible text and tag nesting errors of one page."""

    def __init__(self) -> None:
        super().__init__()
        self.references: list[tuple[str, str]] = []  # (tag, src or href)
        self.tags: set[str] = set()
        self.doctype: str | None = None
        self.open: list[str] = []
        self.errors: list[str] = []
        self.text: list[str] = []

    def handle_decl(self, decl: str) -> None:
        self.doctype = decl

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        self.references += [(tag, v) for k, v in attrs if k in ("src", "href") and v]
        if tag not in VOID_TAGS:
            self.open.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        self.references += [(tag, v) for k, v in attrs if k in ("src", "href") and v]

    def handle_endtag(self, tag: str) -> None:
        if tag in VOID_TAGS:
            return
        if not self.open or self.open[-1] != tag:
            self.errors.append(
                f"</{tag}> at line {self.getpos()[0]} closes "
                f"<{self.open[-1] if self.open else 'nothing'}>"
            )
            return
        self.open.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse(page: Path) -> PageParser:
    parser = PageParser()
    parser.feed(page.read_text(encoding="utf-8"))
    parser.close()
    return parser


@pytest.fixture(scope="module")
def docs(tmp_path_factory) -> tuple[QualityReport, Path]:
    """Data Docs of a warehouse with a negative count, written once for this module."""
    folder = tmp_path_factory.mktemp("docs")
    engine = open_warehouse(f"duckdb:///{folder / 'w.duckdb'}")
    build_warehouse(engine)
    with engine.begin() as conn:
        conn.execute(text("UPDATE police_incidents SET \"count\" = -2 WHERE incident_id = 'p3'"))
    report = check_quality(engine, window=WINDOW, max_age=MAX_AGE)
    engine.dispose()
    return report, write_data_docs(report, folder / "quality" / "docs")


def _site_files(index: Path) -> list[Path]:
    return [p for p in index.parent.rglob("*") if p.is_file()]


def test_no_file_refers_to_anything_on_the_network(docs):
    _, index = docs
    remote = []
    for path in _site_files(index):
        if path.suffix == ".html":
            page = parse(path)
            remote += [
                (path.name, tag, ref)
                for tag, ref in page.references
                if tag in ("script", "link", "img") and "http" in ref
            ]
            remote += [
                (path.name, "style", u)
                for u in CSS_URL.findall(path.read_text())
                if "http" in u or u.startswith("//")
            ]
        elif path.suffix == ".css":
            remote += [
                (path.name, "css", u)
                for u in CSS_URL.findall(path.read_text())
                if "http" in u or u.startswith("//")
            ]
    assert remote == []


def test_every_local_reference_resolves_to_a_written_file(docs):
    _, index = docs
    missing = []
    for path in _site_files(index):
        if path.suffix == ".html":
            refs = [ref for _, ref in parse(path).references]
        elif path.suffix == ".css":
            refs = CSS_URL.findall(path.read_text())
        else:
            continue
        for ref in refs:
            if ref.startswith(("#", "javascript:", "data:", "mailto:")):
                continue
            target = (path.parent / urlsplit(ref).path).resolve()
            if not target.is_file():
                missing.append((str(path.relative_to(index.parent)), ref))
    assert missing == []
    # The pages really are styled and scripted by the local copies.
    vendor = index.parent / "static" / "vendor"
    assert (vendor / "bootstrap" / "bootstrap.min.css").stat().st_size > 100_000
    assert (vendor / "jquery" / "jquery.min.js").read_text().startswith("/*! jQuery v3.7.1")
    assert list((vendor / "font-awesome" / "webfonts").glob("fa-solid-900.*"))


def test_the_index_names_every_expectation_and_its_outcome(docs):
    report, index = docs
    text_of_index = " ".join(parse(index).text)
    for outcome in report.outcomes:
        assert outcome.expectation in text_of_index
        assert outcome.description in text_of_index
    failure = next(o for o in report.failures if o.column == "count")
    assert failure.observed in text_of_index and "failed" in text_of_index
    assert f"{len(report.outcomes) - 1} of {len(report.outcomes)}" in text_of_index


def test_each_gx_validation_page_shows_its_suite(docs):
    report, index = docs
    pages = list((index.parent / "validations").rglob("*.html"))
    assert len(pages) == len(report.validation_results)
    for result in report.validation_results:
        page = next(p for p in pages if p.parts[-4] == result["suite_name"])
        shown = " ".join(parse(page).text)
        for expectation in result["results"]:
            assert expectation["expectation_config"]["description"] in shown


def test_every_page_is_well_formed_html(docs):
    _, index = docs
    pages = [p for p in _site_files(index) if p.suffix == ".html"]
    assert len(pages) > 1
    for path in pages:
        page = parse(path)
        assert page.doctype and page.doctype.lower() == "doctype html", path
        assert {"html", "head", "title", "body"} <= page.tags, path
        assert page.errors == [] and page.open == [], (path, page.errors[:3], page.open[:3])


def test_no_page_shows_a_person_key(docs):
    _, index = docs
    written = " ".join(
        p.read_text(encoding="utf-8") for p in _site_files(index) if p.suffix == ".html"
    )
    assert [key for key in PERSON_KEYS if key in written] == []


def test_rewriting_replaces_the_folder_and_a_foreign_folder_is_kept(docs, tmp_path):
    report, index = docs
    folder = tmp_path / "site"
    write_data_docs(report, folder)
    (folder / "left-over.html").write_text("<p>old</p>", encoding="utf-8")
    write_data_docs(report, folder)
    assert (folder / MARKER).is_file() and not (folder / "left-over.html").exists()
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        p.name for p in index.parent.iterdir()
    )
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me", encoding="utf-8")
    with pytest.raises(DataDocsError, match="not empty and not a Data Docs folder"):
        write_data_docs(report, foreign)
    assert (foreign / "notes.txt").read_text(encoding="utf-8") == "keep me"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
