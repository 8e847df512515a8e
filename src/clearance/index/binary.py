"""Hamming search over binary codes (PDQ hashes) kept in the postings generations, through FAISS.

A visual signal stores each kept frame as one row of its work's points: the frame's time unit, then
the code's 32-bit words. The generation files stay the crash-safe, memory-mapped ones of
:mod:`clearance.index.postings`; the FAISS index over a generation's codes is built from them the
first time a process searches it and kept for as long as the generation is mapped.

Decision: exact ``IndexBinaryFlat`` (brute-force popcount) below ``IVF_MIN_CODES`` codes, an
inverted file (``IndexBinaryIVF``, ``IVF_PROBES`` of its lists searched) from there on. Measured for
issue 3: multi-index hashing gave no speed-up at 1-10 M codes for 2.5-10x the memory, and binary
HNSW recalled 19-44 % of planted near-duplicates. At 2 M codes (the benchmark's references among
filler made of their own hashes with the bits permuted) a range search of 72 bits took 5.5 ms per
query code flat, about 20 s for the 3,800 codes a 10 s clip then sent (about 1,460 now). The
inverted file took 0.06-0.11 ms with 16 lists probed and kept 87-89 % of the true pairs within 72
bits (a copy needs only a few of its frames to meet), with 4,096 lists or with 2 sqrt(n) = 2,828;
the latter trains in half the time (98 s against 224 s, on a busy machine), so it is the rule.
Training takes minutes at such sizes, so it is done when compaction merges a generation
(:func:`prepare`, before the generation is active; else at its first search), and the centroids and
each code's list are written into the generation's folder (generations never change; 4 bytes a code,
where FAISS's own file would store every code again) and the lists are filled from them afterwards.
An edited copy's codes lie tens of bits from the work's, where the inverted file misses many pairs;
a work it hits fewer than ``SPARSE_HITS`` times is searched again exactly near those hits (a visual
signal passes the reach: :class:`Reach`). The inverted file starts at 65,536 codes (about 8 hours
of reference video): flat search costs about 2.7 us per query code per thousand stored codes, so a
10 s clip's search would pass a second near 100,000 codes, while the inverted file stays near 0.1 ms
per query code.
"""

from __future__ import annotations

import os
import weakref
from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np
import numpy.typing as npt

from clearance._arrays import ranges
from clearance.index.postings import Generation, Hits

IVF_MIN_CODES = 1 << 16
IVF_PROBES = 16
IVF_TRAIN_PER_LIST = 64
IVF_FILE = "ivf.npz"
SPARSE_HITS = 24
"""A work with fewer hits than this from an inverted file is searched again exactly near them."""
SPARSE_WORKS = 16  # at most this many works searched again per generation, those with most hits
HAMMING_BLOCK = 1 << 20  # 64-bit words XORed at once by :func:`hamming`
CODE_BITS = 256
CODE_WORDS = CODE_BITS // 32
"""A stored row is its head words, then the code as little-endian 32-bit words: a frame hash's head is
its time unit; a local feature's the unit, then the feature's position."""


@dataclass(frozen=True)
class _Codes:
    index: faiss.IndexBinary
    work: npt.NDArray[np.int64]
    head: npt.NDArray[np.int64]  # rows x head words


_CACHE: weakref.WeakKeyDictionary[Generation, _Codes] = weakref.WeakKeyDictionary()


def pack_rows(head: npt.NDArray[np.int64], codes: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint32]:
    """Rows ``[head words..., code words...]`` flattened into the uint32 points a generation stores;
    ``head`` is one word per row (the time unit) or ``rows x k`` words."""
    head = np.asarray(head)
    head = head.reshape(len(codes), 1 if head.ndim == 1 else head.shape[1])
    words = np.ascontiguousarray(codes, np.uint8).view("<u4").reshape(len(codes), CODE_WORDS)
    return np.concatenate([head.astype(np.uint32), words.astype(np.uint32)], axis=1).reshape(-1)


