"""Video and image matching benchmark: detection per edit (VSC22-style edits), segment micro-AP as
the VSC22 matching track defines it, localisation on both time axes, no-match queries, the real
copies shipped in ``shared/media``, speed against plain decoding, index size.

    python -m benchmarks.video [--media ../shared/media] [--queries 40] [--nomatch 1000] [--jobs 2] [--write BENCHMARKS.md]
    python -m benchmarks.video --queries 40 --nomatch 0 --edits 'crop_10-25%,logo_<=20%'   # a few edits, more queries

References: the videos of ``media/video`` (less the hold-outs and the shipped copies) and the images of
``media/images`` (less the shipped copies), registered through ``Catalog.register`` like any user's.
Hold-outs, never registered: the AI-generated clip, the talking heads and the doorknob video; they give
the unrelated footage around every excerpt, behind every picture-in-picture and beside every stack,
and the no-match queries. A query is a 3-15 s excerpt of a registered video at a random offset,
edited (``benchmarks.video_edits``), between 2-4 s and 3 s of unrelated footage, written as H.264
and scanned through ``clearance.scan`` with no sound track (the picture alone must find it). Every
query is made from its own seed (run seed, edit, number), so a run gives the same queries whatever
``--jobs`` is.
"""

from __future__ import annotations

import json
import math
import os
import platform
import shutil
import statistics
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import date
from fractions import Fraction
from pathlib import Path
from typing import Any, ClassVar, Protocol, cast

import av
import numpy as np
from PIL import Image
from rich.progress import Progress

from benchmarks import report, video_peers
from benchmarks import video_edits as edits
from benchmarks.report import pool_map, wilson_low
from clearance import Catalog, Settings, decode, scan
from clearance.fingerprint.local import VisualORB
from clearance.fingerprint.visual import VisualPDQ, pdq
from clearance.media.decode import DecodedMedia

HOLDOUT = (
    "video/ai_generated/veo3_news_anchors.mp4",
    "video/talking_heads/liveportrait_d3.mp4",
    "video/talking_heads/liveportrait_d6.mp4",
    "video/talking_heads/liveportrait_d9.mp4",
    "video/talking_heads/liveportrait_d12.mp4",
    "video/talking_heads/liveportrait_d14.mp4",
    "video/tmk_chair/doorknob-hd-no-bar.mp4",
)
# Shipped copies of registered works: queries, never references or filler.
REAL_COPIES = {
    "video/carphone_distorted.mp4": ("carphone_pristine.mp4", 0.0),
    "video/jackie_chan_talking_first1s.mp4": ("jackie_chan_talking.mp4", 0.0),
    **{
        f"video/tmk_chair/{n}.mp4": ("chair-orig-22-sd-bar.mp4", None)
        for n in (
            "chair-19-sd-bar",
            "chair-20-sd-bar",
            "chair-22-sd-grey-bar",
            "chair-22-sd-sepia-bar",
            "chair-22-with-small-logo-bar",
            "chair-22-with-large-logo-bar",
        )
    },
    **{
        f"images/pdq_bridge/{n}.jpg": ("aaa-orig.jpg", None)
        for n in (
            "blur-a-little",
            "blur-a-lot",
            "high-contrast",
            "high-saturation",
            "letterboxed",
            "sharpen-a-little",
            "sharpen-a-lot",
            "shrink-a-little",
            "shrink-a-lot",
            "square-128x128",
            "square-256x256",
            "square-512x512",
        )
    },
    "images/skimage/motorcycle_right.png": ("motorcycle_left.png", None),  # a stereo pair: borderline
}
MAX_W, MAX_H = 640, 360  # queries are written within this box (the corpus is mostly 360p-720p)
MIN_EXCERPT_S, MAX_EXCERPT_S = 3.0, 15.0
NOMATCH_S = 10.0
IMAGE_KEY = "image_shown"  # a registered still shown in a clip, full frame or large
TOLERANCE_S = 0.5


@dataclass
class Record:
    """One query, its truth and what clearance reported (every finding, whatever its score)."""

    edit: str  # "" for a no-match query
    ref: str = ""
    q0: float = 0.0
    q1: float = 0.0
    r0: float | None = None
    r1: float | None = None
    duration_s: float = 0.0
    params: str = ""
    # (work, kind, q0, q1, r0, r1, score, -log10 false-alarm probability)
    findings: list[tuple[str, str, float, float, float | None, float | None, float, float]] = field(
        default_factory=list
    )
    # peer label -> (its best reference, raw score, reported under its default rule)
    peers: dict[str, tuple[str, float, bool]] = field(default_factory=dict)


