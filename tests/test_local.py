"""Local features (issue 3): crops, small rotations and picture-in-picture, which defeat frame hashes."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from clearance import Catalog, Settings, scan
from clearance.errors import ConfigError
from clearance.fingerprint.local import (
    KEEP_EVERY_S,
    MIN_PICTURES,
    VisualORB,
    _unpack,
    inliers,
    settle_segment,
)
from clearance.fingerprint.visual import UNITS_PER_S
from clearance.index.postings import Hits
from clearance.match.align import Segment
from clearance.media import synth
from clearance.media.decode import DETAIL_SIZE, decode

FPS = 15


@pytest.fixture(scope="module")
def film() -> np.ndarray:
    return synth.shapes_footage(21, 16.0, fps=FPS)


@pytest.fixture(scope="module")
def filler() -> np.ndarray:
    return synth.shapes_footage(22, 12.0, fps=FPS)


@pytest.fixture(scope="module")
def catalog_dir(tmp_path_factory: pytest.TempPathFactory, film: np.ndarray) -> Path:
    d = tmp_path_factory.mktemp("local")
    with Catalog.open(d / "catalog") as cat:
        cat.register(synth.write_video(d / "film.mp4", frames=film, fps=FPS), owner="Studio C", title="film")
    return d


def _even(frames: np.ndarray) -> np.ndarray:
    return frames[:, : frames.shape[1] // 2 * 2, : frames.shape[2] // 2 * 2]


def _crop(piece: np.ndarray) -> np.ndarray:
    h, w = piece.shape[1:3]
    return _even(piece[:, h - int(h * 0.78) :, w - int(w * 0.8) :])  # 20-22 % off, at a corner


def _rotate(piece: np.ndarray) -> np.ndarray:
    h, w = piece.shape[1:3]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), 5.0, 1.0)
    return np.stack([cv2.warpAffine(f, m, (w, h)) for f in piece])


def _inset(piece: np.ndarray, background: np.ndarray) -> np.ndarray:
    h, w = piece.shape[1:3]
    out = background[: len(piece)].copy()
    ih, iw = h // 2, w // 2
    out[:, 10 : 10 + ih, w - iw - 10 : w - 10] = np.stack([cv2.resize(f, (iw, ih)) for f in piece])
    return out


@pytest.mark.parametrize("edit", ["crop", "rotate", "inset"])
def test_crop_rotation_and_inset_are_found(
    tmp_path: Path, catalog_dir: Path, film: np.ndarray, filler: np.ndarray, edit: str
) -> None:
    """8 s of the film, cropped by a fifth at a corner, rotated by 5 degrees, or shown at half size
    over other footage, after unrelated scenes: found, its span in the clip within 1 s and in the film
    within the spacing of the kept reference pictures (a crop of a pan is also the pan a moment
    later: the reference axis is resolved no finer than that)."""
    piece = film[5 * FPS : 13 * FPS]
    if edit == "inset":
        edited = _inset(piece, filler[2 * FPS :])
    else:
        edited = {"crop": _crop, "rotate": _rotate}[edit](piece)
    h, w = edited.shape[1:3]
    before = _even(np.stack([cv2.resize(f, (w, h)) for f in filler[: 2 * FPS]]))
    path = synth.write_video(tmp_path / f"{edit}.mp4", frames=np.concatenate([before, edited]), fps=FPS)
    with Catalog.open(catalog_dir / "catalog") as cat:
        found = [f for f in scan(cat, path, record=False).findings if f.title == "film"]
    assert len(found) == 1, edit
    f = found[0]
    assert abs(f.query_start - 2.0) <= 1.0 and abs(f.query_end - 10.0) <= 1.0, edit
    assert f.ref_start is not None and f.ref_end is not None
    assert abs(f.ref_start - 5.0) <= KEEP_EVERY_S and abs(f.ref_end - 13.0) <= KEEP_EVERY_S, edit


def test_unrelated_scenes_of_the_same_kind_give_no_finding(tmp_path: Path, catalog_dir: Path) -> None:
    """Blocks and discs are everywhere in this footage: their corners alone must not make a match."""
    path = synth.write_video(tmp_path / "other.mp4", frames=synth.shapes_footage(23, 12.0, fps=FPS), fps=FPS)
    with Catalog.open(catalog_dir / "catalog") as cat:
        assert scan(cat, path, record=False).findings == []


def test_detail_pictures_keep_the_aspect(tmp_path: Path) -> None:
    small = decode(
        synth.write_video(tmp_path / "s.mp4", frames=synth.shapes_footage(1, 3.0, fps=FPS), fps=FPS)
    )
    assert small.detail.shape[1:] == (240, 320)  # never enlarged
    assert np.allclose(np.diff(small.detail_times), 0.5, atol=0.07)
    wide = synth.shapes_footage(2, 1.0, size=(960, 540), fps=FPS)
    big = decode(synth.write_video(tmp_path / "w.mp4", frames=wide, fps=FPS))
    assert big.detail.shape[1:] == (270, DETAIL_SIZE)
    assert len(VisualORB().reference(big).points) > 0


def test_inliers_need_one_transform_spread_over_the_picture() -> None:
    """Matches that agree on one similarity count; a cluster in a corner (a logo) or matches without
    a common transform do not."""
    rng = np.random.default_rng(3)
    ref = rng.uniform(0, 4096, (40, 2)).astype(np.float32)
    angle, scale, shift = np.deg2rad(5.0), 0.6, np.array([900.0, 300.0])
    rot = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    query = ((ref - shift) @ np.linalg.inv(rot).T).astype(np.float32)  # ref = rot @ query + shift
    bits = np.full(len(ref), 20, np.int64)
    assert inliers(query, ref, bits) >= 35
    corner = (ref * 0.05).astype(np.float32)  # the same matches squeezed into 5 % of the picture
    assert inliers(((corner - shift) @ np.linalg.inv(rot).T).astype(np.float32), corner, bits) == 0
    assert inliers(rng.uniform(0, 4096, (40, 2)).astype(np.float32), ref, bits) == 0


@pytest.mark.parametrize("vertical", [False, True])
def test_inliers_in_one_band_count_when_it_is_long(vertical: bool) -> None:
    """A line of text on black keeps its inliers in a band: long along one axis (either, so a copy
    turned 90 degrees counts too), short across it. A band as short as a logo does not count."""
    rng = np.random.default_rng(5)

    def band(length: float, across: float) -> int:
        ref = (rng.uniform(0, 1, (30, 2)) * np.array([length, across]) * 4096 + 1000).astype(np.float32)
        if vertical:
            ref = ref[:, ::-1].copy()
        query = (ref * 0.8 + 50).astype(np.float32)
        return inliers(query, ref, np.full(len(ref), 20, np.int64))

    assert band(0.5, 0.06) >= 25
    assert band(0.10, 0.06) == 0  # too short along
    assert band(0.5, 0.02) == 0  # too thin across


def test_local_features_can_be_turned_off(tmp_path: Path, film: np.ndarray, filler: np.ndarray) -> None:
    """A deployment that keeps its index small turns visual_orb off: nothing of it is stored or
    searched, so the crop goes unfound while frame hashes still find the plain excerpt."""
    settings = Settings(signals_off=["visual_orb"])
    with Catalog.open(tmp_path / "cat", settings=settings) as cat:
        cat.register(synth.write_video(tmp_path / "film.mp4", frames=film, fps=FPS), owner="Studio C")
        assert cat.index_size_bytes("visual_orb") == 0 and cat.index_size_bytes("visual_pdq") > 0
        piece = film[5 * FPS : 13 * FPS]
        for name, frames, found in (("crop", _crop(piece), False), ("plain", piece, True)):
            path = synth.write_video(tmp_path / f"{name}.mp4", frames=frames, fps=FPS)
            findings = scan(cat, path, record=False).findings
            assert bool(findings) is found, name
            assert all(f.evidence["signal"] == "visual_pdq" for f in findings)
    typo = Settings(signals_off=["visual_orbb"])
    with (
        Catalog.open(tmp_path / "cat", settings=typo) as cat,
        pytest.raises(ConfigError, match="visual_orbb"),
    ):
        cat.register(tmp_path / "film.mp4", owner="Studio C")


def test_a_short_work_keeps_its_pictures_closer_together(tmp_path: Path) -> None:
    """A long work keeps a picture every ``KEEP_EVERY_S``; one too short for ``MIN_PICTURES`` of them
    keeps them closer together, down to every detail picture."""
    kept = {}
    for seconds in (4.0, 8.0, 20.0):
        frames = synth.shapes_footage(23, seconds, fps=FPS)
        media = decode(synth.write_video(tmp_path / f"{seconds:g}.mp4", frames=frames, fps=FPS))
        units, _, _ = _unpack(VisualORB().reference(media).points)
        kept[seconds] = np.diff(np.unique(units)) / UNITS_PER_S
    assert np.allclose(kept[4.0], 0.5, atol=0.07) and len(kept[4.0]) + 1 >= MIN_PICTURES
    assert np.allclose(kept[8.0], 1.0, atol=0.07)
    assert np.allclose(kept[20.0], KEEP_EVERY_S, atol=0.07)


def _fixed_camera_pairs(true_offset_s: float) -> tuple[Hits, np.ndarray]:
    """Picture pairs of a 10 s clip (a picture each 0.5 s) against a 60 s work (one each 2 s) shot by
    a fixed camera: every pair shares the background (12-24 inliers, a few more on some reference
    pictures), the pair showing the same frame its moving parts too (64)."""
    rng = np.random.default_rng(5)
    q_units = np.arange(20, 121, 5)
    r_units = np.arange(0, 601, 20)
    q, r = (a.ravel() for a in np.meshgrid(q_units, r_units, indexing="ij"))
    k = rng.integers(12, 20, len(q)) + np.where(r % 200 == 0, 4, 0)
    k[np.abs(r - (q + true_offset_s * UNITS_PER_S)) < 1] = 64
    return Hits(["film"], np.zeros(len(q), np.int64), r, q), k


def test_a_copy_from_a_fixed_camera_is_placed_where_its_pictures_agree_most() -> None:
    pairs, k = _fixed_camera_pairs(30.0)
    voted = Segment("film", 2.0, 12.0, 14.0, 24.0, 1.0, 0.0)  # 18 s before the copy's place
    settled = settle_segment(voted, pairs, k)
    assert abs(settled.ref_start - 32.0) <= 0.3 and abs(settled.ref_end - 42.0) <= 0.3
    assert settled.query_start == voted.query_start and settled.query_end == voted.query_end
    # Without the pairs that show the same frame nothing stands out: the voted line is kept.
    background = k < 64
    flat = Hits(["film"], pairs.work[background], pairs.ref_frame[background], pairs.query_frame[background])
    assert settle_segment(voted, flat, k[background]) == voted
