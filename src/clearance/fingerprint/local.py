"""Local features: ORB keypoints of the detail pictures, matched under one similarity transform.

PDQ hashes a frame as a whole, and a crop moves every one of its bits: measured for issue 3, a
shift of 2 % of the frame already puts a frame ~90 bits from itself, so crops of 10-25 %, a 5 degree
rotation and a picture-in-picture inset defeat it whatever the threshold. Keypoints survive them.

A registered video keeps the ORB keypoints (OpenCV) of one detail picture every ``KEEP_EVERY_S``
(closer together in a work too short for ``MIN_PICTURES`` of them),
reduced to ``REF_SIZE`` and without its dark bars; a scanned clip those of every detail picture
(``DETAIL_FPS`` a second, up to ``DETAIL_SIZE``). A query picture meets a reference picture when at
least ``MIN_INLIERS`` of their keypoint matches (descriptors within ``DESC_BITS``, each keypoint's best)
agree on one similarity transform (RANSAC) whose scale is plausible and whose inliers spread over the
reference picture, so that a small logo shared by two works is not a match: far along one axis, a
little along the other, as a line of text on black is. Those meetings
vote for lines in time like PDQ's frames do, each line is moved to where its pairs agree most
(:func:`settle_segment`), and verification re-measures it.

Decision: positions are stored in units of the picture's longest side / ``POSITION_SCALE``, so that the
spread of the inliers is measured without storing each picture's size.

Limits (measured in ``benchmarks/video.py``): the index takes about 6.7 MB per hour of reference
video, a dozen times the frame hashes' (``Settings.signals_off`` turns it off), and the search is
exact (FAISS ``IndexBinaryFlat`` over every stored descriptor), fine for tens of hours of references
but not for a thousand: that needs an inverted-file index first. Dark, grainy footage (a lyric video)
gives keypoints that do not survive being shrunk into an inset.
"""

from __future__ import annotations

import math
from dataclasses import replace

import cv2
import numpy as np
import numpy.typing as npt

from clearance._arrays import argmin_per, group, max_per, near_integers
from clearance.fingerprint.base import Fingerprint
from clearance.fingerprint.visual import (
    UNITS_PER_S,
    VisualPDQ,
    _empty,
    _log10_choose,
    _n_units,
    lines_through,
    picture_segments,
    placed,
    refit_line,
    without_dark_border,
)
from clearance.index import binary
from clearance.index.postings import Generation, Hits
from clearance.match.align import Segment
from clearance.media.decode import DETAIL_FPS, DecodedMedia

HEAD_WORDS = 2
"""A stored row: the time unit, the keypoint's position (``x | y << 16``), then its 256-bit descriptor."""
POSITION_SCALE = 4096
REF_SIZE = 320  # longest side of the reference's detail picture (the query's is larger: insets are small)
REF_FEATURES = 100
QUERY_FEATURES = 500
KEEP_EVERY_S = 2.0
MIN_PICTURES = 8  # a work shorter than MIN_PICTURES * KEEP_EVERY_S keeps its pictures closer together
DESC_BITS = 50  # ORB descriptors of unrelated keypoints lie ~100-128 bits apart
SEARCH_BITS = 64  # candidates searched: the match and its runner-up, for the ratio test
RATIO = 0.8
MIN_INLIERS = 8
MIN_SPREAD = 0.12  # of the longest side, along the axis where the inliers spread most
MIN_SPREAD_ACROSS = 0.04
"""Spread along the other axis. Decision: a line of lyrics on black (``shared/media``'s echo) keeps
its inliers in one band, and a crop can leave a copy only a band of its keypoints; a logo is small
along both axes. Measured for issue 3 on the video benchmark's crops and logo overlays (40 of each,
seed 1), ``MIN_SPREAD`` on both axes missed 7 of the 80 copies and this rule 2. Text shared by two
works in the same font, size and place (a caption) now counts as a match; unrelated picture pairs
stay below ``MIN_INLIERS`` either way (see ``PAIR_CHANCE``)."""
MAX_SCALE = 4.0  # a query picture shows the reference between 1/MAX_SCALE and MAX_SCALE its size
RANSAC_PX = 3.0 / REF_SIZE * POSITION_SCALE
MAX_PAIRS = 4000  # picture pairs geometrically checked per query (bounds the latency)
PAIR_CHANCE = 1e-4
"""Chance that a query picture meets an unrelated reference picture with ``MIN_INLIERS`` inliers.
Measured with a prototype of this check (same thresholds, OpenCV's brute-force matcher) on pictures
of ``shared/media/video``: crops, rotations and insets of each video against the pictures of the
others, 21,600 unrelated pairs, none reached 8 inliers (at most 6). Measured again with this check on
134 queries of the video benchmark (a quarter, seed 1), each picture against every picture of every
work it was not cut from: 13 pairs reached 5 inliers, none more than 6. Each further inlier halves it,
down to ``MIN_PAIR_CHANCE``: however many keypoints agree, one picture pair counts for no more."""
MIN_PAIR_CHANCE = 1e-12
VERIFY_WINDOW_S = 0.5 * KEEP_EVERY_S + 0.25  # each mapped time has one kept picture within reach, or two
PLACE_WINDOW_S = 0.25  # a picture pair agrees most where both show nearly the same frame
PLACE_MARGIN_INLIERS = 4 * MIN_INLIERS