class Reader:
    """Frames of one video at increasing times from ``start``, as RGB of a requested size; loops at
    the end of the file."""

    # Files whose keyframes do not decode on their own (see ``check_seek``): read from the start.
    unseekable: ClassVar[set[Path]] = set()

    def __init__(self, path: Path, start: float = 0.0, *, seek: bool | None = None) -> None:
        self.path, self.start = path, start
        self.seek = path not in Reader.unseekable if seek is None else seek
        self.loops = 0
        self._open(start)

    def _open(self, start: float) -> None:
        self.container = av.open(str(self.path))
        self.stream = self.container.streams.video[0]
        first = self.stream.start_time or 0
        self.t0 = float(first * self.stream.time_base)
        self.frames: Iterator[av.VideoFrame] = self.container.decode(self.stream)
        if start > 0 and self.seek:
            self.container.seek(first + int(start / float(self.stream.time_base)), stream=self.stream)
            self.frames = self.container.decode(self.stream)
        self.current: av.VideoFrame | None = None
        self.upcoming: av.VideoFrame | None = self._next()
        self.length = float(self.container.duration or 0) / 1e6

    def _next(self) -> av.VideoFrame | None:
        return next(self.frames, None)

    def _time(self, frame: av.VideoFrame) -> float:
        return float(frame.time or 0.0) - self.t0 + self.loops * self.length

    def frame_at(self, t: float) -> av.VideoFrame:
        """The last frame shown at time ``start + t``."""
        target = self.start + t
        while self.upcoming is not None and self._time(self.upcoming) <= target + 1e-6:
            self.current, self.upcoming = self.upcoming, self._next()
        if self.upcoming is None and self.current is not None and target > self._time(self.current) + 0.5:
            self.container.close()
            self.loops += 1
            self._open(0.0)
            return self.frame_at(t)
        if self.current is None:
            self.current = self.upcoming
        assert self.current is not None
        return self.current

    def at(self, t: float, width: int, height: int) -> edits.Frame:
        return self.frame_at(t).to_ndarray(format="rgb24", width=width, height=height)

    def native(self, t: float) -> edits.Frame:
        """The frame at its own size, scaled down to fit ``MAX_W x MAX_H``."""
        fr = self.frame_at(t)
        w, h = _fit(fr.width, fr.height)
        return fr.to_ndarray(format="rgb24", width=w, height=h)

    def close(self) -> None:
        self.container.close()


class Source(Protocol):
    def native(self, t: float) -> edits.Frame: ...


class Still:
    """A still image as a source of frames."""

    def __init__(self, path: Path) -> None:
        img = Image.open(path).convert("RGB")
        self.frame = np.asarray(img.resize(_fit(*img.size)))

    def native(self, t: float) -> edits.Frame:
        return self.frame


def check_seek(path: Path) -> bool:
    """Whether a frame reached by seeking looks like the same frame reached by decoding from the start.
    Some phone videos flag keyframes that do not decode on their own (cockatoo.mp4 gives grey-green
    garbage from any of them); those are read from the start instead."""
    with av.open(str(path)) as c:
        length = float(c.duration or 0) / 1e6
    if length < 4:
        return True
    frames = []
    for seek in (True, False):
        reader = Reader(path, length / 2, seek=seek)
        frames.append(reader.native(0.5).astype(np.float32))
        reader.close()  # no decoder thread may outlive this: the query workers are forked
    return float(np.abs(frames[0] - frames[1]).mean()) < 10


def _fit(w: int, h: int, box: tuple[int, int] = (MAX_W, MAX_H)) -> tuple[int, int]:
    k = min(1.0, box[0] / w, box[1] / h)
    return max(2, round(w * k / 2) * 2), max(2, round(h * k / 2) * 2)


def _fps(path: Path) -> float:
    with av.open(str(path)) as c:
        rate = c.streams.video[0].average_rate
    return float(min(60.0, rate)) if rate else 25.0


def write_query(
    out: Path,
    plan: edits.Plan,
    body: Source,
    length: float,
    fps: float,
    filler: Reader | None,
    head_s: float,
    tail_s: float,
) -> tuple[float, float, float]:
    """Encode head (filler), body (the edited excerpt) and tail (filler) as H.264; the body's span in
    the query and the file's duration, in seconds."""
    out_fps = plan.fps or fps
    rate = Fraction(out_fps).limit_denominator(1001)
    n_head, n_tail = round(head_s * out_fps), round(tail_s * out_fps) if filler else 0
    n_body = max(1, round(length / plan.speed * out_fps))
    source = body.native(0.0)
    first = plan.apply(source, 0.0)
    size = _fit(first.shape[1], first.shape[0])
    src_size = (source.shape[1], source.shape[0])
    with av.open(str(out), "w", format="mp4") as container:
        stream = cast(av.video.stream.VideoStream, container.add_stream("libx264", rate=rate))
        stream.width, stream.height, stream.pix_fmt = size[0], size[1], "yuv420p"
        stream.options = {"crf": str(plan.crf), "preset": "superfast"}

        def put(img: edits.Frame) -> None:
            if (img.shape[1], img.shape[0]) != size:
                img = np.asarray(Image.fromarray(img).resize(size, Image.Resampling.BILINEAR))
            for packet in stream.encode(
                av.VideoFrame.from_ndarray(np.ascontiguousarray(img), format="rgb24")
            ):
                container.mux(packet)

        for j in range(n_head + n_body + n_tail):
            t = j / out_fps
            if n_head <= j < n_head + n_body:
                tb = (j - n_head) / out_fps
                put(plan.apply(body.native(tb * plan.speed), tb))
            else:
                assert filler is not None
                img = filler.at(t, *src_size)
                put(plan.apply(img, t) if plan.whole_query else img)
        for packet in stream.encode(None):
            container.mux(packet)
    q0 = n_head / out_fps
    return q0, q0 + n_body / out_fps, (n_head + n_body + n_tail) / out_fps


