"""Audio matching benchmark: accuracy per edit and query length beside two peers, no-match rate, speed,
index size.

    bash benchmarks/setup.sh          # Debian soundtracks, Chromaprint, the peers from PyPI
    python -m benchmarks.audio [--media ../shared/media] [--queries 100] [--jobs 2] [--write BENCHMARKS.md]

References: the music of ``media/audio`` (less low-quality duplicates and hold-outs), the speech of
``media/speech`` (LibriSpeech readers, JFK) as spoken-word works, and the Debian game soundtracks
(``benchmarks.corpus``), every fifth track held out (less three made from registered ones). Hold-outs
are never registered: they give the unrelated head and tail of every query and the no-match set. Queries are excerpts at random offsets,
edited, embedded between unrelated audio at the excerpt's loudness, written to a file and scanned through ``clearance.scan``
like any user input; the peers get the same file, decoded the same way.

Every query is made from its own seed (run seed, edit, length, number), so a run gives the same
queries whatever ``--jobs`` is.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import statistics
import tempfile
import time
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import av
import numpy as np
import scipy.signal
from rich.progress import Progress

from benchmarks import corpus, edits, report
from benchmarks.peers import PEER_RATE, Audfprint, Chromaprint
from benchmarks.report import pool_map, wilson_low
from clearance import Catalog, Settings, decode, scan
from clearance.fingerprint.audio import AudioLandmarks, find_peaks, shift_counts
from clearance.media import synth
from clearance.media.decode import AUDIO_RATE

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
LENGTHS = (10.0, 5.0)
NOMATCH_GOAL = 0.001
TOLERANCE_S = 0.5


def goal(edit: str) -> int | None:
    if edit in GOALS:
        return GOALS[edit]
    return 95 if edit.split("_")[0] in {"speed", "pitch", "tempo"} else None


@dataclass
class Record:
    """One query and what each matcher said about it."""

    edit: str  # "" for a no-match query
    length: float
    kind: str = "match"  # no-match queries: music, speech, noise or silence
    track: str = ""
    start: float = 0.0  # excerpt start in the reference (s)
    factor: float = 1.0  # reference seconds per query second
    q_head: float = 0.0  # where the excerpt starts in the query (s)
    findings: list[tuple[str, float, float, float]] = field(default_factory=list)  # work, q0, r0, r1
    peers: dict[str, tuple[str, float, float] | None] = field(default_factory=dict)  # name, ref@0, score
    shared: list[float] = field(default_factory=list)  # no-match: waveform correlation of each finding

    def predicted(self, q: float) -> float:
        """Where query time ``q`` lies in the reference, by construction."""
        return self.start + self.factor * (q - self.q_head)


# Shared with the worker processes (fork): set once before the pool starts.
_STATE: dict[str, Any] = {}


def _load(path: Path, rate: int = edits.RATE) -> np.ndarray:
    return decode(path, audio_rate=rate).audio


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


SHARED_CORRELATION = 0.5


def waveform_correlation(query: np.ndarray, ref: np.ndarray, q0: float, q1: float, r0: float) -> float:
    """Peak normalised cross-correlation of the query span ``[q0, q1]`` with the reference around ``r0``
    (within 0.2 s), both at ``edits.RATE``.

    An independent check of a no-match finding: two recordings that share a sample or a stem correlate
    sample by sample (0.6 and more), while music that only sounds alike stays near 0.1.
    """
    rate = edits.RATE
    a = query[int(q0 * rate) : int(q1 * rate)].astype(np.float64)
    lo = max(0, int((r0 - 0.2) * rate))
    b = ref[lo : lo + len(a) + int(0.4 * rate)].astype(np.float64)
    if len(a) < rate // 4 or len(b) < len(a):
        return 0.0
    cc = scipy.signal.correlate(b, a, mode="valid", method="fft")
    c2 = np.concatenate([[0.0], np.cumsum(b * b)])
    energy = np.sqrt(np.maximum(c2[len(a) :] - c2[: -len(a)], 0.0)) * np.linalg.norm(a)
    return float(np.max(np.abs(cc) / (energy + 1e-9)))


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64)))) if len(x) else 0.0


MAX_FILLER_GAIN = 10.0


def _embed(piece: np.ndarray, head: np.ndarray, tail: np.ndarray) -> np.ndarray:
    """``head + piece + tail``, the unrelated head and tail brought to the excerpt's loudness.

    An edit that mixes at an SNR (noise, speech over) scales to the whole query: at the filler's own
    loudness a quiet excerpt between loud music sat far below the nominal SNR (-7 to -18 dB in four of
    the six pink 0 dB queries missed in one run). Level-matched, the SNR is the excerpt's own.
    """
    gain = min(MAX_FILLER_GAIN, _rms(piece) / max(_rms(np.concatenate([head, tail])), 1e-9))
    clip = np.concatenate([head * gain, piece, tail * gain]).astype(np.float32)
    peak = float(np.abs(clip).max()) if len(clip) else 0.0
    return clip * np.float32(0.99 / peak) if peak > 0.99 else clip


def _query(spec: tuple[int, str, float, int]) -> Record:
    """Make one query from its own seed, scan it with clearance and with each peer."""
    seed, edit, length, i = spec
    s = _STATE
    names = list(edits.REGISTRY)
    rng = np.random.default_rng([seed, names.index(edit) if edit else 99, int(length), i])
    filler, speech = s["filler"], s["speech"]
    rate = edits.RATE
    qdir = Path(tempfile.mkdtemp(dir=s["workdir"]))
    if edit:
        tracks = [t for t in s["tracks"] if len(s["pcm"][t]) > (length + 1) * rate]
        track = tracks[int(rng.integers(0, len(tracks)))]
        x = s["pcm"][track]
        start = float(rng.uniform(0, len(x) / rate - length))
        piece = x[int(start * rate) : int((start + length) * rate)]
        head_s = float(rng.uniform(2, 4))
        h0 = int(rng.integers(0, len(filler) - 8 * rate))
        clip = _embed(piece, filler[h0 : h0 + int(head_s * rate)], filler[h0 + 5 * rate : h0 + 8 * rate])
        edited, factor = edits.REGISTRY[edit](clip, rng, speech, qdir)
        rec = Record(edit, length, track=track, start=start, factor=factor, q_head=head_s / factor)
    else:
        # No-match: unregistered music, unregistered speech, noise, near-silence.
        kind = (("music", "speech") * 4 + ("silence", "noise"))[i % 10]
        if kind == "noise":
            edited = edits.white_noise(np.zeros(10 * rate, np.float32) + 1e-3, 0, rng)
        elif kind == "silence":
            edited = (rng.normal(size=10 * rate) * 1e-4).astype(np.float32)
        else:
            src = filler if kind == "music" else speech
            s0 = int(rng.integers(0, len(src) - 10 * rate))
            edited = src[s0 : s0 + 10 * rate]
        rec = Record("", length, kind=kind)
    path = edited if isinstance(edited, Path) else synth.write_audio(qdir / "q.flac", edited, rate=rate)
    catalog = s.get("catalog")
    if catalog is None:
        catalog = s["catalog"] = Catalog.open(s["catalog_dir"])
    report = scan(catalog, path, record=False)
    rec.findings = [
        (s["names"][f.work_id], f.query_start, f.ref_start or 0.0, f.ref_end or 0.0) for f in report.findings
    ]
    if not edit and isinstance(edited, np.ndarray):
        rec.shared = [
            waveform_correlation(
                edited, s["pcm"][s["names"][f.work_id]], f.query_start, f.query_end, f.ref_start
            )
            if s["names"][f.work_id] in s["pcm"] and f.ref_start is not None
            else 0.0
            for f in report.findings
        ]
    pcm = _load(path, PEER_RATE)
    for peer in s["peers"]:
        m = peer.query(pcm)
        rec.peers[peer.label] = None if m is None else (m.name, m.ref_at_query_zero_s, m.score)
    shutil.rmtree(qdir, ignore_errors=True)
    return rec


def _specs(seed: int, n_queries: int, n_nomatch: int) -> list[tuple[int, str, float, int]]:
    specs = [(seed, e, length, i) for e in edits.REGISTRY for length in LENGTHS for i in range(n_queries)]
    return specs + [(seed, "", 10.0, i) for i in range(n_nomatch)]


def _peer_threshold(nomatch: list[Record], label: str) -> float:
    """The lowest score above which at most ``NOMATCH_GOAL`` of the music and speech no-match
    queries lie. Silence and steady noise are left out: Chromaprint's items for them repeat one
    value and match the quiet stretches of references exactly, which would set its bar at 1.0."""
    nomatch = [r for r in nomatch if r.kind in {"music", "speech"}]
    scores = sorted((r.peers[label][2] if r.peers[label] else 0.0 for r in nomatch), reverse=True)  # type: ignore[index]
    k = int(NOMATCH_GOAL * len(scores))
    return scores[k] if k < len(scores) else 0.0


def _peer_hit(rec: Record, label: str, threshold: float, pcm8: dict[str, np.ndarray]) -> bool:
    m = rec.peers.get(label)
    if m is None or m[2] <= threshold or m[0] != rec.track:
        return False
    mid = rec.q_head + rec.length / rec.factor / 2
    if abs(m[1] + mid - rec.predicted(mid)) <= TOLERANCE_S:
        return True
    q0 = rec.q_head
    return same_material(pcm8[rec.track], rec.predicted(q0), m[1] + q0, m[1] + q0 + rec.length)


def evaluate(records: list[Record], pcm8: dict[str, np.ndarray], labels: list[str]) -> dict[str, Any]:
    """Per (edit, length): hits of clearance and of each peer, offset errors, repeats, wrong works."""
    nomatch = [r for r in records if not r.edit]
    thresholds = {label: _peer_threshold(nomatch, label) for label in labels}
    cells: dict[tuple[str, float], dict[str, Any]] = defaultdict(
        lambda: {"n": 0, "hits": 0, "errors": [], "repeats": 0, "wrong": 0, **{lb: 0 for lb in labels}}
    )
    for rec in records:
        if not rec.edit:
            continue
        c = cells[(rec.edit, rec.length)]
        c["n"] += 1
        good = False
        for work, q0, r0, r1 in rec.findings:
            if work != rec.track:
                c["wrong"] += 1
                continue
            err = abs(r0 - rec.predicted(q0))
            if err <= TOLERANCE_S:
                good = True
                c["errors"].append(err)
            elif same_material(pcm8[rec.track], rec.predicted(q0), r0, r1):
                good = True
                c["repeats"] += 1
        c["hits"] += good
        for label in labels:
            c[label] += _peer_hit(rec, label, thresholds[label], pcm8)
    # A finding on a query that holds a registered recording (a held-out track reusing a registered one's
    # stem) is right: it is reported apart and not counted against the no-match rate.
    shared = {id(r) for r in nomatch if r.findings and max(r.shared, default=0.0) >= SHARED_CORRELATION}
    found = sum(bool(r.findings) for r in nomatch) - len(shared)
    spoken = [r for r in nomatch if r.kind in {"music", "speech"}]
    peer_found = {
        lb: sum(bool(r.peers[lb]) and r.peers[lb][2] > thresholds[lb] for r in spoken) for lb in labels
    }  # type: ignore[index]
    kinds = ("music", "speech", "noise", "silence")
    by_kind = {
        k: (
            sum(bool(r.findings) for r in nomatch if r.kind == k and id(r) not in shared),
            sum(r.kind == k for r in nomatch if id(r) not in shared),
        )
        for k in kinds
    }
    errors = [e for c in cells.values() for e in c["errors"]]
    return {
        "cells": dict(cells),
        "thresholds": thresholds,
        "nomatch": (found, len(nomatch) - len(shared)),
        "nomatch_shared": len(shared),
        "nomatch_peers": peer_found,
        "nomatch_by_kind": by_kind,
        "median_offset_err_ms": 1000 * statistics.median(errors) if errors else None,
    }


def run(
    media: Path,
    n_queries: int,
    seed: int,
    workdir: Path,
    n_nomatch: int,
    jobs: int,
    debian: bool = True,
    records_out: Path | None = None,
) -> dict[str, Any]:
    c = corpus.load(media, debian=debian)
    catalog = Catalog.open(workdir / "catalog", settings=Settings())
    with Progress(transient=True) as progress:
        task = progress.add_task("registering references (clearance)", total=None)
        t0 = time.perf_counter()
        results = catalog.register(c.references, owner="bench", strict=False)
        register_s = time.perf_counter() - t0
        progress.update(task, total=1, completed=1)
        names = {r.work_id: Path(r.path).name for r in results if r.work_id}
        ref_hours = sum(w.duration_s for w in catalog.works()) / 3600
        index_bytes = catalog.index_size_bytes("audio_landmarks")
        catalog.close()
        peers: list[Any] = [Audfprint(), Chromaprint()]
        task = progress.add_task("registering references (peers)", total=len(c.references))
        for p in c.references:
            pcm = _load(p, PEER_RATE)
            for peer in peers:
                peer.add(p.name, pcm)
            progress.advance(task)
    tracks = [p.name for p in c.music]
    _STATE.update(
        workdir=workdir,
        catalog_dir=workdir / "catalog",
        names=names,
        tracks=tracks,
        pcm={p.name: _load(p) for p in c.music},
        filler=np.concatenate([_load(p) for p in c.holdout_music]),
        speech=np.concatenate([_load(p) for p in c.holdout_speech]),
        peers=peers,
    )
    records = pool_map(_query, _specs(seed, n_queries, n_nomatch), jobs, "queries (clearance and peers)")
    _STATE.clear()
    if records_out is not None:
        records_out.write_text(json.dumps([asdict(r) for r in records]), encoding="utf-8")
    pcm8 = {p.name: _load(p, AUDIO_RATE) for p in c.music}
    labels = [p.label for p in peers]
    res = evaluate(records, pcm8, labels)
    mp3 = [p for p in c.music if p.suffix == ".mp3"]
    res.update(
        n_queries=n_queries,
        refs=len(names),
        ref_hours=ref_hours,
        debian_tracks=len(corpus.debian_music()) if debian else 0,
        index_bytes=index_bytes,
        register_s=register_s,
        speed=speed_ratio(mp3),
        labels=labels,
    )
    return res


def speed_ratio(files: list[Path]) -> dict[str, float]:
    """Real-time factors on one core, each measured alternately with the others in one run.

    ``fp``: clearance fingerprinting including decode; ``pcm``: PyAV decoding to PCM arrays (what any
    fingerprinter must do at least); ``bare``: decoding that only counts samples; and each peer's
    fingerprinting, including the same PyAV decode to its rate.
    """
    signal_type = AudioLandmarks()
    afp, chroma = Audfprint(), Chromaprint()
    spent: dict[str, float] = defaultdict(float)
    audio_s = 0.0

    def timed(key: str, fn: Any) -> None:
        t = time.perf_counter()
        fn()
        spent[key] += time.perf_counter() - t

    def bare(path: Path) -> None:
        with av.open(str(path)) as c:
            sum(fr.samples for fr in c.decode(audio=0))

    def pcm(path: Path) -> None:
        with av.open(str(path)) as c:
            for fr in c.decode(audio=0):
                fr.to_ndarray()

    for _ in range(2):
        for path in files:
            with av.open(str(path)) as c:
                audio_s += float(c.duration or 0) / 1e6
            timed("bare", lambda p=path: bare(p))
            timed("pcm", lambda p=path: pcm(p))
            timed("fp", lambda p=path: signal_type.reference(decode(p)))
            timed("audfprint2", lambda p=path: afp._hashes(afp.ref_analyzer, _load(p, PEER_RATE), 1))
            timed("chromaprint", lambda p=path: chroma.fingerprint(_load(p, PEER_RATE)))
    return {k: audio_s / v for k, v in spent.items()}


def _pct(k: int, n: int) -> str:
    return f"{100 * k / n:.1f}" if n else "-"


def render(res: dict[str, Any], command: str) -> str:
    labels: list[str] = res["labels"]
    cells = res["cells"]
    th = res["thresholds"]
    lines = [
        f"Command: `{command}`  ",
        f"Date: {date.today().isoformat()}; machine: {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}.  ",
        f"References: {res['refs']} works, {res['ref_hours']:.2f} h: the music of `shared/media/audio` less hold-outs, "
        f"LibriSpeech/JFK speech, and {res['debian_tracks']} tracks of Debian's game soundtracks "
        f"({', '.join(corpus.DEBIAN_PACKAGES)}), every fifth held out, except that held-out tracks built from "
        f"registered ones ({', '.join(sorted(corpus.SHARES_RECORDINGS))}) are left out altogether. "
        f"Queries per edit and length: {res['n_queries']}, each embedded between 2-4 s and 3 s of unregistered "
        "music brought to the excerpt's loudness (so a noise or speech SNR is the excerpt's own). A hit is the right work with the offset within 0.5 s, or at a span of the work that repeats the "
        "excerpt (loops, choruses: checked peak by peak on the clean reference). "
        "The peers run on the same query files; each peer's threshold is set on the same no-match music and speech so "
        f"that at most {100 * NOMATCH_GOAL:.1f} % of them give a finding (audfprint2: filtered hash count > "
        f"{th.get('audfprint2', 0):.0f}; chromaprint: share of matching items > {th.get('chromaprint', 0):.2f}). "
        "'low' is the lower end of the 95 % Wilson interval of clearance's rate.",
        "",
    ]
    head = "| edit | goal (10 s) |"
    for length in LENGTHS:
        head += (
            f" {length:.0f} s clearance % (low) | "
            + " | ".join(f"{length:.0f} s {lb} %" for lb in labels)
            + " |"
        )
    head += " median offset error ms (10 s / 5 s) | hits at a repeat (10 s / 5 s) | wrong-work findings (10 s / 5 s) |"
    lines += [head, "|" + "---|" * (2 + len(LENGTHS) * (1 + len(labels)) + 3)]
    for edit in edits.REGISTRY:
        g = goal(edit)
        row = f"| {edit} | {g if g is not None else ''} |"
        errs, reps, wrong = [], [], []
        for length in LENGTHS:
            c = cells.get((edit, length))
            if c is None:
                row += " - |" * (1 + len(labels))
                continue
            row += f" {_pct(c['hits'], c['n'])} ({wilson_low(c['hits'], c['n']):.0f}) |"
            row += "".join(f" {_pct(c[lb], c['n'])} |" for lb in labels)
            errs.append(f"{1000 * statistics.median(c['errors']):.0f}" if c["errors"] else "-")
            reps.append(str(c["repeats"]))
            wrong.append(str(c["wrong"]))
        row += f" {' / '.join(errs)} | {' / '.join(reps)} | {' / '.join(wrong)} |"
        lines.append(row)
    found, total = res["nomatch"]
    sp = res["speed"]
    med = res["median_offset_err_ms"]
    queries = sum(c["n"] for c in cells.values())
    wrong_total = sum(c["wrong"] for c in cells.values())
    lines += [
        "",
        f"- No-match queries (10 s of unregistered music, unregistered meeting speech, noise, near-silence): "
        f"clearance gave a finding for {found} of {total} ({100 * found / max(1, total):.2f} %; goal <= "
        f"{100 * NOMATCH_GOAL:.1f} %); by kind: "
        + ", ".join(f"{k} {f} of {n}" for k, (f, n) in res["nomatch_by_kind"].items())
        + ". The peers' thresholds are set on the music and speech ones (in Chromaprint, silence and steady "
        "noise match the quiet stretches of references exactly), so there their rate is "
        + ", ".join(f"{lb} {v}" for lb, v in res["nomatch_peers"].items())
        + " by construction. "
        f"Left out of these counts: {res.get('nomatch_shared', 0)} queries whose finding's span correlates with "
        f"the reference's waveform at >= {SHARED_CORRELATION} (the held-out track reuses a registered "
        "recording there).",
        f"- Wrong-work findings over all {queries} match queries: {wrong_total}.",
        f"- Median offset error over all hits: {med:.0f} ms (goal <= 50 ms)."
        if med is not None
        else "- no hits",
        f"- Speed on one core, the MP3 files among the references, each measured alternately in one run: "
        f"clearance fingerprinting including decode {sp['fp']:.0f}x real time (goal >= 500x); PyAV decoding to "
        f"PCM arrays {sp['pcm']:.0f}x, ratio {sp['fp'] / sp['pcm']:.2f} (goal >= 0.6); bare decoding that only "
        f"counts samples {sp['bare']:.0f}x, ratio {sp['fp'] / sp['bare']:.2f}. Peers, including the same decode: "
        + ", ".join(
            f"{lb} {sp[lb]:.0f}x (clearance is {sp['fp'] / sp[lb]:.1f} times as fast)" for lb in labels
        )
        + ".",
        f"- Index size: {res['index_bytes'] / 1e6:.2f} MB for {res['ref_hours']:.2f} h = "
        f"{res['index_bytes'] / 1e6 / res['ref_hours']:.2f} MB per hour of reference audio (goal <= 1 MB/h).",
        f"- Registration of the reference set by clearance: {res['register_s']:.0f} s.",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = report.parser(__doc__, 100, "queries per edit and length", 3000)
    parser.add_argument("--no-debian", action="store_true", help="shared/media only (a quick run)")
    args = parser.parse_args()
    report.require_corpus(args.media, "audio")
    with tempfile.TemporaryDirectory(prefix="clearance-bench-") as tmp:
        res = run(
            args.media,
            args.queries,
            args.seed,
            Path(tmp),
            args.nomatch,
            args.jobs,
            not args.no_debian,
            args.records,
        )
    command = (
        f"python -m benchmarks.audio --queries {args.queries} --seed {args.seed} --nomatch {args.nomatch} "
        f"--jobs {args.jobs}" + (" --no-debian" if args.no_debian else "")
    )
    text = render(res, command)
    report.publish(text, args.write, "Audio matching")


if __name__ == "__main__":
    main()
