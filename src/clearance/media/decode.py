"""Decode an input file once into mono PCM at a fixed rate and small luma frames, within explicit limits.

Decision: the file is opened through a Python file object with FFmpeg's protocol whitelist set to
nothing, and the container format must be on an allow-list. A demuxer that would open further URLs
(HLS or concat playlists, even hidden inside an AVI) therefore cannot reach the file system or network.
Decoding, down-mixing and resampling then run inside one FFmpeg filter graph that hands Python large
blocks: per-frame work in Python costs more than decoding an MP3 frame.

Pictures reach Python only as ``FRAME_SIZE`` x ``FRAME_SIZE`` luma planes made by FFmpeg's scaler:
every visual signal hashes at that size, and a full-size RGB frame in Python would cost more than
decoding it. Still images (JPEG, PNG, WebP) are recognised by their magic bytes and opened with
FFmpeg's single-file ``*_pipe`` demuxers; the ``image2`` demuxer, which reads file-name patterns, is
never used.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, BinaryIO

import av
import av.error
import numpy as np
import numpy.typing as npt
from av.stream import Disposition

from clearance.config import Limits
from clearance.errors import (
    CorruptMediaError,
    InputError,
    LimitExceededError,
    UnsupportedMediaError,
)
from clearance.media.filters import audio_graph, drain

AUDIO_RATE = 8000
"""Sample rate of the PCM every audio signal works on (Hz)."""

# Demuxers that read a single self-contained file. Playlist-style demuxers (hls, concat, dash, image2,
# ffmetadata, tee ...) are deliberately absent: they open other paths named inside the file.
ALLOWED_FORMATS = frozenset(
    {
        "mov,mp4,m4a,3gp,3g2,mj2",
        "matroska,webm",
        "ogg",
        "mp3",
        "flac",
        "wav",
        "w64",
        "aac",
        "ac3",
        "eac3",
        "avi",
        "asf",
        "flv",
        "mpegts",
        "mpeg",
        "aiff",
        "caf",
        "amr",
        "au",
        "dts",
        "truehd",
        "mp2",
        "wv",
        "ape",
        "tta",
    }
)

# Still images by magic bytes: (prefix, offset of a second marker, marker, demuxer).
_IMAGE_MAGIC = (
    (b"\xff\xd8\xff", 0, b"", "jpeg_pipe"),
    (b"\x89PNG\r\n\x1a\n", 0, b"", "png_pipe"),
    (b"RIFF", 8, b"WEBP", "webp_pipe"),
)
IMAGE_FORMATS = frozenset(f for *_, f in _IMAGE_MAGIC)

_BLOCK_SAMPLES = 16384

FRAME_SIZE = 64
"""Side of the square luma thumbnails that visual signals read (PDQ works on 64 x 64)."""
DETAIL_SIZE = 480
"""Longest side of the detail pictures (luma, aspect kept) that local features are found in."""
DETAIL_FPS = 2.0
"""Detail pictures per second (fewer for a video longer than ``Limits.max_detail_frames`` allow)."""
KEYFRAME_GAP_S = 1.1
"""Widest spacing of keyframes (or of the last one and the end) that the keyframe path accepts: about
the one frame a second the reference side keeps, with room for a GOP of 30 frames at 29.97 fps."""


@dataclass(frozen=True)
class DecodedMedia:
    """One decoded input: what every signal type reads.

    ``audio`` is mono float32 PCM at ``audio_rate`` Hz, empty when the input has no audio track.
    ``frames`` are ``FRAME_SIZE`` x ``FRAME_SIZE`` luma thumbnails of the pictures at ``frame_times``
    seconds (at most ``Limits.max_video_fps`` of them per second; empty without a video track);
    ``detail`` are larger luma pictures (longest side ``DETAIL_SIZE``, aspect kept) at
    ``detail_times``, ``DETAIL_FPS`` a second at most; ``is_image`` marks a still image (one frame,
    no duration).
    """

    path: Path
    sha256: str
    size_bytes: int
    container: str
    duration_s: float
    has_audio: bool
    has_video: bool
    audio: npt.NDArray[np.float32]
    audio_rate: int = AUDIO_RATE
    frames: npt.NDArray[np.uint8] = field(
        default_factory=lambda: np.zeros((0, FRAME_SIZE, FRAME_SIZE), np.uint8)
    )
    frame_times: npt.NDArray[np.float32] = field(default_factory=lambda: np.zeros(0, np.float32))
    detail: npt.NDArray[np.uint8] = field(default_factory=lambda: np.zeros((0, 0, 0), np.uint8))
    detail_times: npt.NDArray[np.float32] = field(default_factory=lambda: np.zeros(0, np.float32))
    is_image: bool = False


def display_name(path: Path | str) -> str:
    """A file name safe to print on one line (control characters and odd bytes escaped)."""
    text = str(path)
    return "".join(ch if ch.isprintable() else ascii(ch)[1:-1] for ch in text)


def file_sha256(path: Path, *, max_bytes: int | None = None) -> tuple[str, int]:
    """Content hash and size of a file, refusing files over ``max_bytes``."""
    try:
        with path.open("rb") as fh:
            return _sha256(fh, path, max_bytes)
    except IsADirectoryError as exc:
        raise UnsupportedMediaError(f"{display_name(path)}: is a directory, not a media file") from exc
    except FileNotFoundError as exc:
        raise InputError(f"{display_name(path)}: no such file") from exc
    except PermissionError as exc:
        raise InputError(f"{display_name(path)}: permission denied") from exc


def _sha256(fh: BinaryIO, path: Path, max_bytes: int | None) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    fh.seek(0)
    while chunk := fh.read(1 << 20):
        size += len(chunk)
        if max_bytes is not None and size > max_bytes:
            raise LimitExceededError(f"{display_name(path)}: larger than the {max_bytes} byte input limit")
        digest.update(chunk)
    fh.seek(0)
    return digest.hexdigest(), size


def decode(
    path: Path | str, *, limits: Limits | None = None, audio_rate: int = AUDIO_RATE, keyframes: bool = False
) -> DecodedMedia:
    """Decode ``path`` into mono PCM at ``audio_rate`` within ``limits``; with ``keyframes``, a
    video's pictures are its keyframes alone where they lie close enough together
    (``KEYFRAME_GAP_S``), every picture otherwise.

    >>> media = decode("song.mp3")                       # doctest: +SKIP
    >>> media.duration_s, media.audio.shape              # doctest: +SKIP
    (215.3, (1722400,))
    """
    limits = limits or Limits()
    path = Path(path)
    name = display_name(path)
    if not path.exists():
        raise InputError(f"{name}: no such file")
    if not path.is_file():
        raise UnsupportedMediaError(f"{name}: not a regular file")
    size = path.stat().st_size
    if size == 0:
        raise CorruptMediaError(f"{name}: empty file")
    if size > limits.max_input_bytes:
        raise LimitExceededError(
            f"{name}: {size} bytes is over the {limits.max_input_bytes} byte input limit"
        )
    try:
        fh = path.open("rb")
    except PermissionError as exc:
        raise InputError(f"{name}: permission denied") from exc
    # Everything below reads this one open file: hash, header check, probe, and the decoder, which
    # re-opens it through /proc/self/fd so a file swapped in under the same name is never read.
    try:
        with fh:
            sha, size = _sha256(fh, path, limits.max_input_bytes)
            _check_wav_complete(fh, name, size)
            return _decode_open(fh, path, name, sha, size, limits, audio_rate, keyframes)
    except av.error.FFmpegError as exc:
        raise CorruptMediaError(f"{name}: cannot decode ({_ffmpeg_reason(exc)})") from exc
    except (UnicodeDecodeError, ValueError, IndexError, EOFError) as exc:
        raise CorruptMediaError(f"{name}: cannot decode ({type(exc).__name__})") from exc


def _ffmpeg_reason(exc: Exception) -> str:
    return getattr(exc, "strerror", None) or str(exc).split(";")[0] or type(exc).__name__


def _decode_open(
    fh: BinaryIO, path: Path, name: str, sha: str, size: int, limits: Limits, audio_rate: int, keyframes: bool
) -> DecodedMedia:
    started = time.monotonic()
    image_format = _image_format(fh)
    if image_format == "jpeg_pipe":
        _check_jpeg_complete(fh, name, size)
    try:
        container = av.open(fh, mode="r", format=image_format, options={"protocol_whitelist": "none"})
    except av.error.FFmpegError as exc:
        raise UnsupportedMediaError(f"{name}: not a recognised media file ({_ffmpeg_reason(exc)})") from exc
    with container:
        fmt = container.format.name
        if fmt not in ALLOWED_FORMATS and fmt not in IMAGE_FORMATS:
            raise UnsupportedMediaError(f"{name}: container format {fmt!r} is not accepted")
        # Cover art in a music file is a video stream too: it is not the input's picture.
        video = next(
            (
                s
                for s in container.streams.video
                if s.codec_context is not None and not s.disposition & Disposition.attached_pic
            ),
            None,
        )
        declared_s = container.duration / 1e6 if container.duration and container.duration > 0 else 0.0
        if image_format is not None:
            declared_s = 0.0
        if declared_s > limits.max_duration_s:
            raise LimitExceededError(
                f"{name}: {declared_s:.0f} s is over the {limits.max_duration_s:.0f} s duration limit"
            )
        still = image_format is not None
        pictures = _Pictures.none()
        if video is not None and keyframes and not still:
            source = _reopen_name(fh, path)
            pictures = _decode_keyframes(source, fmt, video.index, name, limits, started, declared_s)
        if video is not None and not len(pictures.times):
            pictures = _decode_frames(container, video, name, limits, started, declared_s, still)
        visual = DecodedMedia(
            path, sha, size, fmt, 0.0, False, video is not None, np.zeros(0, np.float32), audio_rate,
            frames=pictures.frames, frame_times=pictures.times, detail=pictures.detail,
            detail_times=pictures.detail_times, is_image=image_format is not None,
        )  # fmt: skip
        times = pictures.times
        if image_format is not None:
            return visual
        if not container.streams.audio:
            if video is None:
                raise UnsupportedMediaError(f"{name}: no audio or video stream")
            return replace(visual, duration_s=declared_s or _frames_span(times, video))
        stream = container.streams.audio[0]
        if stream.codec_context is None or stream.rate is None or stream.rate <= 0:
            raise CorruptMediaError(f"{name}: audio stream has no usable codec parameters")
        declared_s = _track_s(stream) or declared_s
        stream_index = stream.index
    pcm = _decode_audio(_reopen_name(fh, path), fmt, stream_index, name, limits, audio_rate, started)
    duration_s = len(pcm) / audio_rate
    if duration_s == 0.0:
        raise CorruptMediaError(f"{name}: the audio track holds no samples")
    if _cut_short(duration_s, declared_s):
        raise CorruptMediaError(f"{name}: truncated (decoded {duration_s:.1f} s of {declared_s:.1f} s)")
    return replace(visual, duration_s=duration_s, has_audio=True, audio=pcm)


def _image_format(fh: BinaryIO) -> str | None:
    """The single-image demuxer for a JPEG, PNG or WebP file (by its magic bytes), else ``None``."""
    fh.seek(0)
    head = fh.read(16)
    fh.seek(0)
    for prefix, at, marker, demuxer in _IMAGE_MAGIC:
        if head.startswith(prefix) and head[at : at + len(marker)] == marker:
            return demuxer
    return None


def _check_jpeg_complete(fh: BinaryIO, name: str, size: int) -> None:
    """FFmpeg's JPEG decoder conceals a cut-off file as a grey lower part: a complete one ends with the
    end-of-image marker (some writers append a little padding or metadata after it)."""
    fh.seek(max(0, size - 1024))
    tail = fh.read()
    fh.seek(0)
    if b"\xff\xd9" not in tail:
        raise CorruptMediaError(f"{name}: truncated (the JPEG has no end-of-image marker)")


def _cut_short(decoded_s: float, declared_s: float) -> bool:
    """Whether a track decoded to clearly less than the length its header declares."""
    return declared_s > 1.0 and decoded_s < 0.9 * declared_s - 0.5


def _track_s(stream: Any) -> float:
    """The length a stream's header declares, in seconds; 0 where it declares none."""
    return float(stream.duration * stream.time_base) if stream.duration and stream.time_base else 0.0