_STATE: dict[str, Any] = {}


def _rng(seed: int, edit: str, i: int) -> np.random.Generator:
    names = [*edits.REGISTRY, IMAGE_KEY, ""]
    return np.random.default_rng([seed, names.index(edit), i])


def _query(spec: tuple[int, str, int]) -> Record:
    """Make one query from its own seed and scan it."""
    seed, edit, i = spec
    s = _STATE
    rng = _rng(seed, edit, i)
    qdir = Path(tempfile.mkdtemp(dir=s["workdir"]))
    path = qdir / "q.mp4"
    holdout: list[Path] = s["holdout"]
    fill_path = holdout[int(rng.integers(0, len(holdout)))]
    filler = Reader(fill_path, float(rng.uniform(0, max(0.0, s["durations"][fill_path.name] - 8))))
    head_s = float(rng.uniform(2, 4))
    if edit == IMAGE_KEY:
        # A registered still shown full frame or large, for 2-6 s, over unrelated footage.
        img_path: Path = s["images"][int(rng.integers(0, len(s["images"])))]
        share = float(rng.choice([1.0, rng.uniform(0.6, 0.9)]))
        shown = float(rng.uniform(2, 6))

        def inset(f: edits.Frame, t: float, share: float = share) -> edits.Frame:
            if share >= 1.0:
                return f
            h, w = f.shape[:2]
            out = filler.at(head_s + t, w, h).copy()
            iw, ih = int(w * share), int(h * share)
            out[(h - ih) // 2 : (h - ih) // 2 + ih, (w - iw) // 2 : (w - iw) // 2 + iw] = np.asarray(
                Image.fromarray(f).resize((iw, ih))
            )
            return out

        plan = edits.Plan(IMAGE_KEY, [inset])
        q0, q1, dur = write_query(path, plan, Still(img_path), shown, 25.0, filler, head_s, 3.0)
        rec = Record(edit, img_path.name, q0, q1, None, None, dur, f"share={share:.2f}")
    elif edit:
        refs: list[Path] = s["videos"]
        weights = np.array([s["durations"][p.name] for p in refs])
        ref = refs[int(rng.choice(len(refs), p=weights / weights.sum()))]
        total = s["durations"][ref.name]
        length = float(rng.uniform(MIN_EXCERPT_S, min(MAX_EXCERPT_S, total - 0.2)))
        start = float(rng.uniform(0, total - length - 0.1))
        unrelated = Reader(holdout[int(rng.integers(0, len(holdout)))], float(rng.uniform(0, 5)))
        plan = edits.REGISTRY[edit](rng, unrelated)
        body = Reader(ref, start)
        q0, q1, dur = write_query(path, plan, body, length, _fps(ref), filler, head_s, 3.0)
        body.close()
        unrelated.close()
        rec = Record(edit, ref.name, q0, q1, start, start + length, dur, _describe(plan))
    else:
        # No-match: 10 s of never-registered footage, half of them edited.
        src = holdout[int(rng.integers(0, len(holdout)))]
        start = float(rng.uniform(0, max(0.0, s["durations"][src.name] - NOMATCH_S)))
        kinds = list(edits.REGISTRY)
        plan = (
            edits.Plan("none")
            if i % 2
            else edits.REGISTRY[kinds[int(rng.integers(0, len(kinds)))]](rng, filler)
        )
        body = Reader(src, start)
        _, _, dur = write_query(path, plan, body, NOMATCH_S, _fps(src), None, 0.0, 0.0)
        body.close()
        rec = Record("", src.name, duration_s=dur, params=plan.name)
    filler.close()
    rec.findings = _scan(path)
    for peer in s.get("peers", []):
        m = peer.best(path)
        rec.peers[peer.label] = (m.name, m.score, m.default) if m else ("", 0.0, False)
    shutil.rmtree(qdir, ignore_errors=True)
    return rec


def _describe(plan: edits.Plan) -> str:
    return f"speed={plan.speed:.2f} fps={plan.fps or 0:.0f} crf={plan.crf}"


def _scan(path: Path) -> list[tuple[str, str, float, float, float | None, float | None, float, float]]:
    s = _STATE
    catalog = s.get("catalog")
    if catalog is None:
        catalog = s["catalog"] = Catalog.open(s["catalog_dir"])
    report = scan(catalog, path, record=False, min_score=0.0)
    return [
        (
            s["names"][f.work_id],
            f.kind,
            f.query_start,
            f.query_end,
            f.ref_start,
            f.ref_end,
            f.score,
            -float(f.evidence.get("log10_false_alarm", 0.0)),
        )
        for f in report.findings
        if f.kind in {"video", "image"}
    ]


def _specs(
    seed: int, n_queries: int, n_nomatch: int, only: list[str] | None = None
) -> list[tuple[int, str, int]]:
    specs = [(seed, e, i) for e in only or [*edits.REGISTRY, IMAGE_KEY] for i in range(n_queries)]
    return specs + [(seed, "", i) for i in range(n_nomatch)]


