"""Screen one input against the catalogue and produce the ``clearance.scan/1`` report.

The pipeline decodes once, hands the decoded media to every signal type that applies, searches each
type's index generations, aligns the hits into segments and lets the policy layer decide. It knows
signal types only through the :class:`~clearance.fingerprint.SignalType` protocol.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from clearance.catalog.store import Catalog
from clearance.fingerprint.base import Fingerprint, SignalType, active_signal_types
from clearance.index.postings import Generation
from clearance.match.align import Segment
from clearance.media.decode import DecodedMedia, display_name
from clearance.media.sandbox import decode_input
from clearance.policy.decide import POLICY_VERSION, asset_decision, decide
from clearance.policy.rules import rules_for

REPORT_SCHEMA = "clearance.scan/1"
MAX_ALTERNATIVES = 5
JOIN_TOLERANCE_S = 2.0
"""A weaker finding whose ends lie this close to the kept finding's line joins it: the spacing of the
coarsest reference axis (local features keep a picture every 2 s)."""
JOIN_MIN_GROWTH_S = 0.25
"""A joined finding moves an end of the kept one's span only where it reaches more than this beyond."""


class InputInfo(BaseModel):
    path: str
    sha256: str
    duration: float
    has_video: bool
    has_audio: bool


class Finding(BaseModel):
    """One matched segment (contract: see DESIGN.md section 4)."""

    kind: str
    work_id: str
    title: str
    owner: str
    query_start: float
    query_end: float
    ref_start: float | None
    ref_end: float | None
    speed: float
    score: float = Field(ge=0.0, le=1.0)
    policy: str
    evidence: dict[str, Any] = Field(default_factory=dict)
    decision: str = ""  # for this finding, under the rules in force
    rule: str = ""  # why: "policy block", or the deployment rule that fired


class Report(BaseModel):
    """What the scan and prompt reports share: ``schema`` as their first key, and plain JSON."""

    model_config = {"populate_by_name": True}

    def to_json_dict(self) -> dict[str, Any]:
        """The report as plain JSON data, with ``schema`` as its first key."""
        return self.model_dump(by_alias=True)


class ScanReport(Report):
    """The scan report (schema ``clearance.scan/1``)."""

    schema_: str = Field(REPORT_SCHEMA, alias="schema")
    scan_id: str | None = None
    input: InputInfo
    decision: str
    licensee: str | None = None  # who asked (``--as``): its licences allow what they cover
    policy_version: str = POLICY_VERSION
    labels: list[str] = Field(default_factory=list)  # what released output must carry, by the rules
    findings: list[Finding]
    timings: dict[str, float]


def scan(
    catalog: Catalog,
    path: Path | str,
    *,
    record: bool = True,
    min_score: float | None = None,
    licensee: str | None = None,
) -> ScanReport:
    """Screen ``path`` against ``catalog``: findings per work and segment, and the decision.

    >>> report = scan(Catalog.open("/tmp/cat"), "clip.mp4")   # doctest: +SKIP
    >>> report.decision, [(f.title, f.query_start) for f in report.findings]   # doctest: +SKIP
    ('block', [('song', 4.02)])
    """
    started = time.perf_counter()
    media = decode_input(path, limits=catalog.settings.limits)
    decoded = time.perf_counter()
    threshold = catalog.settings.audio_min_score if min_score is None else min_score
    segments: list[tuple[SignalType, Segment]] = []
    fingerprint_s = search_s = 0.0
    for signal in active_signal_types(catalog.settings.signals_off).values():
        if not signal.applies_to(media):
            continue
        t0 = time.perf_counter()
        fp = signal.query(media)
        t1 = time.perf_counter()
        generations = catalog.generations(signal.name)  # one listing: verified against what was searched
        candidates = signal.propose(generations, fp, catalog.settings.search.max_hits)
        candidates = candidates[: catalog.settings.search.max_verify]
        verified = _verify(generations, signal, fp, candidates)
        t2 = time.perf_counter()
        fingerprint_s += t1 - t0
        search_s += t2 - t1
        segments.extend((signal, seg) for seg in verified if seg.score >= threshold)
    findings = _findings(catalog, segments)
    rules = rules_for(catalog.settings.policy_file)
    licensees = catalog.licensees_of(f.work_id for f in findings)
    for f in findings:
        by_asset = asset_decision(f.policy, licensees=licensees.get(f.work_id, ()), licensee=licensee)
        f.decision, f.rule = rules.apply(f.kind, *by_asset, f.score)
    report = ScanReport(
        input=_input_info(media),
        decision=decide(f.decision for f in findings),
        licensee=licensee,
        policy_version=rules.version,
        labels=rules.required_labels,
        findings=findings,
        timings={
            "decode_s": round(decoded - started, 4),
            "fingerprint_s": round(fingerprint_s, 4),
            "search_s": round(search_s, 4),
            "total_s": round(time.perf_counter() - started, 4),
        },
    )
    if record:
        report.scan_id = catalog.record_scan(report.to_json_dict())
    return report


