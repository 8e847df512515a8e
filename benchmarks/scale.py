"""Scan latency and peak RAM against a large catalogue.

    python -m benchmarks.scale [--media ../shared/media] [--hours 10 100 1000] [--queries 20]
        [--latency-queries 40] [--write BENCHMARKS.md]

Real works: the music of ``shared/media/audio`` (less hold-outs), registered as usual. Filler, up to
each size in ``--hours``: synthesized fingerprints made from the real tracks' peaks. A filler work
takes the peak times of one real track and the peak pitches of another, in their own order,
transposed by a random amount: its triplets have the timing and interval statistics of real music
without being a copy of any track. Its hashes and points come from clearance's own code
(``reference_hashes``, ``pack_points``) and it is stored with ``Catalog.register_fingerprinted``,
in batches, so the catalogue's generations and compaction are the real ones.

Latency: plain 10 s excerpts of the real works (FLAC, 44.1 kHz), each scanned with ``clearance.scan``
three times in a child process (catalogue opened once, a first scan not timed); a query's latency is
its fastest run, so that other processes on a shared machine do not stand in for the query's own
cost; the p95 of the first run alone is reported beside it. Peak RSS of that process is reported.
Recall: 10 s excerpts of the real works between unrelated speech, clean and under the edits in
``--edits`` (the audio benchmark's own); a query counts as found when a finding names its work with
the reference offset within 0.5 s. At each size the catalogue is measured after
``Catalog.compact`` (one generation, as a deployment runs it after large registrations); index hits
per query and the probes the hit budget left out are reported.
"""

from __future__ import annotations

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

from benchmarks import corpus, edits, report
from clearance import Catalog, decode, scan
from clearance.catalog import FingerprintedWork
from clearance.fingerprint.audio import (
    FRAME_RATE,
    REFERENCE,
    VERIFY_PEAKS_PER_S,
    AudioLandmarks,
    Peaks,
    find_peaks,
    pack_points,
    reference_hashes,
    strongest,
)
from clearance.fingerprint.base import Fingerprint
from clearance.index.postings import search
from clearance.media import synth

BATCH_HOURS = 50.0


def _filler(peaks: list[Peaks], rng: np.random.Generator, i: int) -> FingerprintedWork:
    a, b = (peaks[int(k)] for k in rng.choice(len(peaks), 2, replace=False))
    shift = np.float32(rng.uniform(-6, 6))

    def mix(x: Peaks, y: Peaks) -> Peaks:
        n = min(len(x.t), len(y.t))
        f = np.clip(y.f[:n] + shift, 0, float(max(y.f.max(), 1.0))).astype(np.float32)
        return Peaks(x.t[:n], f, y.strength[:n], x.rank[:n])

    # The hashed peaks pair the strongest peaks of the two tracks, as a registered work's would; the
    # stored verification peaks pair all of them.
    hashed = mix(strongest(a, REFERENCE.peaks_per_s), strongest(b, REFERENCE.peaks_per_s))
    stored = mix(a, b)
    h = reference_hashes(hashed, REFERENCE)
    n_frames = int(stored.t[-1]) + 1
    fp = Fingerprint(h.keys, h.frames, n_frames, pack_points(stored))
    sha = hashlib.sha256(f"filler-{i}".encode()).hexdigest()
    return FingerprintedWork(f"filler {i}", n_frames / FRAME_RATE, sha, {"audio_landmarks": fp})


Query = tuple[str, Path, str, float, float]
"""A query: (edit, file, title of its work, reference time at query time 0 in seconds, reference
seconds per query second)."""


LATENCY_RUNS = 3


def _scan_child(catalog_dir: Path, latency: list[Path], queries: list[Query], out: Any) -> None:
    catalog = Catalog.open(catalog_dir)
    titles = {w.id: w.title for w in catalog.works()}
    scan(catalog, latency[0], record=False)
    runs = np.zeros((LATENCY_RUNS, len(latency)))
    for r in range(LATENCY_RUNS):
        for i, path in enumerate(latency):
            t = time.perf_counter()
            scan(catalog, path, record=False)
            runs[r, i] = time.perf_counter() - t
    times, found, hits, skipped = [], [], [], []
    for _edit, path, title, ref_at_zero, factor in queries:
        t = time.perf_counter()
        report = scan(catalog, path, record=False)
        times.append(time.perf_counter() - t)
        found.append(
            any(
                titles.get(f.work_id) == title
                and abs((f.ref_start or 0.0) - factor * f.query_start - ref_at_zero) <= 0.5
                for f in report.findings
            )
        )
    signal = AudioLandmarks()
    for _edit, path, *_ in queries:  # not timed: what the index returned
        fp = signal.query(decode(path))
        h = search(catalog.generations(signal.name), fp.keys, fp.frames, catalog.settings.search.max_hits)
        hits.append(len(h.work))
        skipped.append(h.skipped / max(1, len(fp.keys)))
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    out.send((runs, times, found, hits, skipped, rss))


