"""Decision rules from a policy file: version, jurisdiction packs, kinds, review bands, labels."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from clearance import Catalog, PolicyError, Settings, scan
from clearance.media import synth
from clearance.policy.decide import asset_decision
from clearance.policy.rules import Rules, load_rules
from clearance.scan.prompt import check_prompt
from tests.conftest import excerpt
from tests.test_cli import run

GOOD = """\
version = "acme/2026-12-01"
packs = ["cn-gb45438", "us-tn-elvis"]

[review]
below_score = 0.8

[kinds]
prompt = "review"
"""


def test_a_policy_file_with_packs_is_read(tmp_path: Path) -> None:
    (tmp_path / "rules.toml").write_text(GOOD)
    rules = load_rules(tmp_path / "rules.toml")
    assert rules.version == "acme/2026-12-01" and rules.packs == ("cn-gb45438", "us-tn-elvis")
    assert rules.kinds == {"voice": "block", "prompt": "review"}
    assert rules.labels == {"visible": True, "machine_readable": True} and rules.review_below == 0.8


def test_rules_replace_a_policy_but_not_a_licence_or_a_minor() -> None:
    rules = Rules(version="v", kinds={"voice": "block", "prompt": "review"}, review_below=0.8)
    assert rules.apply("voice", *asset_decision("allow")) == ("block", "voice findings are block (v)")
    assert rules.apply("voice", *asset_decision("allow", licensees=["P"], licensee="P"))[0] == "allow"
    assert rules.apply("prompt", *asset_decision("block", minor=True)) == ("block", "minor: never allowed")
    assert rules.apply("audio", *asset_decision("block"), score=0.6) == ("review", "score 0.60 under 0.8 (v)")
    assert rules.apply("audio", *asset_decision("block"), score=0.9) == ("block", "policy block")
    banded = Rules(version="v", review_below=0.5, review_below_by_kind={"prompt": 0.9})
    assert banded.apply("prompt", *asset_decision("block"), score=0.8) == (
        "review",
        "score 0.80 under 0.9 (v)",
    )
    assert banded.apply("audio", *asset_decision("block"), score=0.8) == ("block", "policy block")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('version = "v"\npacks = ["eu-ai-act"\n', r"rules.toml:2: "),
        ('version = "v"\n\n[kinds]\nvoice = "maybe"\n', r"rules.toml:4: \[kinds\] voice must be one of"),
        ('version = "v"\n[kinds]\nsmell = "block"\n', r"rules.toml:3: unknown finding kind 'smell'"),
        ('version = "v"\npacks = ["mars"]\n', r"rules.toml:2: unknown pack 'mars'"),
        ("packs = []\n", r"rules.toml:\?: version must be a non-empty string"),
        (
            'version = "v"\n[review]\nbelow_score = 2\n',
            r"rules.toml:3: \[review\] below_score must be a number",
        ),
        ('version = "v"\n[review]\nprompt = true\n', r"rules.toml:3: \[review\] prompt must be a number"),
        ('version = "v"\n[review]\nsmell = 0.5\n', r"rules.toml:3: unknown key 'smell' in \[review\]"),
        ('version = "v"\ncolour = "red"\n', r"rules.toml:2: unknown key 'colour'"),
        (
            'version = "v"\n[labels]\nvisible = "yes"\n',
            r"rules.toml:3: \[labels\] visible must be true or false",
        ),
    ],
)
def test_a_policy_file_with_an_error_names_its_line(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "rules.toml").write_text(text)
    with pytest.raises(PolicyError, match=message):
        load_rules(tmp_path / "rules.toml")


def test_scans_and_prompts_record_the_rules_version(
    tmp_path: Path, registered: Path, songs: dict[str, np.ndarray]
) -> None:
    rules = tmp_path / "rules.toml"
    rules.write_text('version = "studio/7"\npacks = ["eu-ai-act"]\n[kinds]\naudio = "review"\n')
    clip = synth.write_audio(tmp_path / "clip.wav", excerpt(songs["song0"], 3.0, 10.0))
    with Catalog.open(registered, settings=Settings(policy_file=rules)) as cat:
        report = scan(cat, clip, record=False)
        assert report.policy_version == "studio/7" and report.labels == ["machine_readable"]
        assert (
            report.decision == "review" and report.findings[0].rule == "audio findings are review (studio/7)"
        )
    with Catalog.open(registered) as cat:
        assert scan(cat, clip, record=False).decision == "block"


def test_the_cli_takes_a_policy_file_and_refuses_a_broken_one(tmp_path: Path) -> None:
    cat = tmp_path / "cat"
    run("identity", "add", "Brad Pitt", "--owner", "CAA", catalog=cat)
    (tmp_path / "rules.toml").write_text('version = "studio/7"\n[kinds]\nprompt = "review"\n')
    checked = run(
        "--policy-file", str(tmp_path / "rules.toml"), "prompt", "check", "brad pitt", "--json", catalog=cat
    )
    assert checked.returncode == 0, checked.stderr
    report = json.loads(checked.stdout)
    assert report["decision"] == "review" and report["policy_version"] == "studio/7"
    explained = run("explain", report["scan_id"], catalog=cat)
    assert "policy version studio/7" in explained.stdout and "prompt findings are review" in explained.stdout
    (tmp_path / "bad.toml").write_text('version = "x"\n[kinds]\nprompt = "never"\n')
    bad = run("--policy-file", str(tmp_path / "bad.toml"), "prompt", "check", "brad pitt", catalog=cat)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1
    assert bad.stderr.startswith(f"error: {tmp_path / 'bad.toml'}:3: [kinds] prompt must be one of")


def test_a_licensed_work_is_allowed_to_its_licensees_alone(
    tmp_path: Path, song_files: dict[str, Path], songs: dict[str, np.ndarray]
) -> None:
    assert asset_decision("licensed") == ("block", "policy licensed (to its licensees alone)")
    cat_dir = tmp_path / "cat"
    registered = run(
        "register", str(song_files["song2"]), "--owner", "Label B", "--policy", "licensed", catalog=cat_dir
    )
    work_id = registered.stdout.split("\t")[0]
    allowed = run("work", "allow", work_id, "Studio P", "Studio Q", catalog=cat_dir)
    assert allowed.returncode == 0 and allowed.stdout.split() == ["Studio", "P", "Studio", "Q"]
    clip = synth.write_audio(tmp_path / "clip.wav", excerpt(songs["song2"], 2.0, 10.0))
    with Catalog.open(cat_dir) as cat:
        assert scan(cat, clip, record=False).decision == "block"
        report = scan(cat, clip, record=False, licensee="Studio Q")
        assert report.decision == "allow" and report.licensee == "Studio Q"
        assert report.findings[0].rule == "licensed to Studio Q"
    as_p = json.loads(run("scan", str(clip), "--as", "Studio P", "--json", catalog=cat_dir).stdout)
    assert as_p["decision"] == "allow" and as_p["findings"][0]["decision"] == "allow"
    unknown = run("work", "allow", "w0", "Studio P", catalog=cat_dir)
    assert unknown.returncode == 2 and unknown.stderr.strip() == "error: no work or identity with id 'w0'"


def test_weak_prompt_matches_fall_in_the_review_band(tmp_path: Path) -> None:
    rules = tmp_path / "rules.toml"
    rules.write_text('version = "v"\n[review]\nbelow_score = 0.8\n')
    with Catalog.open(tmp_path / "cat", settings=Settings(policy_file=rules)) as cat:
        cat.add_identity("Brad Pitt", owner="CAA")
        hero = cat.add_identity("Peter Parker", owner="Studio")
        cat.add_terms(hero.id, anchors=["web-slinging, red and blue suit, masked hero"])

        def found(prompt: str) -> list[tuple[str, float, str]]:
            report = check_prompt(cat, prompt, record=False)
            return [(m.match, m.score, m.decision) for m in report.matches]

        assert found("brad pitt") == [("exact", 1.0, "block")]
        assert found("brad pit") == [("misspelling", 0.875, "block")]  # one edit in 8 letters
        assert found("bard pit") == [("misspelling", 0.75, "review")]  # a swap and a drop
        assert found("web-slinging in a red and blue suit") == [("anchor", 0.667, "review")]  # 2 phrases of 3
        assert found("a masked hero web slinging in a red and blue suit") == [("anchor", 1.0, "block")]
