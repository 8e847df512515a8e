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

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from numpy.lib.stride_tricks import sliding_window_view
from scipy import ndimage

from clearance.fingerprint.base import Fingerprint
from clearance.match.align import AlignParams
from clearance.media.decode import AUDIO_RATE, DecodedMedia

N_FFT = 512
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
_DIFF_BINS = int(2 * DIFF_MAX_ST / DIFF_BIN_ST)  # 48 < 64

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


REFERENCE = PeakParams(peaks_per_s=9.0, fanout=4)
QUERY = PeakParams(peaks_per_s=24.0, fanout=9)


@dataclass(frozen=True)
class Peaks:
    """Spectral peaks: time in frames, pitch in semitones above 250 Hz, strength (log-magnitude)."""

    t: npt.NDArray[np.float32]
    f: npt.NDArray[np.float32]
    strength: npt.NDArray[np.float32]


@dataclass(frozen=True)
class Hashes:
    """Triplet hashes with the anchor frame of each (sorted by nothing in particular)."""

    keys: npt.NDArray[np.uint32]
    frames: npt.NDArray[np.uint32]


def spectrogram(pcm: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """Log-magnitude STFT (frames x bins), each bin relative to its own running level."""
    if len(pcm) < N_FFT:
        pcm = np.pad(pcm, (0, N_FFT - len(pcm)))
    frames = sliding_window_view(pcm, N_FFT)[::HOP]
    window = np.hanning(N_FFT).astype(np.float32)
    lo, hi = _bin_range()
    spec = np.abs(np.fft.rfft(frames * window, axis=1)[:, lo - 1 : hi + 1]).astype(np.float32)
    logspec = np.log(spec + 1e-4)
    # Contrast against the neighbouring ~300 Hz at the same instant: tonal peaks stand well above
    # their surroundings while broadband noise (even at 0 dB SNR) and equalisation do not.
    level = ndimage.uniform_filter1d(logspec, size=21, axis=1, mode="nearest")
    out: npt.NDArray[np.float32] = logspec - level
    return out


def _bin_range() -> tuple[int, int]:
    return int(F_MIN_HZ * N_FFT / AUDIO_RATE), int(F_MAX_HZ * N_FFT / AUDIO_RATE) + 1


def find_peaks(pcm: npt.NDArray[np.float32], peaks_per_s: float) -> Peaks:
    """The strongest local maxima of the whitened spectrogram, about ``peaks_per_s`` per second."""
    spec = spectrogram(pcm)
    if spec.shape[0] < 3:
        empty = np.zeros(0, np.float32)
        return Peaks(empty, empty, empty)
    local_max = ndimage.maximum_filter(spec, size=(9, 7), mode="nearest")
    is_peak = (spec == local_max) & (spec > 0.8)
    is_peak[0, :] = is_peak[-1, :] = False
    is_peak[:, 0] = is_peak[:, -1] = False
    ti, fi = np.nonzero(is_peak)
    strength = spec[ti, fi]
    # Density control: keep the strongest in each block of ~1 s.
    block = ti // 64
    order = np.lexsort((-strength, block))
    ti, fi, strength, block = ti[order], fi[order], strength[order], block[order]
    starts = np.searchsorted(block, block, side="left")
    rank = np.arange(len(block)) - starts
    keep = rank < peaks_per_s * 64 / FRAME_RATE
    ti, fi, strength = ti[keep], fi[keep], strength[keep]
    # Sub-bin frequency and sub-frame time by parabolic interpolation on the log spectrum.
    c = spec[ti, fi]
    df = _parabola(spec[ti, fi - 1], c, spec[ti, fi + 1])
    dt = _parabola(spec[ti - 1, fi], c, spec[ti + 1, fi])
    lo, _ = _bin_range()
    hz = (fi + lo - 1 + df) * (AUDIO_RATE / N_FFT)
    semitones = 12.0 * np.log2(np.maximum(hz, 1.0) / _F_REF_HZ)
    t = ti + dt
    order = np.argsort(t, kind="stable")
    return Peaks(
        t[order].astype(np.float32), semitones[order].astype(np.float32), strength[order].astype(np.float32)
    )


def _parabola(
    a: npt.NDArray[np.float32], b: npt.NDArray[np.float32], c: npt.NDArray[np.float32]
) -> npt.NDArray[np.float32]:
    denom = a - 2 * b + c
    with np.errstate(divide="ignore", invalid="ignore"):
        delta = np.where(denom < 0, 0.5 * (a - c) / denom, 0.0)
    return np.clip(delta, -0.5, 0.5).astype(np.float32)


def _triplets(
    peaks: Peaks, fanout: int
) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp], npt.NDArray[np.intp]]:
    """Index triples (a, b, c): b, c among the first ``fanout`` valid neighbours of a, b before c."""
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
        (f[b] - f[a] + DIFF_MAX_ST) / DIFF_BIN_ST,
        (f[c] - f[a] + DIFF_MAX_ST) / DIFF_BIN_ST,
    ]


