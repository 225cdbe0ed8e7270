"""Year-to-date (cumulative) figures turned into figures per period.

Some publishers (the Spanish Ministry of Interior's crime balance) give, for each quarter,
the total from January to the end of that quarter. The figure for a period is then

    value(period) = ytd(period) - ytd(previous period of the same year in the file)

and the first period of a year present in the file covers January to its last month. So a
file with only the fourth quarter ("enero-diciembre 2024") gives the full-year figure, and a
file with all four quarters gives one figure per quarter. Each row's `reference_period`
says which months its figure covers and `occurred_date` is the first day of them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from connectors.datetime_parsing import parse_dates
from schemas.contracts import ROW_NUMBER

YTD_YEAR, YTD_THROUGH = "_ytd_year", "_ytd_through"


def label_fields(labels: pa.Array, pattern: str) -> tuple[pa.Array, pa.Array, np.ndarray]:
    """Year and last month (1-12) of each cumulative period label, and the rows that failed.

    `pattern` is searched in the label; its group `year` holds the year and its group
    `through` the last month, as a number or a Spanish or English month name.
    """
    compiled = re.compile(pattern, re.IGNORECASE)
    distinct = pc.unique(labels).to_pylist()
    found = [compiled.search(v) if v is not None else None for v in distinct]
    years = [m.group("year") if m else None for m in found]
    months = [m.group("through") if m else None for m in found]
    words = pa.array([f"{y} {m}" if m else None for y, m in zip(years, months, strict=True)])
    dates = parse_dates(words, formats=["%Y %m", "%Y %B"])
    month_numbers = pc.month(dates.values)
    year_numbers = pc.year(dates.values)
    index = pc.index_in(labels, pa.array(distinct, pa.string()))
    year_column = pc.take(year_numbers, index).cast(pa.int64())
    month_column = pc.take(month_numbers, index).cast(pa.int64())
    failed = pc.and_(pc.is_valid(labels), pc.is_null(year_column))
    return year_column, month_column, np.asarray(failed.to_numpy(zero_copy_only=False))


@dataclass
class PerPeriod:
    """Rows with per-period figures, new reasons per row key, and rows left out by rule."""

    frame: pl.DataFrame
    reasons: dict[int, list[str]] = field(default_factory=dict)
    skipped: dict[str, int] = field(default_factory=dict)


def per_period(
    frame: pl.DataFrame,
    *,
    keys: list[str],
    measures: list[str],
    years: str,
    rejected: frozenset[int] = frozenset(),
) -> PerPeriod:
    """Difference cumulative `measures` within each group of `keys` and year (see module).

    Rows in `rejected` (keys of rows already bound for quarantine) and rows whose period
    label could not be read are passed through untouched: their figures are not trusted.
    """
    skipped: dict[str, int] = {}
    if years == "latest":
        frame, earlier = _latest_year_only(frame)
        if earlier:
            skipped["year_to_date.years = latest: earlier years (restated for comparison)"] = (
                earlier
            )
    untrusted = pl.col(YTD_YEAR).is_null() | pl.col(ROW_NUMBER).is_in(list(rejected))
    group = [*keys, YTD_YEAR]
    ordered = frame.filter(~untrusted).sort([*group, YTD_THROUGH])
    reasons = _repeated_periods(ordered, group)
    ordered = _differenced(ordered, group, measures, reasons)
    # Untrusted rows go to quarantine: label them with their cumulative span, as read.
    unreadable = frame.filter(untrusted).with_columns(
        reference_period=_period_label(pl.col(YTD_YEAR), pl.lit(1), YTD_THROUGH),
        occurred_date=pl.date(pl.col(YTD_YEAR), 1, 1),
    )
    frame = pl.concat([ordered, unreadable.select(ordered.columns)], how="vertical_relaxed")
    return PerPeriod(frame=frame.sort(ROW_NUMBER), reasons=reasons, skipped=skipped)


def _latest_year_only(frame: pl.DataFrame) -> tuple[pl.DataFrame, int]:
    """The rows of the file's most recent year (and unreadable ones), and how many are not."""
    latest = frame[YTD_YEAR].max()
    if latest is None:
        return frame, 0
    earlier = frame.filter(pl.col(YTD_YEAR) < latest).height
    return frame.filter(pl.col(YTD_YEAR).is_null() | (pl.col(YTD_YEAR) >= latest)), earlier


def _differenced(
    ordered: pl.DataFrame, group: list[str], measures: list[str], reasons: dict[int, list[str]]
) -> pl.DataFrame:
    """Subtract each row's previous period in its group; label the months each row covers."""
    previous = pl.col(YTD_THROUGH).shift(1).over(group)
    has_previous = previous.is_not_null()
    # A repeated period (rejected by _repeated_periods) must not make a month 13.
    first = pl.when(previous < pl.col(YTD_THROUGH)).then(previous + 1).otherwise(1)
    ordered = ordered.with_columns(_first_month=first)
    for measure in measures:
        before = pl.col(measure).shift(1).over(group)
        for row in ordered.filter(has_previous & before.is_null())[ROW_NUMBER]:
            reasons.setdefault(row, []).append(
                f"{measure}: the previous period's figure is missing, so this period's "
                "cannot be derived (year_to_date)"
            )
        ordered = ordered.with_columns(
            pl.when(has_previous).then(pl.col(measure) - before).otherwise(pl.col(measure))
        )
    return ordered.with_columns(
        reference_period=_period_label(pl.col(YTD_YEAR), pl.col("_first_month"), YTD_THROUGH),
        occurred_date=pl.date(pl.col(YTD_YEAR), pl.col("_first_month"), 1),
    ).drop("_first_month")


def _repeated_periods(frame: pl.DataFrame, group: list[str]) -> dict[int, list[str]]:
    """Two rows for the same key and cumulative period cannot be told apart: reject both."""
    repeated = frame.filter(pl.len().over([*group, YTD_THROUGH]) > 1)
    return {
        row: ["year_to_date: another row has the same key and cumulative period"]
        for row in repeated[ROW_NUMBER]
    }


def _period_label(year: pl.Expr, first: pl.Expr, through_name: str) -> pl.Expr:
    """ "2024" (whole year), "2024-Q2", "2024-03" (one month) or "2024-04/2024-12"."""
    last = pl.col(through_name)
    text = year.cast(pl.Utf8)
    month = first.cast(pl.Utf8).str.zfill(2)
    last_month = last.cast(pl.Utf8).str.zfill(2)
    quarter = ((first - 1) % 3 == 0) & (last == first + 2)
    return (
        pl.when((first == 1) & (last == 12))
        .then(text)
        .when(first == last)
        .then(pl.concat_str(text, pl.lit("-"), month))
        .when(quarter)
        .then(pl.concat_str(text, pl.lit("-Q"), ((last / 3).cast(pl.Int64)).cast(pl.Utf8)))
        .otherwise(
            pl.concat_str(text, pl.lit("-"), month, pl.lit("/"), text, pl.lit("-"), last_month)
        )
    )


def period_label(year: int, first_month: int, last_month: int) -> str:
    """The reference period for months `first_month`..`last_month` of `year` (see above)."""
    frame = pl.DataFrame({"y": [year], "f": [first_month], YTD_THROUGH: [last_month]})
    return frame.select(_period_label(pl.col("y"), pl.col("f"), YTD_THROUGH)).item()