Measured = tuple[np.ndarray, list[float], list[bool], list[int], list[float], int]
"""(latency runs x latency queries in s, recall-query times, found, hits, skipped share, peak RSS)."""


def _measure(catalog_dir: Path, latency: list[Path], queries: list[Query]) -> Measured:
    ctx = get_context("fork")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=_scan_child, args=(catalog_dir, latency, queries, child))
    proc.start()
    result: Measured = parent.recv()
    proc.join()
    return result


def _latency_queries(pcm16: dict[Path, np.ndarray], n: int, seed: int, workdir: Path) -> list[Path]:
    """``n`` plain 10 s excerpts of the real works, at random tracks and offsets (44.1 kHz FLAC)."""
    rate = edits.RATE
    rng = np.random.default_rng([seed, 999])
    tracks = [t for t in pcm16 if len(pcm16[t]) > 11 * rate]
    out = []
    for i in range(n):
        x = pcm16[tracks[int(rng.integers(0, len(tracks)))]]
        start = int(rng.integers(0, len(x) - 10 * rate))
        out.append(synth.write_audio(workdir / f"latency-{i}.flac", x[start : start + 10 * rate], rate=rate))
    return out


def _queries(
    pcm16: dict[Path, np.ndarray], noise: np.ndarray, edit_names: list[str], n: int, seed: int, workdir: Path
) -> list[Query]:
    """``n`` 10 s excerpts per edit, each between 2-4 s of unrelated audio and 3 s after."""
    rate = edits.RATE
    out: list[Query] = []
    for edit in edit_names:
        for i in range(n):
            rng = np.random.default_rng([seed, list(edits.REGISTRY).index(edit), i])
            track = list(pcm16)[int(rng.integers(0, len(pcm16)))]
            x = pcm16[track]
            start = float(rng.uniform(0, max(0.0, len(x) / rate - 10)))
            head = float(rng.uniform(2, 4))
            n0 = int(rng.integers(0, len(noise) - 8 * rate))
            clip = np.concatenate(
                [
                    noise[n0 : n0 + int(head * rate)],
                    x[int(start * rate) : int((start + 10) * rate)],
                    noise[n0 : n0 + 3 * rate],
                ]
            )
            qdir = workdir / f"q-{edit}-{i}"
            qdir.mkdir()
            result, factor = edits.REGISTRY[edit](clip.astype(np.float32), rng, noise, qdir)
            path = (
                result if isinstance(result, Path) else synth.write_audio(qdir / "q.flac", result, rate=rate)
            )
            out.append((edit, path, track.stem, start - head, factor))
    return out


def run(
    media: Path,
    hours: list[float],
    n_queries: int,
    n_latency: int,
    seed: int,
    workdir: Path,
    edit_names: list[str],
) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    c = corpus.load(media, debian=False)
    catalog = Catalog.open(workdir / "catalog")
    catalog.register(c.music, owner="real", strict=False)
    real_hours = sum(w.duration_s for w in catalog.works()) / 3600
    pcm = {p: decode(p).audio for p in c.music}
    peaks = [find_peaks(x, VERIFY_PEAKS_PER_S) for x in pcm.values()]
    pcm16 = {p: decode(p, audio_rate=edits.RATE).audio for p in c.music}
    noise = np.concatenate([decode(p, audio_rate=edits.RATE).audio for p in c.holdout_speech])
    queries = _queries(pcm16, noise, ["clean", *edit_names], n_queries, seed, workdir)
    latency = _latency_queries(pcm16, n_latency, seed, workdir)
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
            t = time.perf_counter()
            catalog.compact("audio_landmarks")
            compact_s = time.perf_counter() - t
            runs, times, found, hits, skipped, rss = _measure(workdir / "catalog", latency, queries)
            by_edit = {
                e: sum(f for (edit, *_), f in zip(queries, found, strict=True) if edit == e)
                for e in ["clean", *edit_names]
            }
            best = runs.min(axis=0)
            rows.append(
                {
                    "hours": total_h,
                    "works": catalog.count_works(),
                    "generations": len(catalog.generations("audio_landmarks")),
                    "index_mb": catalog.index_size_bytes("audio_landmarks") / 1e6,
                    "median_ms": 1000 * float(np.median(best)),
                    "p95_ms": 1000 * float(np.percentile(best, 95)),
                    "first_p95_ms": 1000 * float(np.percentile(runs[0], 95)),
                    "latency_queries": len(latency),
                    "all_p95_ms": 1000 * float(np.percentile(times, 95)),
                    "found": by_edit,
                    "queries": n_queries,
                    "hits": statistics.median(hits),
                    "skipped": statistics.median(skipped),
                    "rss_mb": rss / 1e6,
                    "store_s": build,
                    "compact_s": compact_s,
                }
            )
    catalog.close()
    return {"rows": rows, "real_hours": real_hours, "edits": ["clean", *edit_names]}


