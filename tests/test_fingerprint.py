from __future__ import annotations

import numpy as np
from scipy import signal

from clearance.fingerprint import audio as fa
from clearance.fingerprint import signal_types
from clearance.media import synth
from clearance.media.decode import AUDIO_RATE


def _pcm(seed: int, seconds: float) -> np.ndarray:
    return signal.resample_poly(synth.music(seed, seconds), 80, 441).astype(np.float32)


def test_registry_has_audio_landmarks_with_stable_name() -> None:
    types = signal_types()
    assert "audio_landmarks" in types
    assert types["audio_landmarks"].kind == "audio"


def test_fingerprint_is_deterministic() -> None:
    x = _pcm(5, 10.0)
    a, b = fa.reference_hashes(x), fa.reference_hashes(x.copy())
    assert np.array_equal(a.keys, b.keys) and np.array_equal(a.frames, b.frames)
    assert len(a.keys) > 100


def test_reference_density_is_bounded() -> None:
    x = _pcm(6, 20.0)
    h = fa.reference_hashes(x)
    per_s = len(h.keys) / 20.0
    assert 5 < per_s < 60  # index size stays near ~1 MB per hour at 8 bytes a posting


def test_query_hashes_cover_reference_hashes_of_same_audio() -> None:
    x = _pcm(7, 10.0)
    ref = set(fa.reference_hashes(x).keys.tolist())
    query = set(fa.query_hashes(x).keys.tolist())
    assert len(ref & query) / len(ref) > 0.8


def _aligned_anchors(x: np.ndarray, y: np.ndarray, speed: float) -> int:
    """Query anchors of ``y`` with a hit on the line t_ref = speed * t_query (what alignment counts)."""
    ref = fa.reference_hashes(x)
    postings: dict[int, list[int]] = {}
    for k, f in zip(ref.keys.tolist(), ref.frames.tolist(), strict=True):
        postings.setdefault(k, []).append(f)
    q = fa.query_hashes(y)
    return len(
        {
            qf
            for k, qf in zip(q.keys.tolist(), q.frames.tolist(), strict=True)
            for rf in postings.get(k, ())
            if abs(rf - speed * qf) <= 4
        }
    )


def test_hashes_survive_speed_change_where_pitch_follows() -> None:
    x = _pcm(8, 10.0)
    faster = signal.resample_poly(x, 25, 27).astype(np.float32)  # 8 % faster, 1.3 semitones up
    unrelated = _pcm(9, 10.0)
    clean = _aligned_anchors(x, x, 1.0)
    survived = _aligned_anchors(x, faster, 27 / 25)
    background = _aligned_anchors(x, unrelated, 1.0)
    assert survived > 0.15 * clean
    assert survived > max(5, 4 * background)


def test_silence_gives_no_hashes() -> None:
    assert len(fa.reference_hashes(np.zeros(AUDIO_RATE * 3, np.float32)).keys) == 0
