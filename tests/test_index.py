from __future__ import annotations

from pathlib import Path

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from clearance._arrays import count_distinct, distinct, group
from clearance.index import postings
from clearance.index.postings import Generation, write_generation


@given(st.lists(st.integers(-(2**62), 2**62), max_size=200))
def test_sorting_helpers_agree_with_numpy_unique(values: list[int]) -> None:
    x = np.asarray(values, dtype=np.int64)
    u = np.unique(x)
    assert np.array_equal(distinct(x), u)
    assert count_distinct(x) == len(u)
    g, ginv = group(x)
    assert np.array_equal(g, u) and np.array_equal(g[ginv], x)


def test_over_full_keys_are_skipped(tmp_path: Path) -> None:
    common = postings.MIN_STOP + 1  # one posting more than a small generation keeps for one key
    keys = np.array([7] * common + [9, 9], np.uint32)
    frames = np.arange(len(keys), dtype=np.uint32)
    gen = Generation(write_generation(tmp_path, [("w", keys, frames, len(keys), np.zeros(0, np.uint32))]))
    assert gen.stop_bucket == postings.MIN_STOP
    hits = gen.search(np.array([7, 9], np.uint32), np.array([0, 1], np.uint32))
    assert sorted(hits.ref_frame.tolist()) == [common, common + 1]
    assert set(hits.query_frame.tolist()) == {1}