def _verify(
    generations: list[Generation], signal: SignalType, fp: Fingerprint, candidates: list[Segment]
) -> list[Segment]:
    """Each candidate re-scored by the signal type against the work's stored points."""
    if not candidates:
        return []
    out: list[Segment] = []
    for seg in candidates:
        found = next(
            ((g, g.work_index[seg.work_id]) for g in generations if seg.work_id in g.work_index), None
        )
        if found is None:
            continue
        checked = signal.verify(fp, found[0].points(found[1]), seg, len(candidates))
        if checked is not None:
            out.append(checked)
    return out


def _findings(catalog: Catalog, segments: list[tuple[SignalType, Segment]]) -> list[Finding]:
    works = catalog.work_meta(seg.work_id for _, seg in segments)
    out: list[Finding] = []
    for signal, seg in segments:
        work = works.get(seg.work_id)
        if work is None or work.status != "active":
            continue  # removed or disabled since the generation was written
        still = work.kind == "image"
        out.append(
            Finding(
                kind="image" if still else signal.kind,
                work_id=work.id,
                title=work.title,
                owner=work.owner,
                query_start=seg.query_start,
                query_end=seg.query_end,
                ref_start=None if still else seg.ref_start,
                ref_end=None if still else seg.ref_end,
                speed=seg.speed,
                score=seg.score,
                policy=work.policy,
                evidence={"signal": signal.name, **seg.evidence},
            )
        )
    out.sort(key=lambda f: (f.query_start, -f.score))
    return _drop_shadowed(out)


def _drop_shadowed(findings: list[Finding]) -> list[Finding]:
    """Keep, for each work and stretch of the query, the strongest segment only.

    Repeated material (a chorus, a loop) aligns at several reference offsets at once; the weaker
    alignments of the same query stretch are alternatives, not further copies, and are listed in the
    kept finding's ``evidence["alternatives"]``. A weaker finding on the kept one's own line (another
    signal that saw the same copy, perhaps over a longer stretch) is joined to it instead: the kept
    finding's spans grow to cover both, along its line (where the other reaches more than
    ``JOIN_MIN_GROWTH_S`` beyond), and the other is listed in ``evidence["joined"]``.
    """
    kept: list[Finding] = []
    for f in sorted(findings, key=_strength):
        home = next(
            (
                k
                for k in kept
                if k.work_id == f.work_id
                and k.kind == f.kind
                and min(k.query_end, f.query_end) - max(k.query_start, f.query_start)
                > 0.5 * min(k.query_end - k.query_start, f.query_end - f.query_start)
            ),
            None,
        )
        if home is None:
            kept.append(f)
        elif _on_line(home, f):
            _join(home, f)
        elif len(home.evidence.setdefault("alternatives", [])) < MAX_ALTERNATIVES:
            home.evidence["alternatives"].append(
                {"ref_start": f.ref_start, "ref_end": f.ref_end, "score": f.score}
            )
    kept.sort(key=lambda f: (f.query_start, -f.score))
    return kept


def _on_line(k: Finding, f: Finding) -> bool:
    if k.ref_start is None or f.ref_start is None or f.ref_end is None:
        return k.ref_start is None and f.ref_start is None  # two spans of one still image
    return (
        abs(_ref_at(k, f.query_start) - f.ref_start) <= JOIN_TOLERANCE_S
        and abs(_ref_at(k, f.query_end) - f.ref_end) <= JOIN_TOLERANCE_S
    )


def _ref_at(k: Finding, t: float) -> float:
    assert k.ref_start is not None
    return k.ref_start + k.speed * (t - k.query_start)


def _join(k: Finding, f: Finding) -> None:
    # Decision: local features place a copy's ends to half a detail picture (0.25 s either way), frame
    # hashes to the frame; growing the frame hashes' span by the pictures' padding cost the video
    # benchmark 0.002 of micro-AP (measured for issue 3), so only a longer reach counts.
    k.evidence.setdefault("joined", []).append(
        {
            "signal": f.evidence.get("signal"),
            "query_start": f.query_start,
            "query_end": f.query_end,
            "score": f.score,
        }
    )
    if f.query_start < k.query_start - JOIN_MIN_GROWTH_S:
        if k.ref_start is not None:
            k.ref_start = round(max(0.0, _ref_at(k, f.query_start)), 3)
        k.query_start = f.query_start
    if f.query_end > k.query_end + JOIN_MIN_GROWTH_S:
        if k.ref_end is not None:
            k.ref_end = round(_ref_at(k, f.query_end), 3)
        k.query_end = f.query_end


def _strength(f: Finding) -> tuple[float, float]:
    # Scores saturate at 1; the false-alarm probability behind them does not.
    return (-f.score, float(f.evidence.get("log10_false_alarm", 0.0)))


def _input_info(media: DecodedMedia) -> InputInfo:
    return InputInfo(
        path=display_name(media.path),
        sha256=media.sha256,
        duration=round(media.duration_s, 3),
        has_video=media.has_video,
        has_audio=media.has_audio,
    )