def _frames_span(times: npt.NDArray[np.float32], stream: Any) -> float:
    rate = float(stream.average_rate or 25)
    return float(times[-1]) + 1.0 / rate if len(times) else 0.0


@dataclass(frozen=True)
class _Pictures:
    frames: npt.NDArray[np.uint8]
    times: npt.NDArray[np.float32]
    detail: npt.NDArray[np.uint8]
    detail_times: npt.NDArray[np.float32]

    @staticmethod
    def none() -> _Pictures:
        no_times = np.zeros(0, np.float32)
        no_frames = np.zeros((0, FRAME_SIZE, FRAME_SIZE), np.uint8)
        return _Pictures(no_frames, no_times, np.zeros((0, 0, 0), np.uint8), no_times)


def detail_shape(width: int, height: int) -> tuple[int, int]:
    """(width, height) of the detail pictures of a ``width`` x ``height`` video: the longest side
    ``DETAIL_SIZE`` at most, the aspect kept, even sides."""
    scale = min(1.0, DETAIL_SIZE / max(width, height, 1))
    return max(16, round(width * scale / 2) * 2), max(16, round(height * scale / 2) * 2)


class _Sampler:
    """Which pictures to keep: at most ``fps`` a second, the first of each step."""

    def __init__(self, fps: float) -> None:
        self.step = 1.0 / fps
        self.next_t = -np.inf

    def take(self, t: float) -> bool:
        if t + 1e-6 < self.next_t:
            return False
        self.next_t = max(self.next_t + self.step, t) if np.isfinite(self.next_t) else t + self.step
        return True