# -- metrics ---------------------------------------------------------------------------------------


def _union_length(intervals: list[tuple[float, float]]) -> float:
    total, end = 0.0, -math.inf
    for a, b in sorted(intervals):
        if b <= end:
            continue
        total += b - max(a, end)
        end = b
    return total


def _intersect_length(a: list[tuple[float, float]], b: list[tuple[float, float]]) -> float:
    return _union_length(a) + _union_length(b) - _union_length(a + b)


Box = tuple[float, float, float, float]  # query start, query end, ref start, ref end


def _overlaps(p: Box, g: Box) -> bool:
    return min(p[1], g[1]) > max(p[0], g[0]) and min(p[3], g[3]) > max(p[2], g[2])


def segment_ap(
    truth: dict[tuple[int, str], list[Box]], predictions: list[tuple[float, int, str, Box]]
) -> float:
    """Segment-level micro-AP as the VSC22 matching track defines it (its ``match_metric``).

    Predictions are taken by falling score, equal scores together. Per (query, reference) pair, the
    predicted boxes' union on each time axis is intersected with the union of the true boxes that
    some prediction overlaps; precision and recall on each axis sum those lengths over all pairs,
    P = sqrt(P_query P_ref), R = sqrt(R_query R_ref), and AP = sum of P times the rise in R.
    """
    gt_total = [
        sum(_union_length([(b[2 * a], b[2 * a + 1]) for b in boxes]) for boxes in truth.values())
        for a in (0, 1)
    ]
    preds: dict[tuple[int, str], list[Box]] = defaultdict(list)
    inter: dict[tuple[int, str], list[float]] = defaultdict(lambda: [0.0, 0.0])
    total: dict[tuple[int, str], list[float]] = defaultdict(lambda: [0.0, 0.0])
    sums_i, sums_t = [0.0, 0.0], [0.0, 0.0]
    ap, recall = 0.0, 0.0
    ordered = sorted(predictions, key=lambda p: -p[0])
    k = 0
    while k < len(ordered):
        score = ordered[k][0]
        while k < len(ordered) and ordered[k][0] == score:
            _, q, ref, box = ordered[k]
            key = (q, ref)
            preds[key].append(box)
            gts = [g for g in truth.get(key, []) if any(_overlaps(p, g) for p in preds[key])]
            for a in (0, 1):
                p_iv = [(b[2 * a], b[2 * a + 1]) for b in preds[key]]
                g_iv = [(b[2 * a], b[2 * a + 1]) for b in gts]
                new_i = _intersect_length(p_iv, g_iv) if g_iv else 0.0
                new_t = _union_length(p_iv)
                sums_i[a] += new_i - inter[key][a]
                sums_t[a] += new_t - total[key][a]
                inter[key][a], total[key][a] = new_i, new_t
            k += 1
        r = math.sqrt(max(0.0, sums_i[0] / gt_total[0]) * max(0.0, sums_i[1] / gt_total[1]))
        p = math.sqrt(sums_i[0] / max(1e-9, sums_t[0]) * sums_i[1] / max(1e-9, sums_t[1]))
        ap += p * (r - recall)
        recall = r
    return ap


def _iou(a: tuple[float, float], b: tuple[float, float]) -> float:
    inter = max(0.0, min(a[1], b[1]) - max(a[0], b[0]))
    union = max(a[1], b[1]) - min(a[0], b[0])
    return inter / union if union > 0 else 0.0


def evaluate(records: list[Record], threshold: float) -> dict[str, Any]:
    """Detection per edit at ``threshold``, localisation, no-match, micro-AP."""
    cells: dict[str, dict[str, Any]] = defaultdict(lambda: defaultdict(list))
    truth: dict[tuple[int, str], list[Box]] = {}
    predictions: list[tuple[float, int, str, Box]] = []
    wrong, query_s, nomatch_found, nomatch_n = 0, 0.0, 0, 0
    for qi, rec in enumerate(records):
        query_s += rec.duration_s
        if rec.edit and rec.edit != IMAGE_KEY and rec.r0 is not None and rec.r1 is not None:
            truth[(qi, rec.ref)] = [(rec.q0, rec.q1, rec.r0, rec.r1)]
        for f in rec.findings:
            if f[4] is not None and f[5] is not None:
                predictions.append((f[7], qi, f[0], (f[2], f[3], f[4], f[5])))
        reported = [f for f in rec.findings if f[6] >= threshold]
        right = [f for f in reported if f[0] == rec.ref and min(f[3], rec.q1) > max(f[2], rec.q0)]
        wrong += sum(1 for f in reported if f[0] != rec.ref or not rec.edit)
        if not rec.edit:
            nomatch_n += 1
            nomatch_found += bool(reported)
            continue
        c = cells[rec.edit]
        c["hit"].append(int(bool(right)))
        if right:
            best = max(right, key=lambda f: f[7])
            c["q_iou"].append(_iou((best[2], best[3]), (rec.q0, rec.q1)))
            c["q_err"].append(max(abs(best[2] - rec.q0), abs(best[3] - rec.q1)))
            if rec.r0 is not None and rec.r1 is not None and best[4] is not None and best[5] is not None:
                c["r_iou"].append(_iou((best[4], best[5]), (rec.r0, rec.r1)))
                c["r_err"].append(max(abs(best[4] - rec.r0), abs(best[5] - rec.r1)))
    return {
        "cells": {k: dict(v) for k, v in cells.items()},
        "uap": segment_ap(truth, predictions),
        "wrong": wrong,
        "query_hours": query_s / 3600,
        "nomatch": (nomatch_found, nomatch_n),
    }


