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
from scipy import stats

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
    significance_scale: float = 12.0
    extent_frames: float = 30.0  # an anchor's hash reaches this far: added to the segment end
    max_segments_per_work: int = 8


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
    # One vote per distinct (work, reference frame, query frame): several probes of one triplet, or
    # several triplets of one anchor, must not count as independent evidence.
    packed = np.unique(
        (hits.work.astype(np.int64) << 42) | (hits.ref_frame << 21) | np.minimum(hits.query_frame, 2**21 - 1)
    )
    work = packed >> 42
    ref = ((packed >> 21) & (2**21 - 1)).astype(np.float64)
    query = (packed & (2**21 - 1)).astype(np.float64)
    order = np.argsort(work, kind="stable")
    work, ref, query = work[order], ref[order], query[order]
    bounds = np.flatnonzero(np.diff(work)) + 1
    groups = np.split(np.arange(len(work)), bounds)
    candidates = [g for g in groups if len(g) >= params.min_anchors]
    n_works = max(1, len(groups))
    speeds = np.arange(params.speed_min, params.speed_max + 1e-9, params.speed_step)
    segments: list[Segment] = []
    for g in candidates:
        work_id = hits.work_ids[int(work[g[0]])]
        segments.extend(_align_work(work_id, ref[g], query[g], speeds, params, n_works, query_frames))
    segments.sort(key=lambda s: s.evidence["log10_false_alarm"])
    return segments


def _align_work(
    work_id: str,
    ref: npt.NDArray[np.float64],
    query: npt.NDArray[np.float64],
    speeds: npt.NDArray[np.float64],
    params: AlignParams,
    n_works: int,
    query_frames: int,
) -> list[Segment]:
    found: list[Segment] = []
    alive = np.ones(len(ref), bool)
    n_hits = len(ref)
    # Offsets a random hit can take: the span of t_ref - s * t_query over this work's hits.
    offset_span = float(np.ptp(ref) + speeds[-1] * max(query_frames, 1) + params.offset_bin)
    cells = len(speeds) * max(1.0, offset_span / params.offset_bin)
    window = 2 * params.tolerance_frames + 1
    expected = n_hits * window / offset_span
    for _ in range(params.max_segments_per_work):
        idx = np.flatnonzero(alive)
        if len(idx) < params.min_anchors:
            break
        best = _best_cell(ref[idx], query[idx], speeds, params.offset_bin)
        if best is None:
            break
        speed, offset = best
        resid = np.abs(ref[idx] - (speed * query[idx] + offset))
        inl = idx[resid <= params.tolerance_frames]
        if len(np.unique(query[inl])) < params.min_anchors:
            break
        alive[inl] = False
        for seg in _split(inl, query, params.max_gap_s * params.frame_rate, params.frame_rate):
            anchors = len(np.unique(query[seg]))
            if anchors < params.min_anchors:
                continue
            s, o = _refine(ref[seg], query[seg], speed, offset, params)
            log10_p = _log10_tail(anchors, expected) + math.log10(cells * n_works)
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
                    },
                )
            )
    return found


def _best_cell(
    ref: npt.NDArray[np.float64], query: npt.NDArray[np.float64], speeds: npt.NDArray[np.float64], bin_: int
) -> tuple[float, float] | None:
    offsets = ref[None, :] - speeds[:, None] * query[None, :]
    lo = float(offsets.min())
    bins = ((offsets - lo) // bin_).astype(np.int64)
    n_bins = int(bins.max()) + 2
    flat = (np.arange(len(speeds))[:, None] * n_bins + bins).reshape(-1)
    counts = np.bincount(flat, minlength=len(speeds) * n_bins).reshape(len(speeds), n_bins)
    # A true line can straddle two offset bins: score pairs of neighbouring bins.
    pair = counts[:, :-1] + counts[:, 1:]
    si, oi = np.unravel_index(int(np.argmax(pair)), pair.shape)
    if pair[si, oi] == 0:
        return None
    members = (bins[si] == oi) | (bins[si] == oi + 1)
    offset = float(np.median(offsets[si][members]))
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
    pieces = [p for p in pieces if len(np.unique(query[p])) >= 3]
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
    return speed, float(np.median(ref - speed * query))


def _log10_tail(k: int, expected: float) -> float:
    """log10 P(X >= k) for X ~ Poisson(expected)."""
    expected = max(expected, 1e-9)
    p = float(stats.poisson.logsf(k - 1, expected)) / math.log(10)
    return p if math.isfinite(p) else -300.0