def orb_features(
    picture: npt.NDArray[np.uint8], n_features: int, size: int
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.uint8]]:
    """ORB keypoints of a luma picture without its dark bars, reduced to ``size`` at most: positions
    (``n x 2``, in units of the longest side / ``POSITION_SCALE``) and descriptors (``n x 32`` bytes)."""
    img = without_dark_border(picture)
    h, w = img.shape
    scale = min(1.0, size / max(h, w))
    if scale < 1.0:
        size_wh = (max(8, round(w * scale)), max(8, round(h * scale)))
        img = np.asarray(cv2.resize(img, size_wh, interpolation=cv2.INTER_AREA), np.uint8)
    orb = cv2.ORB.create(nfeatures=n_features, fastThreshold=10)
    keypoints, descriptors = orb.detectAndCompute(np.ascontiguousarray(img), None)
    if descriptors is None or not keypoints:
        return np.zeros((0, 2), np.int64), np.zeros((0, 32), np.uint8)
    xy = np.array([k.pt for k in keypoints], np.float64) * POSITION_SCALE / max(img.shape)
    return np.round(xy).astype(np.int64), np.asarray(descriptors, np.uint8)


def _rows(units: list[npt.NDArray[np.int64]], xys: list[npt.NDArray[np.int64]],
          codes: list[npt.NDArray[np.uint8]]) -> npt.NDArray[np.uint32]:  # fmt: skip
    if not codes:
        return np.zeros(0, np.uint32)
    xy = np.concatenate(xys)
    head = np.stack([np.concatenate(units), xy[:, 0] | (xy[:, 1] << 16)], axis=1)
    return binary.pack_rows(head, np.concatenate(codes))


def _unpack(
    points: npt.NDArray[np.uint32],
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32], npt.NDArray[np.uint8]]:
    head, codes = binary.unpack_rows(points, HEAD_WORDS)
    head = head.reshape(-1, HEAD_WORDS)
    return head[:, 0], _xy(head[:, 1]), codes


def _xy(packed: npt.NDArray[np.int64]) -> npt.NDArray[np.float32]:
    return np.stack([packed & 0xFFFF, packed >> 16], axis=1).astype(np.float32)


