"""Audio matching benchmark: accuracy per edit and query length, no-match rate, speed, index size.

    python -m benchmarks.audio [--media ../shared/media] [--queries 12] [--write BENCHMARKS.md]

References: every music track in ``media/audio`` (less the low-quality duplicates and the hold-outs)
and the speech recordings of ``media/speech`` (LibriSpeech readers, JFK) as spoken-word works.
Hold-outs (never registered) give the unrelated head and tail of every query and the no-match set.
Queries are excerpts at random offsets, edited, embedded between unrelated audio, written to a file
and scanned through ``clearance.scan`` like any user input.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import tempfile
import time
from collections import defaultdict
from datetime import date
from pathlib import Path

import av
import numpy as np
from rich.progress import Progress

from benchmarks import edits
from benchmarks.report import write_section
from clearance import Catalog, Settings, decode, scan
from clearance.fingerprint.audio import AudioLandmarks, find_peaks, shift_counts
from clearance.media import synth
from clearance.media.decode import AUDIO_RATE

HOLDOUT = {"rain_ambience.mp3", "humpback.ogg", "trumpet.ogg", "robin.ogg", "singularity_awakening.ogg"}
SKIP = {"brahms_lowq.ogg", "nutcracker_lowq.ogg"}
GOALS = {
    "clean": 99,
    "mp3_64k": 99,
    "aac_48k": 99,
    "opus_24k": 99,
    "lowpass_3k": 99,
    "reverb": 99,
    "volume_-20db": 99,
    "white_10db": 99,
    "white_0db": 90,
    "pink_0db": 90,
    "speech_0db": 85,
}


def _load(path: Path) -> np.ndarray:
    return decode(path, audio_rate=edits.RATE).audio


def references(media: Path) -> tuple[list[Path], list[Path], list[Path]]:
    music = sorted(p for p in (media / "audio").iterdir() if p.name not in SKIP)
    refs = [p for p in music if p.name not in HOLDOUT]
    holdout = [p for p in music if p.name in HOLDOUT]
    speech = sorted((media / "speech").glob("librispeech_[0-9]*/*.flac")) + sorted(
        (media / "speech" / "jfk").glob("*")
    )
    unregistered_speech = sorted((media / "speech" / "ami_meetings").glob("*.wav"))
    return refs + speech, holdout, unregistered_speech


def same_material(ref: np.ndarray, truth_s: float, found_s: float, found_end_s: float) -> bool:
    """Whether the reference holds the same audio at the reported span as at the true one (a repeat).

    Music repeats itself (loops, choruses): an excerpt then matches the work at several offsets that
    are equally right. Half of the reported span's peaks must recur at the true offset.
    """
    length = max(1.0, found_end_s - found_s)
    rate = AUDIO_RATE
    a = find_peaks(ref[int(found_s * rate) : int((found_s + length) * rate)], 9.0)
    b = find_peaks(ref[max(0, int(truth_s * rate)) : int((truth_s + length) * rate)], 24.0)
    if len(a.t) < 8:
        return False
    counts = shift_counts(
        (a.t.astype(float), a.f.astype(float)), (b.t.astype(float), b.f.astype(float)), 1.0, 0.0
    )
    return bool(counts[len(counts) // 2] >= 0.5 * len(a.t))


def run(media: Path, n_queries: int, seed: int, workdir: Path, n_nomatch: int = 1000) -> dict[str, object]:
    rng = np.random.default_rng(seed)
    refs, holdout, other_speech = references(media)
    catalog = Catalog.open(workdir / "catalog", settings=Settings(audio_min_score=0.5))
    t0 = time.perf_counter()
    results = catalog.register(refs, owner="bench", strict=False)
    register_s = time.perf_counter() - t0
    ids = {Path(r.path).name: r.work_id for r in results if r.work_id}
    ref_hours = sum(w.duration_s for w in catalog.works()) / 3600
    index_bytes = catalog.index_size_bytes("audio_landmarks")
    music_refs = [p for p in refs if p.parent.name == "audio"]
    pcm = {p.name: _load(p) for p in music_refs}
    filler = np.concatenate([_load(p) for p in holdout])
    speech_over = np.concatenate([_load(p) for p in other_speech])
    registry = edits.registry(rng)
    random_edits = {
        "speed_any": lambda x: (lambda f: (edits.speed(x, f), f))(float(rng.uniform(0.92, 1.08))),
        "pitch_any": lambda x: (edits.pitch(x, float(rng.uniform(-1, 1))), 1.0),
        "tempo_any": lambda x: (lambda f: (edits.tempo(x, f), f))(float(rng.uniform(0.95, 1.05))),
    }
    names = list(registry) + list(random_edits)
    hits: dict[tuple[str, float], list[bool]] = defaultdict(list)
    errors: dict[tuple[str, float], list[float]] = defaultdict(list)
    wrong: dict[tuple[str, float], int] = defaultdict(int)
    repeats: dict[tuple[str, float], int] = defaultdict(int)
    pcm8 = {p.name: decode(p).audio for p in music_refs}
    lengths = (10.0, 5.0)
    total = len(names) * len(lengths) * n_queries
    with Progress(transient=True) as progress:
        task = progress.add_task("queries", total=total)
        for name in names:
            for length in lengths:
                for _ in range(n_queries):
                    track = list(pcm)[int(rng.integers(0, len(pcm)))]
                    x = pcm[track]
                    start = float(rng.uniform(0, len(x) / edits.RATE - length))
                    piece = x[int(start * edits.RATE) : int((start + length) * edits.RATE)]
                    head_s = float(rng.uniform(2, 4))
                    h0 = int(rng.integers(0, len(filler) - 8 * edits.RATE))
                    head = filler[h0 : h0 + int(head_s * edits.RATE)]
                    tail = filler[h0 + 5 * edits.RATE : h0 + 8 * edits.RATE]
                    clip = np.concatenate([head, piece, tail]).astype(np.float32)
                    qdir = Path(tempfile.mkdtemp(dir=workdir))
                    factor = 1.0
                    if name in random_edits:
                        edited, factor = random_edits[name](clip)
                    else:
                        fn, factor = registry[name]
                        edited = fn(clip, rng, speech_over, qdir)
                    path = (
                        edited
                        if isinstance(edited, Path)
                        else synth.write_audio(qdir / "q.flac", edited, rate=edits.RATE)
                    )
                    report = scan(catalog, path, record=False)
                    q_head = head_s / factor
                    good = False
                    for f in report.findings:
                        if f.work_id != ids[track]:
                            wrong[(name, length)] += 1
                            continue
                        predicted = start + factor * (f.query_start - q_head)
                        err = abs((f.ref_start or 0.0) - predicted)
                        if err <= 0.5:
                            good = True
                            errors[(name, length)].append(err)
                        elif same_material(pcm8[track], predicted, f.ref_start or 0.0, f.ref_end or 0.0):
                            good = True
                            repeats[(name, length)] += 1
                    hits[(name, length)].append(good)
                    progress.advance(task)
        # No-match: unregistered music, unregistered speech, noise, silence.
        nomatch_total = nomatch_found = 0
        sources = [filler, speech_over]
        task = progress.add_task("no-match queries", total=n_nomatch)
        for i in range(n_nomatch):
            progress.advance(task)
            src = sources[i % 2]
            s0 = int(rng.integers(0, len(src) - 10 * edits.RATE))
            clip = src[s0 : s0 + 10 * edits.RATE]
            if i % 10 == 9:
                clip = edits.white_noise(np.zeros(10 * edits.RATE, np.float32) + 1e-3, 0, rng)
            path = synth.write_audio(Path(tempfile.mkdtemp(dir=workdir)) / "n.flac", clip, rate=edits.RATE)
            nomatch_total += 1
            nomatch_found += bool(scan(catalog, path, record=False).findings)
    speed_fp, speed_decode, speed_bare = speed_ratio([p for p in music_refs if p.suffix == ".mp3"])
    catalog.close()
    rows = []
    for name in names:
        row: dict[str, object] = {"edit": name}
        for length in lengths:
            v = hits[(name, length)]
            row[f"{int(length)}s"] = 100.0 * sum(v) / len(v)
            e = errors[(name, length)]
            row[f"{int(length)}s_err_ms"] = 1000 * statistics.median(e) if e else None
            row[f"{int(length)}s_wrong"] = wrong[(name, length)]
            row[f"{int(length)}s_repeats"] = repeats[(name, length)]
        rows.append(row)
    all_err = [e for v in errors.values() for e in v]
    return {
        "rows": rows,
        "n_queries": n_queries,
        "refs": len(ids),
        "ref_hours": ref_hours,
        "index_bytes": index_bytes,
        "register_s": register_s,
        "nomatch": (nomatch_found, nomatch_total),
        "median_offset_err_ms": 1000 * statistics.median(all_err) if all_err else None,
        "speed_fp": speed_fp,
        "speed_decode": speed_decode,
        "speed_bare": speed_bare,
    }


def speed_ratio(files: list[Path]) -> tuple[float, float, float]:
    """Real-time factors on one core, measured alternately in one run.

    Fingerprinting including decode; decoding to PCM arrays (what any fingerprinter must do at least);
    bare decoding that only counts the decoded samples.
    """
    signal_type = AudioLandmarks()
    fp_s = pcm_s = bare_s = audio_s = 0.0
    for _ in range(2):
        for path in files:
            t = time.perf_counter()
            with av.open(str(path)) as c:
                n = sum(fr.samples for fr in c.decode(audio=0))
                rate = c.streams.audio[0].rate
            bare_s += time.perf_counter() - t
            t = time.perf_counter()
            with av.open(str(path)) as c:
                for fr in c.decode(audio=0):
                    fr.to_ndarray()
            pcm_s += time.perf_counter() - t
            t = time.perf_counter()
            media = decode(path)
            signal_type.reference(media)
            fp_s += time.perf_counter() - t
            audio_s += n / rate
    return audio_s / fp_s, audio_s / pcm_s, audio_s / bare_s


def render(res: dict[str, object], command: str) -> str:
    rows = res["rows"]
    assert isinstance(rows, list)
    lines = [
        f"Command: `{command}`  ",
        f"Date: {date.today().isoformat()}; machine: {platform.machine()}, {platform.processor() or 'cpu'}, "
        f"Python {platform.python_version()}, one process.  ",
        f"References: {res['refs']} works, {res['ref_hours']:.2f} h (music of `shared/media/audio` less hold-outs, "
        f"and LibriSpeech/JFK speech). Queries per edit and length: {res['n_queries']}, each embedded between 2-4 s "
        "and 3 s of unregistered audio. A hit is the right work with the offset within 0.5 s, or at a span of the work that "
        "repeats the excerpt (loops, choruses: checked peak by peak on the clean reference).",
        "",
        "| edit | 10 s detected % | 10 s median offset error ms | 5 s detected % | 5 s median offset error ms | of the hits, at a repeat of the excerpt (10 s / 5 s) | wrong-work findings (10 s / 5 s) | goal (10 s) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        goal = GOALS.get(
            str(r["edit"]), 95 if any(k in str(r["edit"]) for k in ("speed", "pitch", "tempo")) else ""
        )
        e10, e5 = r["10s_err_ms"], r["5s_err_ms"]
        lines.append(
            f"| {r['edit']} | {r['10s']:.0f} | {e10 if e10 is None else f'{e10:.0f}'} | {r['5s']:.0f} | "
            f"{e5 if e5 is None else f'{e5:.0f}'} | {r['10s_repeats']} / {r['5s_repeats']} | "
            f"{r['10s_wrong']} / {r['5s_wrong']} | {goal} |"
        )
    found, total = res["nomatch"]  # type: ignore[misc]
    med = res["median_offset_err_ms"]
    lines += [
        "",
        f"- No-match queries (10 s of unregistered music, unregistered meeting speech, noise): "
        f"{found} of {total} produced a finding ({100 * found / total:.1f} %; goal <= 0.1 %).",
        f"- Median offset error over all hits: {med:.0f} ms (goal <= 50 ms)."
        if med is not None
        else "- no hits",
        f"- Speed on one core, MP3 files of the corpus: fingerprinting including decode {res['speed_fp']:.0f}x real "
        f"time (goal >= 500x); PyAV decoding to PCM arrays {res['speed_decode']:.0f}x, ratio "
        f"{res['speed_fp'] / res['speed_decode']:.2f} (goal >= 0.6); bare decoding that only counts samples "
        f"{res['speed_bare']:.0f}x, ratio {res['speed_fp'] / res['speed_bare']:.2f}.",
        f"- Index size: {res['index_bytes'] / 1e6:.2f} MB for {res['ref_hours']:.2f} h = "
        f"{res['index_bytes'] / 1e6 / res['ref_hours']:.2f} MB per hour of reference audio (goal <= 1 MB/h).",
        f"- Registration of the reference set: {res['register_s']:.1f} s.",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--media", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "media"
    )
    parser.add_argument("--queries", type=int, default=12)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--nomatch", type=int, default=1000, help="no-match queries")
    parser.add_argument("--write", type=Path, default=None, help="update this BENCHMARKS.md")
    args = parser.parse_args()
    if not (args.media / "audio").is_dir():
        raise SystemExit(f"no corpus at {args.media}: pass --media")
    with tempfile.TemporaryDirectory(prefix="clearance-bench-") as tmp:
        res = run(args.media, args.queries, args.seed, Path(tmp), args.nomatch)
    command = (
        f"python -m benchmarks.audio --queries {args.queries} --seed {args.seed} --nomatch {args.nomatch}"
    )
    text = render(res, command)
    print(text)
    if args.write:
        write_section(args.write, "Audio matching", text)


if __name__ == "__main__":
    main()
