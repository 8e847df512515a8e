"""Video peers, run on the same references and queries as clearance: vPDQ and TMK+PDQF.

Both are Meta's open video hashes (ThreatExchange). Neither localises a copy, so each is scored by
whether its best reference for a query is the right one, under its own default rule and under a
threshold set on the same no-match queries as clearance (at equal false alarms).

- vPDQ (``vpdq`` from PyPI): PDQ of one frame a second (its default), quality at least 50, exact
  duplicates dropped; its default rule (python-threatexchange's ``vpdq_util``) reports a reference
  when at least 80 % of the query's hashes lie within 31 bits of one of the reference's. Raw score:
  that percentage.
- TMK+PDQF (``tmkpy``, which needs the ``ffmpeg`` program): one fixed-length vector per video; its
  default rule reports a reference when both the level-1 (average frame feature) and the level-2
  (temporal Fourier features, best offset) cosine scores reach 0.7. Raw score: the level-2 score.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

VPDQ_QUALITY = 50
VPDQ_BITS = 31
VPDQ_QUERY_PERCENT = 80.0
TMK_LEVEL = 0.7


@dataclass
class PeerMatch:
    """A peer's best reference for a query, its raw score, and whether its default rule reports it."""

    name: str
    score: float
    default: bool


class VideoPeer(Protocol):
    label: str

    def add(self, path: Path) -> None: ...

    def best(self, path: Path) -> PeerMatch | None: ...


class Vpdq:
    """vPDQ with brute-force matching, as its Python reference does."""

    label = "vPDQ"

    def __init__(self) -> None:
        import vpdq  # type: ignore[import-not-found]

        self._vpdq = vpdq
        self.refs: dict[str, npt.NDArray[np.uint8]] = {}

    def _codes(self, path: Path) -> npt.NDArray[np.uint8]:
        seen: dict[str, None] = {}
        for f in self._vpdq.computeHash(str(path), seconds_per_hash=1.0):
            if f.quality >= VPDQ_QUALITY:
                seen.setdefault(f.hex)
        if not seen:
            return np.zeros((0, 32), np.uint8)
        return np.frombuffer(bytes.fromhex("".join(seen)), np.uint8).reshape(-1, 32)

    def add(self, path: Path) -> None:
        self.refs[path.name] = self._codes(path)

    def best(self, path: Path) -> PeerMatch | None:
        from clearance.index.binary import hamming

        query = self._codes(path)
        if len(query) == 0:
            return None
        scores = {
            name: 100.0 * float((hamming(query, codes).min(axis=1) < VPDQ_BITS).mean())
            for name, codes in self.refs.items()
            if len(codes)
        }
        if not scores:
            return None
        name = max(scores, key=lambda n: scores[n])
        return PeerMatch(name, scores[name], scores[name] >= VPDQ_QUERY_PERCENT)


class Tmk:
    """TMK+PDQF through ``tmkpy``."""

    label = "TMK+PDQF"

    def __init__(self) -> None:
        import tmkpy  # type: ignore[import-untyped]

        ffmpeg = shutil.which("ffmpeg")
        if ffmpeg is None:
            raise ImportError("tmkpy needs the ffmpeg program")
        self._tmk, self._ffmpeg = tmkpy, ffmpeg
        self.refs: dict[str, Any] = {}

    def _hash(self, path: Path) -> Any:
        with _quiet_stderr():  # the ffmpeg program it runs reports every file on the shared stderr
            return self._tmk.hashVideo(str(path), self._ffmpeg)

    def add(self, path: Path) -> None:
        self.refs[path.name] = self._hash(path)

    def best(self, path: Path) -> PeerMatch | None:
        query = self._hash(path)
        best: PeerMatch | None = None
        for name, ref in self.refs.items():
            level1 = float(self._tmk.TMKFeatureVectors_computeLevel1Score(query, ref))
            level2 = float(self._tmk.TMKFeatureVectors_computeLevel2Score(query, ref))
            if best is None or level2 > best.score:
                best = PeerMatch(name, level2, level1 >= TMK_LEVEL and level2 >= TMK_LEVEL)
        return best


@contextmanager
def _quiet_stderr() -> Iterator[None]:
    saved = os.dup(2)
    with open(os.devnull, "w") as null:
        os.dup2(null.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def available() -> list[VideoPeer]:
    """The peers installed here (``bash benchmarks/setup.sh`` installs both)."""
    peers: list[VideoPeer] = []
    for cls in (Vpdq, Tmk):
        try:
            peers.append(cls())
        except ImportError:
            continue
    return peers
