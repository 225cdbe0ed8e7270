"""Great Expectations Data Docs for a quality report, readable with no network.

GX's site builder writes the validation and expectation-suite pages, whose HTML loads
bootstrap, jQuery, Font Awesome, vega and bootstrap-table from CDNs. Each of those tags is
replaced by a copy from an installed XStatic package (Bootstrap 4.5, jQuery 3.7, Font Awesome
6.2), or dropped where the page does not need it: vega draws charts that our expectations
never produce, and bootstrap-table with its date picker only adds sorting and filters to
tables that are already plain HTML. GX's own index page, though, builds its whole table in
JavaScript with bootstrap-table, which no Python package ships; the index written here is a
static page listing every expectation, linking to GX's pages.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from importlib import import_module
from pathlib import Path
from typing import Any

from jinja2 import Environment

from warehouse.quality_gate import ExpectationOutcome, QualityReport, ephemeral_context

SITE_NAME = "convive"
MARKER = ".convive-data-docs"  # marks a folder this module may replace
VENDOR = "static/vendor"

# (XStatic module, file inside its BASE_DIR, where it goes under VENDOR)
ASSETS: tuple[tuple[str, str, str], ...] = (
    ("xstatic.pkg.bootstrap", "css/bootstrap.min.css", "bootstrap/bootstrap.min.css"),
    ("xstatic.pkg.bootstrap", "js/bootstrap.bundle.min.js", "bootstrap/bootstrap.bundle.min.js"),
    ("xstatic.pkg.jquery", "jquery.min.js", "jquery/jquery.min.js"),
    ("xstatic.pkg.font_awesome", "css/all.min.css", "font-awesome/css/all.min.css"),
    ("xstatic.pkg.font_awesome", "webfonts", "font-awesome/webfonts"),
    ("xstatic.pkg.font_awesome", "LICENSE.txt", "font-awesome/LICENSE.txt"),
)
ASSET_PACKAGES = "xstatic-bootstrap==4.5.3.1 xstatic-jquery==3.7.1.1 xstatic-font-awesome==6.2.1.2"

# CDN assets GX links, by a distinctive part of their URL -> the local copy under VENDOR.
# Popper needs no copy: the bootstrap bundle includes it.
LOCAL_COPIES: dict[str, str] = {
    "bootstrap/4.3.1/css/bootstrap.min.css": "bootstrap/bootstrap.min.css",
    "font-awesome/6.6.0/css/all.min.css": "font-awesome/css/all.min.css",
    "jquery-3.7.1.min.js": "jquery/jquery.min.js",
    "bootstrap/4.3.1/js/bootstrap.min.js": "bootstrap/bootstrap.bundle.min.js",
}
_REMOTE_TAG = re.compile(
    r'<script[^>]*\bsrc="https?://[^"]*"[^>]*>\s*</script>|<link[^>]*\bhref="https?://[^"]*"[^>]*>',
    re.IGNORECASE,
)
_REMOTE_IMAGE = re.compile(r"""(src="|url\(['"]?)https?://[^"')]*\.(?:png|svg)[^"')]*""")
# GX writes the favicon of validation pages one folder too shallow.
_FAVICON = re.compile(r'href="[./]*static/images/favicon\.ico"')
# GX's newsletter footer: a tracking link that has no place in a public body's reports.
_NEWSLETTER = re.compile(r"<footer>\s*<p>Stay current on everything GX.*?</footer>", re.DOTALL)


class DataDocsError(Exception):
    """The Data Docs cannot be written as asked."""


def write_data_docs(report: QualityReport, folder: Path) -> Path:
    """Write the Data Docs of `report` into `folder` and return its index page.

    The folder is replaced as a whole (it must be empty, absent, or Data Docs written here
    before). Every page works offline: no file refers to anything on the network.
    """
    folder = Path(folder)
    if folder.exists() and any(folder.iterdir()) and not (folder / MARKER).exists():
        raise DataDocsError(f"{folder}: not empty and not a Data Docs folder; not replacing it")
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".data-docs-", dir=folder.parent))
    staging.chmod(0o755)  # mkdtemp makes it private; the docs are meant to be served or shared
    try:
        pages = _build_gx_site(report, staging)
        for path in [*staging.rglob("*.html"), *staging.rglob("*.css")]:
            _make_offline(path, staging)
        _copy_assets(staging / VENDOR)
        (staging / "index.html").write_text(_index_page(report, pages), encoding="utf-8")
        (staging / MARKER).write_text("Written by warehouse.data_docs\n", encoding="utf-8")
        _swap_into_place(staging, folder)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return folder / "index.html"