def render(res: dict[str, Any], command: str) -> str:
    eds = res["edits"]
    lines = [
        f"Command: `{command}`  ",
        f"Date: {date.today().isoformat()}; machine: {platform.machine()}, Python {platform.python_version()}, "
        "scans on one core in one process.  ",
        f"Real works: {res['real_hours']:.2f} h (`shared/media/audio` less hold-outs); the rest is synthesized "
        "filler (peak times of one real track with the transposed peak pitches of another, hashed by clearance). "
        f"Latency: the whole `scan()` (decode, fingerprint, lookup, alignment, verification) of "
        f"{res['rows'][0]['latency_queries'] if res['rows'] else 0} plain 10 s excerpts (FLAC, 44.1 kHz), after "
        f"`compact`; each scanned {LATENCY_RUNS} times, its fastest run counted (the machine is shared); "
        "'first run' is the p95 of the first pass alone. Recall: 10 s excerpts between unrelated speech "
        "(15-17 s clips), clean and edited; found means the right work with the offset within 0.5 s; "
        "'p95 ms, recall clips' is their single-run latency. Hits: index hits per recall query (median); "
        "skipped: share of a query's probes that the hit budget (`search.max_hits`) left out. Peak RSS: "
        "of the scanning process, counting the pages of the memory-mapped index that it touched.",
        "",
        "| reference hours | works | index MB | median ms | p95 ms | p95 ms, first run | p95 ms, recall clips "
        "| hits | skipped | " + " | ".join(f"found {e}" for e in eds) + " | peak RSS MB |",
        "|---" * (10 + len(eds)) + "|",
    ]
    for r in res["rows"]:
        found = " | ".join(f"{r['found'][e]}/{r['queries']}" for e in eds)
        lines.append(
            f"| {r['hours']:.0f} | {r['works']} | {r['index_mb']:.0f} | {r['median_ms']:.0f} | {r['p95_ms']:.0f} | "
            f"{r['first_p95_ms']:.0f} | {r['all_p95_ms']:.0f} | {r['hits']:.0f} | {100 * r['skipped']:.0f} % | "
            f"{found} | {r['rss_mb']:.0f} |"
        )
    lines.append("")
    lines.append("Goals: p95 <= 50 ms at 1,000 h and <= 150 ms at 10,000 h.")
    return "\n".join(lines)


def main() -> None:
    parser = report.scale_parser(__doc__, 20, "recall queries per edit")
    parser.add_argument("--latency-queries", type=int, default=40, help="plain 10 s queries timed")
    parser.add_argument(
        "--edits",
        nargs="*",
        default=["pink_0db", "white_0db", "reverb", "speed_any"],
        help="edits besides clean",
    )
    args = parser.parse_args()
    report.require_corpus(args.media, "audio")
    # A failed clean-up of the (large) work directory must not lose the measurements.
    with tempfile.TemporaryDirectory(
        prefix="clearance-scale-", dir=args.workdir, ignore_cleanup_errors=True
    ) as tmp:
        res = run(
            args.media, args.hours, args.queries, args.latency_queries, args.seed, Path(tmp), args.edits
        )
    hours = " ".join(f"{h:g}" for h in args.hours)
    text = render(
        res,
        f"python -m benchmarks.scale --hours {hours} --queries {args.queries} "
        f"--latency-queries {args.latency_queries} --edits {' '.join(args.edits)} --seed {args.seed}",
    )
    report.publish(text, args.write, "Audio scale")


if __name__ == "__main__":
    main()
