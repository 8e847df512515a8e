"""Peers from PyPI, run on the same references and queries: audfprint2 and Chromaprint (pyacoustid).

Both get the same decoded audio as clearance (PyAV, mono, at their own rate of 11025 Hz), so any
difference is in the fingerprint and the matcher. Each returns its best match and a raw score; the
benchmark sets each peer's threshold on the same no-match queries that clearance's goal is judged
on, so all three are compared at the same false-alarm rate.

- audfprint2: Dan Ellis's landmark pairs. References at its default density (20) and fan-out (3);
  queries with ``shifts=4`` (four sub-hop analyses, its documented setting for robust queries); the
  matcher's time window is 2 hops so slight drift still counts. ``maxtime`` is raised to 2**17 hops
  (50 min) so long references do not wrap around.
- Chromaprint: raw fingerprints from libchromaprint through ``acoustid.fingerprint``; matched with
  the rule of ``acoustid.compare_fingerprints`` (items with at most 2 differing bits, counted per
  alignment, divided by the query's length), evaluated at every alignment against every reference.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

PEER_RATE = 11025


@dataclass
class PeerMatch:
    """A peer's best match: the reference, where query time 0 falls in it (s), and a raw score."""

    name: str
    ref_at_query_zero_s: float
    score: float


class Audfprint:
    """audfprint2 with an in-memory hash table."""

    label = "audfprint2"

    def __init__(self) -> None:
        from audfprint2.core import analyzer, hash_table, matcher

        self._an = analyzer
        self.ref_analyzer = analyzer.Analyzer(density=20.0)
        self.query_analyzer = analyzer.Analyzer(density=20.0)
        self.query_analyzer.shifts = 4
        self.table = hash_table.HashTable(hashbits=20, depth=100, maxtime=2**17)
        self.matcher = matcher.Matcher()
        self.matcher.window = 2
        self.matcher.max_returns = 1
        self.hop_s = self.ref_analyzer.n_hop / PEER_RATE

    def _hashes(self, an: object, pcm: npt.NDArray[np.float32], shifts: int) -> npt.NDArray[np.int32]:
        lists = []
        for s in range(max(1, shifts)):
            off = int(s / max(1, shifts) * self.ref_analyzer.n_hop)
            peaks = an.find_peaks(pcm[off:], PEER_RATE)  # type: ignore[attr-defined]
            lists.append(self._an.landmarks2hashes(an.peaks2landmarks(peaks)))  # type: ignore[attr-defined]
        h = np.concatenate(lists) if lists else np.zeros((0, 2), np.int32)
        return np.unique(h, axis=0).astype(np.int32) if len(h) else h

    def add(self, name: str, pcm: npt.NDArray[np.float32]) -> None:
        self.table.store(name, self._hashes(self.ref_analyzer, pcm, 1))

    def query(self, pcm: npt.NDArray[np.float32]) -> PeerMatch | None:
        hashes = self._hashes(self.query_analyzer, pcm, self.query_analyzer.shifts)
        if not len(hashes):
            return None
        res = self.matcher.match_hashes(self.table, hashes)
        if not len(res):
            return None
        track, count, skew = int(res[0][0]), int(res[0][1]), int(res[0][2])
        return PeerMatch(str(self.table.names[track]), skew * self.hop_s, float(count))


@dataclass
class Chromaprint:
    """Chromaprint fingerprints (libchromaprint via pyacoustid), one long array of all references."""

    label = "chromaprint"
    item_s: float = 4096 / 3 / PEER_RATE  # one fingerprint item per third of a 4096-sample frame
    max_bit_error: int = 2  # acoustid.MAX_BIT_ERROR
    _items: list[npt.NDArray[np.uint32]] = field(default_factory=list)
    _names: list[str] = field(default_factory=list)
    _starts: list[int] = field(default_factory=list)
    _all: npt.NDArray[np.uint32] | None = None
    _gap: int = 256

    @staticmethod
    def fingerprint(pcm: npt.NDArray[np.float32]) -> npt.NDArray[np.uint32]:
        import acoustid
        import chromaprint

        data = (np.clip(pcm, -1, 1) * 32767).astype("<i2").tobytes()
        fp = acoustid.fingerprint(PEER_RATE, 1, iter([data]), maxlength=10**7)
        raw, _ = chromaprint.decode_fingerprint(fp)
        return np.asarray(raw, np.uint32)

    def add(self, name: str, pcm: npt.NDArray[np.float32]) -> None:
        self._names.append(name)
        self._items.append(self.fingerprint(pcm))
        self._all = None

    def _index(self) -> npt.NDArray[np.uint32]:
        if self._all is None:
            # References are separated by random items that match nothing, so no alignment spans two.
            rng = np.random.default_rng(0)
            parts, pos, starts = [], 0, []
            for items in self._items:
                starts.append(pos)
                gap = rng.integers(0, 2**32, self._gap, dtype=np.uint64).astype(np.uint32)
                parts += [items, gap]
                pos += len(items) + self._gap
            self._all, self._starts = np.concatenate(parts), starts
        return self._all

    def query(self, pcm: npt.NDArray[np.float32]) -> PeerMatch | None:
        ref = self._index()
        q = self.fingerprint(pcm)
        m = len(q)
        if m == 0:
            return None
        # Alignment d puts query item 0 at reference item d - m + 1 .. len(ref) - 1 (partial overlaps).
        padded = np.concatenate([np.zeros(m - 1, np.uint32) ^ np.uint32(0x5A5A5A5A), ref])
        counts = np.zeros(len(padded) - m + 1, np.int32)
        for i in range(m):
            window = padded[i : i + len(counts)]
            counts += np.bitwise_count(window ^ q[i]) <= self.max_bit_error
        best = int(np.argmax(counts))
        pos = best - (m - 1)
        k = int(np.searchsorted(self._starts, pos, side="right")) - 1
        k = max(k, 0)
        return PeerMatch(self._names[k], (pos - self._starts[k]) * self.item_s, counts[best] / m)
