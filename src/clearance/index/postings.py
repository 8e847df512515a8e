"""Sorted hash postings in immutable, memory-mapped generations.

A generation is a directory ``gen-<id>/`` holding ``keys.npy`` (uint32, sorted), ``values.npy``
(uint32: the work's base frame + the anchor frame), ``points.npy`` (uint32, the signal type's
verification points of each work, e.g. spectral peaks, stored work after work), ``works.json``
(work ids, base frames and where each work's points start) and, from about 100 h of audio on, the
bucket table ``buckets.npy`` (see ``TABLE_SHARE``).
It is written under a temporary name, fsynced and renamed, and only then recorded in the catalogue,
in the same transaction as the works it holds: a killed writer leaves at worst an unrecorded
directory, never a half-written generation that readers can see. Readers map the files read-only, so
any number of processes can search while another writes the next generation.

Decision: sorted NumPy arrays and ``searchsorted`` rather than a hash table: they are a plain file,
need no load step, share pages between processes, and a lookup touches ~log2(n) cached pages.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from clearance._arrays import ranges

FORMAT = "clearance.postings/5"  # 5: bucket table, key space (4: zone triplets, withdrawn)

STOP_FACTOR = 40.0
MIN_STOP = 16
"""A key holding more than ``max(MIN_STOP, STOP_FACTOR * postings / key_space)`` postings of one
generation is skipped at query time. Key use is far from even (held notes, the fifth between a
tone's partials): at 100 h, the keys over 40 times the mean take about 6 % of a query's probes
but bring about 60 % of its chance hits. The bound grows with the generation, so the share of keys
skipped stays the same as the catalogue grows."""

HARD_CAP = 4
"""The hit budget is raised to take every key with at most ``MIN_STOP`` postings, up to this many times
``max_hits`` (see ``search``)."""

_WORK_BLOCK_BITS = 10
MAX_SEARCHED_SHIFT = 2
"""Buckets of up to ``2**MAX_SEARCHED_SHIFT`` keys are searched inside; with coarser ones (below
~100 h of audio) a binary search over the whole key array is faster (26 ms against 77 ms for 190,000
probes at 0.8 M postings)."""

TABLE_SHARE = 8
"""A generation with buckets of at most ``2**MAX_SEARCHED_SHIFT`` keys stores a bucket table
(``buckets.npy``): where the postings of each run of ``2**bucket_shift`` consecutive keys start, the
finest table that costs at most 1/``TABLE_SHARE`` of the postings' bytes. A lookup reads its
bucket's bounds, then binary-searches inside the bucket only; from about 2 postings per possible key
on (420 h of audio) the table holds every key and a lookup is two reads. ``np.searchsorted``
through the whole key array took 45 ms for 60,000 probes at 8 M postings, and 90 ms for 100,000 at
80 M; the full table, 3 ms."""


@dataclass(frozen=True)
class Hits:
    """Raw index hits: for each, the work (index into ``work_ids``), reference and query frame."""

    work_ids: list[str]
    work: npt.NDArray[np.int64]
    ref_frame: npt.NDArray[np.int64]
    query_frame: npt.NDArray[np.int64]
    skipped: int = 0  # probes with postings left out by a hit budget


class Generation:
    """One read-only generation of postings, memory-mapped."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.keys: npt.NDArray[np.uint32] = np.load(path / "keys.npy", mmap_mode="r")
        self.values: npt.NDArray[np.uint32] = np.load(path / "values.npy", mmap_mode="r")
        meta = json.loads((path / "works.json").read_text(encoding="utf-8"))
        if meta.get("format") != FORMAT:
            raise ValueError(f"{path.name}: postings format {meta.get('format')!r}, expected {FORMAT!r}")
        self._points: npt.NDArray[np.uint32] = np.load(path / "points.npy", mmap_mode="r")
        self._point_bases = np.asarray(meta["point_bases"], dtype=np.int64)
        self.work_ids: list[str] = meta["work_ids"]
        self.work_index = {w: i for i, w in enumerate(self.work_ids)}
        self.bases = np.asarray(meta["bases"], dtype=np.int64)
        self.frames = np.asarray(meta["frames"], dtype=np.int64)
        self.key_space = int(meta["key_space"])
        self._shift = int(meta["bucket_shift"])
        # The work holding value v is at most a few entries after _first_work[v >> _WORK_BLOCK_BITS]:
        # a table read and a short correction instead of a binary search through every work.
        self._bases_end = np.append(self.bases, np.iinfo(np.int64).max)
        total = int(self.bases[-1] + self.frames[-1] + 1) if len(self.bases) else 0
        blocks = np.arange(0, total + 1, 1 << _WORK_BLOCK_BITS, dtype=np.int64)
        self._first_work = (np.searchsorted(self.bases, blocks, side="right") - 1).astype(np.int64)
        self._buckets: npt.NDArray[np.uint32] = (
            np.load(path / "buckets.npy", mmap_mode="r")
            if self._shift <= MAX_SEARCHED_SHIFT
            else np.zeros(0, np.uint32)
        )

    @property
    def stop_bucket(self) -> int:
        """Keys with more postings than this are skipped: they say little about any one work."""
        return max(MIN_STOP, int(STOP_FACTOR * len(self) / self.key_space))

    def __len__(self) -> int:
        return int(self.keys.shape[0])

    def points(self, work: int) -> npt.NDArray[np.uint32]:
        """The verification points of the work at index ``work`` (a read-only view)."""
        return self._points[self._point_bases[work] : self._point_bases[work + 1]]

    @property
    def size_bytes(self) -> int:
        return sum(f.stat().st_size for f in self.path.iterdir())

    def lookup(self, keys: npt.NDArray[np.uint32]) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """For each key, where its postings start and how many there are (0 for a stopped key)."""
        keys = np.asarray(keys, np.uint32)
        if len(self) == 0:
            zero = np.zeros(len(keys), np.int64)
            return zero, zero.copy()
        if self._shift == 0:
            # One table entry per key: the bounds of k are entries k and k + 1, in the table's own
            # dtype (no widening of 2n indices); keys past the key space find nothing.
            table = np.asarray(self._buckets)
            at = np.minimum(keys, np.uint32(self.key_space)).astype(np.intp)
            lo = np.take(table, at).astype(np.int64)
            counts = np.take(table, np.minimum(at + 1, self.key_space)) - lo
            counts[counts > self.stop_bucket] = 0
            return lo, counts
        if self._shift <= MAX_SEARCHED_SHIFT:
            # Left bounds of k and of k + 1 from the table; keys past the key space find nothing.
            wide = keys.astype(np.int64)
            needles = np.minimum(np.concatenate([wide, wide + 1]), self.key_space)
            bucket = needles >> self._shift
            table = np.asarray(self._buckets)
            bounds = table[bucket].astype(np.int64)
            if self._shift > 0:  # a bucket spans several keys: search inside it
                bounds = _lower_bound(self.keys, needles, bounds, table[bucket + 1].astype(np.int64))
        else:
            # Coarse buckets (a small generation): one binary search through the whole key array is
            # cheaper, with sorted needles so that each search starts where the last one ended.
            # Sorted with their positions in the low bits: 4x faster than a stable argsort.
            packed = np.sort(
                (keys.astype(np.uint64) << np.uint64(32)) | np.arange(len(keys), dtype=np.uint64)
            )
            order = (packed & np.uint64(0xFFFFFFFF)).astype(np.intp)
            ordered = (packed >> np.uint64(32)).astype(np.uint32)  # the key array's dtype: no widening of it
            bounds = np.empty(2 * len(keys), np.int64)
            bounds[order] = np.searchsorted(self.keys, ordered, side="left")
            bounds[order + len(keys)] = np.searchsorted(self.keys, ordered, side="right")
        lo, hi = bounds[: len(keys)], bounds[len(keys) :]
        counts = hi - lo
        counts[counts > self.stop_bucket] = 0
        return lo, counts

    def gather(
        self, lo: npt.NDArray[np.int64], counts: npt.NDArray[np.int64], frames: npt.NDArray[np.uint32]
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """``(work, ref_frame, query_frame)`` of the postings ``lo[i] .. lo[i] + counts[i]``."""
        total = int(counts.sum())
        if total == 0:
            return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int64)
        values = np.asarray(self.values[ranges(lo, counts)], dtype=np.int64)
        query_frame = np.repeat(np.asarray(frames, np.int64), counts)
        work = self.work_of(values)
        return work, values - self.bases[work], query_frame

    def work_of(self, values: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        """Index of the work that each posting value (base + frame) belongs to."""
        work: npt.NDArray[np.int64] = self._first_work[values >> _WORK_BLOCK_BITS]
        late = np.flatnonzero(self._bases_end[work + 1] <= values)
        while len(late):  # works shorter than a block: step forward
            work[late] += 1
            late = late[self._bases_end[work[late] + 1] <= values[late]]
        return work

    def search(self, keys: npt.NDArray[np.uint32], frames: npt.NDArray[np.uint32]) -> Hits:
        """Every posting whose key equals a query key, paired with that query key's frame."""
        return search([self], keys, frames)


def _lower_bound(
    keys: npt.NDArray[np.uint32],
    needles: npt.NDArray[np.int64],
    lo: npt.NDArray[np.int64],
    hi: npt.NDArray[np.int64],
) -> npt.NDArray[np.int64]:
    """For each needle, the first index in ``[lo, hi)`` whose key is not below it (a binary search
    per needle, all needles at once; finished ones drop out, so most buckets cost a few rounds)."""
    out = lo.copy()
    idx = np.flatnonzero(lo < hi)
    a, b, want = lo[idx], hi[idx], needles[idx]
    while len(idx):
        mid = (a + b) >> 1
        below = keys[mid] < want
        a = np.where(below, mid + 1, a)
        b = np.where(below, b, mid)
        live = a < b
        if not live.all():
            out[idx[~live]] = a[~live]
            idx, a, b, want = idx[live], a[live], b[live], want[live]
    return out


def _over_budget(per_probe: npt.NDArray[np.int64], max_hits: int, floor: int = 0) -> npt.NDArray[np.intp]:
    """Probes left out when probes are taken fewest postings first (ties in probe order) while the
    total stays within a budget: ``max_hits``, raised to take every probe with at most ``floor``
    postings, but to no more than ``HARD_CAP`` times ``max_hits``. With ``floor=0`` this is a stable
    sort by count and a running sum, found here with a histogram of the counts instead of a sort."""
    mass = np.cumsum(np.bincount(per_probe, weights=per_probe))  # hits of the probes with count <= c
    budget = min(max(max_hits, int(mass[min(floor, len(mass) - 1)])), HARD_CAP * max_hits)
    level = int(np.searchsorted(mass, budget, side="right"))  # the count at which the budget runs out
    if level >= len(mass):
        return np.zeros(0, np.intp)
    room = budget - int(mass[level - 1])
    at = np.flatnonzero(per_probe == level)
    return np.concatenate([at[room // level :], np.flatnonzero(per_probe > level)])


def search(
    generations: list[Generation],
    keys: npt.NDArray[np.uint32],
    frames: npt.NDArray[np.uint32],
    max_hits: int | None = None,
) -> Hits:
    """The postings of ``keys`` in every generation, as one set of hits over all their works.

    With ``max_hits``, probes are taken rarest key first until the next would pass that many hits:
    the cost of a query is bounded whatever the catalogue's size, and what is left out are the
    commonest keys, which say least about any one work (``Hits.skipped`` counts them). The budget
    is raised to take every key with at most ``MIN_STOP`` postings, up to ``HARD_CAP`` times
    ``max_hits``: in a small catalogue it would otherwise drop keys that are rare in absolute terms,
    and with them the true hits of noisy queries (at 10 h, a 60,000-hit budget alone found 26 of 30
    queries under pink noise at 0 dB, not 29).
    """
    keys = np.asarray(keys, np.uint32)
    frames = np.asarray(frames, np.uint32)
    looked = [g.lookup(keys) for g in generations]
    skipped = 0
    if max_hits is not None and looked:
        per_probe = np.sum([c for _, c in looked], axis=0)
        if int(per_probe.sum()) > max_hits:
            over = _over_budget(per_probe, max_hits, MIN_STOP)
            skipped = len(over)
            for _, counts in looked:
                counts[over] = 0
    work_ids: list[str] = []
    parts: list[tuple[npt.NDArray[np.int64], ...]] = []
    for gen, (lo, counts) in zip(generations, looked, strict=True):
        work, ref_frame, query_frame = gen.gather(lo, counts, frames)
        parts.append((work + len(work_ids), ref_frame, query_frame))
        work_ids.extend(gen.work_ids)
    if not parts:
        empty = np.zeros(0, np.int64)
        return Hits([], empty, empty, empty)
    work, ref_frame, query_frame = (np.concatenate([p[i] for p in parts]) for i in range(3))
    return Hits(work_ids, work, ref_frame, query_frame, skipped)


Posting = tuple[str, npt.NDArray[np.uint32], npt.NDArray[np.uint32], int, npt.NDArray[np.uint32]]
"""One work's entry: ``(work_id, keys, frames, n_frames, points)``."""


def write_generation(directory: Path, works: list[Posting], key_space: int = 2**32) -> Path:
    """Write a new generation from ``(work_id, keys, frames, n_frames, points)`` items; returns its path.

    ``key_space`` bounds the keys (every key is below it). The directory appears under its final
    name only once complete and fsynced.
    """
    bases: list[int] = []
    base = 0
    all_values: list[npt.NDArray[np.uint32]] = []
    for _work_id, _keys, frames, n_frames, _points in works:
        bases.append(base)
        all_values.append((np.asarray(frames, np.int64) + base).astype(np.uint32))
        base += int(n_frames) + 1
    if base >= 2**32:
        raise ValueError("generation too large for 32-bit postings; split the registration")
    return _write(
        directory,
        [w[0] for w in works],
        bases,
        [int(w[3]) for w in works],
        np.concatenate([np.asarray(w[1], np.uint32) for w in works]) if works else np.zeros(0, np.uint32),
        np.concatenate(all_values) if all_values else np.zeros(0, np.uint32),
        [np.asarray(w[4], np.uint32) for w in works],
        key_space,
    )


def _write(
    directory: Path,
    work_ids: list[str],
    bases: list[int],
    frames: list[int],
    keys: npt.NDArray[np.uint32],
    values: npt.NDArray[np.uint32],
    points: list[npt.NDArray[np.uint32]],
    key_space: int,
) -> Path:
    if len(keys) and int(keys.max()) >= key_space:
        raise ValueError(f"a key is outside the key space {key_space}")
    directory.mkdir(parents=True, exist_ok=True)
    gen_id = uuid.uuid4().hex[:16]
    tmp = directory / f".tmp-{gen_id}"
    final = directory / f"gen-{gen_id}"
    tmp.mkdir()
    try:
        # One sort of (key, value) packed in 64 bits: a third of the memory of a lexsort. Built and
        # split in place, so the peak is the packed array and one copy of the keys and values.
        packed = keys.astype(np.uint64)
        packed <<= np.uint64(32)
        packed |= values
        del keys, values
        packed.sort()
        sorted_keys = _high(packed)
        _save(tmp / "values.npy", packed.astype(np.uint32))
        del packed
        _save(tmp / "keys.npy", sorted_keys)
        shift = bucket_shift(len(sorted_keys), key_space)
        if shift <= MAX_SEARCHED_SHIFT:  # coarser tables are never read (see ``lookup``)
            edges = np.arange(0, (key_space >> shift) + 2, dtype=np.int64) << shift
            _save(tmp / "buckets.npy", np.searchsorted(sorted_keys, edges).astype(np.uint32))
        del sorted_keys
        _save(tmp / "points.npy", np.concatenate(points) if points else np.zeros(0, np.uint32))
        meta = {
            "format": FORMAT,
            "key_space": key_space,
            "bucket_shift": shift,
            "work_ids": work_ids,
            "bases": bases,
            "frames": frames,
            "point_bases": np.concatenate([[0], np.cumsum([len(p) for p in points])]).astype(int).tolist(),
        }
        _write_synced(tmp / "works.json", json.dumps(meta).encode())
        _fsync_dir(tmp)
        os.rename(tmp, final)
        _fsync_dir(directory)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final


def merge_generations(directory: Path, generations: list[Generation], keep: set[str]) -> Path:
    """A new generation holding the postings of the works in ``keep`` from ``generations``.

    Vectorized over postings (one pass per generation, one sort at the end): the cost does not grow
    with the number of works.
    """
    work_ids: list[str] = []
    bases: list[int] = []
    frames: list[int] = []
    points: list[npt.NDArray[np.uint32]] = []
    keys: list[npt.NDArray[np.uint32]] = []
    values: list[npt.NDArray[np.uint32]] = []
    base = 0
    for gen in generations:
        kept = np.array([w in keep for w in gen.work_ids], dtype=bool)
        new_base = np.zeros(len(gen.work_ids), np.int64)
        for i in np.flatnonzero(kept):
            new_base[i] = base
            bases.append(base)
            work_ids.append(gen.work_ids[i])
            frames.append(int(gen.frames[i]))
            points.append(np.asarray(gen.points(int(i))))
            base += int(gen.frames[i]) + 1
        if base >= 2**32:
            raise ValueError("merged generation too large for 32-bit postings")
        v = np.asarray(gen.values, dtype=np.int64)
        work = gen.work_of(v)
        sel = kept[work]
        keys.append(np.asarray(gen.keys)[sel])
        values.append((v[sel] - gen.bases[work[sel]] + new_base[work[sel]]).astype(np.uint32))
    # The parts are dropped as they are joined, and only the callee holds the joined arrays (it
    # frees them once packed): at 10,000 h that is 13 GB at the peak instead of 19.
    return _write(
        directory,
        work_ids,
        bases,
        frames,
        _join(keys),
        _join(values),
        points,
        max((g.key_space for g in generations), default=2**32),
    )


def _high(packed: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint32]:
    """The high 32 bits of each value, in blocks (no 64-bit temporary the size of the whole array)."""
    out = np.empty(len(packed), np.uint32)
    step = 1 << 22
    for i in range(0, len(packed), step):
        out[i : i + step] = packed[i : i + step] >> np.uint64(32)
    return out


def _join(parts: list[npt.NDArray[np.uint32]]) -> npt.NDArray[np.uint32]:
    """The parts concatenated; the list is emptied."""
    joined = np.concatenate(parts) if parts else np.zeros(0, np.uint32)
    parts.clear()
    return joined


def bucket_shift(n_postings: int, key_space: int) -> int:
    """Keys per bucket as a power of two: the finest table within 1/``TABLE_SHARE`` of the postings."""
    most = max(1, 8 * n_postings // (4 * TABLE_SHARE))  # table entries affordable (4 bytes each)
    shift = 0
    while (key_space >> shift) + 2 > most and (key_space >> shift) > 1:
        shift += 1
    return shift


def _save(path: Path, array: npt.NDArray[np.uint32]) -> None:
    with path.open("wb") as fh:
        np.save(fh, np.ascontiguousarray(array))
        fh.flush()
        os.fsync(fh.fileno())


def _write_synced(path: Path, data: bytes) -> None:
    with path.open("wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
