"""Insets: the rectangles in which a clip shows other footage inside its frame (picture-in-picture).

An inset's border is a straight line that stays where it is while the footage on both sides moves.
Averaged over a few seconds of pictures, the gradient across such a line stays high on that one row
or column of pixels, while the edges of the footage itself move and blur out. So the border shows
as a ridge of the averaged gradient: stronger than the rows or columns two pixels away on each side.
Rows and columns that are ridges along much of the picture are candidate sides; a box is four of
them (an edge of the picture may stand in for a side) that are ridges along most of their lengths.
A box with one side on the picture's edge is also tried with that side where the picture's aspect
ratio puts it (:func:`_completed`): an inset keeps its frame's shape, and its border may have no
contrast on one side.

No global hash of the frame comes near a work shown at half size over other footage; the hash of
the box does. Measured for issue 3 on the benchmark's picture-in-picture queries (insets at 40-60 %
of the frame): one of the three best boxes was the inset in 11 of 12, and PDQ of the inset cut from
the detail pictures lay within 72 bits of the work in nearly all of its pictures.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

WINDOW_S = 4.0
"""Seconds of pictures averaged to find the insets; windows overlap by half."""
MIN_PICTURES = 4
MIN_SIDE = 0.3
"""An inset's width and height, as a share of the picture's (the benchmark's insets are 40-60 %)."""
MAX_BOXES = 6
LINE_SHARE = 0.15
"""A row or column is a candidate side when it is a ridge along at least this share of the picture."""
MIN_COVER = 0.5
"""Each side of a box that is not an edge of the picture must be a ridge along this share of it."""
MIN_RIDGE = 4.0
"""Least mean luma step (0-255) across a ridge, so that flat pictures give no lines."""
MAX_CANDIDATES = 16

Box = tuple[int, int, int, int]
"""(x0, y0, x1, y1) in the pictures' pixels, end-exclusive."""


def _ridge(grad: npt.NDArray[np.float32], axis: int) -> npt.NDArray[np.float32]:
    """How much each line of ``grad`` (along ``axis``) exceeds the stronger of its neighbours two
    lines away on either side (0 where it does not)."""
    pad = [(0, 0), (0, 0)]
    pad[axis] = (2, 2)
    g = np.pad(grad, pad, mode="edge")
    n = grad.shape[axis]
    centre, before, after = (np.take(g, np.arange(k, k + n), axis=axis) for k in (2, 0, 4))
    out: npt.NDArray[np.float32] = np.clip(centre - np.maximum(before, after), 0, None)
    return out


def _candidates(share: npt.NDArray[np.float64]) -> list[int]:
    """The lines whose ridge share is at least ``LINE_SHARE`` and not below either neighbour's."""
    padded = np.pad(share, 1)
    peak = (share >= padded[:-2]) & (share >= padded[2:])
    lines = np.flatnonzero(peak & (share >= LINE_SHARE))
    return [int(i) for i in lines[np.argsort(-share[lines], kind="stable")][:MAX_CANDIDATES]]


def inset_boxes(pictures: npt.NDArray[np.uint8]) -> list[Box]:
    """Up to ``MAX_BOXES`` boxes of ``pictures`` (``n x h x w`` luma, one stretch of a clip) that
    look like insets, best first; none for fewer than ``MIN_PICTURES`` pictures."""
    n, h, w = pictures.shape
    if n < MIN_PICTURES or h < 16 or w < 16:
        return []
    p = pictures.astype(np.float32)
    # A vertical side lies between columns x-1 and x; a horizontal one between rows y-1 and y.
    across_cols = np.abs(np.diff(p, axis=2)).mean(axis=0)
    across_rows = np.abs(np.diff(p, axis=1)).mean(axis=0)
    rx, ry = _ridge(across_cols, 1), _ridge(across_rows, 0)
    on_x = rx > 0.5 * max(MIN_RIDGE, float(np.percentile(rx, 99)))
    on_y = ry > 0.5 * max(MIN_RIDGE, float(np.percentile(ry, 99)))
    # A side may wander by a pixel along its length (the inset's scaler): it counts as present where
    # the line or a neighbour is a ridge.
    near_x = on_x | np.pad(on_x[:, 1:], ((0, 0), (0, 1))) | np.pad(on_x[:, :-1], ((0, 0), (1, 0)))
    near_y = on_y | np.pad(on_y[1:], ((0, 1), (0, 0))) | np.pad(on_y[:-1], ((1, 0), (0, 0)))
    # Column sides: prefix sums down each column; row sides: along each row.
    down = np.concatenate([np.zeros((1, w - 1)), np.cumsum(near_x, axis=0)])
    along = np.concatenate([np.zeros((h - 1, 1)), np.cumsum(near_y, axis=1)], axis=1)
    xs = np.array(sorted({0, w, *(x + 1 for x in _candidates(on_x.mean(axis=0)))}))
    ys = np.array(sorted({0, h, *(y + 1 for y in _candidates(on_y.mean(axis=1)))}))
    x0, x1, y0, y1 = np.meshgrid(xs, xs, ys, ys, indexing="ij", sparse=False)
    fit = (
        (x1 - x0 >= MIN_SIDE * w)
        & (y1 - y0 >= MIN_SIDE * h)
        & ~((x0 == 0) & (x1 == w) & (y0 == 0) & (y1 == h))
    )
    x0, x1, y0, y1 = x0[fit], x1[fit], y0[fit], y1[fit]
    if not len(x0):
        return []

    def column(x: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
        edge = (x == 0) | (x == w)
        c = np.clip(x - 1, 0, w - 2)
        return np.where(edge, 1.0, (down[y1, c] - down[y0, c]) / (y1 - y0))

    def row(y: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
        edge = (y == 0) | (y == h)
        r = np.clip(y - 1, 0, h - 2)
        return np.where(edge, 1.0, (along[r, x1] - along[r, x0]) / (x1 - x0))

    sides = np.stack([column(x0), column(x1), row(y0), row(y1)])
    inner = (x0 > 0).astype(int) + (x1 < w) + (y0 > 0) + (y1 < h)
    score = sides.min(axis=0)
    keep = np.flatnonzero((inner >= 2) & (score >= MIN_COVER))
    order = keep[np.argsort(-score[keep], kind="stable")]
    boxes = [(int(x0[i]), int(y0[i]), int(x1[i]), int(y1[i])) for i in order[:MAX_BOXES]]
    out: list[Box] = []
    for box in boxes:
        out += [b for b in (box, _completed(box, w, h)) if b is not None and b not in out]
    return out


def _completed(box: Box, w: int, h: int) -> Box | None:
    """``box`` with its one side on an edge of the picture moved to where the picture's aspect ratio
    puts it, or ``None`` when the box has no such side (or it would not move).

    An inset keeps the shape of the frame it shows; a border with no contrast (dark footage on a dark
    background) is no ridge, and the box found then ends at the picture's edge instead.
    """
    x0, y0, x1, y1 = box
    edges = [x0 == 0, x1 == w, y0 == 0, y1 == h]
    if sum(edges) != 1:
        return None
    if edges[0] or edges[1]:
        side = round((y1 - y0) * w / h)  # the width its height implies
        moved = (x1 - side, y0, x1, y1) if edges[0] else (x0, y0, x0 + side, y1)
        least = MIN_SIDE * w
    else:
        side = round((x1 - x0) * h / w)
        moved = (x0, y1 - side, x1, y1) if edges[2] else (x0, y0, x1, y0 + side)
        least = MIN_SIDE * h
    inside = moved[0] >= 0 and moved[1] >= 0 and moved[2] <= w and moved[3] <= h
    # Farther than the pixel or two a side may wander: else it is the box found.
    far = max(abs(a - b) for a, b in zip(moved, box, strict=True)) > 2
    return moved if inside and far and side >= least else None


def windows(times: npt.NDArray[np.float32]) -> list[npt.NDArray[np.int64]]:
    """Indices of the pictures at ``times`` in each ``WINDOW_S`` window, the windows overlapping by
    half (a clip shorter than a window is one window)."""
    if not len(times):
        return []
    starts = np.arange(
        float(times[0]), max(float(times[0]) + 1e-6, float(times[-1]) - WINDOW_S / 2), WINDOW_S / 2
    )
    return [np.flatnonzero((times >= s) & (times < s + WINDOW_S)) for s in starts]
