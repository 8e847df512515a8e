"""Scan latency of video clips against a large catalogue of frame hashes.

    python -m benchmarks.video_scale [--media ../shared/media] [--hours 10 100 1000] [--queries 30]
        [--write BENCHMARKS.md]

Real works: the videos of ``shared/media/video`` that the video benchmark registers (less hold-outs
and shipped copies), registered as usual with local features off (``signals_off = ["visual_orb"]``:
their index, 6.7 MB per hour of reference video, is not built at this scale; see the note in
BENCHMARKS.md). Filler, up to each size in ``--hours``: each filler work (10 min) is a run of real
works' ``visual_pdq`` fingerprints (their kept frames, times and barred frames' inner hashes), the
bits of every hash of each piece permuted by one random permutation of the piece's own. Distances
within a piece are those of real footage (a permutation keeps Hamming distances), and it lies as far
from every real frame as unrelated hashes do. Filler is stored with ``Catalog.register_fingerprinted`` in
batches and compacted, so the generations, the FAISS index (flat, or the inverted file from
``binary.IVF_MIN_CODES`` codes) and the alignment are the real ones.

Queries: 10 s excerpts of the real works (those at least 11 s long) at random offsets, re-encoded
with H.264 CRF 23 within 640 x 360, no sound. Each is scanned three times in a child process (the
catalogue opened once and its index built or read before the clock starts); a query's latency is its
fastest run; FAISS is held to one thread. Found: a finding of the right work with its reference
offset within 1 s.

Edited queries (``--edited`` per edit of ``benchmarks/video_edits.py``): 10 s excerpts of the same
works, edited as in the video benchmark and put between 2 s of the benchmark's never-registered
footage on either side; each scanned once, untimed. Found: a finding of the right work (score at
least 0.5) overlapping the excerpt in the clip. Edited copies lie further from their source than
plain ones, where an inverted file's recall falls first; a size below the real works' own (``--hours
0``) gives the exact search's figure to compare with.
"""

from __future__ import annotations

import platform
import resource
import tempfile
import time
from collections import Counter
from datetime import date
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import av
import faiss
import numpy as np
from rich.progress import Progress

from benchmarks import report
from benchmarks import video_edits as edits
from benchmarks.video import HOLDOUT, REAL_COPIES, Reader, _fps, write_query
from clearance import Catalog, Settings, decode, scan
from clearance.catalog import FingerprintedWork
from clearance.fingerprint.base import Fingerprint
from clearance.fingerprint.visual import UNITS_PER_S, VisualPDQ
from clearance.index import binary
from clearance.media import synth

BATCH_HOURS = 50.0
RUNS = 3
QUERY_S = 10.0
FILLER_S = 600.0
EDITED_PAD_S = 2.0
SETTINGS = Settings(signals_off=["visual_orb"])

Query = tuple[Path, str, float]
"""(file, title of its work, reference time at query time 0)."""
Edited = tuple[Path, str, str, float, float]
"""(file, title of its work, edit, start and end of the excerpt in the file)."""


def _filler(sources: list[tuple[Fingerprint, float]], rng: np.random.Generator, i: int) -> FingerprintedWork:
    """A filler work of about ``FILLER_S``: real works' fingerprints one after another, each with its
    hashes' bits permuted by a permutation of its own."""
    units_all, codes_all = [], []
    at = 0.0
    while at < FILLER_S:
        fp, duration = sources[int(rng.integers(0, len(sources)))]
        units, codes = binary.unpack_rows(fp.points)
        bits = np.unpackbits(codes, axis=1)[:, rng.permutation(binary.CODE_BITS)]
        units_all.append(units + round(at * UNITS_PER_S))
        codes_all.append(np.packbits(bits, axis=1))
        at += duration
    rows = binary.pack_rows(np.concatenate(units_all), np.concatenate(codes_all))
    empty = np.zeros(0, np.uint32)
    fp = Fingerprint(empty, empty, round(at * UNITS_PER_S) + 1, rows)
    return FingerprintedWork(f"filler {i}", at, f"{i:064x}", {"visual_pdq": fp}, kind="video")


def _long(videos: list[Path]) -> list[tuple[Path, float]]:
    """The videos long enough for a 10 s excerpt, with their durations."""
    out = []
    for p in videos:
        with av.open(str(p)) as c:
            if float(c.duration or 0) / 1e6 >= QUERY_S + 1:
                out.append((p, float(c.duration or 0) / 1e6))
    return out


def _queries(videos: list[Path], n: int, seed: int, workdir: Path) -> list[Query]:
    rng = np.random.default_rng([seed, 7])
    long = _long(videos)
    out: list[Query] = []
    for i in range(n):
        path, duration = long[int(rng.integers(0, len(long)))]
        start = float(rng.uniform(0, duration - QUERY_S - 0.5))
        reader = Reader(path, start)
        fps = _fps(path)
        # Reader.native already fits each frame within 640 x 360, at even sizes.
        frames = np.stack([reader.native(k / fps) for k in range(int(QUERY_S * fps))])
        reader.close()
        target = synth.write_video(workdir / f"q{i}.mp4", frames=frames, fps=round(fps))  # x264 CRF 23
        out.append((target, path.stem, start))
    return out


