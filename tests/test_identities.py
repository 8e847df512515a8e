"""Identities: people registered without media, with their names, consent and flags."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from clearance import Catalog, InputError, NotFoundError
from clearance.scan.prompt import check_prompt
from tests.test_cli import run


def test_identities_are_added_listed_and_removed(tmp_path: Path) -> None:
    with Catalog.open(tmp_path / "cat") as cat:
        cruise = cat.add_identity(
            "  Tom Cruise ",
            owner="CAA",
            aliases=["Thomas Cruise Mapother IV", "Том Круз", "Tom Cruise", "Том Круз"],
            licensees=["Studio P"],
        )
        assert cruise.id.startswith("p") and cruise.name == "Tom Cruise"
        assert cruise.aliases == ("Thomas Cruise Mapother IV", "Том Круз")  # the name and repeats dropped
        assert cruise.licensees == ("Studio P",) and cruise.policy == "block"
        estate = cat.add_identity("David Attenborough", owner="Estate", deceased=True, policy="review")
        assert [i.id for i in cat.identities()] == [cruise.id, estate.id]
        assert [i.name for i in cat.identities(owner="Estate")] == ["David Attenborough"]
        assert cat.identity(estate.id).deceased and not cat.identity(estate.id).minor
        cat.remove_identity(cruise.id)
        assert [i.id for i in cat.identities()] == [estate.id]
        with pytest.raises(NotFoundError):
            cat.remove_identity(cruise.id)
        with pytest.raises(NotFoundError):
            cat.identity(cruise.id)


def test_a_name_written_with_a_zero_width_non_joiner_is_kept_and_found(tmp_path: Path) -> None:
    golzar = "\u0645\u062d\u0645\u062f\u200c\u0631\u0636\u0627 \u06af\u0644\u0632\u0627\u0631"  # Persian
    with Catalog.open(tmp_path / "cat") as cat:
        p = cat.add_identity("Mohammad Reza Golzar", owner="Agency", aliases=[golzar])
        assert p.aliases == (golzar,)
        for typed in (golzar, golzar.replace("\u200c", " ")):
            report = check_prompt(cat, f"\u0639\u06a9\u0633 {typed}", record=False)
            assert [(m.id, m.match) for m in report.matches] == [(p.id, "alias")]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": " "}, "name must not be empty"),
        ({"name": "x" * 300}, "longer than 256"),
        ({"name": "Tom\x00Cruise"}, "control"),
        ({"aliases": ["Tom\u202eesiurC"]}, "control"),  # a right-to-left override: hostile
        ({"aliases": [""]}, "alias must not be empty"),
        ({"anchors": ["a hero", " "]}, "anchor must not be empty"),
        ({"policy": "maybe"}, "policy must be one of"),
        ({"owner": ""}, "owner must not be empty"),
        ({"minor": True, "licensees": ["Studio P"]}, "minor"),
        ({"minor": True, "policy": "allow"}, "minor"),
    ],
)
def test_bad_identities_are_refused_and_nothing_is_stored(
    tmp_path: Path, kwargs: dict[str, object], message: str
) -> None:
    args: dict[str, object] = {"name": "Tom Cruise", "owner": "CAA", **kwargs}
    with Catalog.open(tmp_path / "cat") as cat:
        with pytest.raises(InputError, match=message):
            cat.add_identity(**args)  # type: ignore[arg-type]
        assert cat.identities() == []


def test_identity_commands(tmp_path: Path) -> None:
    cat = tmp_path / "cat"
    added = run(
        "identity", "add", "Brad Pitt", "--owner", "CAA", "--alias", "William Bradley Pitt",
        "--allow", "Studio P", "--allow", "Studio Q", catalog=cat,
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    pid = added.stdout.strip()
    minor = run("identity", "add", "A Child", "--owner", "Parents", "--minor", catalog=cat)
    assert minor.returncode == 0, minor.stderr
    listed = json.loads(run("identity", "list", "--json", catalog=cat).stdout)
    first = listed[0]
    assert (first["id"], first["aliases"], first["licensees"]) == (
        pid, ["William Bradley Pitt"], ["Studio P", "Studio Q"]
    )  # fmt: skip
    assert listed[1]["minor"] is True and listed[1]["policy"] == "block"
    table = run("identity", "list", catalog=cat)
    assert "Brad Pitt" in table.stdout and "minor" in table.stdout
    hero = run(
        "identity", "add", "Jane Doe", "--owner", "Agency", "--anchor", "retired astronaut, moon walker",
        catalog=cat,
    ).stdout.strip()  # fmt: skip
    terms = run("identity", "terms", hero, "--alias", "JD", catalog=cat)
    assert terms.stdout.splitlines() == [
        "name\tJane Doe",
        "anchor\tretired astronaut, moon walker",
        "alias\tJD",
    ]
    assert run("identity", "allow", hero, "Studio P", catalog=cat).stdout.strip() == "Studio P"
    checked = json.loads(run("prompt", "check", "a retired astronaut, the first moon walker", "--json",
                             "--as", "Studio Q", catalog=cat).stdout)  # fmt: skip
    assert [(m["id"], m["match"]) for m in checked["matches"]] == [(hero, "anchor")]
    assert run("identity", "remove", hero, catalog=cat).returncode == 0
    assert run("identity", "remove", pid, catalog=cat).returncode == 0
    again = run("identity", "remove", pid, catalog=cat)
    assert again.returncode == 2 and again.stderr.strip() == f"error: no identity with id {pid!r}"
    bad = run("identity", "add", "Kid", "--owner", "P", "--minor", "--allow", "Studio P", catalog=cat)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "minor" in bad.stderr
    licensed = run("identity", "allow", listed[1]["id"], "Studio P", catalog=cat)
    assert licensed.returncode == 2 and "minor's likeness is never allowed" in licensed.stderr
    assert len(json.loads(run("identity", "list", "--json", catalog=cat).stdout)) == 1
