from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import ndimage

from clearance._arrays import count_distinct, distinct, group, ranges, sliding_max
from clearance.index import binary, postings
from clearance.index.binary import RowHits
from clearance.index.postings import Generation, write_generation


@given(st.lists(st.integers(-(2**62), 2**62), max_size=200))
def test_sorting_helpers_agree_with_numpy_unique(values: list[int]) -> None:
    x = np.asarray(values, dtype=np.int64)
    u = np.unique(x)
    assert np.array_equal(distinct(x), u)
    assert count_distinct(x) == len(u)
    g, ginv = group(x)
    assert np.array_equal(g, u) and np.array_equal(g[ginv], x)


@given(
    st.integers(1, 40),
    st.integers(1, 12),
    st.sampled_from([1, 3, 7, 9, 15]),
    st.integers(0, 1),
    st.integers(0, 2**31),
)
def test_sliding_max_is_scipys_maximum_filter(rows: int, cols: int, size: int, axis: int, seed: int) -> None:
    x = np.random.default_rng(seed).standard_normal((rows, cols)).astype(np.float32)
    expected = ndimage.maximum_filter1d(x, size, axis=axis, mode="nearest")
    assert np.array_equal(sliding_max(x, size, axis), expected)


def test_over_full_keys_are_skipped(tmp_path: Path) -> None:
    common = postings.MIN_STOP + 1  # one posting more than a small generation keeps for one key
    keys = np.array([7] * common + [9, 9], np.uint32)
    frames = np.arange(len(keys), dtype=np.uint32)
    gen = Generation(write_generation(tmp_path, [("w", keys, frames, len(keys), np.zeros(0, np.uint32))]))
    assert gen.stop_bucket == postings.MIN_STOP
    hits = gen.search(np.array([7, 9], np.uint32), np.array([0, 1], np.uint32))
    assert sorted(hits.ref_frame.tolist()) == [common, common + 1]
    assert set(hits.query_frame.tolist()) == {1}


def _random_generation(tmp_path: Path, key_space: int, n: int) -> Generation:
    rng = np.random.default_rng(3)
    keys = rng.integers(0, key_space, n).astype(np.uint32)
    frames = rng.integers(0, 1000, n).astype(np.uint32)
    return Generation(
        write_generation(tmp_path, [("w", keys, frames, 1000, np.zeros(0, np.uint32))], key_space)
    )


def test_bucket_table_finds_what_a_binary_search_finds(tmp_path: Path) -> None:
    probes = np.arange(0, 300, dtype=np.uint32)  # some past the key space
    for n, space in ((0, 256), (5, 256), (400, 256), (4000, 256), (40000, 256), (1000, 2**32)):
        gen = _random_generation(tmp_path / f"{n}-{space}", space, n)
        if space == 2**32:
            probes = np.concatenate([np.asarray(gen.keys[:50]), [0, 2**32 - 1]]).astype(np.uint32)
        lo, counts = gen.lookup(probes)
        keys = np.asarray(gen.keys)
        expected = np.searchsorted(keys, probes, "right") - np.searchsorted(keys, probes, "left")
        expected[expected > gen.stop_bucket] = 0
        assert np.array_equal(counts, expected)
        assert np.array_equal(keys[lo[counts > 0]], probes[counts > 0])


