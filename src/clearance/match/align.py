"""Alignment: from raw (work, reference time, query time) hits to segments with offset and speed.

For each work, hits vote in a grid of (speed, offset) cells: a copy played at speed ``s`` puts its
hits on the line ``t_ref = s * t_query + offset``. The best cell's inliers are split into segments
where the query has gaps, the line is refined by least squares, and the cell is removed so that the
next-best cell (another excerpt of the same work) can be found.

Decision: scores are calibrated against a background model instead of "best match wins". Random hits
of a work spread over all its offsets; the chance that a cell collects ``k`` distinct query anchors
by accident is a Poisson tail, multiplied by the number of cells and works tried (Bonferroni). The
score is ``-log10`` of that probability divided by ``significance_scale``, clipped to [0, 1], so a
threshold means the same false-alarm rate for every work and every catalogue size.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import special

from clearance._arrays import count_distinct, distinct, group, run_starts
from clearance.index.postings import Hits


@dataclass(frozen=True)
class AlignParams:
    """Tunables of the alignment; frames are fingerprint frames of the signal."""

    frame_rate: float
    speed_min: float = 0.88
    speed_max: float = 1.12
    speed_step: float = 0.004
    offset_bin: int = 4
    tolerance_frames: float = 4.0
    max_gap_s: float = 8.0
    min_anchors: int = 5
    significance_scale: float = 16.0
    extent_frames: float = 30.0  # an anchor's hash reaches this far: added to the segment end
    max_segments_per_work: int = 8
    max_works: int = 96  # works whose densest coarse cells are strongest get the full vote
    stop_log10: float = 2.0  # a work's next-best line this weak (expected 100 such by chance) ends its search


@dataclass(frozen=True)
class Segment:
    """One aligned copy of part of a work inside the query (times in seconds)."""

    work_id: str
    query_start: float
    query_end: float
    ref_start: float
    ref_end: float
    speed: float
    score: float
    evidence: dict[str, Any] = field(default_factory=dict)


def align_hits(hits: Hits, params: AlignParams, *, query_frames: int) -> list[Segment]:
    """Candidate segments found in ``hits`` (at least ``min_anchors`` anchors each), best first.

    The ``score`` here is the index-level evidence: signal types with a ``verify`` step replace it.
    """
    if len(hits.work) == 0:
        return []
    # The background model of each work uses all its hits (their number and reference span).
    n_hits = np.bincount(hits.work, minlength=len(hits.work_ids))
    n_works = max(1, int(np.count_nonzero(n_hits)))
    # In float64 (exact below 2**53): NumPy's ``minimum.at`` has a fast path for it, not for int64 (a
    # query's tens of thousands of hits took 3.5 ms per pass against 0.2 ms).
    ref_frames = hits.ref_frame.astype(np.float64)
    first = np.full(len(hits.work_ids), np.inf)
    last = np.full(len(hits.work_ids), -np.inf)
    np.minimum.at(first, hits.work, ref_frames)
    np.maximum.at(last, hits.work, ref_frames)
    # Scattered chance hits are the bulk of the hits in a large catalogue: a cheap over-estimate of
    # each hit's coarse cell drops most of them before the exact count below.
    dense = _maybe_dense(hits.work, hits.ref_frame, hits.query_frame, params.min_anchors)
    work, ref_i, query_i = _distinct_hits(hits.work[dense], hits.ref_frame[dense], hits.query_frame[dense])
    if len(work) == 0:
        return []
    # The hits come sorted by work, so each work's hits are one contiguous run.
    ids, starts, sizes = np.unique(work, return_index=True, return_counts=True)
    # The Hough vote uses only the hits that lie in a coarse cell with enough anchors.
    strength = _coarse_strength(work, ref_i, query_i)
    # Only the works with the densest coarse cells go on to the full vote (verification takes the
    # best few dozen candidates anyway).
    best_cell = np.maximum.reduceat(strength, starts) if len(starts) else np.zeros(0, np.int64)
    eligible = best_cell >= params.min_anchors  # a cell's anchors are among its work's hits
    ranked = np.flatnonzero(eligible)[np.argsort(-best_cell[eligible], kind="stable")][: params.max_works]
    ref = ref_i.astype(np.float64)
    query = query_i.astype(np.float64)
    speeds = np.arange(params.speed_min, params.speed_max + 1e-9, params.speed_step)
    # Each chosen work's hits in strong coarse cells, work by work.
    take = np.zeros(len(ids), bool)
    take[ranked] = True
    sel = np.flatnonzero(np.repeat(take, sizes) & (strength >= params.min_anchors))
    unit = np.repeat(np.arange(len(ids)), sizes)[sel]
    chosen, bounds = np.unique(unit, return_index=True)
    bounds = np.append(bounds, len(sel))
    # Most works voted on hold a few chance hits only: one batched vote finds the first line of every
    # such work, and only those whose line holds enough anchors go on to the per-work search. Works
    # with many hits (a true copy, a small catalogue) vote alone, where a dense grid is cheaper.
    n_sel = np.diff(bounds)
    batched = n_sel <= _BATCH_MAX_HITS
    in_batch = np.repeat(batched, n_sel)
    slot = np.where(batched, np.cumsum(batched) - 1, -1)
    row = np.repeat(slot, n_sel)[in_batch]
    line_speed, line_offset, ok = _first_lines(row, ref[sel[in_batch]], query[sel[in_batch]], speeds, params)
    segments: list[Segment] = []
    for k in range(len(chosen)):
        b = int(slot[k])
        if b >= 0 and not ok[b]:
            continue
        g = sel[bounds[k] : bounds[k + 1]]
        w = int(ids[chosen[k]])
        background = (int(n_hits[w]), float(last[w] - first[w]))
        segments.extend(
            _align_work(
                hits.work_ids[w],
                ref[g],
                query[g],
                speeds,
                params,
                (n_works, query_frames),
                background,
                first=(float(line_speed[b]), float(line_offset[b])) if b >= 0 else None,
            )
        )
    segments.sort(key=lambda s: s.evidence["log10_false_alarm"])
    return segments


def align_lines(hits: Hits, params: AlignParams, *, query_frames: int) -> list[Segment]:
    """Candidate segments like :func:`align_hits`, with every work's hits voting on the full grid.

    For signals whose hits are few and rarely by chance (visual hashes under a Hamming radius): no
    coarse pre-filter, whose cells assume a narrow speed range, stands between a hit and the vote.
    """
    if len(hits.work) == 0:
        return []
    work, ref_i, query_i = _distinct_hits(hits.work, hits.ref_frame, hits.query_frame)
    ref, query = ref_i.astype(np.float64), query_i.astype(np.float64)
    ids, starts, sizes = np.unique(work, return_index=True, return_counts=True)
    speeds = np.arange(params.speed_min, params.speed_max + 1e-9, params.speed_step)
    segments: list[Segment] = []
    for w, a, n in zip(ids.tolist(), starts.tolist(), sizes.tolist(), strict=True):
        r, q = ref[a : a + n], query[a : a + n]
        if count_distinct(q) < params.min_anchors:
            continue
        background = (n, float(r.max() - r.min()))
        segments.extend(
            _align_work(hits.work_ids[w], r, q, speeds, params, (len(ids), query_frames), background)
        )
    segments.sort(key=lambda s: s.evidence["log10_false_alarm"])
    return segments


def _distinct_hits(
    work: npt.NDArray[np.int64], ref: npt.NDArray[np.int64], query: npt.NDArray[np.int64]
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """One vote per distinct (work, reference frame, query frame), sorted by work: several probes of
    one triplet, or several triplets of one anchor, must not count as independent evidence."""
    packed = distinct((work.astype(np.int64) << 42) | (ref << 21) | np.minimum(query, 2**21 - 1))
    return packed >> 42, (packed >> 21) & (2**21 - 1), packed & (2**21 - 1)


_BATCH_MAX_HITS = 512  # works with more strong hits than this vote alone (see ``align_hits``)
_COARSE_WINDOW = 640  # query frames (~10 s): within it a line at speed 0.88-1.12 drifts < 80 frames
_COARSE_BIN = 128  # frames of ``ref - query``; two neighbouring bins together hold any such drift


def _maybe_dense(
    work: npt.NDArray[np.int64], ref: npt.NDArray[np.int64], query: npt.NDArray[np.int64], min_anchors: int
) -> npt.NDArray[np.bool_]:
    """Hits that may lie in a coarse cell pair with ``min_anchors`` anchors (see ``_coarse_strength``).

    A pair of neighbouring offset bins is one bin of twice the width, at an even or an odd start.
    Hits are counted per such cell in a hashed table, not distinct anchors per cell, and colliding
    cells add up: both only raise a cell's count, so every hit that ``_coarse_strength`` keeps is
    kept here, for a few passes over the hits instead of sorts.
    """
    keep = np.zeros(len(work), bool)
    bits = max(10, len(work).bit_length() + 2)
    diag = (ref - query) // _COARSE_BIN + 2**19
    pairs = [(diag + start) >> 1 for start in (0, 1)]
    for phase in (0, _COARSE_WINDOW // 2):
        base = (work << 40) + (((query + phase) // _COARSE_WINDOW) << 20)
        for pair in pairs:
            # Multiply-shift hashing: the top bits of the product, which every input bit reaches.
            slot = ((base + pair) * _MIX).view(np.uint64) >> np.uint64(64 - bits)
            slot = slot.view(np.int64)
            keep |= np.bincount(slot, minlength=1 << bits)[slot] >= min_anchors
    return keep


_MIX = np.int64(0x9E3779B97F4A7C15 - 2**64)  # an odd 64-bit constant, as a signed integer


def _coarse_strength(
    work: npt.NDArray[np.int64], ref: npt.NDArray[np.int64], query: npt.NDArray[np.int64]
) -> npt.NDArray[np.int64]:
    """For each hit, the most distinct query anchors of its work in a coarse cell holding it: a
    (query window, ``ref - query``) cell together with a neighbouring offset bin.

    Windows are taken at two phases, so every hit of a line with ``k`` anchors within half a window
    gets a strength of at least ``k``: two neighbouring offset bins hold the drift of a line at any
    allowed speed. Scattered chance hits, the bulk of the hits in a large catalogue, stay weak.
    """
    best = np.zeros(len(work), np.int64)
    diag = (ref - query) // _COARSE_BIN + 2**17
    for phase in (0, _COARSE_WINDOW // 2):
        win = (query + phase) // _COARSE_WINDOW
        cells, k = group((work << 40) | (win << 20) | diag)
        # Distinct anchors per cell: one query frame hitting a cell many times counts once.
        counts = np.bincount(distinct((k.astype(np.int64) << 21) | query) >> 21, minlength=len(cells))
        j = np.minimum(np.arange(1, len(cells) + 1), len(cells) - 1)
        pair = counts + np.where(cells[j] == cells + 1, counts[j], 0)
        below = np.maximum(k - 1, 0)
        best = np.maximum(best, np.maximum(pair[k], np.where(cells[below] == cells[k] - 1, pair[below], 0)))
    return best


def _align_work(
    work_id: str,
    ref: npt.NDArray[np.float64],
    query: npt.NDArray[np.float64],
    speeds: npt.NDArray[np.float64],
    params: AlignParams,
    sizes: tuple[int, int],
    background: tuple[int, float],
    first: tuple[float, float] | None = None,
) -> list[Segment]:
    """Segments of one work from its hits in strong coarse cells; ``background`` is the number of all
    its hits and their reference span, which set the chance model; ``sizes`` is (works, query frames);
    ``first`` is the densest (speed, offset) cell of all the hits when it is already known."""
    n_works, query_frames = sizes
    found: list[Segment] = []
    alive = np.ones(len(ref), bool)
    n_hits, ref_span = background
    # Offsets a random hit can take: the span of t_ref - s * t_query over this work's hits.
    offset_span = float(ref_span + speeds[-1] * max(query_frames, 1) + params.offset_bin)
    cells = len(speeds) * max(1.0, offset_span / params.offset_bin)
    window = 2 * params.tolerance_frames + 1
    expected = n_hits * window / offset_span
    log10_search = math.log10(cells * n_works)  # Bonferroni over every cell and work tried
    for line in range(params.max_segments_per_work):
        idx = np.flatnonzero(alive)
        if len(idx) < params.min_anchors:
            break
        best = (
            first
            if line == 0 and first is not None
            else _best_cell(ref[idx], query[idx], speeds, params.offset_bin)
        )
        if best is None:
            break
        speed, offset = best
        resid = np.abs(ref[idx] - (speed * query[idx] + offset))
        inl = idx[resid <= params.tolerance_frames]
        if count_distinct(query[inl]) < params.min_anchors:
            break
        alive[inl] = False
        strongest = math.inf
        for seg in _split(inl, query, params.max_gap_s * params.frame_rate, params.frame_rate):
            anchors = count_distinct(query[seg])
            if anchors < params.min_anchors:
                continue
            s, o = _refine(ref[seg], query[seg], speed, offset, params)
            log10_p = _log10_tail(anchors, expected) + log10_search
            strongest = min(strongest, log10_p)
            score = float(np.clip(-log10_p / params.significance_scale, 0.0, 1.0))
            q0 = float(query[seg].min())
            q1 = float(min(query[seg].max() + params.extent_frames, max(query_frames, query[seg].max())))
            fr = params.frame_rate
            found.append(
                Segment(
                    work_id=work_id,
                    query_start=round(q0 / fr, 3),
                    query_end=round(q1 / fr, 3),
                    ref_start=round(max(0.0, s * q0 + o) / fr, 3),
                    ref_end=round(max(0.0, s * q1 + o) / fr, 3),
                    speed=round(s, 4),
                    score=round(score, 4),
                    evidence={
                        "matched_anchors": anchors,
                        "work_hits": n_hits,
                        "expected_random": round(expected, 4),
                        "log10_false_alarm": round(log10_p, 2),
                        "log10_search": round(log10_search, 2),
                    },
                )
            )
        if strongest > params.stop_log10:
            break  # lines come densest first: what is left of this work is chance
    return found


def _best_cell(
    ref: npt.NDArray[np.float64], query: npt.NDArray[np.float64], speeds: npt.NDArray[np.float64], bin_: int
) -> tuple[float, float] | None:
    """The densest (speed, offset) cell: a vote on a grid three times coarser in speed, whose offset
    bins are widened to hold the drift that coarseness allows, then the full grid around its winner."""
    step = float(speeds[1] - speeds[0]) if len(speeds) > 1 else 0.0
    if len(speeds) < 9 or len(ref) < 64:
        return _vote(ref, query, speeds, bin_)
    coarse = speeds[1::3]
    drift = 1.5 * step * float(np.ptp(query))  # worst offset error of the nearest coarse speed
    rough = _vote(ref, query, coarse, max(bin_, int(np.ceil(drift))))
    if rough is None:
        return None
    s0, o0 = rough
    near = np.abs(ref - (s0 * query + o0)) <= 2 * max(bin_, drift) + bin_
    fine = speeds[np.abs(speeds - s0) <= 1.5 * step + 1e-9]
    return _vote(ref[near], query[near], fine, bin_) if near.any() else None


def _first_lines(
    row: npt.NDArray[np.intp],
    ref: npt.NDArray[np.float64],
    query: npt.NDArray[np.float64],
    speeds: npt.NDArray[np.float64],
    params: AlignParams,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.bool_]]:
    """What ``_best_cell`` gives for each group of hits (hit ``i`` in group ``row[i]``, sorted, groups
    numbered from 0): (speed, offset, whether the line holds ``min_anchors`` distinct query anchors).
    It is the same two-stage vote, run for all groups at once, so that a group of chance hits costs a
    few array elements instead of two calls."""
    n = int(row[-1]) + 1 if len(row) else 0
    sizes = np.bincount(row, minlength=n)
    bin_ = params.offset_bin
    step = float(speeds[1] - speeds[0]) if len(speeds) > 1 else 0.0
    big = sizes >= 64 if len(speeds) >= 9 else np.zeros(n, bool)
    speed = np.full(n, np.nan)
    offset = np.full(n, np.nan)
    small = ~big[row]
    if small.any():  # one vote on the full grid
        s, o = _vote_many(
            row[small], ref[small], query[small], np.tile(speeds, (n, 1)), np.full(n, float(bin_))
        )
        speed[~big], offset[~big] = s[~big], o[~big]
    if big.any():
        # A vote on a grid three times coarser in speed, with offset bins widened to hold the drift
        # that coarseness allows, then the full grid around each winner.
        sel = big[row]
        q_min = np.full(n, np.inf)
        q_max = np.full(n, -np.inf)
        np.minimum.at(q_min, row, query)
        np.maximum.at(q_max, row, query)
        drift = 1.5 * step * (q_max - q_min)  # worst offset error of the nearest coarse speed
        widths = np.maximum(bin_, np.ceil(drift))
        s0, o0 = _vote_many(row[sel], ref[sel], query[sel], np.tile(speeds[1::3], (n, 1)), widths)
        near = sel & (np.abs(ref - (s0[row] * query + o0[row])) <= 2 * np.maximum(bin_, drift)[row] + bin_)
        around = np.abs(speeds[None, :] - s0[:, None]) <= 1.5 * step + 1e-9  # False where s0 is NaN
        fine = np.full((n, max(1, int(around.sum(axis=1).max()))), np.nan)
        k, j = np.nonzero(around)
        fine[k, np.cumsum(around, axis=1)[k, j] - 1] = speeds[j]
        s, o = _vote_many(row[near], ref[near], query[near], fine, np.full(n, float(bin_)))
        speed[big], offset[big] = s[big], o[big]
    inl = np.abs(ref - (speed[row] * query + offset[row])) <= params.tolerance_frames
    anchors = np.bincount(
        distinct((row[inl].astype(np.int64) << 32) | query[inl].astype(np.int64)) >> 32, minlength=n
    )
    return speed, offset, anchors >= params.min_anchors


def _vote_many(
    row: npt.NDArray[np.intp],
    ref: npt.NDArray[np.float64],
    query: npt.NDArray[np.float64],
    speeds: npt.NDArray[np.float64],
    widths: npt.NDArray[np.float64],
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """``_vote`` for many groups at once: hit ``i`` belongs to group ``row[i]``, which votes over the
    speeds of its row of ``speeds`` (NaN where it has fewer) with offset bins ``widths[row]`` wide.
    Returns each group's (speed, offset), NaN for a group without hits. ``row`` must be sorted."""
    n, m = speeds.shape
    speed_out = np.full(n, np.nan)
    offset_out = np.full(n, np.nan)
    if len(row) == 0:
        return speed_out, offset_out
    valid = ~np.isnan(speeds)
    n_speeds = valid.sum(axis=1)
    # The rank of each speed within its row: nearest to 1 highest, then the lower speed.
    order = np.lexsort((np.broadcast_to(np.arange(m), (n, m)), np.where(valid, np.abs(speeds - 1.0), np.inf)))
    rank = np.empty((n, m), np.int64)
    np.put_along_axis(rank, order, n_speeds[:, None] - 1 - np.arange(m)[None, :], axis=1)
    offsets = ref[None, :] - speeds[row].T * query[None, :]  # (m, hits); NaN where a row has no speed
    ok = valid[row].T
    lo = np.full(n, np.inf)
    np.minimum.at(lo, row, np.where(ok, offsets, np.inf).min(axis=0))
    bins = np.zeros(offsets.shape, np.int64)
    bins[ok] = ((offsets - lo[row]) / widths[row])[ok].astype(np.int64)
    stride = int(bins.max()) + 2
    key = ((row[None, :].astype(np.int64) * m + np.arange(m)[:, None]) * stride + bins)[ok]
    cells = np.sort(key)
    at = run_starts(cells)
    counts = np.diff(np.append(at, len(cells)))
    cells = cells[at]
    pair = counts.copy()
    pair[:-1] += np.where(cells[1:] == cells[:-1] + 1, counts[1:], 0)
    cell_row = cells // (m * stride)
    cell_speed = (cells // stride) % m
    score = pair * n_speeds[cell_row] + rank[cell_row, cell_speed]
    # Each row's best cell; among equal scores the first, i.e. the lowest offset.
    starts = run_starts(cell_row)
    best = np.maximum.reduceat(score, starts)
    top = np.flatnonzero(score == np.repeat(best, np.diff(np.append(starts, len(score)))))
    top = top[run_starts(cell_row[top])]
    win_row = cell_row[top]
    win_speed = cell_speed[top]
    win_bin = cells[top] % stride
    # The offset is the median over the hits in the winning pair of bins.
    j = np.full(n, -1)
    j[win_row] = win_speed
    b = np.full(n, -1)
    b[win_row] = win_bin
    hit_bin = bins[j[row], np.arange(len(row))]
    members = (hit_bin == b[row]) | (hit_bin == b[row] + 1)
    vals = offsets[j[row], np.arange(len(row))][members]
    mrow = row[members]
    o = np.lexsort((vals, mrow))
    vals, mrow = vals[o], mrow[o]
    mstart = run_starts(mrow)
    mcount = np.diff(np.append(mstart, len(mrow)))
    offset_out[mrow[mstart]] = (vals[mstart + (mcount - 1) // 2] + vals[mstart + mcount // 2]) / 2
    speed_out[win_row] = speeds[win_row, win_speed]
    return speed_out, offset_out


def _vote(
    ref: npt.NDArray[np.float64], query: npt.NDArray[np.float64], speeds: npt.NDArray[np.float64], bin_: int
) -> tuple[float, float] | None:
    offsets = ref[None, :] - speeds[:, None] * query[None, :]
    lo = float(offsets.min())
    # The values are non-negative, so truncation is the floor (float floor division costs 5x more).
    bins = ((offsets - lo) / bin_).astype(np.int64)
    n_bins = int(bins.max()) + 2
    n_speeds = len(speeds)
    flat = bins  # in place: the grid's large temporaries dominated this function's time
    flat += (np.arange(n_speeds) * n_bins)[:, None]
    flat = flat.reshape(-1)
    # A short line fits several neighbouring speeds equally well: among the tied cells, take the
    # speed nearest to 1 (then the lower speed, then the lower offset).
    rank = np.empty(n_speeds, np.int64)
    rank[np.lexsort((np.arange(n_speeds), np.abs(speeds - 1.0)))] = np.arange(n_speeds)[::-1]
    # A true line can straddle two offset bins: cells are scored as pairs of neighbouring bins.
    if len(flat) * 8 < n_speeds * n_bins:
        # Few hits over a wide offset range: score only the pairs that hold a hit.
        # Pairs are scored at the occupied cells only: a pair starting in an empty cell holds no more
        # than the pair starting at its occupied neighbour, and the same hits (the last offset bin of
        # a speed is always empty, so a pair never crosses into the next speed).
        cells, inverse = group(flat)
        counts = np.bincount(inverse)
        pair = counts.copy()
        pair[:-1] += np.where(cells[1:] == cells[:-1] + 1, counts[1:], 0)
        best = int(np.argmax(pair * n_speeds + rank[cells // n_bins]))
        si, oi = divmod(int(cells[best]), n_bins)
    else:
        grid = np.bincount(flat, minlength=n_speeds * n_bins).reshape(n_speeds, n_bins)
        pair_grid = grid[:, :-1] + grid[:, 1:]
        pair_grid *= n_speeds
        pair_grid += rank[:, None]
        si, oi = divmod(int(np.argmax(pair_grid)), n_bins - 1)
    row = flat[si * len(ref) : (si + 1) * len(ref)] - si * n_bins
    members = (row == oi) | (row == oi + 1)
    offset = _median(offsets[si][members])
    return float(speeds[si]), offset


def _split(
    idx: npt.NDArray[np.intp], query: npt.NDArray[np.float64], max_gap: float, frame_rate: float
) -> list[npt.NDArray[np.intp]]:
    """Runs of inliers along the query: stray hits that fall on the line by chance are dropped first.

    Inliers are cut into pieces at gaps over 2.5 s; pieces with fewer than three anchors are strays;
    the remaining pieces are joined again where they are at most ``max_gap`` apart.
    """
    idx = idx[np.argsort(query[idx], kind="stable")]
    pieces = np.split(idx, np.flatnonzero(np.diff(query[idx]) > 2.5 * frame_rate) + 1)
    pieces = [p for p in pieces if count_distinct(query[p]) >= 3]
    runs: list[npt.NDArray[np.intp]] = []
    for piece in pieces:
        if runs and query[piece[0]] - query[runs[-1][-1]] <= max_gap:
            runs[-1] = np.concatenate([runs[-1], piece])
        else:
            runs.append(piece)
    return runs


def _refine(
    ref: npt.NDArray[np.float64],
    query: npt.NDArray[np.float64],
    speed: float,
    offset: float,
    params: AlignParams,
) -> tuple[float, float]:
    # A least-squares line is trustworthy only when the segment spans several seconds.
    if len(ref) >= 8 and np.ptp(query) > 3 * params.frame_rate:
        s, o = np.polyfit(query, ref, 1)
        if params.speed_min - 0.02 <= s <= params.speed_max + 0.02:
            return float(s), float(o)
    return speed, _median(ref - speed * query)


def _median(x: npt.NDArray[np.float64]) -> float:
    """``np.median`` of a small non-empty array, by one sort (np.median's overhead is ten times this)."""
    s = np.sort(x)
    return float((s[(len(s) - 1) // 2] + s[len(s) // 2]) / 2)


def _log10_tail(k: int, expected: float) -> float:
    """log10 P(X >= k) for X ~ Poisson(expected)."""
    expected = max(expected, 1e-9)
    # scipy.stats' logsf is log(pdtrc) behind 50 us of argument checking; this is the same number.
    tail = float(special.pdtrc(k - 1, expected))
    return math.log10(tail) if tail > 0 else -300.0