def unpack_rows(
    points: npt.NDArray[np.uint32], head: int = 1
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.uint8]]:
    """(head words, codes as ``n x 32`` bytes) from stored points; with ``head=1`` (a frame hash's
    rows) the head comes back as a vector of units."""
    rows = np.asarray(points, np.uint32).reshape(-1, head + CODE_WORDS)
    codes = (
        np.ascontiguousarray(rows[:, head:]).astype("<u4").view(np.uint8).reshape(len(rows), CODE_BITS // 8)
    )
    words = rows[:, :head].astype(np.int64)
    return (words[:, 0] if head == 1 else words), codes


def _codes(gen: Generation, head: int) -> _Codes:
    cached = _CACHE.get(gen)
    if cached is not None:
        return cached
    rows = [unpack_rows(gen.points(w), head) for w in range(len(gen.work_ids))]
    if not rows:
        built = _Codes(faiss.IndexBinaryFlat(CODE_BITS), np.zeros(0, np.int64), np.zeros((0, head), np.int64))
    else:
        # One add for the whole generation rather than a call per work (thousands in a large one).
        index = _index(np.concatenate([codes for _, codes in rows]), gen.path)
        work = np.repeat(np.arange(len(rows), dtype=np.int64), [len(words) for words, _ in rows])
        built = _Codes(index, work, np.concatenate([words.reshape(len(words), head) for words, _ in rows]))
    _CACHE[gen] = built
    return built


def prepare(gen: Generation, head: int) -> None:
    """Build ``gen``'s index now; from ``IVF_MIN_CODES`` codes this trains the inverted file and
    writes it into the generation's folder, so that no scan pays for it."""
    _codes(gen, head)


def _index(codes: npt.NDArray[np.uint8], folder: Path) -> faiss.IndexBinary:
    """A flat index of ``codes``, or from ``IVF_MIN_CODES`` an inverted file: its lists filled from
    the assignment kept in ``folder`` when it was trained before, else trained on a sample, filled,
    and its centroids and assignment written there."""
    if len(codes) < IVF_MIN_CODES:
        flat = faiss.IndexBinaryFlat(CODE_BITS)
        flat.add(codes)
        return flat
    path = folder / IVF_FILE
    kept = _read_ivf(path, len(codes))
    if kept is None:
        n_lists = max(1, min(int(2 * np.sqrt(len(codes))), len(codes) // 39))
        trainer = faiss.IndexBinaryIVF(faiss.IndexBinaryFlat(CODE_BITS), CODE_BITS, n_lists)
        sample = np.random.default_rng(0).choice(
            len(codes), min(len(codes), IVF_TRAIN_PER_LIST * n_lists), replace=False
        )
        trainer.train(codes[np.sort(sample)])
        centroids = trainer.quantizer.reconstruct_n(0, n_lists)
        lists = trainer.quantizer.search(codes, 1)[1][:, 0].astype(np.int32)
        # Written beside the generation's own files, atomically: a crash leaves no half-written file.
        tmp = path.with_name(f".{os.getpid()}.{IVF_FILE}")
        np.savez(tmp, centroids=centroids, lists=lists)
        os.replace(tmp, path)
    else:
        centroids, lists = kept
    quantizer = faiss.IndexBinaryFlat(CODE_BITS)
    quantizer.add(np.ascontiguousarray(centroids))
    index = faiss.IndexBinaryIVF(quantizer, CODE_BITS, len(centroids))
    index.is_trained = True
    codes = np.ascontiguousarray(codes, np.uint8)
    ids = np.arange(len(codes), dtype=np.int64)
    assigned = lists.astype(np.int64)
    # Each code into the list it was assigned when trained: no search of the centroids again.
    index.add_core(  # type: ignore[attr-defined]
        len(codes), faiss.swig_ptr(codes), faiss.swig_ptr(ids), faiss.swig_ptr(assigned)
    )
    index.nprobe = IVF_PROBES
    return index


def _read_ivf(path: Path, n_codes: int) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.int32]] | None:
    """The centroids and each code's list written before, or ``None`` where there are none fit to
    use (then they are trained again: they derive from the generation's own files)."""
    try:
        with np.load(path) as kept:
            centroids, lists = kept["centroids"], kept["lists"]
    except (OSError, ValueError, KeyError):  # missing or unreadable
        return None
    fit = (
        centroids.ndim == 2
        and centroids.shape[1] == CODE_BITS // 8
        and len(lists) == n_codes
        and len(centroids) > 0
        and (n_codes == 0 or (lists.min() >= 0 and lists.max() < len(centroids)))
    )
    return (centroids.astype(np.uint8), lists.astype(np.int32)) if fit else None


def hamming(a: npt.NDArray[np.uint8], b: npt.NDArray[np.uint8]) -> npt.NDArray[np.int64]:
    """Bit distances between every code of ``a`` (rows) and every code of ``b`` (columns)."""
    x = np.ascontiguousarray(a, np.uint8).view(np.uint64)
    y = np.ascontiguousarray(b, np.uint8).view(np.uint64)
    out = np.empty((len(x), len(y)), np.int64)
    # XOR and popcount a block of rows at a time: the rows x columns x words temporary stays bounded.
    step = max(1, HAMMING_BLOCK // max(1, y.size))
    for i in range(0, len(x), step):
        np.bitwise_count(x[i : i + step, None, :] ^ y[None, :, :]).sum(axis=2, out=out[i : i + step])
    return out


@dataclass(frozen=True)
class RowHits:
    """Stored rows within reach of query codes: the work (index into ``work_ids``), the stored row's
    head words, the query code's position, and the distance in bits."""

    work_ids: list[str]
    work: npt.NDArray[np.int64]
    head: npt.NDArray[np.int64]
    query: npt.NDArray[np.int64]
    bits: npt.NDArray[np.int64]


@dataclass(frozen=True)
class Reach:
    """Where an inverted file's few hits on a work are searched again, exactly: the query codes
    within ``query`` time units of a hit (``units``: each query code's unit) against the work's rows
    within ``ref`` units of it (a stored row's first head word is its unit)."""

    units: npt.NDArray[np.int64]
    query: int
    ref: int


def search_rows(
    generations: list[Generation],
    codes: npt.NDArray[np.uint8],
    radius: int,
    head: int = 1,
    max_hits: int | None = None,
    reach: Reach | None = None,
) -> RowHits:
    """Every stored row whose code lies within ``radius`` bits of a query code; with ``max_hits``, at
    most that many of them, the nearest (:func:`nearest_rows`).

    An inverted file misses some of them. With ``reach``, a work that it gives fewer than
    ``SPARSE_HITS`` hits is searched again exactly near them (:func:`_search_near`)."""
    codes = np.ascontiguousarray(codes, np.uint8).reshape(-1, CODE_BITS // 8)
    # Each distinct code is searched once (a still shot repeats its frames' codes) and its hits are
    # handed to every query code equal to it.
    distinct, inverse = np.unique(codes, axis=0, return_inverse=True)
    inverse = inverse.reshape(-1)  # NumPy 2.0.0 gave it a trailing axis with ``axis=0``
    work_ids: list[str] = []
    parts: list[tuple[npt.NDArray[np.int64], ...]] = []
    for gen in generations:
        built = _codes(gen, head)
        if built.index.ntotal and len(codes):
            # FAISS's binary range search keeps distances strictly below the radius.
            lims, dist, rows = built.index.range_search(distinct, radius + 1)
            lims = lims.astype(np.int64)
            per_code = np.diff(lims)[inverse]
            q = np.repeat(np.arange(len(codes)), per_code)
            at = ranges(lims[:-1][inverse], per_code)
            rows, bits = rows[at].astype(np.int64), dist[at].astype(np.int64)
            if reach is not None and not isinstance(built.index, faiss.IndexBinaryFlat):
                rows, q, bits = _search_near(gen, built, codes, (rows, q, bits), radius, reach)
            parts.append((built.work[rows] + len(work_ids), built.head[rows], q, bits))
        work_ids.extend(gen.work_ids)
    if not parts:
        empty = np.zeros(0, np.int64)
        return RowHits(work_ids, empty, np.zeros((0, head), np.int64), empty, empty)
    work, words, query, bits = (np.concatenate([p[i] for p in parts]) for i in range(4))
    found = RowHits(work_ids, work, words, query, bits)
    return found if max_hits is None else nearest_rows(found, max_hits)


def _search_near(
    gen: Generation,
    built: _Codes,
    codes: npt.NDArray[np.uint8],
    found: tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64]],
    radius: int,
    reach: Reach,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """``found`` (rows, query codes, bits: an inverted file's hits) with each sparsely hit work's
    hits replaced by an exact search of the query codes near its hits against its rows near them.

    Decision: an inverted file finds a pair of codes only when both lie in one of the lists probed,
    and edited copies sit 40-72 bits from their source, where that often fails: measured for issue 3
    at 8 M codes, a logo-overlay copy had 101 pairs within 72 bits, 2 of them found with 16 lists
    probed. One pair found places the copy in the work and in time; the exact search around it, a
    few seconds of the work against a few seconds of the clip, costs little and finds the rest."""
    rows, query, bits = found
    work = built.work[rows]
    counts = np.bincount(work, minlength=len(gen.work_ids))
    sparse = np.flatnonzero((counts > 0) & (counts < SPARSE_HITS))
    sparse = sparse[np.argsort(-counts[sparse], kind="stable")][:SPARSE_WORKS]
    if len(sparse) == 0:
        return found
    units = np.asarray(reach.units, np.int64)
    redone = np.isin(work, sparse)
    parts = [(rows[~redone], query[~redone], bits[~redone])]
    for w in sparse:
        at = work == w
        q_anchor, r_anchor = units[query[at]], built.head[rows[at], 0]
        # A work's rows are contiguous in the generation, in the order it stores them.
        first = int(np.searchsorted(built.work, w))
        _, ref_codes = unpack_rows(gen.points(int(w)), built.head.shape[1])
        ref_units = built.head[first : first + len(ref_codes), 0]
        near_q = np.flatnonzero(_within(units, q_anchor, reach.query))
        near_r = np.flatnonzero(_within(ref_units, r_anchor, reach.ref))
        i, j, d = _pairs_within(codes[near_q], ref_codes[near_r], radius)
        parts.append((first + near_r[j], near_q[i], d))
    rows, query, bits = (np.concatenate([p[k] for p in parts]) for k in range(3))
    return rows, query, bits


def _pairs_within(
    a: npt.NDArray[np.uint8], b: npt.NDArray[np.uint8], radius: int
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """(row of ``a``, row of ``b``, bits) of the pairs within ``radius`` bits, a block of rows of
    ``a`` at a time so that the distance matrix held stays bounded."""
    out_i, out_j, out_d = [], [], []
    step = max(1, HAMMING_BLOCK // max(1, len(b)))
    for lo in range(0, len(a), step):
        d = hamming(a[lo : lo + step], b)
        i, j = np.nonzero(d <= radius)
        out_i.append(i + lo)
        out_j.append(j)
        out_d.append(d[i, j])
    if not out_i:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int64)
    return np.concatenate(out_i), np.concatenate(out_j), np.concatenate(out_d)


def _within(
    values: npt.NDArray[np.int64], anchors: npt.NDArray[np.int64], radius: int
) -> npt.NDArray[np.bool_]:
    """Which ``values`` lie within ``radius`` of one of ``anchors``."""
    anchors = np.unique(anchors)
    at = np.searchsorted(anchors, values)
    left = anchors[np.maximum(at - 1, 0)]
    right = anchors[np.minimum(at, len(anchors) - 1)]
    out: npt.NDArray[np.bool_] = (np.abs(values - left) <= radius) | (np.abs(values - right) <= radius)
    return out


def nearest_rows(found: RowHits, max_hits: int) -> RowHits:
    """At most ``max_hits`` of the search's hits, the nearest (``Search.max_hits``: a clip of
    repetitive texture against a large catalogue must not flood the alignment and the checks after
    it)."""
    if len(found.bits) <= max_hits:
        return found
    keep = np.sort(np.argpartition(found.bits, max_hits - 1)[:max_hits])
    return RowHits(found.work_ids, found.work[keep], found.head[keep], found.query[keep], found.bits[keep])


def search(
    generations: list[Generation],
    codes: npt.NDArray[np.uint8],
    units: npt.NDArray[np.int64],
    radius: int,
    max_hits: int | None = None,
    reach: tuple[int, int] | None = None,
) -> tuple[Hits, npt.NDArray[np.int64]]:
    """Every stored code within ``radius`` bits of a query code (at most ``max_hits``, the nearest), as
    hits (work, reference and query unit) and their distances in bits; ``reach`` (query and
    reference units) as in :class:`Reach`."""
    near = None if reach is None else Reach(np.asarray(units, np.int64), *reach)
    found = search_rows(generations, codes, radius, max_hits=max_hits, reach=near)
    query_units = np.asarray(units, np.int64)[found.query]
    return Hits(found.work_ids, found.work, found.head[:, 0], query_units), found.bits
