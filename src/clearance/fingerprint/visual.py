"""Visual fingerprints: per-frame PDQ hashes, sparse on the reference side, dense on the query side.

A registered video keeps about one frame a second (the first of each second, and every scene cut
that lies more than ``DUPLICATE_BITS`` from the last one kept), each as its PDQ hash and, when it
has dark bars, the hash of what lies inside them. A scanned clip hashes every frame it has (up to
``Limits.max_video_fps``) and, when it has dark borders (a letterbox), once more with them trimmed;
the first frame of each time unit (0.1 s) also in its seven other dihedral variants (flips and
rotations by 90 degrees) and, where an overlay stands still on it (:func:`without_overlay`), with the
overlay painted over. Dense against sparse: whatever the frame phase, some query frame lies near
each kept reference frame, so a partial copy is not missed between samples.

Second stage: ``LAYOUT_FPS`` times a second the clip's frame is also cut into the cells of the
side-by-side, stacked and 2 x 2 layouts (``LAYOUTS``) and each cell hashed on its own, so a work
shown beside other footage is found although no global hash of the frame comes near it. Insets
(picture-in-picture) are found by their persistent borders in the detail pictures
(:mod:`clearance.fingerprint.regions`) and each picture's inset is hashed as well.

Hashes within ``MATCH_BITS`` of each other are hits (FAISS, :mod:`clearance.index.binary`); the hits
vote for lines ``t_ref = speed * t_query + offset`` with speed in [0.5, 2] (:func:`align_lines`);
verification then counts, along the line, the query frames that match a reference frame near the
mapped time, and scores the count against the chance of a frame matching unrelated footage.

Decision: the frame threshold is not PDQ's customary 31 bits. Measured for issue 3 on 9.8 M
non-matching frame pairs, none came within 80 bits, while edited copies (crops, overlays, colour)
often lie 40-80 bits from their source: a wide threshold with several aligned frames required
finds far more copies than a tight one, at no measured cost in false alarms.

Decision: the reference keeps no hash of its centre crop (it once did, for crops). Local features
(:mod:`clearance.fingerprint.local`) find crops; measured for issue 3 on 112 benchmark queries with
them on, dropping the centre crop changed no detection, and it cut the index from 537 to 313 KB per
hour of reference video, inside the 350 KB/h budget. With local features off it costs crops: 2 of 12
found instead of 3.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import numpy.typing as npt
import pdqhash
from scipy import ndimage, special, stats

from clearance._arrays import argmin_per, count_distinct, group, min_per, near_integers
from clearance.fingerprint import regions
from clearance.fingerprint.base import Fingerprint
from clearance.index import binary
from clearance.index.binary import CODE_BITS
from clearance.index.postings import Generation, Hits
from clearance.match.align import AlignParams, Segment, align_lines
from clearance.media.decode import DecodedMedia

UNITS_PER_S = 10.0
"""Time units per second in which frames are indexed and aligned (0.1 s)."""

MIN_QUALITY = 50  # PDQ's own advice: below it a frame is too flat (black, fades) to say anything
MIN_QUERY_QUALITY = 20
"""A clip frame's own hash is searched from this PDQ quality on (a reference frame is kept from
``MIN_QUALITY``): a copy with its contrast lowered hashes at quality 47-49 and 0-4 bits from the
reference. Measured for issue 3: of 11,720 codes of never-registered footage at quality 20-49 (as
shot, with contrast cut to 30 % and 12 %, darkened to 25 %, in the eight dihedral variants), none
came within 80 bits of a registered frame (as for those at 50 and over); below 20, 3 within 72."""
MATCH_BITS = 72
DUPLICATE_BITS = 8
NEAR_BITS = 12  # a query frame votes only for reference frames this close to its nearest one
CUT_BITS = 64  # a frame this far from the previous one starts a new shot: kept at once
KEEP_EVERY_S = 1.0
DARK_LEVEL = 24  # luma below which a border row or column counts as a letterbox bar
LAYOUTS = ((1, 2), (2, 1), (1, 3), (3, 1), (2, 2))
"""Grids (rows, columns) of the layouts whose cells the query side hashes on their own."""
BOX_MARGIN = 2  # pixels along an inset's border not looked at for dark bars
LAYOUT_FPS = 5.0  # query frames a second whose layout cells are hashed
OVERLAY_WINDOW_S = 1.5  # a pixel standing still this long before or after a frame may be an overlay
OVERLAY_STILL = 4.0  # luma standard deviation under which a pixel stands still
OVERLAY_CONTRAST = 20  # luma by which an overlay's pixel differs from the frame's median
OVERLAY_AREA = (0.01, 0.25)  # share of the frame an overlay covers (the edit suite's logos: up to 20 %)
OVERLAY_SAMPLES = 8  # frames of a window looked at
NEAR_SEARCH_S = 10.0  # clip seconds around an inverted file's few hits on a work searched again exactly
# Verification: a query frame matches when it lies within MATCH_BITS of a reference frame kept within
# VERIFY_WINDOW_S of the time the line maps it to: kept frames lie a second apart at most (still shots
# too), and a wider window let a line slide along a still shot, off its true place by over a second.
VERIFY_WINDOW_S = 1.0
MIN_MATCHED_FRAMES = 3
# Placement (:func:`settle_line`): how far along the work a verified line is shifted at most, how
# close in time a clip frame must map to a reference frame to show it, and how much closer on average
# a shifted line must meet the reference to be taken. Measured for issue 3 on the video benchmark's 324
# edited queries of seed 1, with the offset alone moved and the mean taken over reference frames:
# windows of 0.12, 0.25 and 0.5 s gave segment micro-AP 0.929, 0.934 and 0.927 (0.924 unmoved). As
# it is (real time tried too, the mean over clip frames): 0.936, and of 319 copies found, 44 placed
# better (reference span IoU up by over 0.05) and 6 worse.
PLACE_REACH_S = 10.0
PLACE_WINDOW_S = 0.25
PLACE_MARGIN_BITS = 1.0
CHANCE_PAIR = 1e-7
"""Chance that one query code lies within ``MATCH_BITS`` of one unrelated reference code. Measured
(``benchmarks/video.py`` corpus): of 42.7 M pairs of a never-registered query code (every frame of
the hold-out videos, in its dihedral and border-trimmed variants) and a registered reference code,
none came within 80 bits (so under 7e-8 at 95 % confidence, and less at ``MATCH_BITS``), 9 within 84
and 160 within 88. Widening ``MATCH_BITS`` to 80 gained little on the edit suite (rotations) and let
loose hits bias the fitted speed, so it stays at 72."""
SIGNIFICANCE_SCALE = 16.0


def pdq(frames: npt.NDArray[np.uint8]) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.int64]]:
    """PDQ hashes (``n x 32`` bytes) and qualities (0-100) of luma frames (``n x h x w``)."""
    return pdq_each(list(frames))


def pdq_each(images: list[npt.NDArray[np.uint8]]) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.int64]]:
    """PDQ hashes and qualities of luma images of any sizes (``pdqhash`` scales each itself)."""
    codes = np.zeros((len(images), 32), np.uint8)
    quality = np.zeros(len(images), np.int64)
    for i, image in enumerate(images):
        bits, q = pdqhash.compute(_rgb(image))
        codes[i] = np.packbits(bits.astype(np.uint8))
        quality[i] = q
    return codes, quality


def pdq_dihedral(frame: npt.NDArray[np.uint8]) -> tuple[npt.NDArray[np.uint8], int]:
    """The eight dihedral PDQ hashes of one luma frame (``8 x 32`` bytes) and its quality."""
    hashes, quality = pdqhash.compute_dihedral(_rgb(frame))
    return np.packbits(np.asarray(hashes, np.uint8), axis=1), int(quality)


def _rgb(frame: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    # pdqhash takes RGB and computes luma itself: grey in every channel gives the luma back.
    return np.ascontiguousarray(np.repeat(frame[:, :, None], 3, axis=2))


def trim_dark_border(frame: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8] | None:
    """The frame without dark bars on its edges, scaled back to its size; ``None`` without bars."""
    inner = _inside_dark_border(frame)
    return None if inner is None else _resize(inner, *frame.shape)


def _inside_dark_border(frame: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8] | None:
    bounds = _dark_border(frame)
    return None if bounds is None else frame[bounds[0] : bounds[1], bounds[2] : bounds[3]]


def _dark_border(frame: npt.NDArray[np.uint8]) -> tuple[int, int, int, int] | None:
    """(y0, y1, x0, x1) of what lies inside the frame's dark bars, or ``None`` without bars."""
    h, w = frame.shape
    rows = np.flatnonzero(frame.mean(axis=1) > DARK_LEVEL)
    cols = np.flatnonzero(frame.mean(axis=0) > DARK_LEVEL)
    if len(rows) < h // 4 or len(cols) < w // 4:
        return None  # mostly dark: nothing to trim to
    y0, y1, x0, x1 = int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1
    if (y1 - y0) * (x1 - x0) > 0.92 * h * w:
        return None
    return y0, y1, x0, x1


