"""Sorted hash postings in immutable, memory-mapped generations.

A generation is a directory ``gen-<id>/`` holding ``keys.npy`` (uint32, sorted), ``values.npy``
(uint32: the work's base frame + the anchor frame), ``points.npy`` (uint32, the signal type's
verification points of each work, e.g. spectral peaks, stored work after work) and ``works.json``
(work ids, base frames and where each work's points start).
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

FORMAT = "clearance.postings/3"  # 3: audio hashes skip same-pitch neighbours, semitone-centred bins

KEY_SPACE = 2**24
"""Distinct keys a signal type's hashes can take (the audio triplet hash uses 24 of its 32 bits)."""
STOP_FACTOR = 40.0
MIN_STOP = 16
"""A key holding more than ``max(MIN_STOP, STOP_FACTOR * postings / KEY_SPACE)`` postings of one
generation is skipped at query time. Key use is far from even (held notes, the fifth between a
tone's partials): at 100 h, the keys over 40 times the mean take about 6 % of a query's probes
but bring about 60 % of its chance hits. The bound grows with the generation, so the share of keys
skipped stays the same as the catalogue grows."""


@dataclass(frozen=True)
class Hits:
    """Raw index hits: for each, the work (index into ``work_ids``), reference and query frame."""

    work_ids: list[str]
    work: npt.NDArray[np.int64]
    ref_frame: npt.NDArray[np.int64]
    query_frame: npt.NDArray[np.int64]


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

    @property
    def stop_bucket(self) -> int:
        """Keys with more postings than this are skipped: they say little about any one work."""
        return max(MIN_STOP, int(STOP_FACTOR * len(self) / KEY_SPACE))

    def __len__(self) -> int:
        return int(self.keys.shape[0])

    def points(self, work: int) -> npt.NDArray[np.uint32]:
        """The verification points of the work at index ``work`` (a read-only view)."""
        return self._points[self._point_bases[work] : self._point_bases[work + 1]]

    @property
    def size_bytes(self) -> int:
        return sum(f.stat().st_size for f in self.path.iterdir())

    def search(self, keys: npt.NDArray[np.uint32], frames: npt.NDArray[np.uint32]) -> Hits:
        """Every posting whose key equals a query key, paired with that query key's frame."""
        if len(self) == 0 or len(keys) == 0:
            return Hits(self.work_ids, *(np.zeros(0, np.int64) for _ in range(3)))
        order = np.argsort(keys, kind="stable")
        keys, frames = keys[order], frames[order]
        lo = np.searchsorted(self.keys, keys, side="left")
        hi = np.searchsorted(self.keys, keys, side="right")
        counts = hi - lo
        counts[counts > self.stop_bucket] = 0
        total = int(counts.sum())
        if total == 0:
            return Hits(self.work_ids, *(np.zeros(0, np.int64) for _ in range(3)))
        starts = np.repeat(lo - (np.cumsum(counts) - counts), counts)
        positions = starts + np.arange(total)
        values = np.asarray(self.values[positions], dtype=np.int64)
        query_frame = np.repeat(frames.astype(np.int64), counts)
        work = np.searchsorted(self.bases, values, side="right") - 1
        return Hits(self.work_ids, work, values - self.bases[work], query_frame)


Posting = tuple[str, npt.NDArray[np.uint32], npt.NDArray[np.uint32], int, npt.NDArray[np.uint32]]
"""One work's entry: ``(work_id, keys, frames, n_frames, points)``."""


def write_generation(directory: Path, works: list[Posting]) -> Path:
    """Write a new generation from ``(work_id, keys, frames, n_frames, points)`` items; returns its path.

    The directory appears under its final name only once complete and fsynced.
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
    )


def _write(
    directory: Path,
    work_ids: list[str],
    bases: list[int],
    frames: list[int],
    keys: npt.NDArray[np.uint32],
    values: npt.NDArray[np.uint32],
    points: list[npt.NDArray[np.uint32]],
) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    gen_id = uuid.uuid4().hex[:16]
    tmp = directory / f".tmp-{gen_id}"
    final = directory / f"gen-{gen_id}"
    tmp.mkdir()
    try:
        # One sort of (key, value) packed in 64 bits: a third of the memory of a lexsort.
        packed = (keys.astype(np.uint64) << np.uint64(32)) | values.astype(np.uint64)
        del keys, values
        packed.sort()
        _save(tmp / "keys.npy", (packed >> np.uint64(32)).astype(np.uint32))
        _save(tmp / "values.npy", packed.astype(np.uint32))
        del packed
        _save(tmp / "points.npy", np.concatenate(points) if points else np.zeros(0, np.uint32))
        meta = {
            "format": FORMAT,
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
        work = np.searchsorted(gen.bases, v, side="right") - 1
        sel = kept[work]
        keys.append(np.asarray(gen.keys)[sel])
        values.append((v[sel] - gen.bases[work[sel]] + new_base[work[sel]]).astype(np.uint32))
    return _write(
        directory,
        work_ids,
        bases,
        frames,
        np.concatenate(keys) if keys else np.zeros(0, np.uint32),
        np.concatenate(values) if values else np.zeros(0, np.uint32),
        points,
    )


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
