"""Prompt screening: names, aliases, evasions, anchors; decisions and their explanation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from clearance import Catalog, InputError, LimitExceededError
from clearance.policy.prompts import PromptScreener, Term, checked_prompt
from clearance.scan.prompt import check_prompt
from tests.test_cli import run

TERMS = [
    Term("p1", "identity", "name", "Tom Cruise"),
    Term("p1", "identity", "alias", "Том Круз"),
    Term("p2", "identity", "name", "Brad Pitt"),
    Term("p3", "identity", "alias", "Киллиан Мёрфи"),
    Term("p4", "identity", "name", "Kyra Tsar"),
    Term("p5", "identity", "name", "Jet Li"),
    Term("p6", "identity", "alias", "Адель"),
    Term("p7", "identity", "alias", "The Rock"),
    Term("w5", "work", "alias", "Dark Knight"),
    Term("w1", "work", "name", "Spider-Man"),
    Term("w2", "work", "name", "Mario"),
    Term("w3", "work", "name", "Elsa"),
    Term(
        "w4", "work", "anchor", "caped crusader | bat-themed vigilante, black cowl | black bat mask, gotham"
    ),
    Term("w1", "work", "anchor", "web-slinging, red and blue suit, masked hero"),
]


@pytest.fixture(scope="module")
def screener() -> PromptScreener:
    return PromptScreener(TERMS)


@pytest.mark.parametrize(
    ("prompt", "asset", "how"),
    [
        ("a fight between tom cruise and a robot", "p1", "exact"),
        ("TOM CRUISE!!! on a bike", "p1", "exact"),
        ("Том Круз в кино", "p1", "alias"),
        ("T0m Cru1se on a bike", "p1", "obfuscation"),
        ("t o m  c r u i s e dancing", "p1", "obfuscation"),
        ("tomcruise selfie", "p1", "obfuscation"),
        ("T\u043em Cruise", "p1", "obfuscation"),  # a Cyrillic o
        ("Tom Kruz on stage", "p1", "transliteration"),
        ("Killian Myorfi on stage", "p3", "transliteration"),  # yo where anyascii writes e
        ("Adel on stage", "p6", "transliteration"),
        ("brad pit eating a sandwich", "p2", "misspelling"),
        ("bard pitt", "p2", "misspelling"),
        ("Br@d Pitt", "p2", "obfuscation"),
        ("Els@ on ice", "w3", "obfuscation"),  # a closing sign
        ("Mawio as an astronaut", "w2", "misspelling"),  # a short name typed as no dictionary's word
        ("Mariio jumping", "w2", "misspelling"),  # a letter doubled
        ("Jt Li kicking", "p5", "misspelling"),  # a 3-letter word of a longer name, typed as no word
        ("The Rock lifting weights", "p7", "alias"),  # an alias of ordinary words, with its capitals
        ("the Rock lifting weights", "p7", "alias"),  # a stopword's capital is not needed
        ("Th3 R0ck lifting weights", "p7", "obfuscation"),  # ... or written with tricks
        ("poster of The Dark Knight", "w5", "alias"),
        ("spiderman over new york", "w1", "obfuscation"),
        ("a masked hero web slinging over the city in a red and blue suit", "w1", "anchor"),
    ],
)
def test_each_way_of_naming_is_found(screener: PromptScreener, prompt: str, asset: str, how: str) -> None:
    found = {m.asset_id: m for m in screener.screen(prompt)}
    assert asset in found and found[asset].match == how, found


@pytest.mark.parametrize(
    "prompt",
    [
        "cruise control on a desert highway",
        "a pitted olive on a plate",
        "custom cruise ship at dawn",
        "tom's cruise across the bay",
        "a spider on a man's hat",
        "a masked hero at night",  # one anchor phrase of three is not enough
        "brad and his pitbull",
        "kira car in the garage",  # loose spelling bridges scripts only, not Latin to Latin
        "a ferry to Elba at sunset",  # one letter from Elsa, but a word
        "the island of 31b4 in the fog",  # ... however its digits and signs are read
        "Margo painting a fence",  # one letter from Mario, a name the dictionary knows
        "una foto de esa mujer en la playa",  # a Spanish word one letter from Elsa
        "a jot li",  # a word one letter from Jet
        "Jt Lo on a bike",  # a short word's edit is the name's only one
        "Odel on stage",  # a misspelling is of a name in the prompt's script, not of a romanisation
        "the rock formations of the grand canyon",  # an alias of ordinary words, without its capitals
        "The rock formations of the grand canyon",
        "a narrow the-rock path",
        "a dark night sky over the harbour",  # ordinary words typed are no misspelling
        "The dark knights of a chess set",
    ],
)
def test_innocent_prompts_sharing_words_name_nobody(screener: PromptScreener, prompt: str) -> None:
    assert screener.screen(prompt) == []


def test_an_anchor_phrase_is_met_in_any_of_its_wordings(screener: PromptScreener) -> None:
    found = screener.screen("a bat-themed vigilante in a black bat mask on a rooftop")
    assert [(m.asset_id, m.match, m.text, m.score) for m in found] == [
        ("w4", "anchor", "bat-themed vigilante | black bat mask", 0.667)
    ]
    assert screener.screen("a vigilante in a black mask") == []  # no wording of either phrase is whole


def test_one_asset_is_reported_once_by_its_strongest_match(screener: PromptScreener) -> None:
    found = screener.screen("tom cruise, T0m Cru1se and tom crusie")
    assert [(m.asset_id, m.match, m.text) for m in found] == [("p1", "exact", "tom cruise")]


@pytest.mark.parametrize(
    ("prompt", "error", "message"),
    [
        ("", InputError, "empty"),
        (" \n\t ", InputError, "empty"),
        ("x" * 10_001, LimitExceededError, "longer than 10000"),
        ("tom\x00cruise", InputError, "control characters"),
        (b"\xff\xfetom", InputError, "not valid UTF-8"),
        ("tom \udcff cruise", InputError, "lone surrogates"),
    ],
)
def test_bad_prompts_get_one_clear_error(prompt: str | bytes, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        checked_prompt(prompt)


def test_decisions_follow_policy_licence_and_flags(tmp_path: Path) -> None:
    with Catalog.open(tmp_path / "cat") as cat:
        cruise = cat.add_identity("Tom Cruise", owner="CAA", licensees=["Studio P"])
        child = cat.add_identity("Jamie Example", owner="Parents", minor=True)
        anyone = cat.add_identity("Guest Star", owner="Agency", policy="review")
        cat.add_terms(cruise.id, anchors=["top gun pilot, aviator sunglasses"])
        assert check_prompt(cat, "a quiet beach", record=False).decision == "allow"
        assert check_prompt(cat, "tom cruise on a beach", record=False).decision == "block"
        licensed = check_prompt(cat, "tom cruise on a beach", licensee="Studio P", record=False)
        assert licensed.decision == "allow" and licensed.matches[0].rule == "licensed to Studio P"
        minor = check_prompt(cat, "jamie example and tom cruise", licensee="Studio P", record=False)
        assert minor.decision == "block"
        assert {m.id: m.rule for m in minor.matches}[child.id] == "minor: never allowed"
        assert check_prompt(cat, "guest star waving", record=False).decision == "review"
        anchored = check_prompt(cat, "a top gun pilot in aviator sunglasses", record=False)
        assert [(m.id, m.match) for m in anchored.matches] == [(cruise.id, "anchor")]
        recorded = check_prompt(cat, "Guest Star", licensee="Studio P")
        assert recorded.scan_id is not None
        assert cat.scan_report(recorded.scan_id)["matches"][0]["id"] == anyone.id


def test_prompt_commands_and_explain(tmp_path: Path) -> None:
    cat = tmp_path / "cat"
    pid = run("identity", "add", "Brad Pitt", "--owner", "CAA", catalog=cat).stdout.strip()
    terms = run(
        "work", "terms", pid, "--alias", "William Bradley Pitt", "--anchor", "fight club, soap", catalog=cat
    )
    assert terms.returncode == 0 and terms.stdout.splitlines() == [
        "name\tBrad Pitt", "alias\tWilliam Bradley Pitt", "anchor\tfight club, soap"
    ]  # fmt: skip
    checked = run("prompt", "check", "b r a d  p i t t in fight club", "--json", catalog=cat)
    assert checked.returncode == 0, checked.stderr
    report = json.loads(checked.stdout)
    assert report["schema"] == "clearance.prompt/1" and report["decision"] == "block"
    assert [(m["id"], m["match"]) for m in report["matches"]] == [(pid, "obfuscation")]
    explained = run("explain", report["scan_id"], catalog=cat)
    assert explained.returncode == 0, explained.stderr
    assert "obfuscation match of name 'Brad Pitt'" in explained.stdout and "builtin/1" in explained.stdout
    table = run("prompt", "check", "a pitted olive", catalog=cat)
    assert "no registered work or person named" in table.stdout and "decision: allow" in table.stdout
    for args, message in (
        (("prompt", "check", ""), "error: prompt is empty"),
        (("explain", "s0"), "error: no scan with id 's0'"),
        (("work", "terms", "w0", "--name", "X"), "error: no work or identity with id 'w0'"),
    ):
        bad = run(*args, catalog=cat)
        assert bad.returncode == 2 and bad.stderr.strip() == message
