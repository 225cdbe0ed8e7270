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
