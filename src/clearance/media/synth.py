"""Synthesized media for tests, the demo and benchmarks: written with PyAV, no downloads.

Each generator is deterministic in its ``seed``; different seeds give unrelated content, so a test can
register one "song" and use others as unregistered material.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import cast

import av
import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float32]

# extension -> (container format, audio codec, sample format, sample rate)
_AUDIO_FORMATS: dict[str, tuple[str, str, str, int]] = {
    ".wav": ("wav", "pcm_s16le", "s16", 44100),
    ".flac": ("flac", "flac", "s16", 44100),
    ".mp3": ("mp3", "libmp3lame", "fltp", 44100),
    ".m4a": ("mp4", "aac", "fltp", 44100),
    ".aac": ("adts", "aac", "fltp", 44100),
    ".ogg": ("ogg", "libopus", "flt", 48000),
    ".opus": ("ogg", "libopus", "flt", 48000),
    ".mka": ("matroska", "libopus", "flt", 48000),
}


def music(seed: int, duration_s: float, *, rate: int = 44100) -> FloatArray:
    """A music-like signal: a random melody and chords with harmonics, plus percussion."""
    rng = np.random.default_rng(seed)
    n = int(duration_s * rate)
    out = np.zeros(n, np.float64)
    t_note = 0.0
    while t_note < duration_s:
        length = float(rng.choice([0.125, 0.25, 0.25, 0.5, 0.75]))
        start, stop = int(t_note * rate), min(n, int((t_note + length) * rate))
        if stop <= start:
            break
        t = np.arange(stop - start) / rate
        envelope = np.exp(-t * rng.uniform(2.0, 8.0)) * np.minimum(1.0, t * 200.0)
        voices = rng.integers(1, 4)
        for _ in range(voices):
            midi = rng.integers(45, 88)
            f0 = 440.0 * 2.0 ** ((midi - 69) / 12.0)
            for h in range(1, 5):
                if f0 * h < rate / 2.2:
                    out[start:stop] += envelope * np.sin(2 * np.pi * f0 * h * t + rng.uniform(0, 6.28)) / h
        if rng.random() < 0.3:
            hit = min(stop - start, int(0.05 * rate))
            out[start : start + hit] += rng.normal(0, 0.3, hit) * np.exp(-np.arange(hit) / (0.01 * rate))
        t_note += length
    return _normalise(out)


def speech_like(seed: int, duration_s: float, *, rate: int = 44100) -> FloatArray:
    """Syllable-rate bursts of a buzzy voice through moving formants (not music, not silence)."""
    from scipy import signal

    rng = np.random.default_rng(seed + 1_000_003)
    n = int(duration_s * rate)
    t = np.arange(n) / rate
    f0 = 110 + 60 * rng.random() + 20 * np.sin(2 * np.pi * 0.7 * t)
    buzz = signal.sawtooth(2 * np.pi * np.cumsum(f0) / rate)
    out = np.zeros(n)
    pos = 0
    while pos < n:
        syl = int(rate * rng.uniform(0.12, 0.3))
        seg = buzz[pos : pos + syl] + 0.2 * rng.normal(size=min(syl, n - pos))
        for formant in (rng.uniform(300, 900), rng.uniform(900, 2500)):
            b, a = signal.iirpeak(formant, 5.0, fs=rate)
            seg = signal.lfilter(b, a, seg)
        out[pos : pos + len(seg)] = seg * np.hanning(len(seg))
        pos += syl + int(rate * rng.uniform(0.02, 0.15))
    return _normalise(out)


def noise(seed: int, duration_s: float, *, rate: int = 44100) -> FloatArray:
    """White noise at a moderate level."""
    return (np.random.default_rng(seed).normal(0, 0.1, int(duration_s * rate))).astype(np.float32)


def _normalise(x: npt.NDArray[np.float64]) -> FloatArray:
    peak = float(np.max(np.abs(x))) or 1.0
    return (0.8 * x / peak).astype(np.float32)


def write_audio(
    path: Path | str, samples: FloatArray, *, rate: int = 44100, bitrate: int | None = None
) -> Path:
    """Encode mono float samples to ``path``; the extension picks container and codec."""
    path = Path(path)
    try:
        fmt, codec, sample_fmt, out_rate = _AUDIO_FORMATS[path.suffix.lower()]
    except KeyError:
        raise ValueError(f"no synth audio format for {path.suffix!r}") from None
    with av.open(str(path), mode="w", format=fmt) as container:
        stream = cast(av.audio.stream.AudioStream, container.add_stream(codec, rate=out_rate, layout="mono"))
        if bitrate:
            stream.bit_rate = bitrate
        _encode_audio(container, stream, samples, rate, sample_fmt)
    return path


def _encode_audio(
    container: av.container.OutputContainer,
    stream: av.audio.stream.AudioStream,
    samples: FloatArray,
    rate: int,
    sample_fmt: str,
) -> None:
    resampler = av.AudioResampler(format=sample_fmt, layout="mono", rate=stream.rate)
    chunk = 4096
    pts = 0
    for start in range(0, len(samples), chunk):
        block = np.clip(samples[start : start + chunk], -1.0, 1.0).astype(np.float32)
        frame = av.AudioFrame.from_ndarray(block.reshape(1, -1), format="flt", layout="mono")
        frame.sample_rate = rate
        frame.pts = pts
        frame.time_base = Fraction(1, rate)
        pts += block.size
        for out in resampler.resample(frame):
            for packet in stream.encode(out):
                container.mux(packet)
    for out in resampler.resample(None):
        for packet in stream.encode(out):
            container.mux(packet)
    for packet in stream.encode(None):
        container.mux(packet)


_VIDEO_FORMATS: dict[str, tuple[str, str, str]] = {
    ".mp4": ("mp4", "libx264", "aac"),
    ".mov": ("mov", "libx264", "aac"),
    ".mkv": ("matroska", "libx264", "libopus"),
    ".webm": ("webm", "libvpx", "libopus"),
    ".avi": ("avi", "mpeg4", "mp3"),
}


def write_video(
    path: Path | str,
    *,
    duration_s: float = 0.0,
    audio: FloatArray | None = None,
    rate: int = 44100,
    size: tuple[int, int] = (160, 120),
    fps: int = 15,
    seed: int = 0,
    frames: npt.NDArray[np.uint8] | None = None,
    keyint: int | None = None,
) -> Path:
    """A clip of moving shapes (or ``frames``, ``n x h x w x 3`` RGB), with ``audio`` (mono float at
    ``rate``) as its sound track if given; ``keyint``: a keyframe every so many frames, and no others
    (the encoder's default otherwise)."""
    path = Path(path)
    fmt, vcodec, acodec = _VIDEO_FORMATS[path.suffix.lower()]
    rng = np.random.default_rng(seed)
    if frames is not None:
        size = (frames.shape[2], frames.shape[1])
        duration_s = len(frames) / fps
    width, height = size
    with av.open(str(path), mode="w", format=fmt) as container:
        vstream = cast(av.video.stream.VideoStream, container.add_stream(vcodec, rate=fps))
        vstream.width, vstream.height, vstream.pix_fmt = width, height, "yuv420p"
        options: dict[str, object] = {}
        if vcodec == "libx264":
            # x264's macroblock tree made the same frames encode differently from run to run here
            # (and a test that passed flip to failing): without it the file is the same every time.
            options["x264-params"] = "mbtree=0"
        if keyint is not None:
            options.update({"g": str(keyint), "keyint_min": str(keyint), "sc_threshold": "0"})
        vstream.options = options
        astream: av.audio.stream.AudioStream | None = None
        if audio is not None:
            astream = cast(
                av.audio.stream.AudioStream,
                container.add_stream(acodec, rate=48000 if acodec == "libopus" else 44100, layout="mono"),
            )
        base = rng.integers(0, 255, 3)
        for i in range(round(duration_s * fps)):
            if frames is not None:
                img = np.ascontiguousarray(frames[i])
            else:
                img = np.empty((height, width, 3), np.uint8)
                img[:] = (base + i * 3) % 255
                x = int((i * 5) % max(1, width - 30))
                img[20:50, x : x + 30] = 255 - img[0, 0]
            frame = av.VideoFrame.from_ndarray(img, format="rgb24")
            for packet in vstream.encode(frame):
                container.mux(packet)
        for packet in vstream.encode(None):
            container.mux(packet)
        if astream is not None and audio is not None:
            fmt_name = "fltp" if acodec in {"aac", "mp3"} else "flt"
            _encode_audio(container, astream, audio, rate, fmt_name)
    return path


def footage(
    seed: int, duration_s: float, *, size: tuple[int, int] = (160, 120), fps: int = 15
) -> npt.NDArray[np.uint8]:
    """Frames (``n x h x w x 3`` RGB) of textured scenes that pan slowly, cut every 2-4 s."""
    rng = np.random.default_rng(seed)
    width, height = size
    n = round(duration_s * fps)
    out = np.empty((n, height, width, 3), np.uint8)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    i = 0
    while i < n:
        length = int(rng.uniform(2, 4) * fps)
        k = 0.12 * 160 / width  # up to about three cycles across the frame at any size
        waves = [
            (
                rng.uniform(-k, k),
                rng.uniform(-k, k),
                rng.uniform(0, 6.3),
                rng.uniform(0.3, 1),
                rng.normal(size=3),
            )
            for _ in range(6)
        ]
        pan = rng.uniform(-1.5, 1.5, 2) * width / 160
        for j in range(min(length, n - i)):
            x, y = xx + pan[0] * j, yy + pan[1] * j
            img = np.zeros((height, width, 3), np.float32)
            for kx, ky, phase, amp, colour in waves:
                img += amp * np.cos(kx * x + ky * y + phase)[:, :, None] * colour[None, None, :]
            out[i + j] = np.clip(128 + 40 * img, 0, 255).astype(np.uint8)
        i += length
    return out


def shapes_footage(
    seed: int, duration_s: float, *, size: tuple[int, int] = (320, 240), fps: int = 15
) -> npt.NDArray[np.uint8]:
    """Frames (``n x h x w x 3`` RGB) of scenes of random blocks and discs over grain, moving slowly
    and cut every 2-4 s: corners and edges for local features (:func:`footage` is smooth)."""
    rng = np.random.default_rng(seed)
    width, height = size
    n = round(duration_s * fps)
    out = np.empty((n, height, width, 3), np.uint8)
    yy, xx = np.mgrid[0 : 2 * height, 0 : 2 * width]
    i = 0
    while i < n:
        length = int(rng.uniform(2, 4) * fps)
        # A scene twice the frame's size, panned across.
        scene = rng.integers(60, 120, (2 * height, 2 * width, 1)) + rng.integers(
            0, 40, (2 * height, 2 * width, 3)
        )
        for _ in range(60):
            colour = rng.integers(0, 256, 3)
            x, y, r = rng.integers(0, 2 * width), rng.integers(0, 2 * height), rng.integers(6, 40)
            if rng.random() < 0.5:
                scene[y : y + r, x : x + int(r * rng.uniform(0.5, 2.5))] = colour
            else:
                scene[(yy - y) ** 2 + (xx - x) ** 2 < r * r] = colour
        start = rng.uniform(0, [width / 2, height / 2])
        pan = rng.uniform(-1, 1, 2) * width / 160
        for j in range(min(length, n - i)):
            x0, y0 = np.clip(start + pan * j, 0, [width, height]).astype(int)
            out[i + j] = scene[y0 : y0 + height, x0 : x0 + width]
        i += length
    return out


def write_image(path: Path | str, image: npt.NDArray[np.uint8]) -> Path:
    """A still image (``h x w x 3`` RGB) as JPEG, PNG or WebP, by the file's extension."""
    path = Path(path)
    codec, pix_fmt = {".jpg": ("mjpeg", "yuvj444p"), ".jpeg": ("mjpeg", "yuvj444p"), ".png": ("png", "rgb24"),
                      ".webp": ("libwebp", "yuv420p")}[path.suffix.lower()]  # fmt: skip
    with av.open(str(path), mode="w", format="image2") as container:
        stream = cast(av.video.stream.VideoStream, container.add_stream(codec, rate=1))
        stream.height, stream.width = image.shape[:2]
        stream.pix_fmt = pix_fmt
        for packet in stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")):
            container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return path
