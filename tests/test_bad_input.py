"""Bad input: one clear line, a stable error code, nothing stored."""

from __future__ import annotations

import multiprocessing
import os
import signal
from pathlib import Path
from typing import NoReturn

import av
import numpy as np
import pytest

from clearance import Catalog, InputError, LimitExceededError, Limits, Settings, decode
from clearance.errors import CorruptMediaError
from clearance.media import synth
from clearance.media.sandbox import decode_input, decode_isolated


def _make(tmp_path: Path, kind: str) -> Path:
    good = synth.write_audio(tmp_path / "good.mp3", synth.music(1, 6.0))
    p = tmp_path / f"{kind}.mp3"
    if kind == "empty":
        p.write_bytes(b"")
    elif kind == "text":
        p.write_text("hello, I am not a song\n" * 50)
    elif kind == "random":
        p.write_bytes(bytes(range(256)) * 64)
    elif kind == "truncated_wav":
        wav = synth.write_audio(tmp_path / "t.wav", synth.music(1, 6.0))
        p = tmp_path / "truncated.wav"
        p.write_bytes(wav.read_bytes()[: wav.stat().st_size // 3])
    elif kind == "truncated_header":
        p.write_bytes(good.read_bytes()[:40])
    elif kind == "silent_video":
        p = synth.write_video(tmp_path / "silent.mp4", duration_s=1.0)
    elif kind == "directory":
        p = tmp_path / "folder.mp3"
        p.mkdir()
    elif kind == "missing":
        p = tmp_path / "missing.mp3"
    elif kind in {"truncated_jpeg", "truncated_png", "image_named_mp3"}:
        image = (np.random.default_rng(0).random((120, 160, 3)) * 255).astype(np.uint8)
        ext = ".png" if kind == "truncated_png" else ".jpg"
        data = synth.write_image(tmp_path / f"good{ext}", image).read_bytes()
        p = tmp_path / f"{kind}{'.mp3' if kind == 'image_named_mp3' else ext}"
        p.write_bytes(data if kind == "image_named_mp3" else data[: len(data) // 2])
    elif kind in {"truncated_video", "garbled_video"}:
        # faststart: the index comes first, so a cut-off file still opens and decodes short
        video = _faststart_video(tmp_path / "whole.mp4")
        buf = bytearray(video.read_bytes())
        p = tmp_path / f"{kind}.mp4"
        if kind == "truncated_video":
            del buf[len(buf) * 2 // 3 :]
        else:
            at = buf.find(b"mdat") + 100
            buf[at : at + 3000] = np.random.default_rng(0).integers(0, 256, 3000, np.uint8).tobytes()
        p.write_bytes(bytes(buf))
    elif kind == "zero_frame_video":
        p = tmp_path / "zero_frames.mp4"
        with av.open(str(p), mode="w") as container:
            stream = container.add_stream("libx264", rate=15)
            stream.width, stream.height, stream.pix_fmt = 160, 120, "yuv420p"
            container.start_encoding()
    elif kind == "playlist":
        p = tmp_path / "evil.avi"
        p.write_text("#EXTM3U\n#EXT-X-MEDIA-SEQUENCE:0\n#EXTINF:10.0,\nfile:///etc/passwd\n#EXT-X-ENDLIST\n")
    return p


def _faststart_video(path: Path) -> Path:
    with av.open(str(path), mode="w", options={"movflags": "faststart"}) as container:
        stream = container.add_stream("libx264", rate=15)
        stream.width, stream.height, stream.pix_fmt = 160, 120, "yuv420p"
        for img in synth.footage(1, 6.0):
            container.mux(stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")))
        container.mux(stream.encode(None))
    return path


# Files that no decoder can read (each also refused at registration, without a trace).
UNREADABLE = [
    "empty",
    "text",
    "truncated_wav",
    "playlist",
    "truncated_jpeg",
    "truncated_png",
    "truncated_video",
    "garbled_video",
    "zero_frame_video",
]


@pytest.mark.parametrize("kind", [*UNREADABLE, "random", "truncated_header", "directory", "missing"])
def test_bad_files_raise_input_errors(tmp_path: Path, kind: str) -> None:
    path = _make(tmp_path, kind)
    with pytest.raises(InputError) as info:
        decode(path)
    assert "\n" not in str(info.value)
    assert info.value.code in {"input_error", "corrupt_media", "unsupported_media", "limit_exceeded"}
    if kind == "truncated_video":
        assert "truncated" in str(info.value)


@pytest.mark.parametrize("kind", [*UNREADABLE, "silent_video"])
def test_bad_files_are_not_registered(tmp_path: Path, kind: str) -> None:
    path = _make(tmp_path, kind)
    with Catalog.open(tmp_path / "cat") as cat:
        with pytest.raises(InputError):
            cat.register(path, owner="Label A")
        assert cat.works() == []


def test_size_and_duration_limits(tmp_path: Path) -> None:
    path = synth.write_audio(tmp_path / "long.flac", synth.music(2, 8.0))
    with pytest.raises(LimitExceededError):
        decode(path, limits=Limits(max_input_bytes=1000))
    with pytest.raises(LimitExceededError):
        decode(path, limits=Limits(max_duration_s=5.0))
    settings = Settings(limits=Limits(max_duration_s=5.0))
    with Catalog.open(tmp_path / "cat", settings=settings) as cat, pytest.raises(LimitExceededError):
        cat.register(path, owner="o")


def test_huge_pictures_are_refused(tmp_path: Path) -> None:
    """A picture over ``max_pixels`` (a decompression bomb, a 16K frame) is refused before its
    pixels are decoded, in a video and in a still, and nothing is registered."""
    image = synth.write_image(tmp_path / "poster.png", np.zeros((600, 800, 3), np.uint8) + 90)
    video = synth.write_video(tmp_path / "film.mp4", duration_s=1.0, size=(320, 240))
    limits = Limits(max_pixels=50_000)  # the video is 320x240 = 76,800, the image 480,000
    for path in (image, video):
        with pytest.raises(LimitExceededError, match="pixel limit"):
            decode(path, limits=limits)
    with Catalog.open(tmp_path / "cat", settings=Settings(limits=limits)) as cat:
        with pytest.raises(LimitExceededError):
            cat.register([image, video], owner="o")
        assert cat.works() == []


def test_wrongly_named_file_is_decoded_by_content(tmp_path: Path) -> None:
    real = synth.write_audio(tmp_path / "x.flac", synth.music(3, 3.0))
    misnamed = tmp_path / "actually_flac.mp4"
    misnamed.write_bytes(real.read_bytes())
    assert decode(misnamed).container == "flac"


def test_zero_length_audio_track(tmp_path: Path) -> None:
    import numpy as np

    path = synth.write_audio(tmp_path / "zero.wav", np.zeros(0, np.float32))
    with pytest.raises(InputError):
        decode(path)


def _segfault(*_args: object, **_kwargs: object) -> NoReturn:
    os.kill(os.getpid(), signal.SIGSEGV)  # what a decoder bug on hostile bytes looks like
    raise AssertionError("not reached")


def _hog(*_args: object, **_kwargs: object) -> NoReturn:
    np.ones(8 * 1024**3, np.uint8)  # far over the memory limit below
    raise AssertionError("not reached")


def test_isolated_decode_gives_the_same_media(tmp_path: Path) -> None:
    path = synth.write_audio(tmp_path / "a.ogg", synth.music(4, 5.0))
    a, b = decode_isolated(path), decode(path)
    assert a.sha256 == b.sha256 and a.path == b.path and np.array_equal(a.audio, b.audio)
    with pytest.raises(InputError, match="no such file"):
        decode_isolated(tmp_path / "missing.mp3")


def test_decoder_crash_is_one_error_not_a_dead_process(tmp_path: Path) -> None:
    path = synth.write_audio(tmp_path / "a.flac", synth.music(4, 2.0))
    with pytest.raises(CorruptMediaError, match="crashed"):
        decode_isolated(path, decoder=_segfault)
    with pytest.raises(LimitExceededError, match="memory limit"):
        decode_isolated(path, limits=Limits(decode_memory_bytes=512 * 1024**2), decoder=_hog)


def _duration_in_worker(path: Path) -> float:
    return decode_input(path, limits=Limits(isolate_decode=True)).duration_s


def test_decode_input_works_inside_a_pool_worker(tmp_path: Path) -> None:
    # Pool workers are daemonic and may not start the sandbox's child: they decode in-process.
    path = synth.write_audio(tmp_path / "a.flac", synth.music(4, 3.0))
    with multiprocessing.get_context("fork").Pool(1) as pool:
        assert abs(pool.apply(_duration_in_worker, (path,)) - 3.0) < 0.1


def test_image_with_a_wrong_name_is_read_by_its_content(tmp_path: Path) -> None:
    media = decode(_make(tmp_path, "image_named_mp3"))
    assert media.is_image and media.container == "jpeg_pipe" and len(media.frames) == 1
