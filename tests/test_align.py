from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clearance.index.postings import Hits
from clearance.match import AlignParams, align, align_hits

PARAMS = AlignParams(frame_rate=62.5)


def _hits(ref0: float, q0: float, speed: float, n: int, noise: int, seed: int) -> Hits:
    rng = np.random.default_rng(seed)
    q = np.sort(rng.choice(np.arange(int(q0), int(q0) + 600), n, replace=False))
    r = np.round(ref0 + speed * (q - q0))
    rq = rng.integers(0, 1200, noise)
    rr = rng.integers(0, 20000, noise)
    return Hits(
        ["w"],
        np.zeros(n + noise, np.int64),
        np.concatenate([r, rr]).astype(np.int64),
        np.concatenate([q, rq]).astype(np.int64),
    )


@settings(max_examples=30, deadline=None)
@given(
    ref0=st.floats(0, 15000),
    q0=st.floats(0, 500),
    speed=st.floats(0.9, 1.1),
    seed=st.integers(0, 1000),
)
def test_recovers_offset_and_speed(ref0: float, q0: float, speed: float, seed: int) -> None:
    segs = align_hits(_hits(ref0, q0, speed, 40, 300, seed), PARAMS, query_frames=1200)
    assert segs, "a 40-anchor line among 300 random hits must be found"
    best = segs[0]
    assert abs(best.speed - speed) < 0.01
    assert abs(best.ref_start - (ref0 + speed * (best.query_start * 62.5 - q0)) / 62.5) < 0.1
    assert best.score > 0.5


def test_random_hits_give_no_segment() -> None:
    for seed in range(20):
        segs = align_hits(_hits(0, 0, 1.0, 0, 400, seed), PARAMS, query_frames=1200)
        assert all(s.score < 0.5 for s in segs)


def test_two_excerpts_of_one_work_give_two_segments() -> None:
    a = _hits(1000, 0, 1.0, 40, 0, 1)
    b = _hits(9000, 700, 1.0, 40, 0, 2)
    hits = Hits(
        ["w"],
        np.concatenate([a.work, b.work]),
        np.concatenate([a.ref_frame, b.ref_frame]),
        np.concatenate([a.query_frame, b.query_frame]),
    )
    segs = sorted(align_hits(hits, PARAMS, query_frames=1400), key=lambda s: s.query_start)
    assert len(segs) == 2
    assert abs(segs[0].ref_start - segs[0].query_start - 1000 / 62.5) < 0.1
    assert abs(segs[1].ref_start - segs[1].query_start - (9000 - 700) / 62.5) < 0.1


def test_line_found_among_many_works_of_chance_hits() -> None:
    # A catalogue-scale hit list: 400 works with scattered chance hits, one with a true line.
    rng = np.random.default_rng(5)
    line = _hits(4000, 100, 1.04, 30, 0, 3)
    n = 400 * 60
    hits = Hits(
        [f"w{i}" for i in range(401)],
        np.concatenate([np.full(len(line.work), 400), rng.integers(0, 400, n)]).astype(np.int64),
        np.concatenate([line.ref_frame, rng.integers(0, 20000, n)]).astype(np.int64),
        np.concatenate([line.query_frame, rng.integers(0, 1200, n)]).astype(np.int64),
    )
    segs = align_hits(hits, PARAMS, query_frames=1200)
    assert segs and segs[0].work_id == "w400"
    assert abs(segs[0].speed - 1.04) < 0.01


def _dense_vote(ref: np.ndarray, query: np.ndarray, speeds: np.ndarray, bin_: int) -> tuple[float, float]:
    """The Hough vote on the full (speed, offset) grid, ties to the speed nearest 1."""
    offsets = ref[None, :] - speeds[:, None] * query[None, :]
    bins = ((offsets - offsets.min()) // bin_).astype(np.int64)
    n_bins = int(bins.max()) + 2
    grid = np.zeros((len(speeds), n_bins), np.int64)
    for si in range(len(speeds)):
        np.add.at(grid[si], bins[si], 1)
    pair = grid[:, :-1] + grid[:, 1:]
    best = None
    for si in sorted(range(len(speeds)), key=lambda i: (abs(speeds[i] - 1.0), i)):
        oi = int(np.argmax(pair[si]))
        if best is None or pair[si, oi] > pair[best[0], best[1]]:
            best = (si, oi)
    si, oi = best  # type: ignore[misc]
    members = (bins[si] == oi) | (bins[si] == oi + 1)
    return float(speeds[si]), float(np.median(offsets[si][members]))


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 10_000), st.integers(2, 300), st.sampled_from([60, 3000, 200_000]))
def test_sparse_and_dense_votes_agree_with_the_full_grid(seed: int, n: int, spread: int) -> None:
    rng = np.random.default_rng(seed)
    query = rng.integers(0, 700, n).astype(np.float64)
    ref = np.where(rng.random(n) < 0.5, query * 1.03 + 500, rng.integers(0, spread, n)).astype(np.float64)
    speeds = np.arange(0.88, 1.12 + 1e-9, 0.004)
    assert align._vote(ref, query, speeds, 4) == _dense_vote(ref, query, speeds, 4)


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 500), st.floats(1e-9, 300))
def test_poisson_tail_is_scipys(k: int, expected: float) -> None:
    from scipy import stats

    want = float(stats.poisson.logsf(k - 1, expected)) / np.log(10)
    assert align._log10_tail(k, expected) == (
        -300.0 if not np.isfinite(want) else pytest.approx(want, rel=1e-12, abs=1e-12)
    )


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 10_000), st.integers(1, 12))
def test_batched_first_lines_are_the_per_work_best_cells(seed: int, n_works: int) -> None:
    # Works of every size (both sides of the coarse-to-fine cut at 64 hits), with and without a line.
    rng = np.random.default_rng(seed)
    refs, queries = [], []
    for _ in range(n_works):
        m = int(rng.choice([5, 20, 63, 64, 200, 700]))
        q = rng.integers(0, int(rng.choice([100, 700, 3000])), m).astype(np.float64)
        on_line = rng.random(m) < rng.uniform(0, 0.8)
        chance = rng.integers(0, int(rng.choice([300, 5000, 100_000])), m)
        refs.append(
            np.where(on_line, np.round(rng.uniform(0.88, 1.12) * q + rng.integers(0, 20_000)), chance)
        )
        queries.append(q)
    row = np.repeat(np.arange(n_works), [len(q) for q in queries])
    speeds = np.arange(PARAMS.speed_min, PARAMS.speed_max + 1e-9, PARAMS.speed_step)
    speed, offset, ok = align._first_lines(row, np.concatenate(refs), np.concatenate(queries), speeds, PARAMS)
    for k, (ref, query) in enumerate(zip(refs, queries, strict=True)):
        best = align._best_cell(ref, query, speeds, PARAMS.offset_bin)
        assert best is not None
        inliers = np.abs(ref - (best[0] * query + best[1])) <= PARAMS.tolerance_frames
        assert ok[k] == (len(np.unique(query[inliers])) >= PARAMS.min_anchors)
        if ok[k]:
            assert (speed[k], offset[k]) == best
