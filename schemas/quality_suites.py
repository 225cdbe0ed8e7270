"""Batch quality suites for the warehouse, as data: Great Expectations rules per table.

Each rule names a GX expectation class and its keyword arguments. Values known only at run
time (the territory set, the catalogue's indicator ids, the oldest acceptable load) are
`Parameter`s that the quality gate fills in. The gate reads each suite's table through a
`View` that keeps the batch small, so a rule sees the rows of that view, not raw fact rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

PERIOD_PATTERN = r"^\d{4}-(?:0[1-9]|1[0-2])$"

# Person keys are pseudonyms, but still personal: the gate only ever asks whether they are
# present and never reads their values, so no rule other than "not null" may name them.
PERSON_KEY_COLUMNS: frozenset[str] = frozenset({"person_key", "student_key"})

# A fact table is checked as one row per batch, period and territory (see View.FACT_GROUPS).
FACT_GROUP_KEYS: tuple[str, ...] = ("batch_id", "period", "territory_code")

# Units whose values have a ceiling. Every indicator value is non-negative whatever its unit;
# "por N habitantes" rates have no ceiling (a small area can have more incidents than people).
RATE_BOUNDS: dict[str, tuple[float, float]] = {"%": (0.0, 100.0)}


class View(StrEnum):
    """How the gate reads a suite's table into a batch."""

    # One row per (batch_id, period, territory_code) with `row_count`. Every other column
    # holds the group's minimum, or NULL when any row of the group is NULL (columns with
    # only a not-null rule hold 1 instead of a value). So on fact tables: not-null rules,
    # lower bounds, and set/pattern rules on the group keys.
    FACT_GROUPS = "fact_groups"
    # Every stored indicator value in the window, with its indicator's `unit`.
    INDICATOR_VALUES = "indicator_values"
    # One row per expected (indicator_id, territory_code, expected_period): the territories
    # of the indicator's levels times the window's periods that its feeds have rows for.
    # `period` is the stored period, NULL when the indicator has no value for that cell.
    INDICATOR_COVERAGE = "indicator_coverage"
    # One row per feed: the newest `loaded_at` in the load ledger (NULL if never loaded)
    # and its `age_days`.
    FEED_FRESHNESS = "feed_freshness"


@dataclass(frozen=True)
class Parameter:
    """A value the quality gate supplies at run time."""

    name: str


TERRITORY_CODES = Parameter("territory_codes")
INDICATOR_IDS = Parameter("indicator_ids")
OLDEST_ALLOWED_LOAD = Parameter("oldest_allowed_load")


@dataclass(frozen=True)
class Expectation:
    """One rule: a GX expectation class name, its keyword arguments and what it means."""

    type: str
    kwargs: dict[str, Any]
    description: str

    @property
    def column(self) -> str | None:
        """The column the rule is about (columns joined by ", " for multi-column rules)."""
        if "column" in self.kwargs:
            return self.kwargs["column"]
        if "column_list" in self.kwargs:
            return ", ".join(self.kwargs["column_list"])
        return None


@dataclass(frozen=True)
class Suite:
    """The rules for one table, read through one view."""

    name: str
    table: str
    view: View
    expectations: tuple[Expectation, ...]
    # Columns that locate a failing row in reports: never person keys.
    example_columns: tuple[str, ...]


def _not_null(column: str) -> Expectation:
    return Expectation(
        "ExpectColumnValuesToNotBeNull", {"column": column}, f"{column} is never empty"
    )


def _non_negative(column: str) -> Expectation:
    return Expectation(
        "ExpectColumnValuesToBeBetween",
        {"column": column, "min_value": 0},
        f"{column} is never negative",
    )


_TERRITORY_IN_SET = Expectation(
    "ExpectColumnValuesToBeInSet",
    {"column": "territory_code", "value_set": TERRITORY_CODES},
    "territory_code is in the configured territory set",
)
_PERIOD_IS_MONTH = Expectation(
    "ExpectColumnValuesToMatchRegex",
    {"column": "period", "regex": PERIOD_PATTERN},
    "period is a month written YYYY-MM",
)


