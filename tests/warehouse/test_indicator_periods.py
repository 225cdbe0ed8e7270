"""Which periods a batch makes stale, per propagation rule (see warehouse/indicators.toml)."""

from __future__ import annotations

import pytest

from warehouse.indicator_periods import periods_to_recompute, shift_period
from warehouse.indicators import affected_periods, load_catalogue

KNOWN = [f"{y}-{m:02d}" for y in (2022, 2023) for m in range(1, 13)]


def _rule(rule: str, touched: set[str], days: int = 30) -> list[str]:
    return periods_to_recompute({"f": rule}, {"f": touched}, KNOWN, referral_window_days=days)


@pytest.mark.parametrize(
    ("period", "months", "expected"),
    [
        ("2023-01", -1, "2022-12"),
        ("2022-12", 1, "2023-01"),
        ("2023-03", -12, "2022-03"),
        ("2022-11", 14, "2024-01"),
    ],
)
def test_shift_period_crosses_years(period, months, expected):
    assert shift_period(period, months) == expected


def test_each_rule_adds_the_months_that_read_the_touched_one():
    assert _rule("same", {"2022-05"}) == ["2022-05"]
    assert _rule("next_month", {"2022-12"}) == ["2022-12", "2023-01"]
    assert _rule("next_month", {"2023-12"}) == ["2023-12"]  # 2024-01 is not known
    assert _rule("same_month_next_year", {"2022-05"}) == ["2022-05", "2023-05"]
    assert _rule("rest_of_year", {"2022-10"}) == ["2022-10", "2022-11", "2022-12"]
    assert _rule("onwards", {"2023-10", "2023-11"}) == ["2023-10", "2023-11", "2023-12"]


def test_a_referral_window_reaches_back_to_the_first_referral_it_can_serve():
    # A case opened on 1 March serves referrals from 30 January (30 days before): touching
    # March recomputes January onwards. From 1 August, 30 days back is 2 July.
    assert _rule("onwards_from_window", {"2023-03"})[0] == "2023-01"
    assert _rule("onwards_from_window", {"2023-08"})[0] == "2023-07"
    assert _rule("onwards_from_window", {"2023-03"}, days=28)[0] == "2023-02"
    assert _rule("onwards_from_window", {"2023-03"}, days=0)[0] == "2023-03"
    assert _rule("onwards_from_window", {"2023-03"}, days=90)[-1] == "2023-12"


def test_touched_periods_by_feed_apply_each_feeds_own_rule():
    indicator = next(i for i in load_catalogue() if i.id == "school_referrals_with_intervention")
    by_feed = affected_periods(indicator, {"school_absence": {"2022-10"}}, KNOWN)
    assert by_feed == ["2022-10", "2022-11", "2022-12"]
    by_feed = affected_periods(indicator, {"social_cases": {"2023-11"}}, KNOWN)
    assert by_feed == ["2023-10", "2023-11", "2023-12"]
    # Touched periods not split by feed count for every feed: the union of both rules.
    both = affected_periods(indicator, {"2022-10"}, KNOWN)
    assert both == [p for p in KNOWN if p >= "2022-09"]
    assert affected_periods(indicator, {"police_incidents": {"2022-10"}}, KNOWN) == []


def test_the_configured_referral_window_decides_how_far_back_referrals_are_recomputed():
    indicator = next(i for i in load_catalogue() if i.id == "police_referrals_with_intervention")
    touched = {"social_cases": {"2023-05"}}
    assert affected_periods(indicator, touched, KNOWN)[0] == "2023-04"  # 30 days by default
    assert affected_periods(indicator, touched, KNOWN, referral_window_days=0)[0] == "2023-05"
    # 1 May minus 90 days is 31 January.
    assert affected_periods(indicator, touched, KNOWN, referral_window_days=90)[0] == "2023-01"
    for wrong in (-1, 2.5, "30"):
        with pytest.raises(ValueError, match="referral window"):
            affected_periods(indicator, touched, KNOWN, referral_window_days=wrong)
