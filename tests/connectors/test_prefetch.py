"""prefetched: same items in the same order, errors reach the consumer, early stop is clean."""

from __future__ import annotations

import threading

import pytest

from connectors.prefetch import prefetched


def test_items_arrive_in_order():
    assert list(prefetched(iter(range(1000)), depth=3)) == list(range(1000))


def test_an_error_in_the_producer_is_raised_in_the_consumer_after_earlier_items():
    def items():
        yield 1
        yield 2
        raise ValueError("line 7: bad row")

    got = []
    with pytest.raises(ValueError, match="line 7"):
        for item in prefetched(items()):
            got.append(item)
    assert got == [1, 2]


def test_stopping_early_ends_the_producer_thread():
    produced = []

    def items():
        for i in range(10_000):
            produced.append(i)
            yield i

    stream = prefetched(items(), depth=2)
    assert next(stream) == 0
    stream.close()
    assert not any(t.name == "convive-prefetch" and t.is_alive() for t in threading.enumerate())
    assert len(produced) < 10
