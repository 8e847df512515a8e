"""Video and image matching (issue 3): PDQ frames, FAISS search, line alignment, still images."""

from __future__ import annotations

import csv
from pathlib import Path

import faiss
import numpy as np
import pytest

from clearance import Catalog, Finding, Settings, scan
from clearance.fingerprint.visual import (
    VisualPDQ,
    kept_frames,
    layout_cells,
    nearest_hits,
    pdq,
    settle_line,
    still_runs,
    verify_segment,
    without_overlay,
)
from clearance.index import binary
from clearance.index.postings import Hits
from clearance.match.align import Segment
from clearance.media import synth
from clearance.media.decode import decode
from tests.conftest import RATE, SHARED_MEDIA, excerpt

FPS = 15


@pytest.fixture(scope="module")
def film() -> np.ndarray:
    return synth.footage(7, 24.0, fps=FPS)


@pytest.fixture(scope="module")
def other() -> np.ndarray:
    return synth.footage(8, 12.0, fps=FPS)


@pytest.fixture(scope="module")
def visual_catalog(tmp_path_factory: pytest.TempPathFactory, film: np.ndarray) -> Path:
    d = tmp_path_factory.mktemp("visual")
    poster = _poster(9)
    with Catalog.open(d / "catalog") as cat:
        cat.register(synth.write_video(d / "film.mp4", frames=film, fps=FPS), owner="Studio B", title="film")
        cat.register(synth.write_image(d / "poster.png", poster), owner="Studio B", title="poster")
    np.save(d / "poster.npy", poster)
    return d


def _poster(seed: int) -> np.ndarray:
    """Key art: coloured blocks over a gradient (320 x 240)."""
    rng = np.random.default_rng(seed)
    img = np.empty((240, 320, 3), np.uint8)
    img[:] = np.linspace(40, 200, 320, dtype=np.uint8)[None, :, None]
    for _ in range(12):
        x, y = rng.integers(0, 280), rng.integers(0, 200)
        img[y : y + rng.integers(20, 120), x : x + rng.integers(20, 160)] = rng.integers(0, 255, 3)
    return img


def _video(findings: list[Finding], title: str) -> list[Finding]:
    return [f for f in findings if f.title == title and f.kind == "video"]


def test_excerpt_inside_unrelated_footage(
    tmp_path: Path, visual_catalog: Path, film: np.ndarray, other: np.ndarray
) -> None:
    clip = np.concatenate([other[: 3 * FPS], film[6 * FPS : 16 * FPS], other[3 * FPS : 6 * FPS]])
    path = synth.write_video(tmp_path / "clip.mp4", frames=clip, fps=FPS)
    with Catalog.open(visual_catalog / "catalog") as cat:
        found = _video(scan(cat, path, record=False).findings, "film")
    assert len(found) == 1
    f = found[0]
    assert abs(f.query_start - 3.0) <= 1.0 and abs(f.query_end - 13.0) <= 1.0
    assert f.ref_start is not None and f.ref_end is not None
    assert abs(f.ref_start - 6.0) <= 1.0 and abs(f.ref_end - 16.0) <= 1.0
    assert abs(f.speed - 1.0) < 0.05


def test_flipped_letterboxed_and_faster_copies(
    tmp_path: Path, visual_catalog: Path, film: np.ndarray, other: np.ndarray
) -> None:
    piece = film[4 * FPS : 14 * FPS]
    flipped = piece[:, :, ::-1]
    rows = np.linspace(0, piece.shape[1] - 1, piece.shape[1] - 30).round().astype(int)
    boxed = np.zeros_like(piece)
    boxed[:, 15:-15] = piece[:, rows]  # letterboxed: squeezed between black bars
    faster = film[np.round(np.arange(4 * FPS, 19 * FPS, 1.5)).astype(int)]  # 1.5x speed
    with Catalog.open(visual_catalog / "catalog") as cat:
        for name, frames, speed in (("flip", flipped, 1.0), ("box", boxed, 1.0), ("fast", faster, 1.5)):
            clip = np.concatenate([other[: 2 * FPS], frames, other[2 * FPS : 4 * FPS]])
            path = synth.write_video(tmp_path / f"{name}.mp4", frames=clip, fps=FPS)
            found = _video(scan(cat, path, record=False).findings, "film")
            assert found and found[0].ref_start is not None, name
            assert abs(found[0].ref_start - 4.0) <= 1.0, name
            assert abs(found[0].speed - speed) < 0.1, name