def evaluate_peers(records: list[Record]) -> dict[str, dict[str, Any]]:
    """Per peer: detection per edit under its default rule and at equal false alarms (its threshold
    set just above its best score on the no-match queries), and its no-match rate by default."""
    out: dict[str, dict[str, Any]] = {}
    labels = sorted({label for r in records for label in r.peers})
    for label in labels:
        nomatch = [r.peers[label] for r in records if not r.edit and label in r.peers]
        bar = max((score for _, score, _ in nomatch), default=0.0)
        cells: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        for r in records:
            if not r.edit or label not in r.peers:
                continue
            name, score, default = r.peers[label]
            c = cells[r.edit]
            c["n"] += 1
            c["default"] += int(default and name == r.ref)
            c["equal"] += int(score > bar and name == r.ref)
        out[label] = {
            "cells": {k: dict(v) for k, v in cells.items()},
            "bar": bar,
            "nomatch_default": (sum(d for _, _, d in nomatch), len(nomatch)),
        }
    return out


# -- real copies and speed -------------------------------------------------------------------------


def real_copies(media: Path, threshold: float) -> list[dict[str, Any]]:
    """Each shipped copy scanned as it is: did clearance report its source (and anything else)?"""
    rows = []
    for rel, (source, offset) in REAL_COPIES.items():
        path = media / rel
        if not path.exists():
            continue
        found = [f for f in _scan(path) if f[6] >= threshold]
        right = [f for f in found if f[0] == source]
        best = max(right, key=lambda f: f[6]) if right else None
        rows.append(
            {
                "query": rel,
                "source": source,
                "found": bool(right),
                "score": best[6] if best else None,
                "offset_err": (
                    abs((best[4] or 0.0) - best[2] - offset)
                    if best and offset is not None and best[4] is not None
                    else None
                ),
                "others": sorted({f[0] for f in found if f[0] != source}),
            }
        )
    return rows


def speed(files: list[Path]) -> dict[str, float]:
    """Real-time factors on one core, measured alternately in one run: plain PyAV decoding of every
    frame (no conversion), clearance's decode (64 x 64 luma thumbnails), and clearance's query and
    reference fingerprinting (each including that decode).

    The process is pinned to one CPU while it measures: decoders start threads of their own, and a
    'per core' figure must not borrow the other cores.
    """
    with _one_core():
        return _speed(files)


@contextmanager
def _one_core() -> Iterator[None]:
    """This process pinned to one CPU for the duration."""
    cpus = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {min(cpus)})
    try:
        yield
    finally:
        os.sched_setaffinity(0, cpus)


def keyframe_copy(src: Path, out: Path, loops: int = 3) -> Path:
    """``src`` ``loops`` times over as H.264 (CRF 20) at its own size and rate with a keyframe every
    second and no others: a reference fit for the keyframe path, as broadcast and mezzanine files are."""
    with av.open(str(src)) as inp, av.open(str(out), "w", format="mp4") as container:
        rate = inp.streams.video[0].average_rate or Fraction(25)
        keyint = str(round(float(rate)))
        stream = container.add_stream("libx264", rate=rate)
        source = inp.streams.video[0].codec_context
        stream.width, stream.height, stream.pix_fmt = source.width, source.height, "yuv420p"
        stream.options = {
            "crf": "20",
            "preset": "veryfast",
            "g": keyint,
            "keyint_min": keyint,
            "sc_threshold": "0",
            "x264-params": "mbtree=0",  # the same file every run (see synth.write_video)
        }
        for _ in range(loops):
            inp.seek(0)
            for frame in inp.decode(video=0):
                fresh = av.VideoFrame.from_ndarray(frame.to_ndarray(format="yuv420p"), format="yuv420p")
                for packet in stream.encode(fresh):
                    container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return out


def keyframe_speed(path: Path) -> dict[str, float]:
    """Real-time factors on one core of plain decoding and of reference fingerprinting (frame hashes
    and local features) with every picture decoded and on the keyframe path, alternately in one run."""
    sigs = (VisualPDQ(), VisualORB())
    spent: dict[str, float] = defaultdict(float)
    with av.open(str(path)) as c:
        seconds = float(c.duration or 0) / 1e6
    with _one_core():
        jobs: tuple[tuple[str, Callable[[], None]], ...] = (
            ("plain", lambda: _plain_decode(path)),
            ("plain_keyframes", lambda: _plain_decode(path, keyframes=True)),
            ("reference", lambda: _each(decode(path), sigs, query=False)),
            ("keyframes", lambda: _each(decode(path, keyframes=True), sigs, query=False)),
        )
        for _ in range(3):
            for key, fn in jobs:
                t = time.perf_counter()
                fn()
                spent[key] += time.perf_counter() - t
    return {k: 3 * seconds / v for k, v in spent.items()}