def _fact_suite(table: str, required: tuple[str, ...], counts: tuple[str, ...]) -> Suite:
    return Suite(
        name=table,
        table=table,
        view=View.FACT_GROUPS,
        expectations=(
            *(_not_null(c) for c in (*FACT_GROUP_KEYS, *required)),
            _TERRITORY_IN_SET,
            _PERIOD_IS_MONTH,
            *(_non_negative(c) for c in counts),
        ),
        example_columns=(*FACT_GROUP_KEYS, "row_count"),
    )


POLICE_INCIDENTS = _fact_suite(
    "police_incidents",
    required=("incident_id", "source", "occurred_date", "category", "count"),
    counts=("count",),
)
SOCIAL_CASES = _fact_suite(
    "social_cases",
    required=("case_id", "source", "person_key", "opened_date", "intervention_type"),
    counts=(),
)
SCHOOL_ABSENCE = _fact_suite(
    "school_absence",
    required=(
        "record_id",
        "source",
        "school_code",
        "possible_sessions",
        "absent_sessions",
        "unjustified_sessions",
        "enrolments",
    ),
    counts=("possible_sessions", "absent_sessions", "unjustified_sessions", "enrolments"),
)

_INDICATOR_KEY = ("indicator_id", "territory_code", "period", "breakdown")

INDICATOR_VALUES = Suite(
    name="indicator_values",
    table="indicator_values",
    view=View.INDICATOR_VALUES,
    expectations=(
        *(_not_null(c) for c in _INDICATOR_KEY),
        Expectation(
            "ExpectColumnValuesToBeInSet",
            {"column": "indicator_id", "value_set": INDICATOR_IDS},
            "indicator_id is in the indicator catalogue",
        ),
        _TERRITORY_IN_SET,
        _PERIOD_IS_MONTH,
        Expectation(
            "ExpectColumnValuesToBeBetween",
            {"column": "numerator", "min_value": 0},
            "no negative numerators",
        ),
        Expectation(
            "ExpectColumnValuesToBeBetween",
            {"column": "denominator", "min_value": 0},
            "no negative denominators",
        ),
        Expectation(
            "ExpectColumnValuesToBeBetween",
            {"column": "value", "min_value": 0},
            "no negative indicator values",
        ),
        *(
            Expectation(
                "ExpectColumnValuesToBeBetween",
                {
                    "column": "value",
                    "min_value": low,
                    "max_value": high,
                    "row_condition": f"unit == {unit!r}",
                    "condition_parser": "pandas",
                },
                f"a value in {unit} lies within [{low:g}, {high:g}]",
            )
            for unit, (low, high) in RATE_BOUNDS.items()
        ),
        Expectation(
            "ExpectCompoundColumnsToBeUnique",
            {"column_list": list(_INDICATOR_KEY)},
            "one value per indicator, territory, period and breakdown",
        ),
    ),
    example_columns=_INDICATOR_KEY,
)

INDICATOR_COVERAGE = Suite(
    name="indicator_values_coverage",
    table="indicator_values",
    view=View.INDICATOR_COVERAGE,
    expectations=(
        Expectation(
            "ExpectColumnValuesToNotBeNull",
            {"column": "period"},
            "every indicator has a value for every territory of its levels and every "
            "period of the window that its feeds have data for",
        ),
    ),
    example_columns=("indicator_id", "territory_code", "expected_period"),
)

FEED_FRESHNESS = Suite(
    name="load_ledger_freshness",
    table="load_ledger",
    view=View.FEED_FRESHNESS,
    expectations=(
        Expectation(
            "ExpectColumnValuesToNotBeNull",
            {"column": "loaded_at"},
            "every feed has been loaded at least once",
        ),
        Expectation(
            "ExpectColumnValuesToBeBetween",
            {"column": "loaded_at", "min_value": OLDEST_ALLOWED_LOAD},
            "each feed's newest load is within the maximum age",
        ),
    ),
    example_columns=("feed", "age_days"),
)

SUITES: tuple[Suite, ...] = (
    POLICE_INCIDENTS,
    SOCIAL_CASES,
    SCHOOL_ABSENCE,
    INDICATOR_VALUES,
    INDICATOR_COVERAGE,
    FEED_FRESHNESS,
)
