"""Which periods to recompute after a batch: each indicator's propagation rule per feed.

A batch replaces some periods of one feed. An indicator whose figure for month M reads
other months (the previous month, the same month a year earlier, the school year to date,
cases still open, referral windows) must also be recomputed for the months that read the
touched ones. The rules are named in the catalogue (`propagates`, one per feed).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import date, timedelta


def shift_period(period: str, months: int) -> str:
    """The month `months` after (or before, if negative) `period`, both as YYYY-MM."""
    index = int(period[:4]) * 12 + int(period[5:7]) - 1 + months
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def _same(touched: set[str], known: list[str], window_days: int) -> set[str]:
    return set(touched)


def _next_month(touched: set[str], known: list[str], window_days: int) -> set[str]:
    return touched | ({shift_period(p, 1) for p in touched} & set(known))


def _same_month_next_year(touched: set[str], known: list[str], window_days: int) -> set[str]:
    return touched | ({shift_period(p, 12) for p in touched} & set(known))


def _rest_of_year(touched: set[str], known: list[str], window_days: int) -> set[str]:
    return touched | {k for k in known for p in touched if k > p and k[:4] == p[:4]}


def _onwards(touched: set[str], known: list[str], window_days: int) -> set[str]:
    first = min(touched)
    return touched | {k for k in known if k >= first}


def _onwards_from_window(touched: set[str], known: list[str], window_days: int) -> set[str]:
    # A referral made up to `window_days` before a touched month's first day can look into it.
    earliest = min(touched)
    day = date(int(earliest[:4]), int(earliest[5:7]), 1) - timedelta(days=max(window_days, 0))
    first = f"{day.year:04d}-{day.month:02d}"
    return touched | {k for k in known if k >= first}


PROPAGATION_RULES: dict[str, Callable[[set[str], list[str], int], set[str]]] = {
    "same": _same,
    "next_month": _next_month,
    "same_month_next_year": _same_month_next_year,
    "rest_of_year": _rest_of_year,
    "onwards": _onwards,
    "onwards_from_window": _onwards_from_window,
}


def periods_to_recompute(
    propagates: Mapping[str, str],
    touched: Iterable[str] | Mapping[str, Iterable[str]],
    known: Iterable[str],
    *,
    referral_window_days: int,
) -> list[str]:
    """The periods to recompute for one indicator.

    `propagates` maps each of the indicator's feeds to a rule name. `touched` is either the
    periods each feed's batches touched (feed -> periods) or one set of periods, which is
    then taken as touched in every feed (safe, possibly more work). Later periods are only
    added when they are `known` (e.g. within the configured window); touched ones always are.
    """
    known = sorted(set(known))
    if isinstance(touched, Mapping):
        by_feed = {feed: set(touched.get(feed, ())) for feed in propagates}
    else:
        every = set(touched)
        by_feed = dict.fromkeys(propagates, every)
    periods: set[str] = set()
    for feed, rule in propagates.items():
        if by_feed[feed]:
            periods |= PROPAGATION_RULES[rule](by_feed[feed], known, referral_window_days)
    return sorted(periods)
