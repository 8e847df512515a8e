"""Insets (issue 3): picture-in-picture found by its persistent border, then hashed on its own."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from clearance import Catalog, Settings, scan
from clearance.fingerprint.regions import inset_boxes, windows
from clearance.fingerprint.visual import UNITS_PER_S, inset_picture, insets, pdq_each
from clearance.index import binary
from clearance.media import synth
from clearance.media.decode import decode

FPS = 15
SIZE = (320, 240)


def _gray(frames: np.ndarray) -> np.ndarray:
    return np.stack([cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in frames])


def _inset(piece: np.ndarray, background: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    x0, y0, x1, y1 = box
    out = background[: len(piece)].copy()
    out[:, y0:y1, x0:x1] = np.stack(
        [cv2.resize(f, (x1 - x0, y1 - y0), interpolation=cv2.INTER_AREA) for f in piece]
    )
    return out


@pytest.mark.parametrize("box", [(150, 20, 310, 140), (0, 100, 192, 244), (40, 60, 200, 180)])
def test_inset_box_is_found_where_it_is(box: tuple[int, int, int, int]) -> None:
    """Half- to 60 %-size insets, one against two edges of the frame: the best box is the inset's
    own, to within two pixels on each side."""
    width, height = SIZE
    box = (box[0], box[1], min(box[2], width), min(box[3], height))
    frames = _inset(synth.footage(1, 4.0, size=SIZE), synth.footage(2, 4.0, size=SIZE), box)
    found = inset_boxes(_gray(frames[:: FPS // 2]))
    assert found, box
    assert np.abs(np.array(found[0]) - np.array(box)).max() <= 2, (found[0], box)


def test_plain_footage_has_no_inset() -> None:
    """Panning scenes with cuts, no border that stays put: no box to hash."""
    for make in (synth.footage, synth.shapes_footage):
        assert inset_boxes(_gray(make(3, 4.0, size=SIZE)[:: FPS // 2])) == []


def test_windows_overlap_by_half() -> None:
    times = np.arange(0, 10, 0.5, dtype=np.float32)
    spans = [(float(times[w[0]]), float(times[w[-1]])) for w in windows(times)]
    assert spans == [(0.0, 3.5), (2.0, 5.5), (4.0, 7.5), (6.0, 9.5)]
    assert [len(w) for w in windows(times[:3])] == [3]
    assert windows(np.zeros(0, np.float32)) == []


def test_inset_is_found_by_frame_hashes_alone(tmp_path: Path) -> None:
    """8 s of a registered film shown at half size over other footage, after 2 s of that footage:
    with local features off, the inset's own hashes find it, with both spans."""
    film = synth.footage(11, 16.0, size=SIZE)
    other = synth.footage(12, 10.0, size=SIZE)
    settings = Settings(signals_off=["visual_orb"])
    with Catalog.open(tmp_path / "cat", settings=settings) as cat:
        cat.register(
            synth.write_video(tmp_path / "film.mp4", frames=film, fps=FPS), owner="Studio C", title="film"
        )
        clip = np.concatenate(
            [other[: 2 * FPS], _inset(film[5 * FPS : 13 * FPS], other[2 * FPS :], (150, 14, 310, 134))]
        )
        path = synth.write_video(tmp_path / "pip.mp4", frames=clip, fps=FPS)
        assert len(decode(path).detail) > 0
        found = [f for f in scan(cat, path, record=False).findings if f.title == "film"]
    # Synthetic wave footage hashes far nearer other such footage than real footage does (70 bits,
    # where no pair of real unrelated frames came within 80): a chance segment of the film may show
    # in the 2 s lead-in (its end padded by up to a quarter second if met only in sparse pictures),
    # never over the inset.
    assert found, found
    f = max(found, key=lambda g: (g.score, -float(g.evidence["log10_false_alarm"])))
    assert all(g.query_end <= 2.25 for g in found if g is not f), found
    assert f.evidence["signal"] == "visual_pdq"
    assert abs(f.query_start - 2.0) <= 1.0 and abs(f.query_end - 10.0) <= 1.0
    assert f.ref_start is not None and f.ref_end is not None
    assert abs(f.ref_start - 5.0) <= 1.0 and abs(f.ref_end - 13.0) <= 1.0


def test_inset_with_a_border_of_no_contrast_is_completed_by_its_shape() -> None:
    """A half-size inset whose top fades to black under a background that is black above it: no
    ridge marks its top, so the box found first ends at the picture's edge, and the box is also
    tried with its top where the frame's aspect ratio puts it."""
    box = (80, 60, 240, 180)
    rows = np.arange(SIZE[1], dtype=np.float32)[None, :, None, None]
    film = (synth.footage(4, 4.0, size=SIZE) * np.clip((rows - 20) / 100, 0, 1)).astype(np.uint8)
    background = (synth.footage(5, 4.0, size=SIZE) * np.clip((rows - 70) / 60, 0, 1)).astype(np.uint8)
    found = inset_boxes(_gray(_inset(film, background, box)[:: FPS // 2]))
    assert found and found[0][1] == 0, found
    assert any(np.abs(np.array(b) - np.array(box)).max() <= 2 for b in found), found


def test_inset_picture_loses_bars_behind_a_blended_border() -> None:
    """An inset's box whose outer columns the scaler blended with a bright background, around dark
    pillarbox bars: the bars are still trimmed, and a box with no bars is kept whole."""
    rng = np.random.default_rng(6)
    picture = np.full((120, 200), 200, np.uint8)
    content = rng.integers(40, 255, (60, 60), dtype=np.uint8)
    picture[30:90, 40:140] = 0  # the inset (100 x 60), pillarboxed
    picture[30:90, 60:120] = content
    picture[30:90, 40] = picture[30:90, 139] = 110  # border columns blended with the background
    assert np.array_equal(inset_picture(picture, (40, 30, 140, 90)), content)
    assert np.array_equal(inset_picture(picture, (60, 30, 120, 90)), content)


def test_an_inset_with_dark_surroundings_is_hashed_whole_too(tmp_path: Path) -> None:
    """A lyric video's text on black: trimming the dark "bars" leaves the text alone, which a copy's
    re-encoded inset trims differently (measured on a real one: 70-120 bits from the work, 32-76
    whole). The whole inset is hashed beside its trimmed inside."""
    dark = (synth.footage(13, 6.0, size=SIZE) // 12).astype(np.uint8)
    dark[:, 90:150, 60:260] = synth.shapes_footage(14, 6.0, size=SIZE)[:, 90:150, 60:260]
    box = (150, 14, 310, 134)
    clip = _inset(dark, synth.footage(15, 6.0, size=SIZE), box)
    media = decode(synth.write_video(tmp_path / "pip.mp4", frames=clip, fps=FPS))
    units, codes = insets(media)
    i = len(media.detail) // 2
    unit = round(float(media.detail_times[i]) * UNITS_PER_S)
    x0, y0, x1, y1 = box
    own = codes[np.asarray(units) == unit]
    for picture in (media.detail[i][y0:y1, x0:x1], inset_picture(media.detail[i], box)):
        assert (binary.hamming(pdq_each([picture])[0], own) == 0).any()