def _decode_frames(
    container: Any,
    stream: Any,
    name: str,
    limits: Limits,
    started: float,
    declared_s: float,
    still: bool,
    *,
    keyframes: bool = False,
) -> _Pictures:
    """Luma thumbnails of the pictures, at most ``max_video_fps`` a second and ``max_frames`` in all,
    and detail pictures, ``DETAIL_FPS`` a second and ``max_detail_frames`` in all.

    Decision: a long input is sampled more sparsely (``max_frames / duration`` a second) rather than
    refused or truncated, so the memory a decode holds is bounded by ``max_frames`` thumbnails and
    ``max_detail_frames`` detail pictures.
    """
    fps, detail_fps = limits.max_video_fps, DETAIL_FPS
    if declared_s > 0:
        fps = min(fps, limits.max_frames / declared_s)
        detail_fps = min(detail_fps, limits.max_detail_frames / declared_s)
    thumb_sampler, detail_sampler = _Sampler(fps), _Sampler(detail_fps)
    stream.thread_type = "AUTO"
    thumbs: list[npt.NDArray[np.uint8]] = []
    times: list[float] = []
    details: list[npt.NDArray[np.uint8]] = []
    detail_times: list[float] = []
    rate = float(stream.average_rate or 25)
    _check_pixels(stream.codec_context.width, stream.codec_context.height, name, limits)
    detail_size: tuple[int, int] | None = None
    for i, frame in enumerate(container.decode(stream)):
        _check_pixels(frame.width, frame.height, name, limits)  # the size may change mid-stream
        t = float(frame.time) if frame.time is not None else i / rate
        if detail_sampler.take(t) and len(details) < limits.max_detail_frames:
            # One detail size for the whole input (the first picture's), so that they stack.
            detail_size = detail_size or detail_shape(frame.width, frame.height)
            w, h = detail_size
            detail = frame.reformat(width=w, height=h, format="gray", interpolation="AREA")
            details.append(detail.to_ndarray())
            detail_times.append(t)
        if not thumb_sampler.take(t):
            continue
        if len(thumbs) >= limits.max_frames:
            raise LimitExceededError(f"{name}: more than the {limits.max_frames} frame limit")
        thumb = frame.reformat(width=FRAME_SIZE, height=FRAME_SIZE, format="gray", interpolation="AREA")
        thumbs.append(thumb.to_ndarray())
        times.append(t)
        if still:
            break
        if time.monotonic() - started > limits.decode_timeout_s:
            raise LimitExceededError(f"{name}: decoding took longer than {limits.decode_timeout_s:.0f} s")
    if not thumbs:
        if keyframes:
            return _Pictures.none()  # no picture flagged as a keyframe: decoded in full instead
        raise CorruptMediaError(f"{name}: the video track holds no pictures")
    t0 = times[0] if not still else 0.0
    rel_times = np.asarray(times, np.float32) - np.float32(t0)
    # A file cut short after its index (an MP4 written with faststart) decodes silently to fewer
    # pictures than its video track declares; audio has the same check in _decode_open.
    track_s = _track_s(stream)
    span_s = _frames_span(rel_times, stream)
    if not still and not keyframes and _cut_short(span_s, track_s):
        raise CorruptMediaError(f"{name}: truncated (decoded {span_s:.1f} s of a {track_s:.1f} s video)")
    return _Pictures(
        np.stack(thumbs).astype(np.uint8, copy=False),
        rel_times,
        np.stack(details).astype(np.uint8, copy=False),
        np.asarray(detail_times, np.float32) - np.float32(t0),
    )