def keyframe_bits(path: Path) -> dict[str, float]:
    """How far the keyframe path's frame hashes lie from the full decode's at the same times (PDQ
    bits; the keyframe path skips the deblocking filter): median and largest."""
    full, keys = decode(path), decode(path, keyframes=True)
    at = np.searchsorted(full.frame_times, keys.frame_times - 1e-4)
    (ours, _), (theirs, _) = pdq(keys.frames), pdq(full.frames[at])
    bits = np.unpackbits(ours ^ theirs, axis=1).sum(axis=1)
    return {"median": float(np.median(bits)), "max": float(bits.max()), "pictures": float(len(bits))}


def _plain_decode(path: Path, *, keyframes: bool = False) -> None:
    """PyAV's decoding of every picture (or of the keyframes alone), without any conversion."""
    with av.open(str(path)) as c:
        stream = c.streams.video[0]
        stream.thread_type = "AUTO"  # as clearance's own decode
        if keyframes:
            stream.codec_context.skip_frame = "NONKEY"
        for _ in c.decode(stream):
            pass


def _each(media: DecodedMedia, sigs: tuple[VisualPDQ, VisualORB], *, query: bool) -> None:
    for sig in sigs:
        if query:
            sig.query(media)
        else:
            sig.reference(media)


def _speed(files: list[Path]) -> dict[str, float]:
    sigs = (VisualPDQ(), VisualORB())
    spent: dict[str, float] = defaultdict(float)
    seconds = 0.0

    settings = Settings()
    for _ in range(2):
        for path in files:
            with av.open(str(path)) as c:
                seconds += float(c.duration or 0) / 1e6
            for key, fn in (
                ("plain", lambda p=path: _plain_decode(p)),
                ("decode", lambda p=path: decode(p, limits=settings.limits)),
                ("query", lambda p=path: _each(decode(p, limits=settings.limits), sigs, query=True)),
                ("reference", lambda p=path: _each(decode(p, limits=settings.limits), sigs, query=False)),
            ):
                t = time.perf_counter()
                fn()
                spent[key] += time.perf_counter() - t
    return {k: seconds / v for k, v in spent.items()}


# -- run and report --------------------------------------------------------------------------------


def run(
    media: Path,
    n_queries: int,
    n_nomatch: int,
    seed: int,
    jobs: int,
    workdir: Path,
    records_out: Path | None,
    reuse: Path | None = None,
    with_peers: bool = True,
    only: list[str] | None = None,
) -> dict[str, Any]:
    holdout = [media / p for p in HOLDOUT]
    skip = {media / p for p in REAL_COPIES} | set(holdout)
    videos = sorted(
        p for p in (media / "video").rglob("*") if p.suffix in {".mp4", ".webm", ".avi"} and p not in skip
    )
    images = sorted(
        p for p in (media / "images").rglob("*") if p.suffix in {".jpg", ".jpeg", ".png"} and p not in skip
    )
    catalog = Catalog.open(workdir / "catalog", settings=Settings())
    with Progress(transient=True) as progress:
        task = progress.add_task("registering references", total=None)
        t0 = time.perf_counter()
        results = catalog.register([*videos, *images], owner="bench")
        register_s = time.perf_counter() - t0
        progress.update(task, total=1, completed=1)
    names = {r.work_id: Path(r.path).name for r in results if r.work_id}
    works = catalog.works()
    ref_hours = sum(w.duration_s for w in works if w.kind == "video") / 3600
    index_bytes = catalog.index_size_bytes("visual_pdq")
    local_bytes = catalog.index_size_bytes("visual_orb")
    catalog.close()
    Reader.unseekable = {p for p in [*videos, *holdout] if not check_seek(p)}
    durations = {}
    for p in [*videos, *holdout]:
        with av.open(str(p)) as c:
            durations[p.name] = float(c.duration or 0) / 1e6
    peers = video_peers.available() if with_peers and reuse is None else []
    with Progress(transient=True) as progress:
        task = progress.add_task("peers: hashing the references", total=len(peers) * len(videos))
        for peer in peers:
            for p in videos:
                peer.add(p)
                progress.advance(task)
    _STATE.update(
        peers=peers,
        workdir=workdir,
        catalog_dir=workdir / "catalog",
        names=names,
        holdout=holdout,
        videos=[p for p in videos if durations[p.name] >= MIN_EXCERPT_S + 0.5],
        durations=durations,
        images=images,
    )
    threshold = Settings().audio_min_score
    if reuse is not None:
        # The outcomes of an earlier run (``--records``) of the same build, seed and counts.
        records = [Record(**r) for r in json.loads(reuse.read_text(encoding="utf-8"))]
    else:
        records = pool_map(
            _query, _specs(seed, n_queries, n_nomatch, only), jobs, "queries (make, encode, scan)", 2
        )
    if records_out is not None:
        records_out.write_text(json.dumps([asdict(r) for r in records]), encoding="utf-8")
    res = evaluate(records, threshold)
    res["peers"] = evaluate_peers(records)
    res["real"] = real_copies(media, threshold)
    keyframes_1080p = keyframe_copy(
        media / "video" / "royal_opera_house_walkway.mp4", workdir / "keyframes_1080p.mp4"
    )
    _STATE.clear()
    res.update(
        n_queries=n_queries,
        refs=len(videos),
        images=len(images),
        ref_hours=ref_hours,
        index_bytes=index_bytes,
        local_bytes=local_bytes,
        register_s=register_s,
        threshold=threshold,
        speed=speed(
            [p for p in videos if "royal_opera" in p.name or "cockatoo" in p.name or "chaplin" in p.name]
        ),
        keyframe_speed=keyframe_speed(keyframes_1080p),
        keyframe_bits=keyframe_bits(keyframes_1080p),
    )
    return res