def test_hit_budget_keeps_the_rarest_keys(tmp_path: Path) -> None:
    # Key k holds MIN_STOP + k postings, key 0 MIN_STOP - 1: with a budget of 4 * MIN_STOP + 10 hits,
    # keys 0 to 3 fit, 4 to 9 do not. With a budget a little over a quarter of key 0's postings, the
    # budget is raised to take key 0 (a key under the floor, within the hard cap) and nothing else.
    floor = postings.MIN_STOP
    counts = [floor - 1] + [floor + k for k in range(1, 10)]
    keys = np.concatenate([np.full(n, k) for k, n in enumerate(counts)]).astype(np.uint32)
    frames = np.arange(len(keys), dtype=np.uint32)
    gen = Generation(write_generation(tmp_path, [("w", keys, frames, len(keys), np.zeros(0, np.uint32))], 16))
    assert gen.stop_bucket >= max(counts)
    probes = np.arange(9, -1, -1, dtype=np.uint32)
    hits = postings.search([gen], probes, probes, max_hits=counts[0] + 3 * floor + 6)
    assert hits.skipped == 6 and sorted(set(hits.query_frame.tolist())) == [0, 1, 2, 3]
    hits = postings.search([gen], probes, probes, max_hits=counts[0] // postings.HARD_CAP + 1)
    assert hits.skipped == 9 and set(hits.query_frame.tolist()) == {0}
    hits = postings.search([gen], probes, probes, max_hits=1)  # the cap binds: key 0 is too much
    assert hits.skipped == 10 and len(hits.work) == 0
    assert len(postings.search([gen], probes, probes).work) == len(keys)


@given(st.lists(st.integers(0, 40), max_size=300), st.integers(0, 3000), st.integers(0, 20))
def test_hit_budget_cut_is_a_stable_sort_by_count(counts: list[int], max_hits: int, floor: int) -> None:
    per_probe = np.asarray(counts, np.int64)
    if per_probe.sum() <= max_hits:
        return
    order = np.argsort(per_probe, kind="stable")
    over = order[np.cumsum(per_probe[order]) > max_hits]
    expected = np.sort(over[per_probe[over] > 0])
    assert np.array_equal(np.sort(postings._over_budget(per_probe, max_hits)), expected)
    # With a floor, the budget is raised to take every probe of at most ``floor`` postings, within the cap.
    budget = min(max(max_hits, int(per_probe[per_probe <= floor].sum())), postings.HARD_CAP * max_hits)
    over = order[np.cumsum(per_probe[order]) > budget]
    expected = np.sort(over[per_probe[over] > 0])
    assert np.array_equal(np.sort(postings._over_budget(per_probe, max_hits, floor)), expected)


def test_keys_outside_the_key_space_are_refused(tmp_path: Path) -> None:
    keys = np.array([1, 300], np.uint32)
    with pytest.raises(ValueError, match="key space"):
        write_generation(tmp_path, [("w", keys, keys, 400, np.zeros(0, np.uint32))], 256)


def test_work_of_finds_the_work_of_every_value(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    lengths = [int(x) for x in rng.choice([1, 7, 300, 1023, 1024, 5000], 60)]
    items = [
        (f"w{i}", np.zeros(1, np.uint32), np.zeros(1, np.uint32), n, np.zeros(0, np.uint32))
        for i, n in enumerate(lengths)
    ]
    gen = Generation(write_generation(tmp_path, items, 16))
    values = np.arange(int(gen.bases[-1] + gen.frames[-1] + 1), dtype=np.int64)
    assert np.array_equal(gen.work_of(values), np.searchsorted(gen.bases, values, side="right") - 1)


def test_hit_budget_keeps_the_nearest() -> None:
    bits = np.array([40, 10, 63, 20, 30])
    found = RowHits(["w"], np.zeros(5, np.int64), np.arange(10).reshape(5, 2), np.arange(5), bits)
    kept = binary.nearest_rows(found, 3)
    assert kept.bits.tolist() == [10, 20, 30] and kept.query.tolist() == [1, 3, 4]
    assert binary.nearest_rows(found, 5) is found


@pytest.mark.parametrize("block", [binary.HAMMING_BLOCK, 5])
@pytest.mark.parametrize(("rows", "cols"), [(0, 3), (3, 0), (1, 1), (37, 11)])
def test_hamming_counts_the_differing_bits(
    monkeypatch: pytest.MonkeyPatch, block: int, rows: int, cols: int
) -> None:
    monkeypatch.setattr(binary, "HAMMING_BLOCK", block)  # 5 words: rows are XORed one at a time
    rng = np.random.default_rng(rows + cols)
    a = rng.integers(0, 256, (rows, 32), dtype=np.uint8)
    b = rng.integers(0, 256, (cols, 32), dtype=np.uint8)
    expected = (np.unpackbits(a, axis=1)[:, None, :] != np.unpackbits(b, axis=1)[None, :, :]).sum(axis=2)
    assert np.array_equal(binary.hamming(a, b), expected)


def test_search_rows_hands_a_repeated_code_its_hits(tmp_path: Path) -> None:
    """Query codes that repeat are searched once; every copy gets the hits a lone search gives."""
    rng = np.random.default_rng(3)
    stored = rng.integers(0, 256, (40, 32), dtype=np.uint8)
    empty = np.zeros(0, np.uint32)
    items = [
        (f"w{i}", empty, empty, 100, binary.pack_rows(np.arange(20) + 100 * i, stored[20 * i : 20 * i + 20]))
        for i in range(2)
    ]
    gen = Generation(write_generation(tmp_path, items, 16))
    near = stored.copy()
    near[:, :4] ^= rng.integers(0, 256, (40, 4), dtype=np.uint8)  # up to 32 bits away
    query = np.concatenate([near[5:25], near[5:25], rng.integers(0, 256, (3, 32), dtype=np.uint8), near[:2]])
    found = binary.search_rows([gen], query, 40)
    alone = [binary.search_rows([gen], query[i : i + 1], 40) for i in range(len(query))]
    expected = sorted(
        (i, int(h), int(b)) for i, a in enumerate(alone) for h, b in zip(a.head[:, 0], a.bits, strict=True)
    )
    assert (
        sorted(zip(found.query.tolist(), found.head[:, 0].tolist(), found.bits.tolist(), strict=True))
        == expected
    )
    assert {i for i, _, _ in expected} == set(range(40)) | {43, 44}


@given(st.lists(st.tuples(st.integers(0, 1000), st.integers(0, 5)), max_size=20))
def test_ranges_concatenates_each_run(runs: list[tuple[int, int]]) -> None:
    lo = np.array([a for a, _ in runs], np.int64)
    counts = np.array([n for _, n in runs], np.int64)
    expected = [i for a, n in runs for i in range(a, a + n)]
    assert ranges(lo, counts).tolist() == expected


def test_inverted_file_misses_are_searched_again_near_a_hit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An edited copy's codes lie tens of bits from the work's, often in lists the inverted file does
    not probe; once one pair is found, the codes near it in both clip and work are compared exactly."""
    monkeypatch.setattr(binary, "IVF_MIN_CODES", 1)
    monkeypatch.setattr(binary, "IVF_PROBES", 1)
    rng = np.random.default_rng(5)
    stored = rng.integers(0, 256, (600, 32), dtype=np.uint8)
    empty = np.zeros(0, np.uint32)
    items = [
        (f"w{i}", empty, empty, 200, binary.pack_rows(np.arange(200), stored[200 * i : 200 * i + 200]))
        for i in range(3)
    ]
    gen = Generation(write_generation(tmp_path, items, 16))
    copy = stored[250:280].copy()  # work 1, units 50..79
    flips = np.argsort(rng.random((30, 256)), axis=1)[:, :50]  # 50 bits each
    bits = np.unpackbits(copy, axis=1)
    np.put_along_axis(bits, flips, 1 - np.take_along_axis(bits, flips, axis=1), axis=1)
    query = np.packbits(bits, axis=1)
    query[10] = stored[260]  # one code the inverted file cannot miss
    units = np.arange(30, dtype=np.int64) + 1000
    plain, _ = binary.search([gen], query, units, 72)
    found, dist = binary.search([gen], query, units, 72, reach=(40, 40))
    pairs = set(zip(found.query_frame.tolist(), found.ref_frame.tolist(), strict=True))
    assert pairs == {(1000 + i, 50 + i) for i in range(30)}
    assert len(plain.work) < 30 and set(found.work.tolist()) == {1} and dist.max() <= 50


def test_pairs_within_agree_with_the_whole_distance_matrix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(binary, "HAMMING_BLOCK", 7)  # a row of the first codes at a time
    rng = np.random.default_rng(9)
    a, b = rng.integers(0, 256, (23, 32), dtype=np.uint8), rng.integers(0, 256, (5, 32), dtype=np.uint8)
    a[::3, :24] = b[0, :24]  # some pairs near, most not
    d = binary.hamming(a, b)
    i, j, bits = binary._pairs_within(a, b, 60)
    assert 0 < len(i) < d.size
    assert sorted(zip(i.tolist(), j.tolist(), bits.tolist(), strict=True)) == sorted(
        (int(x), int(y), int(d[x, y])) for x, y in zip(*np.nonzero(d <= 60), strict=True)
    )