def inliers(q_xy: npt.NDArray[np.float32], r_xy: npt.NDArray[np.float32], bits: npt.NDArray[np.int64]) -> int:
    """How many of the candidate matches (query and reference positions, row by row, and the
    descriptors' distance) agree on one plausible similarity transform; 0 below ``MIN_INLIERS``.

    Each query keypoint keeps its nearest reference keypoint, within ``DESC_BITS`` and clearly nearer
    than its second nearest among the candidates (Lowe's ratio test: candidates up to
    ``SEARCH_BITS`` are given for it), and each reference keypoint its nearest query keypoint, so one
    textured spot cannot vote many times."""
    if len(bits) < MIN_INLIERS:
        return 0
    q_key = _point_key(q_xy)
    order = np.lexsort((bits, q_key))
    first = np.r_[True, q_key[order][1:] != q_key[order][:-1]]
    second_bits = np.r_[bits[order][1:], SEARCH_BITS + 1]
    has_second = np.r_[~first[1:], False]
    distinct = np.where(has_second, bits[order] < RATIO * second_bits, True)
    keep = order[first & distinct & (bits[order] <= DESC_BITS)]
    r_keep = keep[argmin_per(_point_key(r_xy[keep]), bits[keep])]
    if len(r_keep) < MIN_INLIERS:
        return 0
    src, dst = q_xy[r_keep], r_xy[r_keep]
    transform, mask = cv2.estimateAffinePartial2D(
        src, dst, method=cv2.RANSAC, ransacReprojThreshold=RANSAC_PX, maxIters=2000
    )
    if transform is None or mask is None:
        return 0
    good = mask.ravel() > 0
    count = int(good.sum())
    scale = float(np.hypot(transform[0, 0], transform[0, 1]))
    if count < MIN_INLIERS or not 1.0 / MAX_SCALE < scale < MAX_SCALE:
        return 0
    spread = np.sort(dst[good].max(axis=0) - dst[good].min(axis=0))
    wide = spread[1] >= MIN_SPREAD * POSITION_SCALE and spread[0] >= MIN_SPREAD_ACROSS * POSITION_SCALE
    return count if wide else 0


def _point_key(xy: npt.NDArray[np.float32]) -> npt.NDArray[np.int64]:
    return xy[:, 0].astype(np.int64) | (xy[:, 1].astype(np.int64) << 16)


