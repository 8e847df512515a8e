"""Audio fingerprints that survive speed, pitch and tempo changes: peak triplets on a log-frequency axis.

Decision: classic landmark pairs hash (f1, f2 - f1, t2 - t1) on a linear frequency axis, so a 3 % speed
change or one semitone of pitch moves every hash. Here each hash is built from three spectral peaks
a, b, c (in time order) with

* ``d1 = f_b - f_a`` and ``d2 = f_c - f_a`` in semitones: a pitch shift adds the same constant to
  every log frequency, so the differences do not move;
* ``r = (t_b - t_a) / (t_c - t_a)``: a time stretch scales every interval, so the ratio does not move;
* the anchor's coarse pitch and the coarse log span ``log(t_c - t_a)``: these move with the edit, and
  the query side probes the neighbouring bin whenever the edit range can carry the value across a bin
  edge. They make the hash specific enough for a large index.

The reference side keeps few, strong peaks and a small fan-out (small index); the query side keeps
more peaks and every triplet among more neighbours, so a reference triplet survives in the query even
when noise or speech adds peaks. Alignment (``clearance.match``) then fits offset and speed.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt
import scipy.fft
from numpy.lib.stride_tricks import sliding_window_view
from scipy import special

from clearance._arrays import distinct, sliding_max
from clearance.fingerprint.base import Fingerprint
from clearance.index.postings import Generation, search
from clearance.match.align import AlignParams, Segment, align_hits
from clearance.media.decode import AUDIO_RATE, DecodedMedia

N_FFT = 1024
HOP = 128
FRAME_RATE = AUDIO_RATE / HOP
"""Fingerprint frames per second (62.5: 16 ms per frame)."""

F_MIN_HZ = 250.0
F_MAX_HZ = 3600.0
_F_REF_HZ = F_MIN_HZ

# Hash layout: 4 bits anchor pitch, 4 bits log span, 4 bits ratio, 6 + 6 bits pitch differences.
PITCH_BIN_ST = 3.0
SPAN_MIN_FRAMES = 6.0
SPAN_MAX_FRAMES = 60.0
SPAN_BIN = float(np.log(SPAN_MAX_FRAMES / SPAN_MIN_FRAMES) / 16)
RATIO_BINS = 16
DIFF_BIN_ST = 0.5
DIFF_MAX_ST = 12.0
_DIFF_BINS = int(2 * DIFF_MAX_ST / DIFF_BIN_ST) + 1  # 49 < 64
# Bins of pitch differences are centred on whole semitones, where tonal music puts them: a difference
# then sits mid-bin and needs no neighbouring probe.
_DIFF_ORIGIN = DIFF_MAX_ST + DIFF_BIN_ST / 2
# A neighbour at the anchor's own pitch (a held note, a repeated one) makes a triplet that nearly every
# recording holds; such neighbours are skipped. The query side skips fewer, so that measurement noise
# cannot drop a neighbour that the reference side kept.
MIN_INTERVAL_ST = 0.5

# Largest edit the query probes cover: speed +-9 % (pitch follows) or pitch +-1.5 semitones.
MAX_PITCH_SHIFT_ST = 1.6
MAX_LOG_TIME_SCALE = float(np.log(1.10))
# Measurement noise of the invariant components, probed on the query side.
RATIO_TOL = 0.045
DIFF_TOL_ST = 0.17


@dataclass(frozen=True)
class PeakParams:
    """How many peaks to keep and how to combine them into triplets."""

    peaks_per_s: float
    fanout: int  # triplets use pairs among the first ``fanout`` peaks after the anchor


REFERENCE = PeakParams(peaks_per_s=9.0, fanout=3)
QUERY = PeakParams(peaks_per_s=24.0, fanout=9)
# A work stores twice as many peaks for verification as it hashes: the weaker ones double the evidence
# that a verification weighs (a reverberant or 5 s copy that the hashed peaks alone cannot tell from
# chance) for 4 bytes each, about 0.13 MB per hour.
VERIFY_PEAKS_PER_S = 18.0


@dataclass(frozen=True)
class Peaks:
    """Spectral peaks: time in frames, pitch in semitones above 250 Hz, strength (log-magnitude), and
    rank by strength within its block of ``_BLOCK`` frames (0 is the strongest)."""

    t: npt.NDArray[np.float32]
    f: npt.NDArray[np.float32]
    strength: npt.NDArray[np.float32]
    rank: npt.NDArray[np.int32]


@dataclass(frozen=True)
class Hashes:
    """Triplet hashes with the anchor frame of each (sorted by nothing in particular)."""

    keys: npt.NDArray[np.uint32]
    frames: npt.NDArray[np.uint32]


def spectrogram(
    pcm: npt.NDArray[np.float32], first: int = 0, stop: int | None = None
) -> npt.NDArray[np.float32]:
    """Log-magnitude STFT over the fingerprint band, frames ``first`` to ``stop`` (frames x bins)."""
    if len(pcm) < N_FFT:
        pcm = np.pad(pcm, (0, N_FFT - len(pcm)))
    frames = sliding_window_view(pcm, N_FFT)[::HOP][first:stop]
    lo, hi = _bin_range()
    spec = scipy.fft.rfft(frames * _WINDOW, axis=1)[:, lo - 1 : hi + 1]
    out: npt.NDArray[np.float32] = np.log(np.abs(spec) + np.float32(1e-4))
    return out


_WINDOW = np.hanning(N_FFT).astype(np.float32)


def _bin_range() -> tuple[int, int]:
    return int(F_MIN_HZ * N_FFT / AUDIO_RATE), int(F_MAX_HZ * N_FFT / AUDIO_RATE) + 1


_FLOOR = float(np.log(1e-2))  # about -88 dBFS for a sine: below it nothing counts as a peak
_BLOCK = 64  # density control: the strongest peaks of each block of 64 frames (~1 s) are kept
_CHUNK = 64 * _BLOCK  # frames analysed at a time: bounds memory for long inputs
_HALO = 5  # extra frames on each side of a chunk for the neighbourhood maximum


def find_peaks(pcm: npt.NDArray[np.float32], peaks_per_s: float) -> Peaks:
    """The strongest local maxima of the log spectrogram, about ``peaks_per_s`` per second.

    Decision: peaks are ranked by magnitude, not by contrast with their surroundings; the loudest
    spectral points are the ones that survive noise, reverberation and speech mixed over the music.
    """
    n_frames = 1 + max(0, len(pcm) - N_FFT) // HOP
    parts = [
        _chunk_peaks(pcm, c0, min(c0 + _CHUNK, n_frames), n_frames, peaks_per_s)
        for c0 in range(0, n_frames, _CHUNK)
    ]
    if not parts:
        empty = np.zeros(0, np.float32)
        return Peaks(empty, empty, empty, np.zeros(0, np.int32))
    return Peaks(*(np.concatenate([getattr(p, k) for p in parts]) for k in ("t", "f", "strength", "rank")))


def _per_block(peaks_per_s: float) -> float:
    return peaks_per_s * _BLOCK / FRAME_RATE


def strongest(peaks: Peaks, peaks_per_s: float) -> Peaks:
    """The peaks that ``find_peaks(pcm, peaks_per_s)`` returns, taken from peaks found at a higher rate."""
    keep = peaks.rank < _per_block(peaks_per_s)
    return Peaks(peaks.t[keep], peaks.f[keep], peaks.strength[keep], peaks.rank[keep])


def _chunk_peaks(pcm: npt.NDArray[np.float32], c0: int, c1: int, n_frames: int, peaks_per_s: float) -> Peaks:
    s0, s1 = max(0, c0 - _HALO), min(n_frames, c1 + _HALO)
    spec = spectrogram(pcm, s0, s1)
    local_max = sliding_max(sliding_max(spec, 9, 0), 7, 1)
    is_peak = (spec == local_max) & (spec > _FLOOR)
    is_peak[: max(c0 - s0, 1), :] = False
    is_peak[c1 - s0 :, :] = False
    is_peak[-1, :] = False
    is_peak[:, 0] = is_peak[:, -1] = False
    ti, fi = np.nonzero(is_peak)
    strength = spec[ti, fi]
    block = (ti + s0) // _BLOCK
    order = np.lexsort((-strength, block))
    ti, fi, strength, block = ti[order], fi[order], strength[order], block[order]
    rank = np.arange(len(block)) - np.searchsorted(block, block, side="left")
    keep = rank < _per_block(peaks_per_s)
    ti, fi, strength, rank = ti[keep], fi[keep], strength[keep], rank[keep]
    # Sub-bin frequency and sub-frame time by parabolic interpolation on the log spectrum.
    df = _parabola(spec[ti, fi - 1], strength, spec[ti, fi + 1])
    dt = _parabola(spec[ti - 1, fi], strength, spec[ti + 1, fi])
    lo, _ = _bin_range()
    hz = (fi + lo - 1 + df) * (AUDIO_RATE / N_FFT)
    semitones = 12.0 * np.log2(np.maximum(hz, 1.0) / _F_REF_HZ)
    t = ti + s0 + dt
    order = np.argsort(t, kind="stable")
    return Peaks(
        t[order].astype(np.float32),
        semitones[order].astype(np.float32),
        strength[order].astype(np.float32),
        rank[order].astype(np.int32),
    )


def _parabola(
    a: npt.NDArray[np.float32], b: npt.NDArray[np.float32], c: npt.NDArray[np.float32]
) -> npt.NDArray[np.float32]:
    denom = a - 2 * b + c
    with np.errstate(divide="ignore", invalid="ignore"):
        delta = np.where(denom < 0, 0.5 * (a - c) / denom, 0.0)
    return np.clip(delta, -0.5, 0.5).astype(np.float32)


def _triplets(
    peaks: Peaks, fanout: int, min_interval: float = MIN_INTERVAL_ST
) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp], npt.NDArray[np.intp]]:
    """Index triples (a, b, c): b, c among the first ``fanout`` valid neighbours of a (later, within
    ``SPAN_MAX_FRAMES``, under an octave away and at least ``min_interval`` semitones away), b before c."""
    n = len(peaks.t)
    lookahead = min(max(4 * fanout, 16), max(n - 1, 1))
    if n < 3:
        empty = np.zeros(0, np.intp)
        return empty, empty, empty
    idx = np.arange(n)[:, None] + np.arange(1, lookahead + 1)[None, :]
    inside = idx < n
    idx = np.minimum(idx, n - 1)
    dt = peaks.t[idx] - peaks.t[:, None]
    df = peaks.f[idx] - peaks.f[:, None]
    valid = inside & (dt >= 1.0) & (dt <= SPAN_MAX_FRAMES) & (np.abs(df) < DIFF_MAX_ST)
    valid &= np.abs(df) >= min_interval
    rank = np.cumsum(valid, axis=1)
    valid &= rank <= fanout
    # Compact each row's first ``fanout`` valid neighbours into a (n, fanout) table.
    cand = np.full((n, fanout), -1, np.intp)
    rows, cols = np.nonzero(valid)
    cand[rows, rank[rows, cols] - 1] = idx[rows, cols]
    p, q = np.triu_indices(fanout, k=1)
    a = np.repeat(np.arange(n), len(p))
    b = cand[:, p].reshape(-1)
    c = cand[:, q].reshape(-1)
    ok = (b >= 0) & (c >= 0)
    a, b, c = a[ok], b[ok], c[ok]
    span = peaks.t[c] - peaks.t[a]
    ok = (span >= SPAN_MIN_FRAMES) & (peaks.t[c] - peaks.t[b] >= 1.0)
    return a[ok], b[ok], c[ok]


def _components(
    peaks: Peaks, a: npt.NDArray[np.intp], b: npt.NDArray[np.intp], c: npt.NDArray[np.intp]
) -> list[npt.NDArray[np.float64]]:
    """Each hash component as a continuous value in bin units (floor gives the bin)."""
    t, f = peaks.t.astype(np.float64), peaks.f.astype(np.float64)
    span = t[c] - t[a]
    return [
        f[a] / PITCH_BIN_ST,
        np.log(span / SPAN_MIN_FRAMES) / SPAN_BIN,
        (t[b] - t[a]) / span * RATIO_BINS,
        (f[b] - f[a] + _DIFF_ORIGIN) / DIFF_BIN_ST,
        (f[c] - f[a] + _DIFF_ORIGIN) / DIFF_BIN_ST,
    ]


_LIMITS = (15, 15, RATIO_BINS - 1, _DIFF_BINS - 1, _DIFF_BINS - 1)
_SHIFTS = (20, 16, 12, 6, 0)


def _pack(bins: list[npt.NDArray[np.int64]]) -> npt.NDArray[np.uint32]:
    key = np.zeros(len(bins[0]), np.uint32)
    for value, limit, shift in zip(bins, _LIMITS, _SHIFTS, strict=True):
        key |= (np.clip(value, 0, limit).astype(np.uint32)) << np.uint32(shift)
    return key


def reference_hashes(peaks: Peaks, params: PeakParams = REFERENCE) -> Hashes:
    """Hashes to store for a registered work: one key per triplet of its peaks."""
    a, b, c = _triplets(peaks, params.fanout)
    comps = _components(peaks, a, b, c)
    keys = _pack([np.floor(v).astype(np.int64) for v in comps])
    return Hashes(keys, np.round(peaks.t[a]).astype(np.uint32))


def query_hashes(peaks: Peaks, params: PeakParams = QUERY) -> Hashes:
    """Hashes to look up for a query: each triplet plus the neighbouring bins an edit could reach."""
    a, b, c = _triplets(peaks, params.fanout, MIN_INTERVAL_ST - DIFF_TOL_ST)
    comps = _components(peaks, a, b, c)
    margins = (
        MAX_PITCH_SHIFT_ST / PITCH_BIN_ST,
        MAX_LOG_TIME_SCALE / SPAN_BIN,
        RATIO_TOL * RATIO_BINS,
        DIFF_TOL_ST / DIFF_BIN_ST,
        DIFF_TOL_ST / DIFF_BIN_ST,
    )
    # For each component, the bins a reference value could sit in: value - margin .. value + margin.
    # Probes grow one component at a time: each (key, triplet) so far gains a copy per extra bin.
    base_bins = [np.floor(v).astype(np.int64) for v in comps]
    keys = _pack(base_bins).astype(np.int32)  # keys and bin steps fit 32 bits: half the memory traffic
    owner = np.arange(len(a), dtype=np.int32)
    # Components that rarely need a second bin grow the probes first: every later step then works
    # on fewer probes (half the work of the hash layout's order, for the same set of probes).
    for i in sorted(range(len(comps)), key=lambda j: margins[j]):
        value, margin = comps[i], margins[i]
        base = base_bins[i]
        held = np.clip(base, 0, _LIMITS[i])
        steps = int(np.ceil(margin))
        grown_keys, grown_owner = [keys], [owner]
        for k in [*range(-steps, 0), *range(1, steps + 1)]:
            mask = (base + k + 1 > value - margin) & (base + k <= value + margin)
            mask &= (base + k >= 0) & (base + k <= _LIMITS[i])
            sel = mask[owner]
            if sel.any():
                delta = ((base + k - held) << _SHIFTS[i]).astype(np.int32)
                grown = owner[sel]
                grown_keys.append(keys[sel] + delta[grown])
                grown_owner.append(grown)
        keys, owner = np.concatenate(grown_keys), np.concatenate(grown_owner)
    frames = np.round(peaks.t[a]).astype(np.uint32)
    return Hashes(keys.astype(np.uint32), frames[owner])


# Verification: a proposed alignment is checked peak by peak. Every reference peak of the segment is
# mapped into the query; it counts when a query peak lies within VERIFY_TIME_TOL frames and, after one
# pitch shift common to the whole segment, within VERIFY_PITCH_TOL semitones.
VERIFY_TIME_TOL = 1.5
VERIFY_PITCH_TOL = 0.15
VERIFY_SHIFT_STEP = 0.1
_PITCH_SHIFTS = np.arange(-MAX_PITCH_SHIFT_ST, MAX_PITCH_SHIFT_ST + 1e-9, VERIFY_SHIFT_STEP)
# The chance rate is measured on the same query and work at decoy offsets (frames) from the proposed
# one: an empirical background that already holds whatever this pair of recordings shares by chance
# (key, tempo, instrumentation), which a model of independent peaks would miss. Offsets are taken
# nearest first, and only where the decoy span lies inside the work: near a work's end (a held final
# chord, a fade) the far side does not exist, and decoys from a different section would understate
# the chance of meeting a stationary sound.
DECOY_OFFSETS = (97, -97, 157, -157, 211, -211, 300, -300, 397, -397, 503, -503, 613, -613)
N_DECOYS = 8
VERIFY_MIN_POINTS = 8
MIN_CHANCE_RATE = 0.01
# A query that holds a tone meets a reference peak of that pitch at almost any offset, and a held chord
# fills a whole stretch of such matches at once: they are neither specific to the line nor independent.
# The false-alarm probability counts only matches where the query does not hold the pitch both
# HELD_MIN..HELD_MAX frames before and after the mapped peak, at the line and at the decoys alike.
# (A reverberated onset rings on after the note but not before it, so it still counts.)
HELD_MIN_FRAMES = 8.0
HELD_MAX_FRAMES = 14.0
VERIFY_MIN_SHARE = 0.2
# The alignment's line comes from a few hash anchors and can be off by a few frames or a few per cent in
# speed (reverberation delays peaks, a short run of anchors fixes the slope poorly), which the verifier's
# 1.5-frame tolerance does not forgive. A line with some evidence (a tail of 10**REFIT_MIN_LOG10 before
# the search correction) is therefore re-fitted to the peaks: the best line whose ends lie within
# REFIT_BAND_FRAMES reference frames of the proposed line's.
REFIT_MIN_LOG10 = -3.0
REFIT_BAND_FRAMES = 12
_RUN_WINDOW = int(VERIFY_PEAKS_PER_S)  # stored reference peaks, about one second
_PITCH_CODE = 16.0  # pitch stored in 1/16 semitone


def pack_points(peaks: Peaks) -> npt.NDArray[np.uint32]:
    """Peaks as ``frame << 10 | round(16 * semitones)`` (frames below 2**22: 18 hours)."""
    t = np.clip(np.round(peaks.t), 0, 2**22 - 1).astype(np.uint32)
    f = np.clip(np.round(peaks.f * _PITCH_CODE), 0, 1023).astype(np.uint32)
    out: npt.NDArray[np.uint32] = (t << np.uint32(10)) | f
    return out


PeakArrays = tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]
"""Peak times (frames) and pitches (semitones), sorted by time."""


def unpack_points(points: npt.NDArray[np.uint32]) -> PeakArrays:
    """``(frames, semitones)`` of packed points, sorted by time."""
    p = np.sort(np.asarray(points, np.uint32))
    return (p >> np.uint32(10)).astype(np.float64), (p & np.uint32(1023)).astype(np.float64) / _PITCH_CODE


def _window_pairs(
    qt: npt.NDArray[np.float64], at: npt.NDArray[np.float64], lo: float, hi: float
) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]:
    """Every ``(i, j)`` with query time ``qt[j]`` (sorted) within ``[at[i] + lo, at[i] + hi]``."""
    first = np.searchsorted(qt, at + lo, side="left")
    n = np.searchsorted(qt, at + hi, side="right") - first
    total = int(n.sum())
    i = np.repeat(np.arange(len(at)), n)
    j = np.repeat(first - np.cumsum(n) + n, n) + np.arange(total)
    return i, j


def _shift_pairs(
    ref: PeakArrays, query: PeakArrays, speed: float, offset: float | npt.NDArray[np.float64]
) -> npt.NDArray[np.int64]:
    """Distinct ``ref_index * n_shifts + shift_index`` for reference peaks with a query peak on the line
    (``offset`` may be given per reference peak)."""
    rt, rf = ref
    ref_idx, q_idx = _window_pairs(query[0], (rt - offset) / speed, -VERIFY_TIME_TOL, VERIFY_TIME_TOL)
    if len(ref_idx) == 0:
        return np.zeros(0, np.int64)
    d = query[1][q_idx] - rf[ref_idx] - _PITCH_SHIFTS[0]
    j_lo = np.ceil((d - VERIFY_PITCH_TOL) / VERIFY_SHIFT_STEP).astype(np.int64)
    j_hi = np.floor((d + VERIFY_PITCH_TOL) / VERIFY_SHIFT_STEP).astype(np.int64)
    width = int(np.ceil(2 * VERIFY_PITCH_TOL / VERIFY_SHIFT_STEP)) + 1
    j = (j_lo[:, None] + np.arange(width)[None, :]).reshape(-1)
    r = np.repeat(ref_idx, width)
    ok = (j <= np.repeat(j_hi, width)) & (j >= 0) & (j < len(_PITCH_SHIFTS))
    # Each reference peak counts once per shift, however many query peaks sit near it.
    return distinct(r[ok] * len(_PITCH_SHIFTS) + j[ok])


def _has_peak(
    query: PeakArrays, at: npt.NDArray[np.float64], pitch: npt.NDArray[np.float64], lo: float, hi: float
) -> npt.NDArray[np.bool_]:
    """Per point: whether a query peak lies within ``[at + lo, at + hi]`` frames and
    ``VERIFY_PITCH_TOL`` semitones of ``pitch``."""
    idx, q = _window_pairs(query[0], at, lo, hi)
    out = np.zeros(len(at), bool)
    out[idx[np.abs(query[1][q] - pitch[idx]) <= VERIFY_PITCH_TOL]] = True
    return out


def unheld_matches(
    ref: PeakArrays, query: PeakArrays, speed: float, offset: float | npt.NDArray[np.float64], shift: float
) -> npt.NDArray[np.bool_]:
    """Per reference peak: a query peak on the line at pitch shift ``shift``, where the query does not
    hold that pitch on both sides (see ``HELD_MIN_FRAMES``)."""
    at = (ref[0] - offset) / speed
    pitch = ref[1] + shift
    out = _has_peak(query, at, pitch, -VERIFY_TIME_TOL, VERIFY_TIME_TOL)
    met = np.flatnonzero(out)  # few, mostly: only these need the look to either side
    held = _has_peak(query, at[met], pitch[met], -HELD_MAX_FRAMES, -HELD_MIN_FRAMES)
    held &= _has_peak(query, at[met], pitch[met], HELD_MIN_FRAMES, HELD_MAX_FRAMES)
    out[met[held]] = False
    return out


def shift_counts(
    ref: PeakArrays, query: PeakArrays, speed: float, offset: float | npt.NDArray[np.float64]
) -> npt.NDArray[np.int64]:
    """For each candidate pitch shift, how many reference peaks have a query peak on the line
    (``offset`` may be given per reference peak)."""
    pairs = _shift_pairs(ref, query, speed, offset)
    return np.bincount(pairs % len(_PITCH_SHIFTS), minlength=len(_PITCH_SHIFTS)).astype(np.int64)


def verify_segment(
    query_points: npt.NDArray[np.uint32],
    ref_points: npt.NDArray[np.uint32],
    segment: Segment,
    trials: int,
    params: AlignParams,
) -> Segment | None:
    """The segment re-scored peak by peak against an empirical chance rate, or ``None``.

    The line is re-fitted to the peaks when that finds a better one (see ``REFIT_BAND_FRAMES``), and
    the segment's ends are re-drawn from the verified peaks: the line is followed outwards while the
    share of verified peaks stays at ``VERIFY_MIN_SHARE`` or four times chance.
    """
    fr = params.frame_rate
    query = unpack_points(query_points)
    ref = unpack_points(ref_points)
    q0, q1 = segment.query_start * fr, segment.query_end * fr
    # Significance and pitch shift are judged on the proposed span only: the ends drawn below are
    # chosen by looking at the verified peaks, and a span chosen that way would overstate its evidence.
    line = _test_line(ref, query, segment.speed, segment.ref_start * fr - segment.speed * q0, q0, q1)
    if line is None:
        return None
    # The line was chosen among every (work, speed, offset) cell the alignment searched, from these very
    # peaks: the tail is corrected for that whole search, not only for the candidates verified.
    searched = segment.evidence.get("log10_search")
    search = float(searched) if searched is not None else float(np.log10(max(1, trials)))
    correction = search + float(np.log10(len(_PITCH_SHIFTS))) + _LOG10_2
    if line.log10_tail <= REFIT_MIN_LOG10 and line.log10_tail + correction > -params.significance_scale:
        refit = _refit(ref, query, line, q0, q1, params)
        if refit is not None:
            # Half the false-alarm budget goes to the proposed lines, half to the re-fitted ones; these
            # are finer than the alignment's cells, so more of them: as many per cell as the re-fit's
            # grid (one frame at either end of the span) puts there.
            finer = float(np.log10(max(1.0, params.offset_bin * params.speed_step * (q1 - q0))))
            if refit.log10_tail + finer < line.log10_tail:
                line, correction = refit, correction + finer
    rt, rf = ref
    qt = query[0]
    speed, offset, best = line.speed, line.offset, line.best
    # Ends: follow the line outwards while the local share of verified peaks stays well above chance.
    q_last = float(qt[-1]) if len(qt) else q1
    reach = np.flatnonzero((rt >= offset - 2) & (rt <= speed * q_last + offset + 2))
    pairs = _shift_pairs((rt[reach], rf[reach]), query, speed, offset)
    verified = np.zeros(len(reach), bool)
    verified[distinct(pairs[np.abs(pairs % len(_PITCH_SHIFTS) - best) <= 1] // len(_PITCH_SHIFTS))] = True
    times = (rt[reach] - offset) / speed
    bounds = _run(times, verified, q0, q1, max(VERIFY_MIN_SHARE, 4 * float(line.chance[best])))
    if bounds is None:
        return None
    q0, q1 = bounds
    plateau = slice(max(0, best - 2), best + 3)  # a peak tolerance of 0.15 st spreads over 3 steps
    pitch_shift = float(np.average(_PITCH_SHIFTS[plateau], weights=line.counts[plateau] + 1e-9))
    log10_p = line.log10_tail + correction
    if not np.isfinite(log10_p):
        log10_p = -300.0
    score = float(np.clip(-log10_p / params.significance_scale, 0.0, 1.0))
    q1 = min(q1 + VERIFY_TIME_TOL, q_last + VERIFY_TIME_TOL)
    return replace(
        segment,
        query_start=round(q0 / fr, 3),
        query_end=round(q1 / fr, 3),
        ref_start=round(max(0.0, speed * q0 + offset) / fr, 3),
        ref_end=round(max(0.0, speed * q1 + offset) / fr, 3),
        speed=round(speed, 4),
        score=round(score, 4),
        evidence={
            **segment.evidence,
            "verified_peaks": int(line.counts[best]),
            "reference_peaks": line.n,
            "unheld_peaks": line.k_unheld,
            "chance_rate": round(line.chance_unheld, 4),
            "pitch_shift_st": round(pitch_shift, 2) + 0.0,
            "refitted": line.refitted,
            "log10_false_alarm": round(log10_p, 2),
        },
    )


_LOG10_2 = float(np.log10(2.0))


@dataclass(frozen=True)
class _Line:
    """The peak-level test of one line ``t_ref = speed * t_query + offset`` (frames) over a span."""

    speed: float
    offset: float
    n: int  # reference peaks on the span
    counts: npt.NDArray[np.int64]  # of them, met by a query peak, per pitch shift
    chance: npt.NDArray[np.float64]  # the same at the decoys, as a rate per pitch shift
    best: int  # the pitch shift whose matches stand out most from chance
    k_unheld: int  # matches at that shift outside held tones
    chance_unheld: float
    log10_tail: float  # log10 P(as many unheld matches by chance), before any search correction
    refitted: bool = False


def _test_line(
    ref: PeakArrays, query: PeakArrays, speed: float, offset: float, q0: float, q1: float
) -> _Line | None:
    """The peak-level test of a line over query frames ``[q0, q1]``; ``None`` with too few peaks."""
    rt, rf = ref
    r0, r1 = speed * q0 + offset, speed * q1 + offset
    inside = (rt >= r0) & (rt <= r1)
    n = int(inside.sum())
    if n < VERIFY_MIN_POINTS:
        return None
    decoys = _decoys(rt, offset, r0, r1)
    chance = _chance_rates(ref, query, speed, decoys)
    counts = shift_counts((rt[inside], rf[inside]), query, speed, offset)
    # The pitch shift is the one whose matches stand out most from chance; the significance is judged
    # on the matches of that shift outside held tones, against their own rate at the decoys.
    best = int(np.argmin(_binom_tail(counts, n, chance)))
    shift = float(_PITCH_SHIFTS[best])
    k_unheld = int(unheld_matches((rt[inside], rf[inside]), query, speed, offset, shift).sum())
    chance_unheld = _unheld_rate(ref, query, speed, decoys, shift)
    with np.errstate(divide="ignore"):  # a tail that underflows to 0 is floored by the caller
        log10_tail = float(np.log10(_binom_tail(k_unheld, n, chance_unheld)))
    return _Line(speed, offset, n, counts, chance, best, k_unheld, chance_unheld, log10_tail)


def _refit(
    ref: PeakArrays, query: PeakArrays, line: _Line, q0: float, q1: float, params: AlignParams
) -> _Line | None:
    """The line through the most peak matches among those whose ends lie within ``REFIT_BAND_FRAMES``
    of ``line``'s at ``q0`` and ``q1``, tested; ``None`` where that is ``line`` itself.

    Lines are numbered by their reference-frame deviations ``(a, b)`` from ``line`` at the two ends; a
    pair of peaks at relative position ``u`` of the span lies on every line with
    ``|e - a (1 - u) - b u| <= tolerance``, an interval of ``b`` for each ``a``, so each pair adds one
    interval per ``a`` to a (a, b, pitch shift) histogram instead of a vote per line.
    """
    rt, rf = ref
    qt, qf = query
    lo, hi = np.searchsorted(qt, q0, side="left"), np.searchsorted(qt, q1, side="right")
    qt, qf = qt[lo:hi], qf[lo:hi]
    band = REFIT_BAND_FRAMES
    tol = VERIFY_TIME_TOL * line.speed
    length = max(q1 - q0, 1.0)
    at = line.speed * qt + line.offset
    qi, ri = _window_pairs(rt, at, -band - tol, band + tol)
    shift = np.rint((qf[qi] - rf[ri] - _PITCH_SHIFTS[0]) / VERIFY_SHIFT_STEP).astype(np.int64)
    keep = (shift >= 0) & (shift < len(_PITCH_SHIFTS))
    qi, ri, shift = qi[keep], ri[keep], shift[keep]
    if len(qi) < VERIFY_MIN_POINTS:
        return None
    e = rt[ri] - at[qi]
    u = np.maximum((qt[qi] - q0) / length, 1e-6)[:, None]
    a = np.arange(-band, band + 1)
    rest = e[:, None] - a[None, :] * (1.0 - u)
    b_lo = np.clip(np.ceil((rest - tol) / u), -band, band + 1).astype(np.int64) + band
    b_hi = np.clip(np.floor((rest + tol) / u), -band - 1, band).astype(np.int64) + band + 1
    ok = b_lo < b_hi
    n_a, n_b, n_s = len(a), len(a) + 1, len(_PITCH_SHIFTS)
    cell = (np.arange(n_a)[None, :] * n_b) * n_s + shift[:, None]
    size = n_a * n_b * n_s
    starts = np.bincount((cell + b_lo * n_s)[ok], minlength=size)
    edges = starts - np.bincount((cell + b_hi * n_s)[ok], minlength=size)
    per_shift = np.cumsum(edges.reshape(n_a, n_b, n_s), axis=1)[:, :-1, :]
    votes = per_shift.copy()  # a match at shift j also counts at j - 1 and j + 1 (tolerance 0.15 st)
    votes[:, :, 1:] += per_shift[:, :, :-1]
    votes[:, :, :-1] += per_shift[:, :, 1:]
    most = votes.max(axis=2)
    speeds = line.speed + (a[None, :] - a[:, None]) / length  # [a, b]
    most[(speeds < params.speed_min) | (speeds > params.speed_max)] = -1
    # Among lines with as many matches, the one nearest the proposed line.
    near = np.abs(a)[:, None] + np.abs(a)[None, :]
    ia, ib = np.unravel_index(int(np.argmax(most * (4 * band + 1) - near)), most.shape)
    if ia == band and ib == band:
        return None
    speed = float(speeds[ia, ib])
    offset = line.speed * q0 + line.offset + float(a[ia]) - speed * q0
    refit = _test_line(ref, query, speed, offset, q0, q1)
    return replace(refit, refitted=True) if refit is not None else None


def _binom_tail(
    k: int | npt.NDArray[np.int64], n: int, p: float | npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]:
    """P(X >= k) for X ~ Binomial(n, p), elementwise: scipy.stats' ``binom.sf`` without its 60 us of
    argument checking, which cost more than the rest of a verification."""
    out: npt.NDArray[np.float64] = np.asarray(special.bdtrc(np.asarray(k) - 1, n, p), np.float64)
    return out


Decoys = tuple[npt.NDArray[np.intp], npt.NDArray[np.float64]] | None
"""Reference peak indices of every decoy window, and the offset each is tested at."""


def _decoys(rt: npt.NDArray[np.float64], offset: float, r0: float, r1: float) -> Decoys:
    """The decoy windows for a segment over reference frames ``[r0, r1]`` (see ``DECOY_OFFSETS``)."""
    first, last = (float(rt[0]), float(rt[-1])) if len(rt) else (0.0, 0.0)
    picked: list[npt.NDArray[np.intp]] = []
    offsets: list[float] = []
    for d in DECOY_OFFSETS:
        if len(picked) == N_DECOYS:
            break
        if r0 + d < first - VERIFY_TIME_TOL or r1 + d > last + VERIFY_TIME_TOL:
            continue
        lo = int(np.searchsorted(rt, r0 + d, side="left"))  # rt is sorted: the window is a slice
        hi = int(np.searchsorted(rt, r1 + d, side="right"))
        if hi - lo < VERIFY_MIN_POINTS:
            continue
        picked.append(np.arange(lo, hi))
        offsets.append(offset + d)
    if not picked:
        return None
    # Every decoy window in one pass: a peak in two windows is two entries, as in two separate passes.
    return np.concatenate(picked), np.repeat(np.asarray(offsets), [len(p) for p in picked])


def _chance_rates(
    ref: PeakArrays, query: PeakArrays, speed: float, decoys: Decoys
) -> npt.NDArray[np.float64]:
    """Per pitch shift, how often a reference peak meets a query peak at the decoy offsets.

    Tonal music shares a tuning grid, so unrelated recordings agree by chance far more often at
    whole-semitone shifts than between them: the rate is kept per shift.
    """
    if decoys is None:
        return np.full(len(_PITCH_SHIFTS), _NO_DECOY_RATE)
    idx, at = decoys
    return _rate(shift_counts((ref[0][idx], ref[1][idx]), query, speed, at), len(idx))


def _unheld_rate(ref: PeakArrays, query: PeakArrays, speed: float, decoys: Decoys, shift: float) -> float:
    """How often a reference peak makes an unheld match (``unheld_matches``) at the decoy offsets."""
    if decoys is None:
        return _NO_DECOY_RATE
    idx, at = decoys
    hits = int(unheld_matches((ref[0][idx], ref[1][idx]), query, speed, at, shift).sum())
    return float(_rate(hits, len(idx)))


_NO_DECOY_RATE = 0.1  # a work too short for decoys: assume a high chance rate


def _rate(hits: npt.NDArray[np.int64] | int, trials: int) -> npt.NDArray[np.float64]:
    """Chance rate from ``hits`` of ``trials`` decoy tests: smoothed, and at least ``MIN_CHANCE_RATE``."""
    out: npt.NDArray[np.float64] = np.maximum((hits + 1) / (trials + 2), MIN_CHANCE_RATE)
    return out


def _run(
    times: npt.NDArray[np.float64], verified: npt.NDArray[np.bool_], q0: float, q1: float, share: float
) -> tuple[float, float] | None:
    """First and last verified time of the stretch around ``[q0, q1]`` where, over every window of
    ``_RUN_WINDOW`` consecutive reference peaks, at least ``share`` of them are verified."""
    if not verified.any():
        return None
    w = min(_RUN_WINDOW, len(verified))
    local = np.convolve(verified.astype(np.float64), np.ones(w) / w, mode="same") >= share
    core = np.flatnonzero(local & verified & (times >= q0) & (times <= q1))
    if len(core) == 0:
        return None
    edges = np.flatnonzero(~local)
    before = edges[edges < core[0]]
    after = edges[edges > core[-1]]
    lo = int(before[-1]) + 1 if len(before) else 0
    hi = int(after[0]) - 1 if len(after) else len(times) - 1
    ok = np.flatnonzero(verified[lo : hi + 1]) + lo
    return float(times[ok[0]]), float(times[ok[-1]])


class AudioLandmarks:
    """The ``audio_landmarks`` signal type: triplet hashes over the mono 8 kHz sound track."""

    name = "audio_landmarks"
    kind = "audio"
    align = AlignParams(frame_rate=FRAME_RATE)
    key_space = 1 << (_SHIFTS[0] + 4)

    def applies_to(self, media: DecodedMedia) -> bool:
        return media.has_audio and media.audio.size >= N_FFT and float(np.abs(media.audio).max()) > 1e-4

    def reference(self, media: DecodedMedia) -> Fingerprint:
        peaks = find_peaks(media.audio, VERIFY_PEAKS_PER_S)
        h = reference_hashes(strongest(peaks, REFERENCE.peaks_per_s))
        return Fingerprint(h.keys, h.frames, _n_frames(media), pack_points(peaks))

    def query(self, media: DecodedMedia) -> Fingerprint:
        peaks = find_peaks(media.audio, QUERY.peaks_per_s)
        h = query_hashes(peaks)
        return Fingerprint(h.keys, h.frames, _n_frames(media), pack_points(peaks))

    def propose(self, generations: list[Generation], query: Fingerprint, max_hits: int) -> list[Segment]:
        hits = search(generations, query.keys, query.frames, max_hits)
        return align_hits(hits, self.align, query_frames=query.n_frames)

    def verify(
        self, query: Fingerprint, ref_points: npt.NDArray[np.uint32], segment: Segment, trials: int
    ) -> Segment | None:
        return verify_segment(query.points, ref_points, segment, trials, self.align)


def _n_frames(media: DecodedMedia) -> int:
    return int(len(media.audio) // HOP) + 1