def _edited(videos: list[Path], holdout: list[Path], per_edit: int, seed: int, workdir: Path) -> list[Edited]:
    """``per_edit`` edited 10 s excerpts for each edit, between never-registered footage."""
    rng = np.random.default_rng([seed, 11])
    long = _long(videos)
    out: list[Edited] = []
    for edit, make in edits.REGISTRY.items():
        for _ in range(per_edit):
            path, duration = long[int(rng.integers(0, len(long)))]
            start = float(rng.uniform(0, duration - QUERY_S - 0.5))
            filler = Reader(holdout[int(rng.integers(0, len(holdout)))], float(rng.uniform(0, 5)))
            unrelated = Reader(holdout[int(rng.integers(0, len(holdout)))], float(rng.uniform(0, 5)))
            body = Reader(path, start)
            target = workdir / f"e-{len(out)}.mp4"
            plan = make(rng, unrelated)
            q0, q1, _ = write_query(
                target, plan, body, QUERY_S, _fps(path), filler, EDITED_PAD_S, EDITED_PAD_S
            )
            for reader in (filler, unrelated, body):
                reader.close()
            out.append((target, path.stem, edit, q0, q1))
    return out


def _scan_child(catalog_dir: Path, queries: list[Query], edited: list[Edited], out: Any) -> None:
    faiss.omp_set_num_threads(1)  # one core: FAISS would otherwise search on all of them
    catalog = Catalog.open(catalog_dir, settings=SETTINGS)
    titles = {w.id: w.title for w in catalog.works()}
    t = time.perf_counter()
    for gen in catalog.generations("visual_pdq"):
        binary.prepare(gen, 1)  # the index, built or read, before any clock
    index_s = time.perf_counter() - t
    runs = np.zeros((RUNS, len(queries)))
    search = np.zeros((RUNS, len(queries)))
    found = []
    for r in range(RUNS):
        for i, (path, title, ref_at_zero) in enumerate(queries):
            t = time.perf_counter()
            rep = scan(catalog, path, record=False)
            runs[r, i] = time.perf_counter() - t
            search[r, i] = rep.timings["search_s"]
            if r == 0:
                found.append(
                    any(
                        titles.get(f.work_id, "").split(".")[0] == title
                        and f.ref_start is not None
                        and abs(f.ref_start - f.query_start - ref_at_zero) <= 1.0
                        for f in rep.findings
                    )
                )
    edited_found = []
    for path, title, _, q0, q1 in edited:
        rep = scan(catalog, path, record=False)
        edited_found.append(
            any(
                titles.get(f.work_id, "").split(".")[0] == title
                and min(f.query_end, q1) > max(f.query_start, q0)
                for f in rep.findings
                if f.kind == "video"
            )
        )
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    out.send((runs, search, found, edited_found, index_s, rss))


def _measure(
    catalog_dir: Path, queries: list[Query], edited: list[Edited]
) -> tuple[np.ndarray, np.ndarray, list[bool], list[bool], float, int]:
    ctx = get_context("fork")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=_scan_child, args=(catalog_dir, queries, edited, child))
    proc.start()
    result: tuple[np.ndarray, np.ndarray, list[bool], list[bool], float, int] = parent.recv()
    proc.join()
    return result


