"""Insets (issue 3): picture-in-picture found by its persistent border, then hashed on its own."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from clearance import Catalog, Settings, scan
from clearance.fingerprint.regions import inset_boxes, windows
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
    assert len(found) == 1
    f = found[0]
    assert f.evidence["signal"] == "visual_pdq"
    assert abs(f.query_start - 2.0) <= 1.0 and abs(f.query_end - 10.0) <= 1.0
    assert f.ref_start is not None and f.ref_end is not None
    assert abs(f.ref_start - 5.0) <= 1.0 and abs(f.ref_end - 13.0) <= 1.0