def without_dark_border(picture: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    """What lies inside a picture's dark bars, or the whole picture where it has none."""
    inner = _inside_dark_border(picture)
    return picture if inner is None else inner


def layout_cells(frame: npt.NDArray[np.uint8]) -> list[npt.NDArray[np.uint8]]:
    """The cells of the side-by-side, stacked and grid layouts in ``LAYOUTS``, each also without its
    own dark bars where it has them: where a clip puts a registered work beside other footage, one
    cell is the work."""
    h, w = frame.shape
    cells = []
    for rows, cols in LAYOUTS:
        for r in range(rows):
            for c in range(cols):
                cell = frame[r * h // rows : (r + 1) * h // rows, c * w // cols : (c + 1) * w // cols]
                cells.append(cell)
                if (inner := _inside_dark_border(cell)) is not None:
                    cells.append(inner)
    return cells


def without_overlay(
    frames: npt.NDArray[np.uint8], times: npt.NDArray[np.float32], i: int
) -> npt.NDArray[np.uint8] | None:
    """Frame ``i`` with what stands still on it while the picture changes (a logo, a caption)
    painted over in the frame's median luma; ``None`` where nothing, or too much, stands out still.

    A pixel stands still when it varies by under ``OVERLAY_STILL`` over the ``OVERLAY_WINDOW_S``
    before the frame or the one after it, and it stands out when it lies ``OVERLAY_CONTRAST`` from
    the median. Still footage stands still everywhere: more than ``OVERLAY_AREA`` is no overlay."""
    t = float(times[i])
    still = np.zeros(frames.shape[1:], bool)
    for lo, hi in ((t - OVERLAY_WINDOW_S, t), (t, t + OVERLAY_WINDOW_S)):
        idx = np.arange(*np.searchsorted(times, [lo - 1e-6, hi + 1e-6], side="left"))
        if len(idx) < 3 or float(times[idx[-1]] - times[idx[0]]) < OVERLAY_WINDOW_S / 2:
            continue
        idx = idx[np.round(np.linspace(0, len(idx) - 1, min(len(idx), OVERLAY_SAMPLES))).astype(int)]
        still |= frames[idx].astype(np.float32).std(axis=0) < OVERLAY_STILL
    frame = frames[i]
    median = float(np.median(frame))
    mask = still & (np.abs(frame.astype(np.float32) - median) > OVERLAY_CONTRAST)
    mask = ndimage.binary_dilation(ndimage.binary_opening(mask), iterations=2)
    if not OVERLAY_AREA[0] <= float(mask.mean()) <= OVERLAY_AREA[1]:
        return None
    out: npt.NDArray[np.uint8] = frame.copy()
    out[mask] = round(median)
    return out


def _resize(img: npt.NDArray[np.uint8], h: int, w: int) -> npt.NDArray[np.uint8]:
    """Bilinear resize (PDQ low-pass filters the result anyway)."""
    ys = np.clip((np.arange(h) + 0.5) * img.shape[0] / h - 0.5, 0, img.shape[0] - 1)
    xs = np.clip((np.arange(w) + 0.5) * img.shape[1] / w - 0.5, 0, img.shape[1] - 1)
    y0, x0 = np.floor(ys).astype(int), np.floor(xs).astype(int)
    y1, x1 = np.minimum(y0 + 1, img.shape[0] - 1), np.minimum(x0 + 1, img.shape[1] - 1)
    fy, fx = (ys - y0)[:, None], (xs - x0)[None, :]
    f = img.astype(np.float32)
    top = f[y0][:, x0] * (1 - fx) + f[y0][:, x1] * fx
    bottom = f[y1][:, x0] * (1 - fx) + f[y1][:, x1] * fx
    out: npt.NDArray[np.uint8] = np.clip(top * (1 - fy) + bottom * fy + 0.5, 0, 255).astype(np.uint8)
    return out


def kept_frames(
    codes: npt.NDArray[np.uint8], quality: npt.NDArray[np.int64], times: npt.NDArray[np.float32]
) -> list[int]:
    """Indices of the reference frames worth indexing: the first of each second, and each scene cut
    more than ``DUPLICATE_BITS`` from the last one kept; none too flat to hash.

    Decision: a still shot keeps its frame every second although the frames repeat. Dropping repeats
    (as this once did) left a still shot's seconds without a kept frame, so a copy of it met the
    reference only where the shot changes and its line was fitted there, and a copy of a still was
    cut short in the clip. Measured for issue 3 with :func:`still_runs` in the verification: on the
    benchmark's 32 copies of the near-still tree shot the reference span's IoU with the truth rose
    from 0.50 to 0.60, on 8 copies of a plane crossing a still sky from 0.21 to 0.53, for 2 % more
    frames on the corpus. A still shot keeps no more than moving footage does.
    """
    kept: list[int] = []
    last_t = -np.inf
    for i in range(len(codes)):
        if quality[i] < MIN_QUALITY:
            continue
        if times[i] - last_t < KEEP_EVERY_S:
            cut = i > 0 and _bits(codes[i], codes[i - 1]) >= CUT_BITS
            if not cut or (kept and _bits(codes[i], codes[kept[-1]]) <= DUPLICATE_BITS):
                continue
        kept.append(i)
        last_t = float(times[i])
    return kept


def _bits(a: npt.NDArray[np.uint8], b: npt.NDArray[np.uint8]) -> int:
    return int(np.unpackbits(a ^ b).sum())


class VisualPDQ:
    """The ``visual_pdq`` signal type: PDQ hashes of video frames and still images."""

    name = "visual_pdq"
    kind = "video"
    align = AlignParams(
        frame_rate=UNITS_PER_S,
        speed_min=0.5,
        speed_max=2.0,
        speed_step=0.01,
        offset_bin=5,
        tolerance_frames=6.0,
        max_gap_s=4.0,
        min_anchors=MIN_MATCHED_FRAMES,
        extent_frames=UNITS_PER_S * KEEP_EVERY_S,
        max_segments_per_work=8,
    )
    key_space = 1

    def applies_to(self, media: DecodedMedia) -> bool:
        return len(media.frames) > 0

    def reference(self, media: DecodedMedia) -> Fingerprint:
        codes, quality = pdq(media.frames)
        kept = kept_frames(codes, quality, media.frame_times)
        units = np.round(media.frame_times[kept] * UNITS_PER_S).astype(np.int64)
        # A frame with dark bars is kept once more without them: a layout cell or inset of the query
        # is hashed without its bars, and a film's pillarbox would otherwise stay in its hash.
        inner = [_inside_dark_border(media.frames[i]) for i in kept]
        barred = [j for j, x in enumerate(inner) if x is not None]
        inner_codes, _ = pdq_each([x for x in inner if x is not None])
        rows = binary.pack_rows(
            np.concatenate([units, units[barred]]), np.concatenate([codes[kept], inner_codes])
        )
        return Fingerprint(_empty(), _empty(), _n_units(media), rows)

    def query(self, media: DecodedMedia) -> Fingerprint:
        units: list[int] = []
        codes: list[npt.NDArray[np.uint8]] = []
        next_cells_t = -np.inf
        last_unit = -1
        for k, (frame, t) in enumerate(zip(media.frames, media.frame_times, strict=True)):
            # Decision: each frame's plain hash, but its flips and rotations (and the cells below)
            # once per time unit: they vote at one place, and at 25-30 fps hashing every frame's
            # variants tripled the codes searched. A second frame in a unit keeps its plain hash: a
            # copy near the threshold (a crop) meets the reference in some frames and not others.
            unit = round(float(t) * UNITS_PER_S)
            repeat, last_unit = unit == last_unit, unit
            if repeat:
                variants, qualities = pdq(frame[None])  # a third of the eight variants' cost
                quality = int(qualities[0])
            else:
                variants, quality = pdq_dihedral(frame)
            if quality < MIN_QUERY_QUALITY:
                variants = variants[:0]  # too flat as a whole; its cells may still say something
            elif (trimmed := trim_dark_border(frame)) is not None:
                variants = np.concatenate([variants, pdq(trimmed[None])[0]])
            if not repeat and (clean := without_overlay(media.frames, media.frame_times, k)) is not None:
                # Decision: a logo over a dark picture (lyrics on black) outweighs the picture in
                # its hash; measured for issue 3, such frames lay 78-110 bits from the work, 8-58
                # with the logo painted over.
                clean_code, clean_quality = pdq(clean[None])
                if clean_quality[0] >= MIN_QUERY_QUALITY:
                    variants = np.concatenate([variants, clean_code])
            if not repeat and t >= next_cells_t:
                # Cells are hashed at a lower rate: each costs a PDQ, and they are many.
                next_cells_t = float(t) + 1.0 / LAYOUT_FPS - 1e-6
                cell_codes, cell_quality = pdq_each(layout_cells(frame))
                variants = np.concatenate([variants, cell_codes[cell_quality >= MIN_QUALITY]])
            codes.append(variants)
            units.extend([unit] * len(variants))
        inset_units, inset_codes = insets(media)
        stacked = np.concatenate([*codes, inset_codes])
        rows = binary.pack_rows(np.asarray([*units, *inset_units], np.int64), stacked)
        return Fingerprint(_empty(), _empty(), _n_units(media), rows)

    def prepare(self, generation: Generation) -> None:
        """Build (and keep in its folder) a merged generation's search index ahead of its first scan."""
        binary.prepare(generation, 1)

    def propose(self, generations: list[Generation], query: Fingerprint, max_hits: int) -> list[Segment]:
        units, codes = binary.unpack_rows(query.points)
        # The work's seconds a copy of those clip seconds can show, at the fastest speed aligned.
        ref_s = self.align.speed_max * NEAR_SEARCH_S + KEEP_EVERY_S
        reach = (round(NEAR_SEARCH_S * UNITS_PER_S), round(ref_s * UNITS_PER_S))
        hits, bits = binary.search(generations, codes, units, MATCH_BITS, max_hits, reach)
        return picture_segments(generations, nearest_hits(hits, bits), self.align, query.n_frames)

    def verify(
        self, query: Fingerprint, ref_points: npt.NDArray[np.uint32], segment: Segment, trials: int
    ) -> Segment | None:
        return verify_segment(query.points, ref_points, segment, trials)


def insets(media: DecodedMedia) -> tuple[list[int], npt.NDArray[np.uint8]]:
    """(units, PDQ hashes) of the insets (:mod:`clearance.fingerprint.regions`) of a clip's detail
    pictures, each whole and, where it has dark bars, also without them; none for a still image."""
    units: list[int] = []
    crops: list[npt.NDArray[np.uint8]] = []
    if media.is_image:
        return units, np.zeros((0, 32), np.uint8)
    done: set[tuple[int, regions.Box]] = set()
    for window in regions.windows(media.detail_times):
        for box in regions.inset_boxes(media.detail[window]):
            for i in window:
                if (int(i), box) in done:
                    continue
                done.add((int(i), box))
                x0, y0, x1, y1 = box
                whole, inner = media.detail[i][y0:y1, x0:x1], inset_picture(media.detail[i], box)
                # Decision: dark bars may be a pillarbox around the work or the work's own dark
                # background (a lyric video's); trimmed to its text, such an inset lay 70-120 bits
                # from its work, whole 32-76 (measured for issue 3), so both are hashed.
                for crop in [whole] if inner.shape == whole.shape else [whole, inner]:
                    crops.append(crop)
                    units.append(round(float(media.detail_times[i]) * UNITS_PER_S))
    codes, quality = pdq_each(crops)
    good = quality >= MIN_QUALITY
    return [u for u, g in zip(units, good, strict=True) if g], codes[good]


def inset_picture(picture: npt.NDArray[np.uint8], box: regions.Box) -> npt.NDArray[np.uint8]:
    """What ``picture`` shows inside ``box``, less the inset's own dark bars (a pillarboxed film).

    The bars are looked for ``BOX_MARGIN`` pixels inside the box: the inset's scaler blends the
    pixels along its border with the background, and one bright blended line along a bar would
    hide the bar."""
    x0, y0, x1, y1 = box
    crop = picture[y0:y1, x0:x1]
    h, w = crop.shape
    m = BOX_MARGIN
    bounds = _dark_border(crop[m : h - m, m : w - m])
    if bounds is None:
        return crop
    # Back in the box's pixels; a side with no bar keeps the margin's pixels.
    top, bottom, left, right = bounds
    return crop[
        m + top if top else 0 : m + bottom if bottom < h - 2 * m else h,
        m + left if left else 0 : m + right if right < w - 2 * m else w,
    ]


def nearest_hits(hits: Hits, bits: npt.NDArray[np.int64], slack: int = NEAR_BITS) -> Hits:
    """Of each query frame's hits on a work, those within ``slack`` bits of its nearest one.

    Decision: in a static or slow shot every query frame lies within ``MATCH_BITS`` of every reference
    frame of the shot, so all offsets along the shot get the same votes and the line lands anywhere
    in it. The nearest reference frames are the ones the content (a walker's step, a slow pan)
    singles out; keeping only them lets the vote find the true offset wherever the shot moves at all.
    """
    if len(bits) == 0:
        return hits
    key = (hits.work << 32) | hits.query_frame
    order = np.lexsort((bits, key))
    key_sorted = key[order]
    first = np.r_[True, key_sorted[1:] != key_sorted[:-1]]
    nearest = np.maximum.accumulate(np.where(first, np.arange(len(order)), 0))
    keep = np.zeros(len(bits), bool)
    keep[order] = bits[order] <= bits[order][nearest] + slack
    return Hits(hits.work_ids, hits.work[keep], hits.ref_frame[keep], hits.query_frame[keep])


def picture_segments(
    generations: list[Generation], hits: Hits, params: AlignParams, query_frames: int
) -> list[Segment]:
    """Candidate segments from picture hits: lines in time for videos (:func:`align_lines`), spans of
    the clip for still images (:func:`still_segments`)."""
    lengths = np.concatenate([g.frames for g in generations]) if generations else np.zeros(0, np.int64)
    still = lengths[hits.work] <= 1 if len(hits.work) else np.zeros(0, bool)
    moving = Hits(hits.work_ids, hits.work[~still], hits.ref_frame[~still], hits.query_frame[~still])
    found = align_lines(moving, params, query_frames=query_frames)
    return found + still_segments(hits.work_ids, hits.work[still], hits.query_frame[still], params)


def still_segments(
    work_ids: list[str], work: npt.NDArray[np.int64], query_unit: npt.NDArray[np.int64], params: AlignParams
) -> list[Segment]:
    """Candidate segments for still images: each run of query frames that meet the image, with gaps of
    at most ``max_gap_s``, at speed 0 (every frame maps to the image)."""
    out: list[Segment] = []
    gap = params.max_gap_s * params.frame_rate
    for w in np.unique(work):
        units = np.unique(query_unit[work == w])
        breaks = np.flatnonzero(np.diff(units) > gap)
        for lo, hi in zip(np.r_[0, breaks + 1], np.r_[breaks, len(units) - 1], strict=True):
            q0, q1 = units[lo] / params.frame_rate, units[hi] / params.frame_rate
            out.append(
                Segment(work_ids[int(w)], q0, q1, 0.0, 0.0, 0.0, 0.0, {"matched_anchors": int(hi - lo + 1)})
            )
    return out


def verify_segment(
    query_points: npt.NDArray[np.uint32], ref_points: npt.NDArray[np.uint32], segment: Segment, trials: int
) -> Segment | None:
    """The segment re-measured frame by frame along its line, or ``None`` when nothing matches.

    Each query frame in the segment (and up to ``max_gap_s`` around it, so that a copy's true extent
    is found) matches when one of its codes lies within ``MATCH_BITS`` of a reference code kept within
    ``VERIFY_WINDOW_S`` of where the line maps it (a still image: speed 0, everything maps to 0). The
    false-alarm probability multiplies, over the matched reference frames (each once, at its best
    distance), the chance of meeting unrelated footage that close (:func:`pair_chance`), corrected for
    the choice of frames and for ``trials``. The line is then refitted through the frames that place it
    and settled where the clip meets the work closest (:func:`settle_line`).
    """
    q_units, q_codes = binary.unpack_rows(query_points)
    r_units, r_codes = binary.unpack_rows(ref_points)
    if len(q_codes) == 0 or len(r_codes) == 0:
        return None
    speed = segment.speed
    offset = segment.ref_start - speed * segment.query_start  # seconds
    margin = VisualPDQ.align.max_gap_s
    q_t = q_units / UNITS_PER_S
    r_t = r_units / UNITS_PER_S
    mapped = speed * q_t + offset
    near = (q_t >= segment.query_start - margin) & (q_t <= segment.query_end + margin)
    near &= (mapped >= -VERIFY_WINDOW_S) & (mapped <= r_t.max() + VERIFY_WINDOW_S)
    if not near.any():
        return None
    # Only reference codes within reach of the mapped span can match: a film's others are not compared.
    lo, hi = mapped[near].min() - VERIFY_WINDOW_S, mapped[near].max() + VERIFY_WINDOW_S
    reach = (r_t >= lo) & (r_t <= hi)
    units_in, codes_in, t_in = r_units[reach], r_codes[reach], r_t[reach]  # the reference rows in reach
    window = np.abs(mapped[near][:, None] - t_in[None, :]) <= VERIFY_WINDOW_S
    if not window.any():
        return None
    distances = np.where(window, binary.hamming(q_codes[near], codes_in), 10**6)
    # A still shot's kept frames repeat one picture: they are one piece of evidence, and say nothing
    # of where in the shot a clip frame lies. Each counts as the first frame of its still run.
    shot = still_runs(units_in, codes_in)
    best, best_ref = distances.min(axis=1), shot[distances.argmin(axis=1)]
    # Per query frame: its best distance and the reference frame that gives it.
    per_frame = argmin_per(q_units[near], best)
    frames, frame_best, frame_ref = q_units[near][per_frame], best[per_frame], best_ref[per_frame]
    matched = frame_best <= MATCH_BITS
    k = int(matched.sum())
    min_frames = 1 if speed == 0.0 else MIN_MATCHED_FRAMES
    if k < min_frames:
        return None
    t = frames / UNITS_PER_S
    first, last = float(t[matched].min()), float(t[matched].max())
    # Decision: the evidence counts each matched reference frame once, at its best distance. Query
    # frames of a still shot are not independent trials: forty of them meeting one unrelated
    # reference frame at 70 bits is one chance meeting, not forty.
    ref_best = frame_best[matched][argmin_per(frame_ref[matched], frame_best[matched])]
    kr = len(ref_best)
    lo_ref, hi_ref = sorted((speed * first + offset, speed * last + offset))
    spanned = (t_in >= lo_ref - VERIFY_WINDOW_S) & (t_in <= hi_ref + VERIFY_WINDOW_S)
    n = max(kr, count_distinct(shot[spanned]))
    # A reference frame can be met by any code of the query frames mapped near it.
    tries = max(1.0, float(window.sum(axis=0).mean()))
    log10_each = np.log10(np.minimum(1.0, tries * pair_chance(ref_best)))
    log10_fa = float(log10_each.sum() + _log10_choose(n, kr) + np.log10(max(1, trials) * len(r_units)))
    # Decision: the voted line is only as fine as its bins, and nearby lines verify alike. The clip is
    # hashed densely, so the clip frame that best meets a kept reference frame is the one showing it.
    nearest_q = distances.argmin(axis=0)
    met = distances[nearest_q, np.arange(distances.shape[1])] <= MATCH_BITS
    met &= shot == units_in  # the frame where a still run starts is the one that places it
    if speed != 0.0 and (fitted := refit_line(q_t[near][nearest_q[met]], t_in[met], speed)):
        speed, offset = fitted
    if speed != 0.0:
        inside = (q_t >= first) & (q_t <= last)
        speed, offset = settle_line((q_units[inside], q_codes[inside]), (r_units, r_codes), speed, offset)
    evidence = {
        "matched_frames": k,
        "matched_reference_frames": kr,
        "median_bits": int(np.median(frame_best[matched])),
    }
    # Decision: a matched frame stands for the time until the next one looked at. Every clip frame is
    # hashed whole, but insets only on the detail pictures (``DETAIL_FPS``): a copy met only through
    # them widens its span by half their step at each end. Measured for issue 3: picture-in-picture
    # copies started 0.2-0.4 s late and ended up to 0.4 s early without it.
    step = float(np.median(np.diff(frames[matched]))) if k > 1 else 1.0
    pad = (max(1.0, step) - 1.0) / 2 / UNITS_PER_S
    span = (max(0.0, first - pad), last + 1.0 / UNITS_PER_S + pad)
    return placed(segment, span, (speed, offset), log10_fa, evidence)


def settle_line(
    query: tuple[npt.NDArray[np.int64], npt.NDArray[np.uint8]],
    reference: tuple[npt.NDArray[np.int64], npt.NDArray[np.uint8]],
    speed: float,
    offset: float,
) -> tuple[float, float]:
    """The line (speed, offset in seconds) moved to where the clip's frames (``query``: units and
    codes, the copy's span only) meet the reference frames it maps them onto closest on average: the
    offset shifted by up to ``PLACE_REACH_S`` in steps of one unit, at the voted speed and at real
    time; the voted line itself unless another is closer by ``PLACE_MARGIN_BITS``. Each clip frame
    counts at its best distance to a reference frame within ``PLACE_WINDOW_S`` of where it maps.

    Decision: the matching rule (``MATCH_BITS``) cannot place a copy of a slowly drifting shot, where
    every picture lies within a few bits of the next: any offset along the shot verifies, and the voted
    one falls anywhere in it. The average distance still falls towards the true place, the drift adding
    to the edit's bits. Measured for issue 3 on the benchmark's 32 copies of the near-still tree shot:
    the reference span's IoU with the truth rose from 0.61 to 0.84. Real time is tried beside the voted
    speed because a still shot leaves the speed as free as the offset: at 1,000 h two plain copies of a
    plane crossing a still sky were voted at speed 0.78-0.80, and shifting that line alone put their
    start over a second off. The mean is over clip frames, each at its best distance to a reference
    frame within the window: over reference frames, a slower line met fewer of them and was not
    penalised for the clip frames it mapped nowhere near their picture.
    """
    q_units, q_codes = query
    r_units, r_codes = reference
    if len(q_units) == 0 or len(r_units) == 0:
        return speed, offset
    lines = lines_through((q_units.min() + q_units.max()) / 2, speed, offset * UNITS_PER_S)
    reach_u, window_u = PLACE_REACH_S * UNITS_PER_S, PLACE_WINDOW_S * UNITS_PER_S
    ends = np.array([(s * q_units.min() + o, s * q_units.max() + o) for s, o in lines])
    reach = (r_units >= ends.min() - reach_u - window_u) & (r_units <= ends.max() + reach_u + window_u)
    if not reach.any():
        return speed, offset
    # Distances between frames (not rows): the best over a clip frame's variants and a reference
    # frame's rows (whole frame, and without its dark bars where it has them).
    q_frames, per_q = min_per(q_units, binary.hamming(q_codes, r_codes[reach]))
    r_frames, bits = min_per(r_units[reach], per_q.T)  # reference frames x clip frames
    n = round(reach_u)
    shifts = np.arange(-n, n + 1)
    costs = np.stack([_shift_costs(q_frames, r_frames, bits, line, shifts, window_u) for line in lines])
    # Equal costs: the voted speed, then the shift nearest the voted line.
    which = np.repeat(np.arange(len(lines)), len(shifts))
    chosen = int(np.lexsort((np.tile(np.abs(shifts), len(lines)), which, costs.ravel()))[0])
    k, j = divmod(chosen, len(shifts))
    if not np.isfinite(costs[k, j]) or costs[k, j] >= costs[0, n] - PLACE_MARGIN_BITS:
        return speed, offset
    s, o = lines[k]
    return s, float((o + shifts[j]) / UNITS_PER_S)


def lines_through(middle: float, speed: float, offset: float) -> list[tuple[float, float]]:
    """The lines (speed, offset) a voted line may be settled along, each through its point at clip
    time ``middle``: the voted line first, then real time (where the voted speed is not). Times in
    units."""
    at_middle = speed * middle + offset
    return [(s, at_middle - s * middle) for s in ([speed] if speed == 1.0 else [speed, 1.0])]


def _shift_costs(
    q_frames: npt.NDArray[np.int64],
    r_frames: npt.NDArray[np.int64],
    bits: npt.NDArray[np.int64],
    line: tuple[float, float],
    shifts: npt.NDArray[np.int64],
    window_u: float,
) -> npt.NDArray[np.float64]:
    """For each shift (units) of ``line`` (speed, offset in units): the mean, over the clip frames it
    maps within ``window_u`` of a reference frame, of their best distance to such a frame (``bits``:
    reference x clip frames); infinite where fewer than ``MIN_MATCHED_FRAMES`` are."""
    speed, offset = line
    n = (len(shifts) - 1) // 2
    # The shift at which each clip frame maps onto each reference frame exactly; a pair counts at
    # every shift within the window of it.
    exact = r_frames[:, None] - (speed * q_frames[None, :] + offset)
    none = np.iinfo(np.int64).max
    best = np.full((len(q_frames), len(shifts)), none, np.int64)
    pair, k = near_integers(exact, window_u)
    inside = np.abs(k) <= n
    j, i = np.unravel_index(pair[inside], exact.shape)
    np.minimum.at(best, (i, k[inside] + n), bits[j, i])
    met = best < none
    count = met.sum(axis=0)
    mean = np.where(met, best, 0).sum(axis=0) / np.maximum(count, 1)
    out: npt.NDArray[np.float64] = np.where(count >= MIN_MATCHED_FRAMES, mean, np.inf)
    return out


def still_runs(units: npt.NDArray[np.int64], codes: npt.NDArray[np.uint8]) -> npt.NDArray[np.int64]:
    """For each reference row, the unit of the frame that starts its still run: the run goes on while
    the whole frame's hash (a unit's first row) stays within ``DUPLICATE_BITS`` of the run's first."""
    firsts, inverse = group(units)
    rows = argmin_per(units, np.arange(len(units)))
    start = np.arange(len(firsts))
    for k in range(1, len(firsts)):
        if _bits(codes[rows[k]], codes[rows[start[k - 1]]]) <= DUPLICATE_BITS:
            start[k] = start[k - 1]
    out: npt.NDArray[np.int64] = firsts[start][inverse]
    return out


def placed(
    segment: Segment,
    span: tuple[float, float],
    line: tuple[float, float],
    log10_fa: float,
    evidence: dict[str, int],
) -> Segment:
    """``segment`` re-measured: its ``span`` in the clip, mapped into the work by ``line`` (speed,
    offset), scored from its false-alarm probability, with the verification's ``evidence``."""
    (q0, q1), (speed, offset) = span, line
    return replace(
        segment,
        speed=round(speed, 4),
        query_start=round(q0, 3),
        query_end=round(q1, 3),
        ref_start=round(max(0.0, speed * q0 + offset), 3),
        ref_end=round(max(0.0, speed * q1 + offset), 3),
        score=round(float(np.clip(-log10_fa / SIGNIFICANCE_SCALE, 0.0, 1.0)), 4),
        evidence={**segment.evidence, **evidence, "log10_false_alarm": round(log10_fa, 2)},
    )


def refit_line(
    q: npt.NDArray[np.float64], r: npt.NDArray[np.float64], speed: float
) -> tuple[float, float] | None:
    """(speed, offset) of the line through pairs of clip and reference times (each reference picture
    and the clip picture that shows it best), or ``None`` where they do not pin one down near
    ``speed``. A robust (Theil-Sen) fit: in a still shot any clip picture meets the reference
    picture equally well, and those few pairs are outliers."""
    if len(np.unique(r)) < MIN_MATCHED_FRAMES or np.ptp(q) < 1.0:
        return None
    slope, intercept, _, _ = stats.theilslopes(r, q)
    if not 0.9 * speed <= slope <= 1.1 * speed or np.median(np.abs(r - (slope * q + intercept))) > 0.5:
        return None
    return float(slope), float(intercept)


def _log10_choose(n: int, k: int) -> float:
    """log10 of the binomial coefficient n over k."""
    return float((special.gammaln(n + 1) - special.gammaln(k + 1) - special.gammaln(n - k + 1)) / np.log(10))


def pair_chance(bits: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
    """Chance that an unrelated code lies within ``bits`` of a given one: ``CHANCE_PAIR`` at
    ``MATCH_BITS``, falling below it as a random 256-bit code's distance does (binomial tail)."""
    at = special.bdtr(np.asarray(bits, np.float64), CODE_BITS, 0.5)
    out: npt.NDArray[np.float64] = CHANCE_PAIR * at / special.bdtr(MATCH_BITS, CODE_BITS, 0.5)
    return out


def _empty() -> npt.NDArray[np.uint32]:
    return np.zeros(0, np.uint32)


def _n_units(media: DecodedMedia) -> int:
    last = float(media.frame_times[-1]) if len(media.frame_times) else 0.0
    return round(max(media.duration_s, last) * UNITS_PER_S) + 1