def _decode_keyframes(
    source_name: str,
    fmt: str,
    stream_index: int,
    name: str,
    limits: Limits,
    started: float,
    declared_s: float,
) -> _Pictures:
    """The pictures of the video's keyframes alone, or none where any two of them, or the last and
    the track's end, lie more than ``KEYFRAME_GAP_S`` apart.

    Decision: the decoder skips every other picture (``skip_frame``), which is what makes this path
    fast: measured for issue 3, 53x real time per core at 1080p against 5.4x for every picture. A
    reference sampled more sparsely than about once a second loses short excerpts, and many files
    (web uploads, the shipped corpus) carry a keyframe every 4-10 s or one in all: those are decoded
    in full. The keyframe pass over them costs a tenth of the full decode or less.

    The pass re-opens the file (as the audio graph does) for a decoder of its own that also skips
    the deblocking filter, 14 % of an H.264 keyframe's decoding here. A keyframe is predicted from
    no other picture, so only its own pixels change, by a few PDQ bits (``benchmarks.video``'s
    ``keyframe_bits``); the full decode keeps the filter, since there a P picture's error would
    carry into every picture predicted from it.
    """
    with av.open(
        "file:" + source_name, format=fmt.split(",")[0], options={"protocol_whitelist": "file"}
    ) as container:
        stream = container.streams[stream_index]
        stream.codec_context.options = {"skip_loop_filter": "all"}
        stream.codec_context.skip_frame = "NONKEY"
        pictures = _decode_frames(container, stream, name, limits, started, declared_s, False, keyframes=True)
        track_s = _track_s(stream) or declared_s
    if len(pictures.times) and np.diff(np.r_[pictures.times, track_s]).max() <= KEYFRAME_GAP_S:
        return pictures
    return _Pictures.none()


