from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from scipy import signal

from clearance.fingerprint import audio as fa
from clearance.fingerprint import signal_types
from clearance.match.align import Segment
from clearance.media import synth
from clearance.media.decode import AUDIO_RATE


def _pcm(seed: int, seconds: float) -> np.ndarray:
    pcm: np.ndarray = signal.resample_poly(synth.music(seed, seconds), 80, 441).astype(np.float32)
    return pcm


def _ref(x: np.ndarray) -> fa.Hashes:
    return fa.reference_hashes(fa.find_peaks(x, fa.REFERENCE.peaks_per_s))


def _query(x: np.ndarray) -> fa.Hashes:
    return fa.query_hashes(fa.find_peaks(x, fa.QUERY.peaks_per_s))


def test_registry_has_audio_landmarks_with_stable_name() -> None:
    types = signal_types()
    assert "audio_landmarks" in types
    assert types["audio_landmarks"].kind == "audio"


def test_fingerprint_is_deterministic() -> None:
    x = _pcm(5, 10.0)
    a, b = _ref(x), _ref(x.copy())
    assert np.array_equal(a.keys, b.keys) and np.array_equal(a.frames, b.frames)
    assert len(a.keys) > 40


def test_reference_density_is_bounded() -> None:
    x = _pcm(6, 20.0)
    h = _ref(x)
    per_s = len(h.keys) / 20.0
    assert 5 < per_s < 60  # index size stays near ~1 MB per hour at 8 bytes a posting


def test_query_hashes_cover_reference_hashes_of_same_audio() -> None:
    x = _pcm(7, 10.0)
    ref = set(_ref(x).keys.tolist())
    query = set(_query(x).keys.tolist())
    assert len(ref & query) / len(ref) > 0.6


def _aligned_anchors(x: np.ndarray, y: np.ndarray, speed: float) -> int:
    """Query anchors of ``y`` with a hit on the line t_ref = speed * t_query (what alignment counts)."""
    ref = _ref(x)
    postings: dict[int, list[int]] = {}
    for k, f in zip(ref.keys.tolist(), ref.frames.tolist(), strict=True):
        postings.setdefault(k, []).append(f)
    q = _query(y)
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
    assert len(_ref(np.zeros(AUDIO_RATE * 3, np.float32)).keys) == 0


def test_peaks_do_not_depend_on_where_the_analysis_chunks_fall() -> None:
    x = _pcm(10, 80.0)  # longer than one analysis chunk (4096 frames, 65.5 s)
    start = 52 * 64 * fa.HOP  # a whole number of density blocks in
    whole = fa.find_peaks(x, 9.0)
    part = fa.find_peaks(x[start : start + 20 * AUDIO_RATE], 9.0)
    lo, hi = 100, 20 * fa.FRAME_RATE - 100  # away from the excerpt's own edges
    a = [
        (round(float(t), 2), round(float(f), 2)) for t, f in zip(part.t, part.f, strict=True) if lo <= t < hi
    ]
    offset = start / fa.HOP
    b = [
        (round(float(t) - offset, 2), round(float(f), 2))
        for t, f in zip(whole.t, whole.f, strict=True)
        if lo <= t - offset < hi
    ]
    assert len(a) > 100 and a == b


def test_hashed_peaks_are_the_strongest_of_the_stored_ones() -> None:
    x = _pcm(16, 80.0)  # more than one analysis chunk
    stored = fa.find_peaks(x, fa.VERIFY_PEAKS_PER_S)
    hashed = fa.strongest(stored, fa.REFERENCE.peaks_per_s)
    direct = fa.find_peaks(x, fa.REFERENCE.peaks_per_s)
    assert len(stored.t) > 1.5 * len(direct.t)
    for k in ("t", "f", "strength", "rank"):
        assert np.array_equal(getattr(hashed, k), getattr(direct, k))


def test_points_round_trip() -> None:
    peaks = fa.find_peaks(_pcm(11, 5.0), 9.0)
    t, f = fa.unpack_points(fa.pack_points(peaks))
    expected = sorted(zip(np.round(peaks.t).tolist(), np.round(peaks.f * 16).tolist(), strict=True))
    assert list(zip(t.tolist(), (f * 16).tolist(), strict=True)) == expected


def test_verification_separates_a_copy_from_unrelated_music() -> None:
    x = _pcm(12, 30.0)
    ref = fa.pack_points(fa.find_peaks(x, fa.VERIFY_PEAKS_PER_S))
    params = fa.AudioLandmarks.align
    seg = Segment("w", 0.0, 10.0, 10.0, 20.0, 1.0, 0.0)
    copy = x[10 * AUDIO_RATE : 20 * AUDIO_RATE]
    other = _pcm(13, 10.0)
    good = fa.verify_segment(fa.pack_points(fa.find_peaks(copy, 24.0)), ref, seg, 1, params)
    bad = fa.verify_segment(fa.pack_points(fa.find_peaks(other, 24.0)), ref, seg, 1, params)
    assert good is not None and good.score == 1.0 and good.evidence["pitch_shift_st"] == 0.0
    assert bad is None or bad.score < 0.3


def test_triplets_skip_neighbours_at_the_anchors_pitch() -> None:
    peaks = fa.find_peaks(_pcm(14, 10.0), fa.REFERENCE.peaks_per_s)
    a, b, c = fa._triplets(peaks, fa.REFERENCE.fanout)
    assert len(a) > 0
    assert np.abs(peaks.f[b] - peaks.f[a]).min() >= fa.MIN_INTERVAL_ST
    assert np.abs(peaks.f[c] - peaks.f[a]).min() >= fa.MIN_INTERVAL_ST


