"""The coordination report as a portal dataset: names, coverage and the bytes it carries."""

from __future__ import annotations

from publish.coordination_report import SERIES_MONTHS, report_dataset
from publish.package_files import RenderedFile

REPORT = RenderedFile(
    "informe-coordinacion-05001-2023-02.html",
    "Informe de coordinación",
    "text/html",
    b"<!doctype html><p>informe</p>",
)


def _dataset(synthetic: bool = False):
    return report_dataset(
        REPORT,
        root=("05001", "Medellín"),
        period="2023-02",
        synthetic=synthetic,
        sources=["Policía", "Educación"],
    )


def test_its_own_dataset_with_a_stable_latest_file_name_and_the_same_bytes():
    document = _dataset()
    assert document.package.name == "convive-05001-informe-coordinacion"
    (latest,) = document.files
    assert latest.file_name == "informe-coordinacion-05001.html"
    assert (latest.content, latest.media_type) == (REPORT.content, "text/html")
    assert document.package.table.empty and document.package.sources == ["Policía", "Educación"]


def test_coverage_is_the_reports_series_ending_with_the_period():
    package = _dataset().package
    assert SERIES_MONTHS == 24
    # 24 months ending February 2023 (a 28-day month) start in March 2021.
    assert (package.temporal_start, package.temporal_end) == ("2021-03-01", "2023-02-28")


def test_synthetic_data_is_said_in_the_description():
    assert "SINTÉTICOS" in _dataset(synthetic=True).package.description
    assert "SINTÉTICOS" not in _dataset(synthetic=False).package.description