def _check_pixels(width: int, height: int, name: str, limits: Limits) -> None:
    if width * height > limits.max_pixels:
        raise LimitExceededError(
            f"{name}: a {width}x{height} picture is over the {limits.max_pixels} pixel limit"
        )


def _reopen_name(fh: BinaryIO, path: Path) -> str:
    """A name that re-opens the very file behind ``fh`` (Linux), else the absolute path."""
    proc = Path(f"/proc/self/fd/{fh.fileno()}")
    return str(proc) if proc.exists() else str(path.resolve())


def _decode_audio(
    source_name: str, fmt: str, stream_index: int, name: str, limits: Limits, audio_rate: int, started: float
) -> npt.NDArray[np.float32]:
    """Demux, decode, down-mix and resample in one FFmpeg filter graph (``amovie`` source).

    Decision: Python sees only the resampled blocks, never a codec frame; pushing every MP3 frame
    through a graph from Python halved the decode speed. The graph re-opens the probed file (through
    ``/proc/self/fd``, else by absolute path) with the ``file`` protocol and the demuxer forced to the
    one the guarded probe accepted.
    """
    graph = av.filter.Graph()
    source = graph.add(
        "amovie",
        filename="file:" + source_name,
        format_name=fmt.split(",")[0],
        streams=str(stream_index),
    )
    audio_graph(
        graph,
        source,
        [
            ("aformat", "sample_fmts=flt:channel_layouts=mono"),
            ("aresample", f"{audio_rate}:filter_size=16:phase_shift=6"),
            ("aformat", f"sample_fmts=flt:channel_layouts=mono:sample_rates={audio_rate}"),
            ("asetnsamples", f"n={_BLOCK_SAMPLES}:p=0"),
        ],
    )
    blocks: list[npt.NDArray[np.float32]] = []
    max_samples = int(limits.max_duration_s * audio_rate)
    total = 0
    for block in drain(graph):
        blocks.append(block)
        total += block.size
        if total > max_samples:
            raise LimitExceededError(f"{name}: longer than the {limits.max_duration_s:.0f} s duration limit")
        if time.monotonic() - started > limits.decode_timeout_s:
            raise LimitExceededError(f"{name}: decoding took longer than {limits.decode_timeout_s:.0f} s")
    if not blocks:
        return np.zeros(0, np.float32)
    pcm = np.concatenate(blocks).astype(np.float32, copy=False)
    np.nan_to_num(pcm, copy=False, nan=0.0, posinf=0.0, neginf=0.0)
    return pcm


def _check_wav_complete(fh: BinaryIO, name: str, size: int) -> None:
    """FFmpeg infers a WAV file's length from the file size, so a cut-off WAV decodes silently short.

    The RIFF header declares the data chunk's size: compare it with what the file holds.
    """
    fh.seek(0)
    head = fh.read(4096)
    fh.seek(0)
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        return
    pos = 12
    while pos + 8 <= len(head):
        chunk, length = head[pos : pos + 4], int.from_bytes(head[pos + 4 : pos + 8], "little")
        if chunk == b"data":
            available = size - (pos + 8)
            if 0 < length < 0xFFFFFFFF and available < 0.99 * length:
                raise CorruptMediaError(f"{name}: truncated (holds {available} of {length} audio bytes)")
            return
        pos += 8 + length + (length & 1)