def _build_gx_site(report: QualityReport, root: Path) -> dict[str, str]:
    """Let GX's site builder render every validation result; return each suite's page."""
    gx, context = ephemeral_context()
    from great_expectations.core.expectation_validation_result import (
        expectationSuiteValidationResultSchema,
    )
    from great_expectations.core.run_identifier import RunIdentifier
    from great_expectations.data_context.types.resource_identifiers import (
        ExpectationSuiteIdentifier,
        ValidationResultIdentifier,
    )

    context.add_data_docs_site(
        site_name=SITE_NAME,
        site_config={
            "class_name": "SiteBuilder",
            "show_how_to_buttons": False,
            "store_backend": {
                "class_name": "TupleFilesystemStoreBackend",
                "base_directory": str(root),
            },
            "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
        },
    )
    pages = {}
    for document in report.validation_results:
        result = expectationSuiteValidationResultSchema.load(document)
        configs = [r.expectation_config for r in result.results]
        context.suites.add(gx.ExpectationSuite(name=result.suite_name, expectations=configs))
        run = result.meta["run_id"]
        key = ValidationResultIdentifier(
            expectation_suite_identifier=ExpectationSuiteIdentifier(name=result.suite_name),
            run_id=RunIdentifier(run_name=run["run_name"], run_time=run["run_time"]),
            batch_identifier=configs[0].kwargs["batch_id"] if configs else result.suite_name,
        )
        context.validation_results_store.set(key, result)
        pages[result.suite_name] = "validations/" + "/".join(key.to_tuple()) + ".html"
    context.build_data_docs(site_names=[SITE_NAME])
    for suite, page in pages.items():
        if not (root / page).is_file():
            raise DataDocsError(f"GX wrote no validation page for suite {suite} ({page})")
    return pages


def _copy_assets(target: Path) -> None:
    for module_name, source, destination in ASSETS:
        try:
            base = Path(import_module(module_name).BASE_DIR)
        except ImportError as error:
            raise DataDocsError(
                f"Data Docs need the page assets of {module_name}: install {ASSET_PACKAGES}"
            ) from error
        path, out = base / source, target / destination
        out.parent.mkdir(parents=True, exist_ok=True)
        if path.is_dir():
            shutil.copytree(path, out)
        else:
            shutil.copyfile(path, out)


def _make_offline(path: Path, root: Path) -> None:
    """Point every remote asset of a GX page or stylesheet at a local copy, or drop it."""
    text = path.read_text(encoding="utf-8")
    prefix = "../" * (len(path.relative_to(root).parts) - 1)
    if path.suffix == ".html":
        if "vegaEmbed(" in text:
            raise DataDocsError(
                f"{path.relative_to(root)} draws a vega chart; no installed "
                "package ships vega, so it cannot be shown offline"
            )

        def local(tag: re.Match) -> str:
            for marker, copy in LOCAL_COPIES.items():
                if marker in tag.group(0):
                    return _asset_tag(f"{prefix}{VENDOR}/{copy}")
            return ""

        text = _REMOTE_TAG.sub(local, text)
        text = _FAVICON.sub(f'href="{prefix}static/images/favicon.ico"', text)
        text = _NEWSLETTER.sub("", text)
    text = _REMOTE_IMAGE.sub(lambda m: f"{m.group(1)}{prefix}static/images/logo-long.png", text)
    path.write_text(text, encoding="utf-8")


def _asset_tag(href: str) -> str:
    if href.endswith(".css"):
        return f'<link rel="stylesheet" href="{href}">'
    return f'<script src="{href}"></script>'


