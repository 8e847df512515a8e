"""Fixtures: media synthesized on the spot with clearance.media.synth, never downloaded."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from clearance import Catalog
from clearance.media import synth

RATE = 44100
SHARED_MEDIA = Path(__file__).resolve().parents[1].parent / "shared" / "media"


@pytest.fixture(scope="session")
def songs() -> dict[str, np.ndarray]:
    return {f"song{i}": synth.music(100 + i, 30.0) for i in range(3)}


@pytest.fixture(scope="session")
def song_files(tmp_path_factory: pytest.TempPathFactory, songs: dict[str, np.ndarray]) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("songs")
    return {name: synth.write_audio(d / f"{name}.mp3", x) for name, x in songs.items()}


@pytest.fixture()
def catalog(tmp_path: Path) -> Iterator[Catalog]:
    cat = Catalog.open(tmp_path / "catalog")
    yield cat
    cat.close()


@pytest.fixture(scope="session")
def registered(tmp_path_factory: pytest.TempPathFactory, song_files: dict[str, Path]) -> Path:
    """A catalogue directory with song0 (block), song1 (review) and song2 (allow) registered."""
    d = tmp_path_factory.mktemp("registered") / "catalog"
    with Catalog.open(d) as cat:
        for name, policy in (("song0", "block"), ("song1", "review"), ("song2", "allow")):
            cat.register(song_files[name], owner="Label A", title=name, policy=policy)
    return d


def excerpt(x: np.ndarray, start_s: float, length_s: float) -> np.ndarray:
    return x[int(start_s * RATE) : int((start_s + length_s) * RATE)]
