"""A deployment's decision rules, from a policy file (TOML), on top of each asset's own policy.

    version = "acme/2026-12-01"   # required: recorded in every scan and prompt decision
    packs = ["eu-ai-act"]         # jurisdiction packs (``PACKS``), applied in order before the rest

    [review]
    below_score = 0.8             # a finding (media or prompt) scored under this is "review" at most
    prompt = 0.9                  # ... or, for findings of this kind, under this

    [kinds]
    voice = "block"               # a finding of this kind is decided so, whatever the asset's policy

    [labels]
    visible = true                # released output must carry a visible AI label
    machine_readable = true       # ... and a machine-readable one (C2PA manifest, watermark)

Without a file the rules are ``builtin/1``: each asset's policy alone. A file with an error is
refused whole, with its line: a deployment never runs on half its rules.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from clearance.errors import PolicyError
from clearance.policy.decide import DECISION_ORDER, POLICY_VERSION

FINDING_KINDS = ("audio", "video", "image", "face", "voice", "prompt")
LABELS = ("visible", "machine_readable")
PACKS: dict[str, dict[str, Any]] = {
    # EU AI Act, Art. 50(2): synthetic audio, image, video and text marked in a machine-readable format.
    "eu-ai-act": {"labels": {"machine_readable": True}},
    # China, GB 45438-2025: explicit (visible) and implicit (metadata) labels on generated content.
    "cn-gb45438": {"labels": {"visible": True, "machine_readable": True}},
    # Tennessee ELVIS Act: a voice likeness used without consent is actionable.
    "us-tn-elvis": {"kinds": {"voice": "block"}},
}


@dataclass(frozen=True)
class Rules:
    """The rules in force: what a finding's decision is, and what released output must carry."""

    version: str = POLICY_VERSION
    packs: tuple[str, ...] = ()
    review_below: float = 0.0
    review_below_by_kind: Mapping[str, float] = field(default_factory=dict)
    kinds: Mapping[str, str] = field(default_factory=dict)
    labels: Mapping[str, bool] = field(default_factory=dict)

    @property
    def required_labels(self) -> list[str]:
        """The labels released output must carry under these rules."""
        return [name for name, required in self.labels.items() if required]

    def apply(self, kind: str, decision: str, rule: str, score: float = 1.0) -> tuple[str, str]:
        """A finding's decision (and the rule that gave it) once these rules have had their say.

        ``decision`` and ``rule`` come from the asset (its policy, licence, flags); a kind rule
        replaces the asset's policy, not a licence (consent given) nor a minor's block."""
        if kind in self.kinds and rule.startswith("policy "):
            decision, rule = self.kinds[kind], f"{kind} findings are {self.kinds[kind]} ({self.version})"
        below = self.review_below_by_kind.get(kind, self.review_below)
        if decision == "block" and score < below:
            decision, rule = "review", f"score {score:.2f} under {below} ({self.version})"
        return decision, rule


def load_rules(path: Path) -> Rules:
    """The rules of the policy file at ``path``; ``PolicyError`` naming the line of any error."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PolicyError(f"cannot read policy file {path}: {exc}") from exc
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        found = re.search(r"line (\d+)", str(exc))
        line = found.group(1) if found else max(1, len(text.splitlines()))  # "at end of document"
        raise PolicyError(f"{path}:{line}: {str(exc).split(' (at')[0]}") from exc

    def fail(message: str, key: str, table: str | None = None) -> PolicyError:
        return PolicyError(f"{path}:{_line_of(text, key, table)}: {message}")

    for key in data:
        if key not in ("version", "packs", "review", "kinds", "labels"):
            raise fail(f"unknown key {key!r} (version, packs, review, kinds, labels)", key)
    version = data.get("version")
    if not isinstance(version, str) or not version.strip():
        raise fail("version must be a non-empty string: it is recorded in every decision", "version")
    merged: dict[str, dict[str, Any]] = {"review": {}, "kinds": {}, "labels": {}}
    packs = data.get("packs", [])
    if not isinstance(packs, list) or not all(isinstance(p, str) for p in packs):
        raise fail("packs must be a list of pack names", "packs")
    for pack in packs:
        if pack not in PACKS:
            raise fail(f"unknown pack {pack!r} (known: {', '.join(PACKS)})", "packs")
        for table, values in PACKS[pack].items():
            merged[table].update(values)
    for table in ("review", "kinds", "labels"):
        values = data.get(table, {})
        if not isinstance(values, dict):
            raise fail(f"{table} must be a table", table)
        merged[table].update(values)
    for key, value in merged["review"].items():
        if key != "below_score" and key not in FINDING_KINDS:
            known = ", ".join(FINDING_KINDS)
            raise fail(
                f"unknown key {key!r} in [review] (below_score, or a finding kind: {known})", key, "review"
            )
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
            raise fail(f"[review] {key} must be a number from 0 to 1", key, "review")
    for key, value in merged["kinds"].items():
        if key not in FINDING_KINDS:
            raise fail(f"unknown finding kind {key!r} in [kinds] ({', '.join(FINDING_KINDS)})", key, "kinds")
        if value not in DECISION_ORDER:
            raise fail(f"[kinds] {key} must be one of {', '.join(DECISION_ORDER)}", key, "kinds")
    for key, value in merged["labels"].items():
        if key not in LABELS:
            raise fail(f"unknown label {key!r} in [labels] ({', '.join(LABELS)})", key, "labels")
        if not isinstance(value, bool):
            raise fail(f"[labels] {key} must be true or false", key, "labels")
    return Rules(
        version=version.strip(),
        packs=tuple(packs),
        review_below=float(merged["review"].pop("below_score", 0.0)),
        review_below_by_kind={k: float(v) for k, v in merged["review"].items()},
        kinds=dict(merged["kinds"]),
        labels=dict(merged["labels"]),
    )


@lru_cache(maxsize=8)
def _cached(path: Path, mtime_ns: int) -> Rules:
    return load_rules(path)


def rules_for(path: Path | None) -> Rules:
    """The rules of the policy file at ``path`` (read again when it changes), or the built-in ones."""
    if path is None:
        return Rules()
    try:
        mtime = path.stat().st_mtime_ns
    except OSError as exc:
        raise PolicyError(f"cannot read policy file {path}: {exc.strerror}") from exc
    return _cached(path, mtime)


def _line_of(text: str, key: str, table: str | None) -> int | str:
    """The line where ``key`` is set (inside ``[table]`` when given), or where ``[key]`` opens."""
    current: str | None = None
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if header := re.fullmatch(r"\[\s*([^\]]+?)\s*\]", stripped):
            current = header.group(1)
            if table is None and current == key:
                return number
            continue
        if current == table and re.match(rf"{re.escape(key)}\s*=", stripped):
            return number
    return "?"