def test_unrelated_footage_gives_no_finding(tmp_path: Path, visual_catalog: Path, other: np.ndarray) -> None:
    path = synth.write_video(tmp_path / "other.mp4", frames=synth.footage(11, 15.0, fps=FPS), fps=FPS)
    with Catalog.open(visual_catalog / "catalog") as cat:
        assert scan(cat, path, record=False).findings == []


def test_still_image_in_a_clip_and_as_a_file(tmp_path: Path, visual_catalog: Path, other: np.ndarray) -> None:
    poster = np.load(visual_catalog / "poster.npy")
    small = poster[::2, ::2]  # the clip's own size, 160 x 120
    clip = np.concatenate(
        [other[: 3 * FPS], np.repeat(small[None], 2 * FPS, axis=0), other[3 * FPS : 6 * FPS]]
    )
    path = synth.write_video(tmp_path / "shows_poster.mp4", frames=clip, fps=FPS)
    jpeg = synth.write_image(tmp_path / "poster_copy.jpg", poster[::2, ::2])  # half size, JPEG
    with Catalog.open(visual_catalog / "catalog") as cat:
        in_clip = [f for f in scan(cat, path, record=False).findings if f.title == "poster"]
        as_file = [f for f in scan(cat, jpeg, record=False).findings if f.title == "poster"]
        kinds = {w.title: w.kind for w in cat.works()}
    assert kinds == {"film": "video", "poster": "image"}
    assert len(in_clip) == 1 and in_clip[0].kind == "image" and in_clip[0].ref_start is None
    assert abs(in_clip[0].query_start - 3.0) <= 0.5 and abs(in_clip[0].query_end - 5.0) <= 0.5
    assert len(as_file) == 1 and as_file[0].score >= 0.5


def test_hamming_and_rows_round_trip() -> None:
    rng = np.random.default_rng(0)
    codes = rng.integers(0, 256, (5, 32), dtype=np.uint8)
    units, back = binary.unpack_rows(binary.pack_rows(np.arange(5) * 7, codes))
    assert np.array_equal(back, codes) and np.array_equal(units, np.arange(5) * 7)
    flipped = codes.copy()
    flipped[0, :3] ^= 0xFF
    d = binary.hamming(flipped, codes)
    assert d[0, 0] == 24 and d[1, 1] == 0
    assert d[0, 1] == int(np.unpackbits(flipped[0] ^ codes[1]).sum())


def test_flat_frames_are_not_indexed(tmp_path: Path) -> None:
    black = np.zeros((30, 120, 160, 3), np.uint8)
    media = decode(synth.write_video(tmp_path / "black.mp4", frames=black, fps=FPS))
    assert len(VisualPDQ().reference(media).points) == 0


