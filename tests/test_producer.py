"""The background data producer yields exactly the reference token stream and measures its wait."""

import time

import numpy as np
import pytest

from kcap.kinds import load_dataset, make_stream
from kcap.train.producer import Producer


def test_producer_yields_the_reference_stream(small_bios):
    stream = make_stream(load_dataset(small_bios), exposures=2, seed=4)
    ref = list(stream.batches(64, 4))  # what the loop consumed before the producer
    got = list(Producer(stream.batches(64, 4), depth=2))
    assert len(got) == len(ref) > 10
    for (xr, yr), (xg, yg) in zip(ref, got):
        assert np.array_equal(xr, xg) and np.array_equal(yr, yg)


def test_producer_measures_the_wait_and_passes_errors():
    def slow():
        for i in range(3):
            time.sleep(0.05)
            yield i
        raise ValueError("broken source")

    p = Producer(slow())
    assert [next(p) for _ in range(3)] == [0, 1, 2]
    assert p.wait_s >= 0.1  # the consumer had to wait for each item
    with pytest.raises(ValueError, match="broken source"):
        next(p)


def test_producer_close_stops_the_thread():
    p = Producer(iter(range(10**9)), depth=2)
    next(p)
    p.close()
    assert not p._thread.is_alive()