def _pct(k: int, n: int) -> str:
    return f"{100 * k / n:.1f}" if n else "-"


def _med(xs: list[float]) -> str:
    return f"{statistics.median(xs):.2f}" if xs else "-"


def render(res: dict[str, Any], command: str) -> str:
    lines = [
        f"Command: `{command}`  ",
        f"Date: {date.today().isoformat()}; machine: {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}.  ",
        f"References: {res['refs']} videos ({60 * res['ref_hours']:.1f} min) of `shared/media/video` and "
        f"{res['images']} images of `shared/media/images`, less the hold-outs and the shipped copies. Queries per "
        f"edit: {res['n_queries']}: a {MIN_EXCERPT_S:.0f}-{MAX_EXCERPT_S:.0f} s excerpt at a random offset (references "
        "weighted by length), edited, between 2-4 s and 3 s of never-registered footage (the AI-generated news "
        "anchors, the talking heads, the doorknob clip), written as H.264 (CRF 23 unless the edit says) within "
        f"{MAX_W}x{MAX_H}, no sound. '{IMAGE_KEY}': a registered image shown for 2-6 s, full frame or at 60-90 % "
        "size over such footage. Detected: a finding of the right work, at clearance's default threshold "
        f"(score >= {res['threshold']}), overlapping the excerpt in the query. IoU and boundary error: the best such "
        "finding against the truth, on each time axis (boundary error: the larger of the start and end errors). "
        "'low' is the lower end of the 95 % Wilson interval.",
        "",
        "| edit | goal % | detected % (low) | median IoU query / ref | boundaries within 0.5 s, query / ref % |",
        "|---|---|---|---|---|",
    ]
    cells = res["cells"]
    for edit in [*edits.REGISTRY, IMAGE_KEY]:
        c = cells.get(edit)
        if not c:
            continue
        n, k = len(c["hit"]), sum(c["hit"])
        qe, re_ = c.get("q_err", []), c.get("r_err", [])
        within = (
            f"{_pct(sum(e <= TOLERANCE_S for e in qe), len(qe))} / "
            f"{_pct(sum(e <= TOLERANCE_S for e in re_), len(re_)) if re_ else '-'}"
        )
        lines.append(
            f"| {edit} | {edits.GOALS.get(edit, '')} | {_pct(k, n)} ({wilson_low(k, n):.0f}) | "
            f"{_med(c.get('q_iou', []))} / {_med(c.get('r_iou', []))} | {within} |"
        )
    found, total = res["nomatch"]
    all_q = [e for c in cells.values() for e in c.get("q_iou", [])]
    all_r = [e for c in cells.values() for e in c.get("r_iou", [])]
    real = res["real"]
    sp, kp, kb = res["speed"], res["keyframe_speed"], res["keyframe_bits"]
    lines += [
        "",
        f"- Segment micro-AP (VSC22 matching-track definition, every finding ranked by its false-alarm "
        f"probability, over all edits and no-match queries, stills left out): {res['uap']:.3f} (goal >= 0.95).",
        f"- Localisation over all detections: median IoU {_med(all_q)} on the query axis, {_med(all_r)} on the "
        "reference axis (goal >= 0.9).",
        f"- No-match queries ({NOMATCH_S:.0f} s of never-registered footage, half of them edited at random): "
        f"a work reported for {found} of {total} ({_pct(found, total)} %; goal <= 0.1 %).",
        f"- Wrong works reported: {res['wrong']} over {res['query_hours']:.2f} h of queries "
        f"({res['wrong'] / max(1e-9, res['query_hours']):.1f} per query-hour).",
        "- Shipped copies, each scanned as it is: "
        + "; ".join(
            f"{Path(r['query']).name} -> {r['source']}: "
            + (f"found (score {r['score']:.2f}" if r["found"] else "missed")
            + (f", offset error {r['offset_err']:.2f} s" if r["offset_err"] is not None else "")
            + (")" if r["found"] else "")
            + (f", also {', '.join(r['others'])}" if r["others"] else "")
            for r in real
        )
        + f". {sum(r['found'] for r in real)} of {len(real)} found.",
        f"- Speed on one core (royal_opera 1080p, cockatoo 720p, chaplin 360p H.264), measured alternately in one "
        f"run: plain PyAV decoding of every frame {sp['plain']:.0f}x real time; clearance's decode to 64x64 luma and detail pictures "
        f"{sp['decode']:.0f}x; query fingerprinting (frame hashes and local features) including that decode {sp['query']:.0f}x (ratio to plain "
        f"decoding {sp['query'] / sp['plain']:.2f}); reference fingerprinting {sp['reference']:.0f}x (ratio "
        f"{sp['reference'] / sp['plain']:.2f}).",
        f"- Reference ingest on the keyframe path (`register --keyframes`), on one core: royal_opera (1080p) three "
        "times over, re-encoded with H.264 with a keyframe every second (`keyframe_copy`), measured alternately in "
        f"one run: {kp['keyframes']:.0f}x real time (goal >= 50x), where PyAV decoding the keyframes alone, without "
        f"any conversion, runs at {kp['plain_keyframes']:.0f}x (ratio {kp['keyframes'] / kp['plain_keyframes']:.2f}: "
        f"the decoder is the limit); {kp['reference']:.0f}x with every picture decoded (the keyframe path is "
        f"{kp['keyframes'] / kp['reference']:.1f} times as fast), and {kp['plain']:.0f}x for plain decoding of every "
        "picture. A video whose keyframes lie further apart than 1.1 s (most of the corpus, and web uploads) is "
        "decoded in full on this path too. The path skips the deblocking filter: its frame hashes lie "
        f"{kb['median']:.0f} bits (median) and {kb['max']:.0f} at most from the full decode's at the same "
        f"{kb['pictures']:.0f} times.",
        f"- Index size: {res['index_bytes'] / 1e3:.0f} KB for {60 * res['ref_hours']:.1f} min = "
        f"{res['index_bytes'] / 1e3 / max(1e-9, res['ref_hours']):.0f} KB per hour of reference video (goal <= 350 KB/h) "
        f"for the frame hashes (visual_pdq), and {res['local_bytes'] / 1e3 / max(1e-9, res['ref_hours']):.0f} KB/h "
        "more for the local features (visual_orb).",
        f"- Registration of the references (video, images and the videos' sound): {res['register_s']:.0f} s.",
    ]
    return "\n".join(lines + _render_peers(res))


