"""Screen a text prompt before generating: the ``clearance.prompt/1`` report.

The catalogue's terms (names, aliases and anchors of works and identities) are matched by
:class:`~clearance.policy.prompts.PromptScreener`; each matched asset is decided by its policy, its
licensees and its flags (:func:`~clearance.policy.decide.asset_decision`), and the strictest decision
wins, as for a clip.
"""

from __future__ import annotations

import hashlib
import time
from typing import Any

from pydantic import BaseModel, Field

from clearance.catalog.store import Catalog
from clearance.policy.decide import POLICY_VERSION, asset_decision, decide
from clearance.policy.prompts import PromptScreener, checked_prompt
from clearance.policy.rules import rules_for
from clearance.scan.pipeline import Report

PROMPT_SCHEMA = "clearance.prompt/1"


class PromptFinding(BaseModel):
    """One work or identity a prompt names."""

    kind: str  # identity | work
    id: str
    name: str  # the identity's name or the work's title
    owner: str
    term: str  # the registered term that matched
    term_kind: str  # name | alias | anchor
    match: str  # exact | alias | transliteration | obfuscation | misspelling | anchor
    text: str  # the prompt's words that matched
    score: float  # 0-1: 1 less the edits per letter for a misspelling, the share of phrases for an anchor
    policy: str  # the asset's own policy
    decision: str  # for this asset and this licensee
    rule: str  # why: "policy block", "licensed to X", "minor: never allowed"


class PromptReport(Report):
    """The prompt report (schema ``clearance.prompt/1``)."""

    schema_: str = Field(PROMPT_SCHEMA, alias="schema")
    scan_id: str | None = None
    input: dict[str, Any]
    licensee: str | None
    decision: str
    policy_version: str = POLICY_VERSION
    labels: list[str] = Field(default_factory=list)  # what the generated output must carry, by the rules
    matches: list[PromptFinding]
    timings: dict[str, float]


def check_prompt(
    catalog: Catalog,
    prompt: str | bytes,
    *,
    licensee: str | None = None,
    record: bool = True,
    screener: PromptScreener | None = None,
) -> PromptReport:
    """Which registered works and identities ``prompt`` names, and the decision for ``licensee``.

    ``screener`` reuses one built from ``catalog.prompt_terms()`` across many prompts; without it
    one is built for this prompt. A recorded report gets a ``scan_id`` for ``clearance explain``."""
    t0 = time.perf_counter()
    rules = rules_for(catalog.settings.policy_file)
    text = checked_prompt(prompt, catalog.settings.limits.max_prompt_chars)
    if screener is None:
        screener = PromptScreener(catalog.prompt_terms())
    t1 = time.perf_counter()
    found = screener.screen(text)
    works = catalog.work_meta(m.asset_id for m in found if m.asset_kind == "work")
    people = catalog.identity_meta(m.asset_id for m in found if m.asset_kind == "identity")
    work_licensees = catalog.licensees_of(works)
    matches = []
    for m in found:
        if m.asset_kind == "work" and m.asset_id in works:
            w = works[m.asset_id]
            name, owner, policy = w.title, w.owner, w.policy
            decision, rule = asset_decision(
                w.policy, licensees=work_licensees.get(w.id, ()), licensee=licensee
            )
        elif m.asset_kind == "identity" and m.asset_id in people:
            p = people[m.asset_id]
            name, owner, policy = p.name, p.owner, p.policy
            decision, rule = asset_decision(p.policy, licensees=p.licensees, licensee=licensee, minor=p.minor)
        else:
            continue  # removed since the screener was built
        decision, rule = rules.apply("prompt", decision, rule, m.score)
        matches.append(
            PromptFinding(
                kind=m.asset_kind,
                id=m.asset_id,
                name=name,
                owner=owner,
                term=m.term,
                term_kind=m.term_kind,
                match=m.match,
                text=m.text,
                score=m.score,
                policy=policy,
                decision=decision,
                rule=rule,
            )
        )
    report = PromptReport(
        input={"prompt": text, "sha256": hashlib.sha256(text.encode()).hexdigest(), "chars": len(text)},
        licensee=licensee,
        decision=decide(m.decision for m in matches),
        policy_version=rules.version,
        labels=rules.required_labels,
        matches=matches,
        timings={"build_s": t1 - t0, "screen_s": time.perf_counter() - t1},
    )
    if record:
        report.scan_id = catalog.record_scan(report.to_json_dict())
    return report
