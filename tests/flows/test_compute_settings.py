"""`steps.compute`: the configured referral window and the periods touched per feed reach the
indicator computation (`[indicators] referral_window_days`)."""

from __future__ import annotations

import pytest

from flows import steps
from flows.config import ConfigError, load_config
from flows.steps import FeedReport
from tests.conftest import write_demo_config
from warehouse.indicators import DEFAULT_REFERRAL_WINDOW_DAYS

THRESHOLD = "chronic_absence_threshold = 0.10"


def _config(tmp_path, window_days: int | None):
    extra = f"\nreferral_window_days = {window_days}" if window_days is not None else ""
    return load_config(write_demo_config(tmp_path, **{THRESHOLD: THRESHOLD + extra}))


def _computed(monkeypatch, config, reports: list[FeedReport]) -> tuple[dict, dict]:
    """Run compute with the warehouse computation replaced by a recorder."""
    seen: dict = {}

    def record(engine, catalogue, periods, **settings):
        seen.update(periods=periods, settings=settings)
        return {indicator_id: len(p) for indicator_id, p in periods.items() if p}

    monkeypatch.setattr(steps, "compute_indicators", record)
    steps.compute(config, engine=None, reports=reports)
    return seen["periods"], seen["settings"]


def _touched(feed: str, *periods: str) -> FeedReport:
    return FeedReport(feed, "batch", False, 1, 1, 0, list(periods))


def test_default_window_is_the_warehouse_default(tmp_path):
    assert _config(tmp_path, None).indicators.referral_window_days == DEFAULT_REFERRAL_WINDOW_DAYS


def test_configured_referral_window_reaches_the_computation(tmp_path, monkeypatch):
    config = _config(tmp_path, 45)
    periods, settings = _computed(
        monkeypatch, config, [_touched("servicios-sociales-sintetico", "2023-04")]
    )
    assert settings["referral_window_days"] == 45
    assert settings["chronic_threshold"] == 0.10
    # A referral up to 45 days before 1 April 2023 (15 February) can look into April.
    assert periods["school_referrals_with_intervention"][0] == "2023-02"


def test_default_window_recomputes_fewer_months(tmp_path, monkeypatch):
    periods, settings = _computed(
        monkeypatch, _config(tmp_path, None), [_touched("servicios-sociales-sintetico", "2023-04")]
    )
    assert settings["referral_window_days"] == 30
    assert periods["school_referrals_with_intervention"][0] == "2023-03"  # 2 March


def test_each_feeds_rule_applies_only_to_the_periods_that_feed_touched(tmp_path, monkeypatch):
    # Police touched April only. The social-cases rule of a cross-institution indicator
    # (onwards from the referral window) must not apply: social cases did not change.
    periods, _ = _computed(
        monkeypatch, _config(tmp_path, 45), [_touched("policia-sintetico", "2023-04")]
    )
    assert periods["police_referrals_with_intervention"] == ["2023-04"]
    assert periods["incidents_vs_previous_month"] == ["2023-04", "2023-05"]
    assert "open_social_cases_per_1k" not in periods


def test_a_negative_window_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="indicators.referral_window_days"):
        _config(tmp_path, -1)
