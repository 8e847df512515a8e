"""Scan latency and peak RAM against a large catalogue.

    python -m benchmarks.scale [--media ../shared/media] [--hours 10 100 1000] [--queries 40] [--write BENCHMARKS.md]

Real works: the music of ``shared/media/audio`` (less hold-outs), registered as usual. Filler, up to
each size in ``--hours``: synthesized fingerprints made from the real tracks' peaks. A filler work
takes the peak times of one real track and the peak pitches of another, in their own order,
transposed by a random amount: its triplets have the timing and interval statistics of real music
without being a copy of any track. Its hashes and points come from clearance's own code
(``reference_hashes``, ``pack_points``) and it is stored with ``Catalog.register_fingerprinted``,
in batches, so the catalogue's generations and compaction are the real ones.

Queries: 10 s excerpts of the real works, clean, as FLAC files, scanned with ``clearance.scan`` in a
child process (catalogue opened once, first query not timed); its peak RSS is reported.
"""

from __future__ import annotations

import argparse
import hashlib
import platform
import resource
import statistics
import tempfile
import time
from datetime import date
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np
from rich.progress import Progress

from benchmarks import corpus
from benchmarks.report import write_section
from clearance import Catalog, decode, scan
from clearance.catalog import FingerprintedWork
from clearance.fingerprint.audio import (
    FRAME_RATE,
    REFERENCE,
    Peaks,
    find_peaks,
    pack_points,
    reference_hashes,
)
from clearance.fingerprint.base import Fingerprint
from clearance.media import synth

BATCH_HOURS = 50.0


def _filler(peaks: list[Peaks], rng: np.random.Generator, i: int) -> FingerprintedWork:
    a, b = (peaks[int(k)] for k in rng.choice(len(peaks), 2, replace=False))
    n = min(len(a.t), len(b.t))
    top = float(max(b.f.max(), 1.0))
    f = np.clip(b.f[:n] + np.float32(rng.uniform(-6, 6)), 0, top).astype(np.float32)
    p = Peaks(a.t[:n], f, b.strength[:n])
    h = reference_hashes(p, REFERENCE)
    n_frames = int(a.t[n - 1]) + 1
    fp = Fingerprint(h.keys, h.frames, n_frames, pack_points(p))
    sha = hashlib.sha256(f"filler-{i}".encode()).hexdigest()
    return FingerprintedWork(f"filler {i}", n_frames / FRAME_RATE, sha, {"audio_landmarks": fp})


def _scan_child(catalog_dir: Path, queries: list[Path], out: Any) -> None:
    catalog = Catalog.open(catalog_dir)
    scan(catalog, queries[0], record=False)
    times = []
    found = 0
    for q in queries:
        t = time.perf_counter()
        report = scan(catalog, q, record=False)
        times.append(time.perf_counter() - t)
        found += bool(report.findings)
    out.send((times, found, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024))


def _measure(catalog_dir: Path, queries: list[Path]) -> tuple[list[float], int, int]:
    ctx = get_context("fork")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=_scan_child, args=(catalog_dir, queries, child))
    proc.start()
    result: tuple[list[float], int, int] = parent.recv()
    proc.join()
    return result


def run(media: Path, hours: list[float], n_queries: int, seed: int, workdir: Path) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    c = corpus.load(media, debian=False)
    catalog = Catalog.open(workdir / "catalog")
    catalog.register(c.music, owner="real", strict=False)
    real_hours = sum(w.duration_s for w in catalog.works()) / 3600
    pcm = {p: decode(p).audio for p in c.music}
    peaks = [find_peaks(x, REFERENCE.peaks_per_s) for x in pcm.values()]
    queries = []
    for i in range(n_queries):
        track = list(pcm)[int(rng.integers(0, len(pcm)))]
        x = pcm[track]
        s0 = int(rng.integers(0, max(1, len(x) - 10 * 8000)))
        queries.append(synth.write_audio(workdir / f"q{i}.flac", x[s0 : s0 + 10 * 8000], rate=8000))
    rows = []
    total_h = real_hours
    i = 0
    with Progress(transient=True) as progress:
        for target in sorted(hours):
            task = progress.add_task(f"filler up to {target:.0f} h", total=max(0.0, target - total_h))
            build = 0.0
            while total_h < target:
                batch: list[FingerprintedWork] = []
                batch_h = 0.0
                while batch_h < min(BATCH_HOURS, target - total_h):
                    w = _filler(peaks, rng, i)
                    i += 1
                    batch.append(w)
                    batch_h += w.duration_s / 3600
                t = time.perf_counter()
                catalog.register_fingerprinted(batch, owner="filler", policy="allow")
                build += time.perf_counter() - t
                total_h += batch_h
                progress.advance(task, batch_h)
            times, found, rss = _measure(workdir / "catalog", queries)
            rows.append(
                {
                    "hours": total_h,
                    "works": catalog.count_works(),
                    "generations": len(catalog.generations("audio_landmarks")),
                    "index_mb": catalog.index_size_bytes("audio_landmarks") / 1e6,
                    "median_ms": 1000 * statistics.median(times),
                    "p95_ms": 1000 * float(np.percentile(times, 95)),
                    "found": found,
                    "queries": len(queries),
                    "rss_mb": rss / 1e6,
                    "store_s": build,
                }
            )
    catalog.close()
    return {"rows": rows, "real_hours": real_hours}


def render(res: dict[str, Any], command: str) -> str:
    lines = [
        f"Command: `{command}`  ",
        f"Date: {date.today().isoformat()}; machine: {platform.machine()}, Python {platform.python_version()}, "
        "scans on one core in one process.  ",
        f"Real works: {res['real_hours']:.2f} h (`shared/media/audio` less hold-outs); the rest is synthesized "
        "filler (peak times of one real track with the transposed peak pitches of another, hashed by clearance). "
        "Queries: clean 10 s excerpts of the real works; latency is the whole `scan()` (decode, fingerprint, "
        "lookup, alignment, verification).",
        "",
        "| reference hours | works | generations | index MB | median latency ms | p95 latency ms | queries found "
        "| peak RSS of the scanning process MB |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in res["rows"]:
        lines.append(
            f"| {r['hours']:.0f} | {r['works']} | {r['generations']} | {r['index_mb']:.0f} | {r['median_ms']:.0f} | "
            f"{r['p95_ms']:.0f} | {r['found']} / {r['queries']} | {r['rss_mb']:.0f} |"
        )
    lines.append("")
    lines.append("Goals: p95 <= 50 ms at 1,000 h and <= 150 ms at 10,000 h.")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--media", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "media"
    )
    parser.add_argument("--hours", type=float, nargs="+", default=[10.0, 100.0, 1000.0])
    parser.add_argument("--queries", type=int, default=40)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workdir", type=Path, default=None, help="where the catalogue is built (large)")
    parser.add_argument("--write", type=Path, default=None, help="update this BENCHMARKS.md")
    args = parser.parse_args()
    if not (args.media / "audio").is_dir():
        raise SystemExit(f"no corpus at {args.media}: pass --media")
    with tempfile.TemporaryDirectory(prefix="clearance-scale-", dir=args.workdir) as tmp:
        res = run(args.media, args.hours, args.queries, args.seed, Path(tmp))
    hours = " ".join(f"{h:g}" for h in args.hours)
    text = render(
        res, f"python -m benchmarks.scale --hours {hours} --queries {args.queries} --seed {args.seed}"
    )
    print(text)
    if args.write:
        write_section(args.write, "Audio scale", text)


if __name__ == "__main__":
    main()
