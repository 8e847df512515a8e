"""Edits the benchmark applies itself: codecs (PyAV), noise, speech over, filters, speed, pitch, tempo.

Every edit takes mono float32 audio at ``RATE`` and returns either audio or, for codec edits, the
path of an encoded file (the query is then that file, decoded by clearance like any input).
"""

from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import numpy as np
from scipy import signal

from clearance.media import synth
from clearance.media.filters import filter_audio

RATE = 16000
Audio = np.ndarray


def _atempo(x: Audio, factor: float) -> Audio:
    return filter_audio(x, RATE, [("atempo", f"{factor:.6f}")])


def speed(x: Audio, factor: float) -> Audio:
    """Play ``factor`` times faster, pitch follows (resampling)."""
    q = Fraction(factor).limit_denominator(400)
    return signal.resample_poly(x, q.denominator, q.numerator).astype(np.float32)


def tempo(x: Audio, factor: float) -> Audio:
    """``factor`` times faster at constant pitch (FFmpeg atempo, WSOLA)."""
    return _atempo(x, factor)


def pitch(x: Audio, semitones: float) -> Audio:
    """Shift pitch at constant tempo: resample, then stretch back."""
    k = 2 ** (semitones / 12)
    return tempo(speed(x, k), 1 / k)


def _mix_at_snr(x: Audio, other: Audio, snr_db: float) -> Audio:
    other = np.resize(other, len(x))
    px, po = float(np.mean(x**2)) + 1e-12, float(np.mean(other**2)) + 1e-12
    return (x + other * np.sqrt(px / (po * 10 ** (snr_db / 10)))).astype(np.float32)


def white_noise(x: Audio, snr_db: float, rng: np.random.Generator) -> Audio:
    return _mix_at_snr(x, rng.normal(size=len(x)).astype(np.float32), snr_db)


def pink_noise(x: Audio, snr_db: float, rng: np.random.Generator) -> Audio:
    spec = np.fft.rfft(rng.normal(size=len(x)))
    spec /= np.sqrt(np.maximum(np.arange(len(spec)), 1))
    return _mix_at_snr(x, np.fft.irfft(spec, len(x)).astype(np.float32), snr_db)


def lowpass(x: Audio, cutoff_hz: float) -> Audio:
    sos = signal.butter(8, cutoff_hz, fs=RATE, output="sos")
    return signal.sosfilt(sos, x).astype(np.float32)


def reverb(x: Audio, rt60_s: float, rng: np.random.Generator) -> Audio:
    n = int(rt60_s * RATE)
    ir = rng.normal(size=n) * np.exp(-6.9 * np.arange(n) / n)
    ir[0] = 1.0
    wet = signal.fftconvolve(x, ir)[: len(x)]
    wet *= np.sqrt(np.mean(x**2) / (np.mean(wet**2) + 1e-12))
    return (0.5 * x + 0.5 * wet).astype(np.float32)


def encode(x: Audio, path: Path, bitrate: int) -> Path:
    return synth.write_audio(path, x, rate=RATE, bitrate=bitrate)


Edit = Callable[[Audio, np.random.Generator, Audio, Path], "tuple[Audio | Path, float]"]
"""An edit: (audio, rng, speech to mix over, a folder for encoded files) -> (result, time scale).

The time scale is how many seconds of the reference one second of the result holds (1.03 for 3 %
faster); it is drawn per query for the ``*_any`` edits.
"""


def _fixed(fn: Callable[[Audio, np.random.Generator, Audio, Path], Audio | Path], scale: float) -> Edit:
    return lambda x, r, s, d: (fn(x, r, s, d), scale)


def _speed_any(x: Audio, r: np.random.Generator, s: Audio, d: Path) -> tuple[Audio, float]:
    f = float(r.uniform(0.92, 1.08))
    return speed(x, f), f


def _pitch_any(x: Audio, r: np.random.Generator, s: Audio, d: Path) -> tuple[Audio, float]:
    return pitch(x, float(r.uniform(-1, 1))), 1.0


def _tempo_any(x: Audio, r: np.random.Generator, s: Audio, d: Path) -> tuple[Audio, float]:
    f = float(r.uniform(0.95, 1.05))
    return tempo(x, f), f


def _speech_over(x: Audio, r: np.random.Generator, s: Audio, d: Path) -> Audio:
    return _mix_at_snr(x, s[r.integers(0, max(1, len(s) - len(x))) :], 0)


REGISTRY: dict[str, Edit] = {
    "clean": _fixed(lambda x, r, s, d: x, 1.0),
    "mp3_64k": _fixed(lambda x, r, s, d: encode(x, d / "q.mp3", 64000), 1.0),
    "aac_48k": _fixed(lambda x, r, s, d: encode(x, d / "q.m4a", 48000), 1.0),
    "opus_24k": _fixed(lambda x, r, s, d: encode(x, d / "q.opus", 24000), 1.0),
    "white_10db": _fixed(lambda x, r, s, d: white_noise(x, 10, r), 1.0),
    "white_5db": _fixed(lambda x, r, s, d: white_noise(x, 5, r), 1.0),
    "white_0db": _fixed(lambda x, r, s, d: white_noise(x, 0, r), 1.0),
    "pink_0db": _fixed(lambda x, r, s, d: pink_noise(x, 0, r), 1.0),
    "speech_0db": _fixed(_speech_over, 1.0),
    "lowpass_3k": _fixed(lambda x, r, s, d: lowpass(x, 3000), 1.0),
    "reverb": _fixed(lambda x, r, s, d: reverb(x, 0.6, r), 1.0),
    "volume_-20db": _fixed(lambda x, r, s, d: (x * 0.1).astype(np.float32), 1.0),
    "speed_+3%": _fixed(lambda x, r, s, d: speed(x, 1.03), 1.03),
    "speed_-3%": _fixed(lambda x, r, s, d: speed(x, 0.97), 0.97),
    "speed_+8%": _fixed(lambda x, r, s, d: speed(x, 1.08), 1.08),
    "speed_-8%": _fixed(lambda x, r, s, d: speed(x, 0.92), 0.92),
    "pitch_+1st": _fixed(lambda x, r, s, d: pitch(x, 1.0), 1.0),
    "pitch_-1st": _fixed(lambda x, r, s, d: pitch(x, -1.0), 1.0),
    "tempo_+5%": _fixed(lambda x, r, s, d: tempo(x, 1.05), 1.05),
    "tempo_-5%": _fixed(lambda x, r, s, d: tempo(x, 0.95), 0.95),
    "speed_any": _speed_any,
    "pitch_any": _pitch_any,
    "tempo_any": _tempo_any,
}
