from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from clearance.fingerprint.visual import MATCH_BITS, pdq
from clearance.media import decode, synth
from clearance.media.decode import AUDIO_RATE, display_name


@pytest.mark.parametrize("ext", [".wav", ".flac", ".mp3", ".m4a", ".aac", ".ogg", ".opus", ".mka"])
def test_decodes_audio_containers(tmp_path: Path, ext: str) -> None:
    x = synth.music(1, 3.0)
    media = decode(synth.write_audio(tmp_path / f"a{ext}", x))
    assert media.has_audio and not media.has_video
    assert media.audio_rate == AUDIO_RATE
    assert abs(media.duration_s - 3.0) < 0.1
    assert media.audio.dtype == np.float32
    assert float(np.abs(media.audio).max()) > 0.1


@pytest.mark.parametrize("ext", [".mp4", ".mov", ".mkv", ".webm", ".avi"])
def test_decodes_audio_track_of_video_containers(tmp_path: Path, ext: str) -> None:
    x = synth.music(2, 2.0)
    media = decode(synth.write_video(tmp_path / f"v{ext}", duration_s=2.0, audio=x))
    assert media.has_video and media.has_audio
    assert abs(media.duration_s - 2.0) < 0.15


def test_video_without_audio_has_no_audio(tmp_path: Path) -> None:
    media = decode(synth.write_video(tmp_path / "silent.mp4", duration_s=1.0))
    assert media.has_video and not media.has_audio and media.audio.size == 0


def test_same_audio_decodes_alike_across_codecs(tmp_path: Path) -> None:
    x = synth.music(3, 4.0)
    a = decode(synth.write_audio(tmp_path / "a.wav", x)).audio
    b = decode(synth.write_audio(tmp_path / "b.flac", x)).audio
    n = min(len(a), len(b))
    assert np.allclose(a[:n], b[:n], atol=1e-3)


def test_display_name_escapes_control_characters() -> None:
    name = display_name("evil\nname\x1b[31m.mp3")
    assert "\n" not in name and "\x1b" not in name


def test_file_swapped_after_probe_is_not_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib
    import os

    dec = importlib.import_module("clearance.media.decode")  # the module, not the function

    target = synth.write_audio(tmp_path / "a.flac", synth.music(1, 6.0))
    other = synth.write_audio(tmp_path / "b.flac", synth.music(2, 20.0))
    real = dec._reopen_name

    def swap_then_reopen(fh, path):  # type: ignore[no-untyped-def]
        os.replace(other, target)  # an attacker swaps the file between probe and decode
        return real(fh, path)

    monkeypatch.setattr(dec, "_reopen_name", swap_then_reopen)
    media = decode(target)
    assert abs(media.duration_s - 6.0) < 0.1


def test_keyframe_path_takes_close_keyframes_and_decodes_the_rest_in_full(tmp_path: Path) -> None:
    """With ``keyframes``, a video with a keyframe every second is read from its keyframes alone (the
    pictures a full decode gives at those times, less the deblocking filter); one with keyframes 4 s
    apart is decoded in full, filter and all."""
    frames = synth.footage(5, 6.0, fps=15)
    tone = 0.3 * np.sin(np.linspace(0, 2000, 6 * 44100)).astype(np.float32)
    close = synth.write_video(tmp_path / "close.mp4", frames=frames, fps=15, keyint=15, audio=tone)
    full, keys = decode(close), decode(close, keyframes=True)
    assert np.allclose(keys.frame_times, np.arange(6), atol=0.01)
    at = np.searchsorted(full.frame_times, keys.frame_times)
    (ours, _), (theirs, _) = pdq(keys.frames), pdq(full.frames[at])
    assert np.unpackbits(ours ^ theirs, axis=1).sum(axis=1).max() < MATCH_BITS // 3
    assert np.abs(keys.frames.astype(int) - full.frames[at]).mean() < 0.5
    assert np.array_equal(keys.audio, full.audio) and keys.duration_s == full.duration_s
    sparse = synth.write_video(tmp_path / "sparse.mp4", frames=frames, fps=15, keyint=60)
    whole, fallback = decode(sparse), decode(sparse, keyframes=True)
    assert len(whole.frames) == 90 and np.array_equal(fallback.frames, whole.frames)
    assert np.array_equal(fallback.detail, whole.detail)