_LIMITS = (15, 15, RATIO_BINS - 1, _DIFF_BINS - 1, _DIFF_BINS - 1)
_SHIFTS = (20, 16, 12, 6, 0)


def _pack(bins: list[npt.NDArray[np.int64]]) -> npt.NDArray[np.uint32]:
    key = np.zeros(len(bins[0]), np.uint32)
    for value, limit, shift in zip(bins, _LIMITS, _SHIFTS, strict=True):
        key |= (np.clip(value, 0, limit).astype(np.uint32)) << np.uint32(shift)
    return key


def reference_hashes(pcm: npt.NDArray[np.float32], params: PeakParams = REFERENCE) -> Hashes:
    """Hashes to store for a registered work: one key per triplet."""
    peaks = find_peaks(pcm, params.peaks_per_s)
    a, b, c = _triplets(peaks, params.fanout)
    comps = _components(peaks, a, b, c)
    keys = _pack([np.floor(v).astype(np.int64) for v in comps])
    return Hashes(keys, np.round(peaks.t[a]).astype(np.uint32))


def query_hashes(pcm: npt.NDArray[np.float32], params: PeakParams = QUERY) -> Hashes:
    """Hashes to look up for a query: each triplet plus the neighbouring bins an edit could reach."""
    peaks = find_peaks(pcm, params.peaks_per_s)
    a, b, c = _triplets(peaks, params.fanout)
    comps = _components(peaks, a, b, c)
    margins = (
        MAX_PITCH_SHIFT_ST / PITCH_BIN_ST,
        MAX_LOG_TIME_SCALE / SPAN_BIN,
        RATIO_TOL * RATIO_BINS,
        DIFF_TOL_ST / DIFF_BIN_ST,
        DIFF_TOL_ST / DIFF_BIN_ST,
    )
    # For each component, the bins a reference value could sit in: value - margin .. value + margin.
    options: list[list[tuple[npt.NDArray[np.int64], npt.NDArray[np.bool_]]]] = []
    for i, (value, margin) in enumerate(zip(comps, margins, strict=True)):
        base = np.floor(value).astype(np.int64)
        steps = int(np.ceil(margin))
        opts = [(base, np.ones(len(base), bool))]
        for k in [*range(-steps, 0), *range(1, steps + 1)]:
            mask = (base + k + 1 > value - margin) & (base + k <= value + margin)
            mask &= (base + k >= 0) & (base + k <= _LIMITS[i])
            if mask.any():
                opts.append((base + k, mask))
        options.append(opts)
    frames = np.round(peaks.t[a]).astype(np.uint32)
    keys_out: list[npt.NDArray[np.uint32]] = []
    frames_out: list[npt.NDArray[np.uint32]] = []
    for combo in np.ndindex(*[len(o) for o in options]):
        need = np.ones(len(a), bool)
        for i, j in enumerate(combo):
            if j:
                need &= options[i][j][1]
        if not need.any():
            continue
        keys_out.append(_pack([options[i][j][0][need] for i, j in enumerate(combo)]))
        frames_out.append(frames[need])
    if not keys_out:
        return Hashes(np.zeros(0, np.uint32), np.zeros(0, np.uint32))
    return Hashes(np.concatenate(keys_out), np.concatenate(frames_out))


class AudioLandmarks:
    """The ``audio_landmarks`` signal type: triplet hashes over the mono 8 kHz sound track."""

    name = "audio_landmarks"
    kind = "audio"
    align = AlignParams(frame_rate=FRAME_RATE)

    def applies_to(self, media: DecodedMedia) -> bool:
        return media.has_audio and media.audio.size >= N_FFT and float(np.abs(media.audio).max()) > 1e-4

    def reference(self, media: DecodedMedia) -> Fingerprint:
        h = reference_hashes(media.audio)
        return Fingerprint(h.keys, h.frames, _n_frames(media))

    def query(self, media: DecodedMedia) -> Fingerprint:
        h = query_hashes(media.audio)
        return Fingerprint(h.keys, h.frames, _n_frames(media))


def _n_frames(media: DecodedMedia) -> int:
    return int(len(media.audio) // HOP) + 1