def pair_chance(k: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
    """Chance that an unrelated picture pair agrees with ``k`` inliers (``PAIR_CHANCE`` at
    ``MIN_INLIERS``, halving per further inlier, not below ``MIN_PAIR_CHANCE``)."""
    extra = np.asarray(k, np.float64) - MIN_INLIERS
    out: npt.NDArray[np.float64] = np.maximum(PAIR_CHANCE * 0.5**extra, MIN_PAIR_CHANCE)
    return out


class VisualORB:
    """The ``visual_orb`` signal type: ORB keypoints of video pictures and still images."""

    name = "visual_orb"
    kind = "video"
    # Aligned like frame hashes, but its reference pictures are sparser: wider tolerance and gaps.
    align = replace(
        VisualPDQ.align,
        tolerance_frames=UNITS_PER_S * 1.0,
        max_gap_s=6.0,
        min_anchors=2,
        extent_frames=UNITS_PER_S * KEEP_EVERY_S,
    )
    key_space = 1

    def applies_to(self, media: DecodedMedia) -> bool:
        return len(media.detail) > 0

    def reference(self, media: DecodedMedia) -> Fingerprint:
        units, xys, codes = [], [], []
        last_t = -np.inf
        # Decision: a copy of a short work has few seconds to show, and a moving shot (a face, a
        # car's window) meets the reference only in pictures close in time to its own; measured for
        # issue 3, a crop of a 4 s excerpt of a 4 s film met 4 of its 8 pictures, none of the 2 kept
        # every 2 s. Rounded to the nearest picture: a 5 s work keeps every one.
        every = min(KEEP_EVERY_S, media.duration_s / MIN_PICTURES) - 0.5 / DETAIL_FPS
        for picture, t in zip(media.detail, media.detail_times, strict=True):
            if t - last_t < every - 1e-3:
                continue
            xy, code = orb_features(picture, REF_FEATURES, REF_SIZE)
            if len(code) < MIN_INLIERS:
                continue  # too flat to say anything; the next picture is tried
            last_t = float(t)
            units.append(np.full(len(code), round(float(t) * UNITS_PER_S), np.int64))
            xys.append(xy)
            codes.append(code)
        return Fingerprint(_empty(), _empty(), _n_units(media), _rows(units, xys, codes))

    def query(self, media: DecodedMedia) -> Fingerprint:
        units, xys, codes = [], [], []
        for picture, t in zip(media.detail, media.detail_times, strict=True):
            xy, code = orb_features(picture, QUERY_FEATURES, max(picture.shape))
            units.append(np.full(len(code), round(float(t) * UNITS_PER_S), np.int64))
            xys.append(xy)
            codes.append(code)
        return Fingerprint(_empty(), _empty(), _n_units(media), _rows(units, xys, codes))

    def prepare(self, generation: Generation) -> None:
        """Build (and keep in its folder) a merged generation's search index ahead of its first scan."""
        binary.prepare(generation, HEAD_WORDS)

    def propose(self, generations: list[Generation], query: Fingerprint, max_hits: int) -> list[Segment]:
        q_units, q_xy, q_codes = _unpack(query.points)
        found = binary.search_rows(generations, q_codes, SEARCH_BITS, HEAD_WORDS, max_hits)
        work, r_units, r_xy = found.work, found.head[:, 0], _xy(found.head[:, 1])
        qu = q_units[found.query]
        # Candidate picture pairs, most matches first; each is checked geometrically.
        pair = (work << 40) | (r_units << 20) | qu
        order = np.argsort(pair, kind="stable")
        starts = np.flatnonzero(np.r_[True, pair[order][1:] != pair[order][:-1]])
        sizes = np.diff(np.r_[starts, len(order)])
        pairs_w, pairs_r, pairs_q, pairs_k = [], [], [], []
        for i in np.argsort(-sizes, kind="stable")[:MAX_PAIRS]:
            if sizes[i] < MIN_INLIERS:
                break
            rows = order[starts[i] : starts[i] + sizes[i]]
            if k := inliers(q_xy[found.query[rows]], r_xy[rows], found.bits[rows]):
                pairs_w.append(work[rows[0]])
                pairs_r.append(r_units[rows[0]])
                pairs_q.append(qu[rows[0]])
                pairs_k.append(k)
        pairs = Hits(
            found.work_ids,
            np.asarray(pairs_w, np.int64),
            np.asarray(pairs_r, np.int64),
            np.asarray(pairs_q, np.int64),
        )
        counts = np.asarray(pairs_k, np.int64)
        segments = picture_segments(generations, best_pairs(pairs, counts), self.align, query.n_frames)
        return [settle_segment(seg, pairs, counts) for seg in segments]

    def verify(
        self, query: Fingerprint, ref_points: npt.NDArray[np.uint32], segment: Segment, trials: int
    ) -> Segment | None:
        return verify_segment(query.points, ref_points, segment, trials)


def best_pairs(pairs: Hits, k: npt.NDArray[np.int64]) -> Hits:
    """Of each query picture's matches in a work, those with at least half the inliers of its best.

    In a slow pan a query picture also meets the reference pictures a few seconds either side of its
    own; the one it shares most keypoints with is the one its time singles out (as
    :func:`clearance.fingerprint.visual.nearest_hits` does for frame hashes)."""
    if len(k) == 0:
        return pairs
    key = (pairs.work << 32) | pairs.query_frame
    _, group = np.unique(key, return_inverse=True)
    most = np.zeros(group.max() + 1, np.int64)
    np.maximum.at(most, group, k)
    keep = 2 * k >= most[group]
    return Hits(pairs.work_ids, pairs.work[keep], pairs.ref_frame[keep], pairs.query_frame[keep])


def settle_segment(segment: Segment, pairs: Hits, k: npt.NDArray[np.int64]) -> Segment:
    """``segment`` moved onto the line whose picture pairs (``pairs`` checked in the search, with
    their inliers ``k``) agree most: the sum, over reference pictures, of the inliers of the clip
    picture mapped within ``PLACE_WINDOW_S`` of each, at the voted speed and at real time, every offset
    tried; the voted line itself unless another gains ``PLACE_MARGIN_INLIERS``.

    Decision: a fixed camera (a street, a news desk) shows the same background in every picture, so
    every clip picture meets every reference picture with a dozen or two inliers and the vote, which
    counts pairs, lands anywhere along the shot. The pair showing the same frame adds the moving
    parts' keypoints too: measured for issue 3 on 5-degree rotations of the pedestrian street, 60-70
    inliers against 10-30 for pictures half a second or more apart, and two copies voted 11 and 15 s
    off were placed within 0.3 s by this sum.
    """
    work = next((i for i, w in enumerate(pairs.work_ids) if w == segment.work_id), None)
    if segment.speed == 0.0 or work is None:
        return segment
    q0, q1 = segment.query_start * UNITS_PER_S, segment.query_end * UNITS_PER_S
    mine = (pairs.work == work) & (pairs.query_frame >= q0) & (pairs.query_frame <= q1) & (k > 0)
    if not mine.any():
        return segment
    q, r, kk = pairs.query_frame[mine], pairs.ref_frame[mine], k[mine]
    offset = (segment.ref_start - segment.speed * segment.query_start) * UNITS_PER_S
    window = PLACE_WINDOW_S * UNITS_PER_S
    best: tuple[float, float, float] | None = None  # (score, speed, offset in units); ties: the voted speed
    voted_score = 0.0
    for rank, (speed, base) in enumerate(lines_through((q0 + q1) / 2, segment.speed, offset)):
        exact = r - (speed * q + base)  # the shift (units) at which each pair's pictures coincide
        lo, hi = math.floor(exact.min() - window), math.ceil(exact.max() + window)
        shifts = np.arange(lo, hi + 1)
        scores = _shift_scores(exact, r, kk, shifts, window)
        if rank == 0:
            voted_score = float(scores[np.searchsorted(shifts, 0)]) if lo <= 0 <= hi else 0.0
        top = float(scores.max())
        if best is None or top > best[0]:
            best = (top, speed, base + _plateau_middle(shifts, scores))
    assert best is not None
    if best[0] < voted_score + PLACE_MARGIN_INLIERS:
        return segment
    _, speed, base = best
    ref0, ref1 = (speed * t + base / UNITS_PER_S for t in (segment.query_start, segment.query_end))
    return replace(segment, speed=speed, ref_start=max(0.0, ref0), ref_end=max(0.0, ref1))


def _shift_scores(
    exact: npt.NDArray[np.float64],
    r: npt.NDArray[np.int64],
    k: npt.NDArray[np.int64],
    shifts: npt.NDArray[np.int64],
    window: float,
) -> npt.NDArray[np.float64]:
    """For each shift: the sum over reference pictures of the most inliers of a pair whose exact
    shift lies within ``window`` of it."""
    pair, shift = near_integers(exact, window)
    shift_i = shift - shifts[0]
    pictures, r_i = group(r)
    # Sparse: a long work's shifts times its pictures would not fit in memory.
    key = shift_i * len(pictures) + r_i[pair]
    keys, most = max_per(key, k[pair])
    out = np.bincount(keys // len(pictures), most, minlength=len(shifts)).astype(np.float64)
    return out


def _plateau_middle(shifts: npt.NDArray[np.int64], scores: npt.NDArray[np.float64]) -> float:
    """The middle of the run of best scores nearest shift 0."""
    top = np.flatnonzero(scores == scores.max())
    j = int(top[np.argmin(np.abs(shifts[top]))])
    a = b = j
    while a > 0 and scores[a - 1] == scores[j]:
        a -= 1
    while b + 1 < len(scores) and scores[b + 1] == scores[j]:
        b += 1
    return float(shifts[a] + shifts[b]) / 2


def _rows_by_unit(units: npt.NDArray[np.int64]) -> tuple[npt.NDArray[np.int64], list[npt.NDArray[np.int64]]]:
    """The distinct time units (pictures) of stored rows, and each one's row indices."""
    order = np.argsort(units, kind="stable")
    pictures, starts = np.unique(units[order], return_index=True)
    return pictures, np.split(order, starts[1:])


def verify_segment(
    query_points: npt.NDArray[np.uint32], ref_points: npt.NDArray[np.uint32], segment: Segment, trials: int
) -> Segment | None:
    """The segment re-measured picture by picture along its line, or ``None`` when nothing matches.

    Each query picture in the segment (and up to ``max_gap_s`` around it) is checked against the
    reference pictures kept within ``VERIFY_WINDOW_S`` of where the line maps it. The false-alarm
    probability multiplies, over the matched reference pictures (each once, at its most inliers), the
    chance of an unrelated pair agreeing that well (:func:`pair_chance`), corrected for the choice of
    pictures, the pairs tried and ``trials``.
    """
    q_units, q_xy, q_codes = _unpack(query_points)
    r_units, r_xy, r_codes = _unpack(ref_points)
    if len(q_codes) == 0 or len(r_codes) == 0:
        return None
    speed = segment.speed
    offset = segment.ref_start - speed * segment.query_start
    margin = VisualORB.align.max_gap_s
    q_pictures, q_rows = _rows_by_unit(q_units)
    r_pictures, r_rows = _rows_by_unit(r_units)
    r_t = r_pictures / UNITS_PER_S
    q_t = q_pictures / UNITS_PER_S
    near = (q_t >= segment.query_start - margin) & (q_t <= segment.query_end + margin)
    matched: dict[int, tuple[int, int]] = {}  # query unit -> (reference unit, inliers)
    shown_best: dict[int, tuple[int, int]] = {}  # reference unit -> (inliers, query unit)
    tried = 0
    for i in np.flatnonzero(near):
        qu, qi = q_pictures[i], q_rows[i]
        mapped = speed * q_t[i] + offset
        for j in np.flatnonzero(np.abs(r_t - mapped) <= VERIFY_WINDOW_S):
            tried += 1
            ru, ri = r_pictures[j], r_rows[j]
            bits = binary.hamming(q_codes[qi], r_codes[ri])
            a, b = np.nonzero(bits <= SEARCH_BITS)
            k = inliers(q_xy[qi[a]], r_xy[ri[b]], bits[a, b])
            if k and k > matched.get(int(qu), (0, 0))[1]:
                matched[int(qu)] = (int(ru), k)
            if k and k > shown_best.get(int(ru), (0, 0))[0]:
                shown_best[int(ru)] = (k, int(qu))
    min_pictures = 1 if speed == 0.0 else 2
    if len(matched) < min_pictures:
        return None
    frames = np.array(sorted(matched), np.int64)
    refs = np.array([matched[f][0] for f in frames], np.int64)
    counts = np.array([matched[f][1] for f in frames], np.int64)
    best = argmin_per(refs, -counts)
    kr = len(best)
    t = frames / UNITS_PER_S
    first, last = float(t.min()), float(t.max())
    lo_ref, hi_ref = sorted((speed * first + offset, speed * last + offset))
    n = max(kr, int(((r_t >= lo_ref - VERIFY_WINDOW_S) & (r_t <= hi_ref + VERIFY_WINDOW_S)).sum()))
    tries = max(1.0, tried / kr)
    log10_each = np.log10(np.minimum(1.0, tries * pair_chance(counts[best])))
    log10_fa = float(log10_each.sum() + _log10_choose(n, kr) + np.log10(max(1, trials) * len(r_pictures)))
    if speed != 0.0:
        pairs = np.array([(qu, ru) for ru, (_, qu) in shown_best.items()], np.float64) / UNITS_PER_S
        if fitted := refit_line(pairs[:, 0], pairs[:, 1], speed):
            speed, offset = fitted
    half = 0.5 / DETAIL_FPS  # pictures stand for the half step on either side of them
    evidence = {"matched_pictures": len(frames), "matched_reference_pictures": kr,
                "median_inliers": int(np.median(counts))}  # fmt: skip
    return placed(segment, (max(0.0, first - half), last + half), (speed, offset), log10_fa, evidence)