def run(
    media: Path, hours: list[float], n_queries: int, per_edit: int, seed: int, workdir: Path
) -> dict[str, Any]:
    skip = {media / p for p in [*HOLDOUT, *REAL_COPIES]}
    videos = sorted(
        p for p in (media / "video").rglob("*") if p.suffix in {".mp4", ".webm", ".avi"} and p not in skip
    )
    holdout = [media / p for p in HOLDOUT]
    Reader.unseekable = {*videos, *holdout}  # read from the start: slower, never off by a keyframe
    catalog = Catalog.open(workdir / "catalog", settings=SETTINGS)
    catalog.register(videos, owner="real")
    real_hours = sum(w.duration_s for w in catalog.works()) / 3600
    sources = [(VisualPDQ().reference(m), m.duration_s) for m in (decode(p) for p in videos)]
    sources = [(fp, d) for fp, d in sources if len(fp.points) and d > 0]
    queries = _queries(videos, n_queries, seed, workdir)
    edited = _edited(videos, holdout, per_edit, seed, workdir)
    rng = np.random.default_rng(seed)
    rows = []
    total_h, i = real_hours, 0
    with Progress(transient=True) as progress:
        for target in sorted(hours):
            task = progress.add_task(f"filler up to {target:g} h", total=max(0.0, target - total_h))
            while total_h < target:
                batch: list[FingerprintedWork] = []
                batch_h = 0.0
                while batch_h < min(BATCH_HOURS, target - total_h):
                    batch.append(_filler(sources, rng, i))
                    batch_h += batch[-1].duration_s / 3600
                    i += 1
                catalog.register_fingerprinted(batch, owner="filler", policy="allow")
                total_h += batch_h
                progress.advance(task, batch_h)
            t = time.perf_counter()
            catalog.compact("visual_pdq")
            compact_s = time.perf_counter() - t
            gens = catalog.generations("visual_pdq")
            codes = sum(len(g.points(w)) for g in gens for w in range(len(g.work_ids))) // (
                1 + binary.CODE_WORDS
            )
            runs, search, found, edited_found, index_s, rss = _measure(workdir / "catalog", queries, edited)
            best, best_search = runs.min(axis=0), search.min(axis=0)
            rows.append(
                {
                    "hours": total_h,
                    "works": catalog.count_works(),
                    "codes": codes,
                    "ivf": codes >= binary.IVF_MIN_CODES,
                    "index_mb": catalog.index_size_bytes("visual_pdq") / 1e6,
                    "compact_s": compact_s,
                    "index_s": index_s,
                    "median_ms": 1000 * float(np.median(best)),
                    "p95_ms": 1000 * float(np.percentile(best, 95)),
                    "search_p95_ms": 1000 * float(np.percentile(best_search, 95)),
                    "first_p95_ms": 1000 * float(np.percentile(runs[0], 95)),
                    "found": int(sum(found)),
                    "queries": len(queries),
                    "edited_found": int(sum(edited_found)),
                    "edited": len(edited),
                    "edited_missed": [e[2] for e, ok in zip(edited, edited_found, strict=True) if not ok],
                    "rss_mb": rss / 1e6,
                }
            )
    catalog.close()
    return {"rows": rows, "real_hours": real_hours, "real_works": len(videos), "per_edit": per_edit}


def render(res: dict[str, Any], command: str) -> str:
    lines = [
        f"Command: `{command}`  ",
        f"Date: {date.today().isoformat()}; machine: {platform.machine()}, Python {platform.python_version()}, "
        "scans on one core in one process.  ",
        f"Real works: {res['real_works']} videos, {60 * res['real_hours']:.1f} min (`shared/media/video` less "
        "hold-outs and shipped copies), local features off; the rest is filler: real works' frame hashes "
        "with their bits permuted, one permutation per filler work (module docstring of "
        "`benchmarks/video_scale.py`). Latency: the whole `scan()` (decode, fingerprint, search, alignment, "
        "verification) of plain 10 s excerpts (H.264 within 640x360), each scanned 3 times, its fastest "
        "run counted; 'search' is index, alignment and verification alone; 'first run' the p95 of the first "
        "pass. Compaction: merging the filler into one generation, which trains the inverted file (on both "
        "cores); index load: filling the generation's FAISS index when a process opens the catalogue. "
        f"Edited: {res['per_edit']} edited 10 s excerpts per edit of the video benchmark, between 2 s of "
        "never-registered footage, each scanned once; found: the right work overlapping the excerpt.",
        "",
        "| reference hours | works | codes | index | index MB | compaction s | index load s | median ms | p95 ms | "
        "p95 ms, search | p95 ms, first run | found | found, edited | peak RSS MB |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in res["rows"]:
        lines.append(
            f"| {r['hours']:.1f} | {r['works']} | {r['codes']} | {'IVF' if r['ivf'] else 'flat'} | "
            f"{r['index_mb']:.1f} | {r['compact_s']:.0f} | {r['index_s']:.1f} | {r['median_ms']:.0f} | {r['p95_ms']:.0f} | "
            f"{r['search_p95_ms']:.0f} | {r['first_p95_ms']:.0f} | {r['found']}/{r['queries']} | {r['edited_found']}/{r['edited']} | "
            f"{r['rss_mb']:.0f} |"
        )
    lines.append("")
    for r in res["rows"]:
        missed = ", ".join(f"{e} {n}" for e, n in sorted(Counter(r["edited_missed"]).items())) or "none"
        lines.append(f"- Edited queries missed at {r['hours']:.1f} h: {missed}.")
    lines += ["", "Goals: p95 <= 2 s end to end and <= 200 ms for index and alignment at 1,000 h.", ""]
    return "\n".join(lines)


def main() -> None:
    parser = report.scale_parser(__doc__, 30, "plain 10 s queries timed")
    parser.add_argument("--edited", type=int, default=4, help="edited queries per edit, scanned once")
    args = parser.parse_args()
    report.require_corpus(args.media, "video")
    with tempfile.TemporaryDirectory(
        prefix="clearance-vscale-", dir=args.workdir, ignore_cleanup_errors=True
    ) as tmp:
        res = run(args.media, args.hours, args.queries, args.edited, args.seed, Path(tmp))
    hours = " ".join(f"{h:g}" for h in args.hours)
    text = render(
        res,
        f"python -m benchmarks.video_scale --hours {hours} --queries {args.queries} --edited {args.edited} "
        f"--seed {args.seed}",
    )
    report.publish(text, args.write, "Video scale")


if __name__ == "__main__":
    main()