def _swap_into_place(staging: Path, folder: Path) -> None:
    """Replace `folder` by `staging` with two renames, so readers never see half a site."""
    old = None
    if folder.exists():
        old = folder.with_name(f".{folder.name}.old-{os.getpid()}")
        folder.rename(old)
    try:
        staging.rename(folder)
    except OSError:
        if old is not None:
            old.rename(folder)  # put the previous docs back rather than leave nothing
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _suite_sections(report: QualityReport, pages: dict[str, str]) -> Iterator[dict[str, Any]]:
    by_suite: dict[str, list[ExpectationOutcome]] = {}
    for outcome in report.outcomes:
        by_suite.setdefault(outcome.suite, []).append(outcome)
    for suite, outcomes in by_suite.items():
        yield {
            "suite": suite,
            "table": outcomes[0].table,
            "page": pages.get(suite),
            "success": all(o.success for o in outcomes),
            "outcomes": outcomes,
            "suite_page": f"expectations/{suite}.html",
        }


def _index_page(report: QualityReport, pages: dict[str, str]) -> str:
    template = Environment(autoescape=True, trim_blocks=True, lstrip_blocks=True).from_string(
        INDEX_TEMPLATE
    )
    return template.render(
        report=report,
        sections=list(_suite_sections(report, pages)),
        failed=len(report.failures),
        total=len(report.outcomes),
    )


INDEX_TEMPLATE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Convive data quality: {{ "passed" if report.success else "failed" }}</title>
<link rel="stylesheet" href="static/vendor/bootstrap/bootstrap.min.css">
<link rel="stylesheet" href="static/vendor/font-awesome/css/all.min.css">
<link rel="icon" href="static/images/favicon.ico">
<style>td, th { font-size: .9rem; } td code { white-space: nowrap; }</style>
</head>
<body>
<main class="container-fluid p-4">
<h1 class="h3">Convive data quality gate:
{% if report.success %}
<span class="text-success"><i class="fas fa-check-circle"></i> passed</span>
{% else %}
<span class="text-danger"><i class="fas fa-times"></i> failed</span>
{% endif %}
</h1>
<p>Window {{ report.window[0] }} to {{ report.window[1] }}, checked at
{{ report.checked_at.strftime("%Y-%m-%d %H:%M:%S UTC") }}: {{ total - failed }} of {{ total }}
expectations met. Validated with Great Expectations; each table links to its GX validation
page.</p>
{% for section in sections %}
<section class="card mb-4" id="{{ section.suite }}">
<div class="card-header">
<h2 class="h5 mb-0">
{% if section.success %}
<i class="fas fa-check-circle text-success" title="passed"></i>
{% else %}
<i class="fas fa-times text-danger" title="failed"></i>
{% endif %}
{{ section.table }}
<small class="text-muted">suite {{ section.suite }}</small>
{% if section.page %}
<a class="small ml-2" href="{{ section.page }}">validation page</a>
{% endif %}
<a class="small ml-2" href="{{ section.suite_page }}">expectation suite</a>
</h2>
</div>
<div class="card-body p-0">
<table class="table table-sm table-striped mb-0">
<thead><tr><th>Status</th><th>Expectation</th><th>Column</th><th>Meaning</th>
<th>Observed</th><th>Examples</th></tr></thead>
<tbody>
{% for o in section.outcomes %}
<tr class="{{ '' if o.success else 'table-danger' }}">
<td>{% if o.success %}<i class="fas fa-check-circle text-success"></i> met
{% else %}<i class="fas fa-times text-danger"></i> failed{% endif %}</td>
<td><code>{{ o.expectation }}</code></td>
<td>{{ o.column or "" }}</td>
<td>{{ o.description }}</td>
<td>{{ o.observed }}</td>
<td>
{% for e in o.examples %}
<div>{% for k, v in e.items() %}{{ k }}={{ v }}{{ ", " if not loop.last }}{% endfor %}</div>
{% endfor %}
</td>
</tr>
{% endfor %}
</tbody>
</table>
</div>
</section>
{% endfor %}
</main>
</body>
</html>
"""