def _render_peers(res: dict[str, Any]) -> list[str]:
    peers = res.get("peers") or {}
    if not peers:
        return ["- No peer ran (`bash benchmarks/setup.sh` installs vPDQ and TMK+PDQF)."]
    labels = sorted(peers)
    lines = [
        "",
        "Peers on the same queries (module docstring of `benchmarks/video_peers.py`): detection % of the right "
        "video under each peer's default rule / at equal false alarms (its threshold set above its best score on "
        "the same no-match queries; clearance reported 0 of them). Neither peer localises a copy or indexes "
        "still images.",
        "",
        "| edit | clearance | " + " | ".join(f"{label} default / equal FA" for label in labels) + " |",
        "|---|---|" + "---|" * len(labels),
    ]
    for edit in edits.REGISTRY:
        c = res["cells"].get(edit)
        if not c:
            continue
        row = [edit, _pct(sum(c["hit"]), len(c["hit"]))]
        for label in labels:
            p = peers[label]["cells"].get(edit, {})
            n = p.get("n", 0)
            row.append(f"{_pct(p.get('default', 0), n)} / {_pct(p.get('equal', 0), n)}")
        lines.append("| " + " | ".join(row) + " |")
    lines.append("")
    for label in labels:
        k, n = peers[label]["nomatch_default"]
        lines.append(
            f"- {label}: no-match queries reported under its default rule: {k} of {n}; equal-false-alarm "
            f"threshold: score > {peers[label]['bar']:.3g}."
        )
    return lines


def main() -> None:
    parser = report.parser(__doc__, 40, "queries per edit", 1000)
    parser.add_argument("--no-peers", action="store_true", help="leave vPDQ and TMK+PDQF out")
    parser.add_argument(
        "--reuse", type=Path, default=None, help="score the outcomes saved by an earlier run's --records"
    )
    parser.add_argument(
        "--edits", default=None, help="only these edits (comma-separated names), for a larger sample of a few"
    )
    args = parser.parse_args()
    report.require_corpus(args.media, "video")
    only = None
    if args.edits:
        only = args.edits.split(",")
        if unknown := sorted(set(only) - {*edits.REGISTRY, IMAGE_KEY}):
            parser.error(
                f"unknown edit {unknown[0]!r}; the edits are {', '.join([*edits.REGISTRY, IMAGE_KEY])}"
            )
    with tempfile.TemporaryDirectory(prefix="clearance-bench-") as tmp:
        res = run(
            args.media, args.queries, args.nomatch, args.seed, args.jobs, Path(tmp), args.records, args.reuse,
            not args.no_peers, only,
        )  # fmt: skip
    command = (
        f"python -m benchmarks.video --queries {args.queries} --nomatch {args.nomatch} --seed {args.seed} "
        f"--jobs {args.jobs}"
        + (" --no-peers" if args.no_peers else "")
        + (f" --edits '{args.edits}'" if args.edits else "")
    )
    text = render(res, command)
    report.publish(text, args.write, "Video and image matching")


if __name__ == "__main__":
    main()
