from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy import signal

from clearance import Catalog, Finding, scan
from clearance.media import synth
from clearance.scan.pipeline import _drop_shadowed
from tests.conftest import RATE, excerpt


def _clip(tmp_path: Path, name: str, parts: list[np.ndarray], video: bool = True) -> Path:
    audio = np.concatenate(parts).astype(np.float32)
    if video:
        return synth.write_video(tmp_path / name, duration_s=len(audio) / RATE, audio=audio)
    return synth.write_audio(tmp_path / name, audio)


def test_excerpt_inside_unrelated_audio(
    tmp_path: Path, registered: Path, songs: dict[str, np.ndarray]
) -> None:
    head, tail = synth.speech_like(1, 4.0), synth.music(999, 5.0)
    clip = _clip(tmp_path, "clip.mp4", [head, excerpt(songs["song0"], 12.0, 10.0), tail])
    with Catalog.open(registered) as cat:
        report = scan(cat, clip)
    assert report.decision == "block"
    [f] = report.findings
    assert f.title == "song0" and f.kind == "audio" and f.policy == "block"
    assert abs(f.query_start - 4.0) < 0.5
    assert f.ref_start is not None
    assert abs(f.ref_start - (12.0 + (f.query_start - 4.0))) < 0.1
    assert 13.0 < f.query_end < 15.0
    assert abs(f.speed - 1.0) < 0.01
    assert 0.5 <= f.score <= 1.0
    assert report.input.has_video and report.input.has_audio


def test_several_works_one_after_another(
    tmp_path: Path, registered: Path, songs: dict[str, np.ndarray]
) -> None:
    clip = _clip(
        tmp_path,
        "two.mka",
        [excerpt(songs["song1"], 2.0, 8.0), synth.music(998, 3.0), excerpt(songs["song2"], 15.0, 8.0)],
        video=False,
    )
    with Catalog.open(registered) as cat:
        report = scan(cat, clip)
    assert [f.title for f in report.findings] == ["song1", "song2"]
    assert report.decision == "review"  # review (song1) beats allow (song2)
    assert abs(report.findings[1].query_start - 11.0) < 0.5


def test_music_under_speech(tmp_path: Path, registered: Path, songs: dict[str, np.ndarray]) -> None:
    music = excerpt(songs["song0"], 5.0, 12.0)
    voice = synth.speech_like(4, 12.0)
    clip = _clip(tmp_path, "voiceover.wav", [music + 0.15 * voice], video=False)
    with Catalog.open(registered) as cat:
        report = scan(cat, clip)
    assert [f.title for f in report.findings] == ["song0"]


def test_speed_change_is_measured(tmp_path: Path, registered: Path, songs: dict[str, np.ndarray]) -> None:
    fast = signal.resample_poly(excerpt(songs["song1"], 8.0, 12.0), 25, 26).astype(np.float32)  # +4 %
    clip = _clip(tmp_path, "fast.flac", [fast], video=False)
    with Catalog.open(registered) as cat:
        report = scan(cat, clip)
    [f] = report.findings
    assert abs(f.speed - 1.04) < 0.01
    assert f.ref_start is not None
    assert abs(f.ref_start - (8.0 + 1.04 * f.query_start)) < 0.15


def test_unregistered_audio_gives_no_finding(tmp_path: Path, registered: Path) -> None:
    with Catalog.open(registered) as cat:
        for i, x in enumerate([synth.music(4242, 12.0), synth.speech_like(7, 12.0), synth.noise(3, 12.0)]):
            report = scan(cat, _clip(tmp_path, f"none{i}.wav", [x], video=False))
            assert report.findings == [] and report.decision == "allow"


def test_video_without_audio_scans_clean(tmp_path: Path, registered: Path) -> None:
    with Catalog.open(registered) as cat:
        report = scan(cat, synth.write_video(tmp_path / "mute.mp4", duration_s=2.0))
    assert report.findings == [] and not report.input.has_audio


def test_scan_is_recorded(tmp_path: Path, registered: Path, songs: dict[str, np.ndarray]) -> None:
    clip = _clip(tmp_path, "rec.wav", [excerpt(songs["song2"], 0.0, 8.0)], video=False)
    with Catalog.open(registered) as cat:
        report = scan(cat, clip)
        assert report.scan_id is not None
        stored = cat.scan_report(report.scan_id)
    assert stored["schema"] == "clearance.scan/1"
    assert stored["findings"][0]["work_id"] == report.findings[0].work_id


def _finding(signal: str, q0: float, q1: float, score: float) -> Finding:
    return Finding(kind="video", work_id="w", title="film", owner="o", query_start=q0, query_end=q1,
                   ref_start=q0 + 10.0, ref_end=q1 + 10.0, speed=1.0, score=score, policy="block",
                   evidence={"signal": signal, "log10_false_alarm": -10 * score})  # fmt: skip


def test_a_weaker_finding_on_the_same_line_grows_the_span_only_where_it_reaches_further() -> None:
    """Frame hashes place a copy's ends to the frame; local features pad theirs by a quarter second.
    The padding is not a longer copy; a picture matched well outside the span is."""
    exact = _finding("visual_pdq", 2.3, 9.0, 1.0)
    (kept,) = _drop_shadowed([exact, _finding("visual_orb", 2.25, 9.25, 0.8)])
    assert (kept.query_start, kept.query_end, kept.ref_start, kept.ref_end) == (2.3, 9.0, 12.3, 19.0)
    assert [j["signal"] for j in kept.evidence["joined"]] == ["visual_orb"]
    (kept,) = _drop_shadowed([_finding("visual_pdq", 2.3, 9.0, 1.0), _finding("visual_orb", 1.25, 9.25, 0.8)])
    assert (kept.query_start, kept.query_end, kept.ref_start, kept.ref_end) == (1.25, 9.0, 11.25, 19.0)