def test_verification_is_corrected_for_the_alignments_whole_search() -> None:
    x = _pcm(15, 30.0)
    ref = fa.pack_points(fa.find_peaks(x, fa.VERIFY_PEAKS_PER_S))
    query = fa.pack_points(fa.find_peaks(x[10 * AUDIO_RATE : 13 * AUDIO_RATE], 24.0))
    params = fa.AudioLandmarks.align
    seg = Segment("w", 0.0, 3.0, 10.0, 13.0, 1.0, 0.0)
    alone = fa.verify_segment(query, ref, seg, 1, params)
    searched = fa.verify_segment(
        query, ref, Segment(**{**seg.__dict__, "evidence": {"log10_search": 8.0}}), 1, params
    )
    assert alone is not None and searched is not None
    assert alone.evidence["log10_false_alarm"] > -300
    assert searched.evidence["log10_false_alarm"] - alone.evidence["log10_false_alarm"] == pytest.approx(
        8.0, abs=0.02
    )


def _points(t: np.ndarray, f: np.ndarray) -> np.ndarray:
    zeros = np.zeros(len(t), np.float32)
    return fa.pack_points(fa.Peaks(t, f, zeros, zeros.astype(np.int32)))


def test_a_match_is_unheld_only_outside_a_tone_the_query_holds() -> None:
    # The query holds 2 st throughout; at 20 st an onset at frame 150 rings on after it (reverberation).
    held = np.arange(0.0, 301.0, 6.0)
    ring = np.arange(150.0, 200.0, 6.0)
    pitches = np.r_[np.full(len(held), 2.0), np.full(len(ring), 20.0)]
    query = fa.unpack_points(_points(np.r_[held, ring], pitches))
    ref = (np.array([150.0, 150.0, 100.0]), np.array([2.0, 20.0, 5.0]))
    assert fa.unheld_matches(ref, query, 1.0, 0.0, 0.0).tolist() == [False, True, False]
    assert fa.unheld_matches(ref, query, 1.0, 0.0, 1.0).tolist() == [False, False, False]  # shifted pitch


def _with_chord(rng: np.random.Generator, seconds: float, per_s: float, chord_at: float) -> np.ndarray:
    """Packed points: random peaks at ``per_s``, plus a four-note chord held for 80 frames."""
    n = int(seconds * per_s)
    beats = np.arange(0.0, 80.0, 6.0)
    t = np.r_[rng.uniform(0, seconds * fa.FRAME_RATE, n), np.concatenate([chord_at + beats] * 4)]
    t[n:] += rng.uniform(-1, 1, len(t) - n)
    return _points(t, np.r_[rng.uniform(0, 26, n), np.repeat([2.0, 6.0, 9.0, 14.0], len(beats))])


def test_a_held_chord_both_recordings_share_is_not_a_finding() -> None:
    # Unrelated peaks, plus the same four-note chord held for 1.3 s in both, 20 frames off the line: such
    # matches appear at any offset near the chord, so they are no evidence for this line.
    params = fa.AudioLandmarks.align
    seg = Segment("w", 3.0, 7.0, 10.0, 14.0, 1.0, 0.0)
    for seed in range(5):
        rng = np.random.default_rng(seed)
        ref = _with_chord(rng, 30.0, fa.VERIFY_PEAKS_PER_S, 700.0)
        query = _with_chord(rng, 10.0, fa.QUERY.peaks_per_s, 700.0 - 7.0 * fa.FRAME_RATE + 20)
        checked = fa.verify_segment(query, ref, seg, 1, params)
        assert checked is not None and checked.evidence["verified_peaks"] >= 15
        assert checked.score < 0.5


def test_verification_refits_a_line_the_alignment_got_slightly_wrong() -> None:
    # Half the work's peaks from 10 s to 17 s, among unrelated ones; the alignment proposes the
    # right start but 2 % too fast, so the line drifts 5 frames off the copy by the end of the span.
    params = fa.AudioLandmarks.align
    fr = fa.FRAME_RATE
    rng = np.random.default_rng(7)
    rt, rf = rng.uniform(0, 30 * fr, int(30 * fa.VERIFY_PEAKS_PER_S)), rng.uniform(0, 26, 540)
    kept = (rt >= 10 * fr) & (rt <= 17 * fr) & (rng.uniform(size=len(rt)) < 0.5)
    n_other = int(7 * fa.QUERY.peaks_per_s)
    qt = np.r_[rt[kept] - 10 * fr, rng.uniform(0, 7 * fr, n_other)]
    qf = np.r_[rf[kept], rng.uniform(0, 26, n_other)]
    ref, query = _points(rt, rf), _points(qt, qf)
    proposed = Segment("w", 0.0, 7.0, 10.0, 10.0 + 7.0 * 1.02, 1.02, 0.0, {"log10_search": 8.0})
    checked = fa.verify_segment(query, ref, proposed, 1, params)
    assert checked is not None and checked.evidence["refitted"]
    assert checked.speed == pytest.approx(1.0, abs=0.005)
    assert checked.ref_start - checked.query_start == pytest.approx(10.0, abs=1.5 / fr)
    assert checked.score >= 0.5
    # A line that the peaks already confirm beyond doubt is left as proposed.
    right = fa.verify_segment(query, ref, replace(proposed, speed=1.0, ref_end=17.0), 1, params)
    assert right is not None and not right.evidence["refitted"] and right.score == 1.0
