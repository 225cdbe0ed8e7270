"""What a served stage may read, and which periods it recomputes."""

from __future__ import annotations

import pytest

from flows.config import load_config
from flows.progress import LedgerBatch
from flows.stages import allowed_source, feed_named, indicator_periods
from tests.flows.served_chain import write_served_config

FEED = "policia-sintetico"


def test_ingestion_reads_only_the_feeds_inbox_or_its_configured_path(tmp_path):
    config = load_config(write_served_config(tmp_path, "Convive stages test"))
    feed = feed_named(config, FEED)
    inbox = tmp_path / "inbox" / FEED
    assert allowed_source(config, feed, str(inbox / "export.csv")) == (inbox / "export.csv")
    assert allowed_source(config, feed, "") == config.path(feed.path)
    for elsewhere in ("/etc/passwd", str(inbox / ".." / "ausentismo-sintetico" / "x.csv")):
        with pytest.raises(ValueError, match=f"feed {FEED} reads only"):
            allowed_source(config, feed, elsewhere)


def test_a_batch_recomputes_what_each_indicator_declares_for_its_feed_only(tmp_path):
    config = load_config(write_served_config(tmp_path, "Convive stages test"))
    batch = LedgerBatch("b", "school_absence", "synthetic-school-absence", "a.csv", ("2023-03",))
    periods = indicator_periods(config, [batch])
    # Same-month indicators change that month; year-to-date ones the rest of its year;
    # indicators of other feeds not at all.
    assert periods["school_absence_rate"] == ["2023-03"]
    assert periods["chronic_absentee_share"] == [f"2023-{m:02d}" for m in range(3, 13)]
    assert "incidents_per_10k" not in periods and "open_social_cases_per_1k" not in periods
    outside = LedgerBatch("c", "school_absence", "synthetic-school-absence", "b.csv", ("2019-03",))
    assert indicator_periods(config, [outside]) == {}  # before the indicator window


def test_served_recomputation_uses_the_configured_referral_window(tmp_path):
    config = load_config(write_served_config(tmp_path, "Convive stages test"))
    batch = LedgerBatch("b", "social_cases", "synthetic-social-cases", "a.csv", ("2023-04",))
    first = {}
    for days in (30, 45):
        settings = config.indicators.model_copy(update={"referral_window_days": days})
        configured = config.model_copy(update={"indicators": settings})
        periods = indicator_periods(configured, [batch])
        first[days] = periods["school_referrals_with_intervention"][0]
    # A referral up to N days before 1 April 2023 can look into April: 2 March or 15 February.
    assert first == {30: "2023-03", 45: "2023-02"}


def test_a_failed_quality_gate_run_alongside_stops_the_publication_before_any_write(tmp_path):
    from prefect.logging import disable_run_logger

    from flows import steps
    from flows.stages import publish_task
    from warehouse.engine import open_warehouse
    from warehouse.quality_gate import QualityGateFailed

    config = load_config(write_served_config(tmp_path, "Convive stages test"))
    engine = open_warehouse(config.warehouse_url)
    try:
        steps.prepare_warehouse(config, engine)  # territories, but no feed ever loaded
    finally:
        engine.dispose()
    with disable_run_logger(), pytest.raises(QualityGateFailed, match="has been loaded"):
        publish_task.fn(str(config.source_file), config.warehouse_url)
    assert not config.path(config.publish.catalogue_dir).exists()
    # The gate ran in its own process, on its own copy: its Data Docs say why.
    assert (config.path(config.quality.data_docs_dir) / "index.html").exists()