@pytest.mark.corpus
def test_pdq_agrees_with_the_reference_hashes() -> None:
    """PDQ of the decoder's 64 x 64 luma thumbnail against the hashes the PDQ reference shipped."""
    folder = SHARED_MEDIA / "images" / "pdq_bridge"
    if not (folder / "expected_pdq.csv").exists():
        pytest.skip("shared/media is not here")
    with open(folder / "expected_pdq.csv", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    for row in rows:
        codes, _ = pdq(decode(folder / row["file"]).frames)
        expected = np.frombuffer(bytes.fromhex(row["pdq_hash_hex"]), np.uint8)[None]
        assert binary.hamming(codes, expected)[0, 0] <= 31, row["file"]  # PDQ's match threshold


@pytest.mark.corpus
def test_pdq_agrees_with_the_vpdq_sample_hashes() -> None:
    folder = SHARED_MEDIA / "video" / "tmk_chair"
    sample = folder / "hashes" / "vpdq" / "chair-orig-22-sd-bar.txt"
    if not sample.exists():
        pytest.skip("shared/media is not here")
    media = decode(folder / "chair-orig-22-sd-bar.mp4")
    codes, _ = pdq(media.frames)
    rows = [line.split(",") for line in sample.read_text().split() if line.count(",") >= 3]
    expected = np.stack([np.frombuffer(bytes.fromhex(r[2]), np.uint8) for r in rows])
    n = min(len(expected), len(codes))
    d = np.diagonal(binary.hamming(codes[:n], expected[:n]))
    assert np.median(d) <= 16 and np.mean(d <= 31) >= 0.95


def test_long_video_is_sampled_within_the_frame_limit(tmp_path: Path, film: np.ndarray) -> None:
    from clearance import Limits

    path = synth.write_video(tmp_path / "long.mp4", frames=film, fps=FPS)
    media = decode(path, limits=Limits(max_frames=48))
    assert 40 <= len(media.frames) <= 48  # about 2 a second over 24 s, never more than the limit
    assert media.frame_times[-1] > 20.0
    assert len(decode(path, limits=Limits(max_video_fps=5)).frames) <= 5 * 24 + 1


def _static_shot(seconds: float) -> np.ndarray:
    """A fixed camera on a textured wall, with one walker crossing it slowly (a CCTV-like shot)."""
    rng = np.random.default_rng(21)
    wall = np.kron(rng.integers(40, 220, (12, 16, 3)), np.ones((10, 10, 1))).astype(np.uint8)
    frames = np.repeat(wall[None], round(seconds * FPS), axis=0)
    for i in range(len(frames)):
        x = 40 + int(i / len(frames) * 60)
        frames[i, 40:90, x : x + 16] = (20, 20, 30)
    return frames


def test_static_shot_is_localised(tmp_path: Path, other: np.ndarray) -> None:
    """Every frame of a static shot lies within the match radius of every other, so the offset must
    come from the nearest reference frames (the walker's position), not from the vote count alone."""
    shot = _static_shot(20.0)
    with Catalog.open(tmp_path / "catalog") as cat:
        cat.register(synth.write_video(tmp_path / "cctv.mp4", frames=shot, fps=FPS), owner="o", title="cctv")
        clip = np.concatenate([other[: 3 * FPS], shot[9 * FPS : 15 * FPS], other[3 * FPS : 6 * FPS]])
        report = scan(cat, synth.write_video(tmp_path / "q.mp4", frames=clip, fps=FPS), record=False)
    found = _video(report.findings, "cctv")
    assert found, report.findings
    best = max(found, key=lambda f: f.score)
    assert best.ref_start is not None
    assert abs(best.ref_start - (9.0 + best.query_start - 3.0)) <= 1.0
    assert abs(best.query_start - 3.0) <= 1.0 and abs(best.query_end - 9.0) <= 1.0


def test_a_still_shot_keeps_a_frame_every_second() -> None:
    """Repeats of one picture are kept once a second all the same; the cut back to it after a black
    frame is not kept again."""
    still = _static_shot(0.1)[0]
    frames = np.stack([still] * 45 + [np.zeros_like(still)] + [still] * 9)  # 10 frames a second
    codes, quality = pdq(np.stack([f.mean(axis=2).astype(np.uint8) for f in frames]))
    kept = kept_frames(codes, quality, (np.arange(len(frames)) / 10).astype(np.float32))
    assert kept == [0, 10, 20, 30, 40, 50]


def test_a_copy_of_a_still_shot_is_found_over_its_whole_length(tmp_path: Path, other: np.ndarray) -> None:
    """A clip of eight still seconds of a work is found by its frame hashes over all of them, and
    placed inside the still."""
    still = np.repeat(_static_shot(0.1)[:1], 10 * FPS, axis=0)
    work = np.concatenate([other[6 * FPS : 10 * FPS], still])
    with Catalog.open(tmp_path / "catalog", settings=Settings(signals_off=["visual_orb"])) as cat:
        cat.register(synth.write_video(tmp_path / "w.mp4", frames=work, fps=FPS), owner="o", title="w")
        clip = np.concatenate([other[: 3 * FPS], still[: 8 * FPS], other[3 * FPS : 6 * FPS]])
        report = scan(cat, synth.write_video(tmp_path / "q.mp4", frames=clip, fps=FPS), record=False)
    found = _video(report.findings, "w")
    assert found, report.findings
    best = max(found, key=lambda f: f.score)
    assert abs(best.query_start - 3.0) <= 0.5 and abs(best.query_end - 11.0) <= 0.5
    assert best.ref_start is not None and best.ref_end is not None
    assert best.ref_start >= 3.0 and best.ref_end <= 15.0  # the still runs from 4 to 14 s


def test_still_runs_start_where_the_picture_changes() -> None:
    """Frames within 8 bits of a run's first frame belong to its run (a drift of 6 bits a frame
    starts a new one within three frames); a frame's second row (its inner hash) follows its first."""
    rng = np.random.default_rng(3)
    a, b = rng.integers(0, 256, (2, 32), dtype=np.uint8)
    drift = [a.copy()]
    for k in range(1, 4):  # flip 6 more bits each frame
        nxt = np.unpackbits(drift[-1])
        nxt[6 * k : 6 * k + 6] ^= 1
        drift.append(np.packbits(nxt))
    codes = np.stack([*drift, b, b, rng.integers(0, 256, 32, dtype=np.uint8)])
    units = np.array([0, 10, 20, 30, 40, 50, 40])  # the last row: frame 40's inner hash
    assert still_runs(units, codes).tolist() == [0, 0, 20, 20, 40, 40, 40]


def _flip(code: np.ndarray, bits: np.ndarray) -> np.ndarray:
    out = np.unpackbits(code)
    out[bits] ^= 1
    return np.packbits(out)


def test_a_copy_of_a_drifting_shot_is_placed_where_it_meets_the_reference_closest() -> None:
    """A shot drifting 4 bits a second verifies at any offset along it (its pictures lie within 72
    bits of each other); the line is moved to where the clip's frames, each 40 bits off the picture
    it shows (an edit moving the same bits in each), meet the kept frames closest. Over an unchanging
    picture no line is closer, and the line stays where it was voted."""
    rng = np.random.default_rng(5)
    drift = [rng.integers(0, 256, 32, dtype=np.uint8)]
    for u in range(1, 200):  # a picture each 0.1 s; two more bits flipped each 0.5 s
        drift.append(_flip(drift[-1], np.array([u * 2 // 5])) if u * 2 % 5 < 2 else drift[-1])
    kept = np.stack(drift[::10])  # a kept frame a second
    r_units = np.arange(0, 200, 10)
    q_units = np.arange(30, 91)  # clip 3-9 s shows the work's 8-14 s: offset 5 s
    edit = np.arange(128, 168)  # bits the drift leaves alone
    noisy = np.stack([_flip(drift[u + 50], edit) for u in q_units])
    for voted in (1.0, 8.0, 14.0):
        speed, offset = settle_line((q_units, noisy), (r_units, kept), 1.0, voted)
        assert speed == 1.0 and offset == pytest.approx(5.0, abs=0.5)
    # Voted at 0.6 through the copy's middle (clip 6 s at the work's 11 s): real time meets it closer.
    speed, offset = settle_line((q_units, noisy), (r_units, kept), 0.6, 11.0 - 0.6 * 6.0)
    assert speed == 1.0 and offset == pytest.approx(5.0, abs=0.5)
    still = np.stack([drift[0]] * 20)
    flat = np.stack([_flip(drift[0], edit)] * len(q_units))
    assert settle_line((q_units, flat), (r_units, still), 0.8, 1.0) == (0.8, 1.0)


def test_a_copy_with_its_contrast_lowered_is_found_by_frame_hashes(
    tmp_path: Path, film: np.ndarray, other: np.ndarray
) -> None:
    """At 40 % contrast the film's frames hash at PDQ quality 13-41, under the 50 a reference frame
    needs: the clip's frames are searched all the same and find it."""
    flat = (128 + (film[6 * FPS : 14 * FPS].astype(np.float32) - 128) * 0.4).astype(np.uint8)
    assert pdq(flat[:1].mean(axis=3).astype(np.uint8))[1][0] < 50
    with Catalog.open(tmp_path / "catalog", settings=Settings(signals_off=["visual_orb"])) as cat:
        cat.register(synth.write_video(tmp_path / "film.mp4", frames=film, fps=FPS), owner="o", title="film")
        clip = np.concatenate([other[: 3 * FPS], flat, other[3 * FPS : 6 * FPS]])
        report = scan(cat, synth.write_video(tmp_path / "q.mp4", frames=clip, fps=FPS), record=False)
    found = _video(report.findings, "film")
    assert found, report.findings
    best = max(found, key=lambda f: f.score)
    assert best.ref_start is not None
    assert abs(best.query_start - 3.0) <= 0.5 and abs(best.ref_start - 6.0) <= 0.5


def test_nearest_hits_keeps_each_query_frames_closest() -> None:
    hits = Hits(["a", "b"], np.array([0, 0, 0, 1, 0]), np.array([5, 6, 7, 5, 9]), np.array([1, 1, 1, 1, 2]))
    kept = nearest_hits(hits, np.array([40, 30, 55, 70, 79]), slack=12)
    # Query frame 1 on work 0: 30 is nearest, 40 within 12 of it, 55 not; work 1 and frame 2 alone.
    rows = zip(kept.work.tolist(), kept.ref_frame.tolist(), kept.query_frame.tolist(), strict=True)
    assert sorted(rows) == [
        (0, 5, 1), (0, 6, 1), (0, 9, 2), (1, 5, 1),
    ]  # fmt: skip


def test_picture_and_sound_are_matched_each_on_its_own(
    tmp_path: Path, film: np.ndarray, other: np.ndarray
) -> None:
    """A registered film's picture and sound are both fingerprinted; a clip that shows the film over
    a registered song gives a video finding for the film and an audio finding for the song, and a
    clip with both of the film's tracks gives one finding of each kind for the film."""
    sound, song = synth.music(21, len(film) / FPS), synth.music(22, 20.0)
    film_path = synth.write_video(tmp_path / "film.mp4", frames=film, fps=FPS, audio=sound, rate=RATE)
    with Catalog.open(tmp_path / "catalog") as cat:
        cat.register(film_path, owner="Studio B", title="film")
        cat.register(synth.write_audio(tmp_path / "song.flac", song), owner="Label A", title="song")
        picture = np.concatenate([other[: 2 * FPS], film[6 * FPS : 16 * FPS], other[2 * FPS : 4 * FPS]])
        pause = np.zeros(2 * RATE, np.float32)
        over_song = np.concatenate([pause, excerpt(song, 5.0, 10.0), pause])
        own_sound = np.concatenate([pause, excerpt(sound, 6.0, 10.0), pause])
        found = {}
        for name, audio in (("over_song", over_song), ("own_sound", own_sound)):
            clip = synth.write_video(tmp_path / f"{name}.mp4", frames=picture, fps=FPS, audio=audio)
            found[name] = {(f.kind, f.title): f for f in scan(cat, clip, record=False).findings}
    assert set(found["over_song"]) == {("video", "film"), ("audio", "song")}
    assert set(found["own_sound"]) == {("video", "film"), ("audio", "film")}
    song_at = found["over_song"]["audio", "song"].ref_start
    assert song_at is not None and abs(song_at - 5.0) <= 0.5
    for f in (found["over_song"]["video", "film"], *found["own_sound"].values()):
        assert (
            f.ref_start is not None and abs(f.query_start - 2.0) <= 1.0 and abs(f.ref_start - 6.0) <= 1.0
        ), f.kind


def test_side_by_side_and_grid_layouts(
    tmp_path: Path, visual_catalog: Path, film: np.ndarray, other: np.ndarray
) -> None:
    """The film shown in one cell of a side-by-side, a stacked or a 2 x 2 layout beside unrelated
    footage is found, with its span on both axes."""
    piece, filler = film[5 * FPS : 13 * FPS], other[: 8 * FPS]
    flipped = filler[:, ::-1, ::-1]  # unrelated footage in the other cells
    layouts = {
        "beside": np.concatenate([filler, piece], axis=2),
        "stacked": np.concatenate([piece, filler, flipped], axis=1),
        "grid": np.concatenate(
            [np.concatenate([filler, flipped], axis=2), np.concatenate([flipped[:, ::-1], piece], axis=2)],
            axis=1,
        ),
    }
    with Catalog.open(visual_catalog / "catalog") as cat:
        for name, frames in layouts.items():
            path = synth.write_video(tmp_path / f"{name}.mp4", frames=frames, fps=FPS)
            found = _video(scan(cat, path, record=False).findings, "film")
            assert len(found) == 1, name
            assert found[0].ref_start is not None and found[0].ref_end is not None
            assert abs(found[0].ref_start - 5.0) <= 1.0 and abs(found[0].ref_end - 13.0) <= 1.0, name


def test_evidence_counts_each_reference_frame_once() -> None:
    """Forty clip frames meeting one reference frame at 66 bits are one chance meeting, not forty:
    they score far below the same forty frames meeting five successive reference frames."""
    rng = np.random.default_rng(5)
    ref_codes = rng.integers(0, 256, (5, 32), dtype=np.uint8)
    ref = binary.pack_rows(np.arange(5) * 10, ref_codes)  # one kept frame a second

    def near(code: np.ndarray) -> np.ndarray:
        bits = np.unpackbits(code)
        bits[rng.choice(256, 66, replace=False)] ^= 1
        return np.packbits(bits)

    units = np.arange(40)  # ten clip frames a second for 4 s
    one = binary.pack_rows(units, np.stack([near(ref_codes[0]) for _ in units]))
    each = binary.pack_rows(units, np.stack([near(ref_codes[round(u / 10)]) for u in units]))
    segment = Segment("w", 0.0, 4.0, 0.0, 4.0, 1.0, 0.0)
    lone, spread = verify_segment(one, ref, segment, 1), verify_segment(each, ref, segment, 1)
    assert lone is not None and spread is not None
    assert lone.evidence["matched_reference_frames"] == 1
    assert spread.evidence["matched_reference_frames"] == 5
    assert lone.score < 0.5 <= spread.score


def test_a_copy_met_only_in_sparse_pictures_spans_half_their_step_beyond_them() -> None:
    """Insets are hashed twice a second: a copy met only through them (clip 2.5-7.5 s) stands for a
    quarter second either side of its first and last picture, and one met in every frame for its
    frames alone."""
    rng = np.random.default_rng(7)
    ref_units = np.arange(0, 101, 5)
    ref_codes = rng.integers(0, 256, (len(ref_units), 32), dtype=np.uint8)
    ref = binary.pack_rows(ref_units, ref_codes)
    plain = np.arange(20, 81)  # every clip frame hashed, none of them near the work
    pictures = np.arange(25, 76, 5)  # the inset's pictures, each showing the work at the same time
    shown = ref_codes[np.searchsorted(ref_units, pictures)]
    sparse = binary.pack_rows(
        np.r_[plain, pictures],
        np.concatenate([rng.integers(0, 256, (len(plain), 32), dtype=np.uint8), shown]),
    )
    segment = Segment("w", 2.5, 7.5, 2.5, 7.5, 1.0, 0.0)
    found = verify_segment(sparse, ref, segment, 1)
    assert found is not None
    assert found.query_start == pytest.approx(2.3) and found.query_end == pytest.approx(7.8)
    dense_units = np.arange(25, 76)
    dense = binary.pack_rows(
        dense_units, ref_codes[np.searchsorted(ref_units, dense_units, side="right") - 1]
    )
    found = verify_segment(dense, ref, segment, 1)
    assert found is not None
    assert found.query_start == pytest.approx(2.5) and found.query_end == pytest.approx(7.6)


def test_inverted_file_is_trained_once_and_finds_the_excerpt(
    tmp_path: Path, film: np.ndarray, other: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A generation past ``IVF_MIN_CODES`` is searched through an inverted file, written into its
    folder the first time and read back afterwards (here every list is probed: the same hits as the
    flat index); an unreadable file is trained again, not trusted."""
    monkeypatch.setattr(binary, "IVF_MIN_CODES", 1)
    monkeypatch.setattr(binary, "IVF_PROBES", 1 << 20)
    clip = np.concatenate([other[: 3 * FPS], film[6 * FPS : 16 * FPS]])
    path = synth.write_video(tmp_path / "clip.mp4", frames=clip, fps=FPS)
    with Catalog.open(tmp_path / "cat") as cat:
        cat.register(synth.write_video(tmp_path / "film.mp4", frames=film, fps=FPS), owner="S", title="film")
        first = _video(scan(cat, path, record=False).findings, "film")
        (gen,) = cat.generations("visual_pdq")
        written = gen.path / binary.IVF_FILE
        trained = written.stat().st_mtime_ns
        _, codes = binary.unpack_rows(gen.points(0))
        ivf = binary._index(codes, gen.path)
        assert written.stat().st_mtime_ns == trained and isinstance(ivf, faiss.IndexBinaryIVF)
        monkeypatch.setattr(binary, "IVF_MIN_CODES", 1 << 40)
        flat = binary._index(codes, gen.path)
        hits = [np.sort(x.range_search(codes[:40], 73)[2]) for x in (ivf, flat)]
        assert len(hits[1]) >= min(40, len(codes)) and np.array_equal(hits[0], hits[1])
        monkeypatch.setattr(binary, "IVF_MIN_CODES", 1)
        written.write_bytes(b"not an index")
        assert binary._index(codes, gen.path).ntotal == len(codes)
        assert written.stat().st_size > len(b"not an index")
    assert len(first) == 1 and first[0].ref_start is not None
    assert abs(first[0].query_start - 3.0) <= 1.0 and abs(first[0].ref_start - 6.0) <= 1.0


def test_compaction_trains_the_inverted_file_before_any_scan(
    tmp_path: Path, film: np.ndarray, other: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(binary, "IVF_MIN_CODES", 1)
    with Catalog.open(tmp_path / "cat") as cat:
        for name, frames in (("film", film), ("other", other)):
            cat.register(synth.write_video(tmp_path / f"{name}.mp4", frames=frames, fps=FPS), owner="S")
        assert len(cat.generations("visual_pdq")) == 2
        assert cat.compact("visual_pdq")
        (gen,) = cat.generations("visual_pdq")
        assert (gen.path / binary.IVF_FILE).stat().st_size > 0


def test_a_work_registered_from_its_keyframes_is_found(
    tmp_path: Path, film: np.ndarray, other: np.ndarray
) -> None:
    """The keyframe path (a keyframe every second) keeps about the frames a full decode keeps, and an
    excerpt is found at its place."""
    path = synth.write_video(tmp_path / "film.mp4", frames=film, fps=FPS, keyint=FPS)
    clip = synth.write_video(
        tmp_path / "clip.mp4", frames=np.concatenate([other[: 3 * FPS], film[6 * FPS : 16 * FPS]]), fps=FPS
    )
    with Catalog.open(tmp_path / "cat") as cat:
        cat.register(path, owner="S", title="film", keyframes=True)
        (found,) = _video(scan(cat, clip, record=False).findings, "film")
    assert found.ref_start is not None and found.ref_end is not None
    assert abs(found.query_start - 3.0) <= 1.0 and abs(found.ref_start - 6.0) <= 1.0
    assert abs(found.ref_end - 16.0) <= 1.0


def test_a_layout_cell_is_hashed_whole_and_without_its_dark_bars() -> None:
    """A cell with dark surroundings may be a letterboxed work or a dark work (text on black): both
    the whole cell and what lies inside the dark are given."""
    frame = np.full((120, 320), 150, np.uint8)
    frame[:, :160] = 5
    frame[40:80, 30:130] = 200
    left = frame[:, :160]
    cells = layout_cells(frame)
    assert any(c.shape == left.shape and np.array_equal(c, left) for c in cells)
    assert any(c.shape == (40, 100) and np.array_equal(c, frame[40:80, 30:130]) for c in cells)


def _lyrics_with_logo(seconds: float, fps: int = 25) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Words on black that change twice a second, a grey logo fixed beside them, and the same
    frames without the logo."""
    rng = np.random.default_rng(11)
    n = round(seconds * fps)
    plain = np.full((n, 64, 64), 12, np.uint8)
    words = rng.integers(0, 2, (n, 6, 20)) * 220
    for k in range(n):
        x = 8 + (k // (fps // 2)) % 3 * 4
        plain[k, 28:34, x : x + 20] = words[k // (fps // 2)]
        plain[k] = np.clip(plain[k] + rng.integers(0, 3, (64, 64)), 0, 255)
    shown = plain.copy()
    shown[:, 40:54, 40:54] = 200
    return shown, plain, np.arange(n, dtype=np.float32) / fps


def test_a_logo_standing_still_over_changing_lyrics_is_painted_over() -> None:
    shown, plain, times = _lyrics_with_logo(4.0)
    clean = without_overlay(shown, times, 50)
    assert clean is not None
    assert np.abs(clean[40:54, 40:54].astype(int) - 12).max() <= 3  # the logo is gone
    assert np.array_equal(clean[28:34], shown[50, 28:34])  # the lyrics stay
    codes, _ = pdq(np.stack([clean, shown[50], plain[50]]))
    distance = binary.hamming(codes[:2], codes[2:])[:, 0]
    assert distance[0] < distance[1]  # nearer the picture without the logo


def test_nothing_is_painted_over_without_an_overlay_or_on_still_footage() -> None:
    shown, plain, times = _lyrics_with_logo(4.0)
    assert without_overlay(plain, times, 50) is None  # lyrics alone: nothing stands out still
    still = np.repeat(synth.shapes_footage(3, 0.04, size=(320, 320), fps=25)[:1, ::5, ::5, 0], len(times), 0)
    assert without_overlay(still, times, 50) is None  # all of it stands still: no overlay
    assert without_overlay(shown[:1], times[:1], 0) is None  # a still image has no time to stand
