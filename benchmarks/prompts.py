"""Prompt screening benchmark: recall on names, aliases, evasions and anchors, false positives on
innocent prompts that share words with protected names, and throughput with 10,000 aliases.

    python -m benchmarks.prompts [--seed 1] [--write BENCHMARKS.md]

Registered: the people and characters of ``PEOPLE`` and ``CHARACTERS`` (public names; aliases in
other scripts where a standard spelling exists; anchors for the characters). Prompts are made here
from templates with a seeded generator: each protected prompt names one asset in one way, and the
benchmark applies the evasions itself (digits and signs for letters, spaced or joined letters, look-alike
letters from other scripts, one typing error, a romanisation typed by hand from ``_CYRILLIC``). The
innocent prompts reuse the words of the protected names in other senses, mix the first name of one
person with the last name of another, use one anchor phrase alone, and use English words one letter
from a short one-word name ("Elba", "margo": pyspellchecker's dictionary, the screener's own). The
anchor prompts use a character's registered phrases (inflected, reordered); the ``PARAPHRASES``
describe it in other words, to show what matching registered words cannot see (no goal). The peer,
from PyPI: rapidfuzz's ``partial_ratio`` of the prompt against every registered name and alias, both
through its ``default_process`` (lower case, no punctuation), matched at >= 90 (a common fuzzy
filter), on the same prompts. Throughput pads the terms to 10,000 aliases with made-up names.
"""

from __future__ import annotations

import argparse
import datetime
import platform
import random
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

from rapidfuzz import fuzz, process, utils
from rapidfuzz.distance import OSA
from spellchecker import SpellChecker

from benchmarks import report
from clearance.policy.prompts import (
    KNOWN_WORD_LANGUAGES,
    MIN_MISSPELT_MONONYM,
    PromptScreener,
    Term,
    _capitals_needed,
    _common_english,
    _known_words,
    _loose,
    _plain_words,
    _readings,
    _skeleton,
    _stem,
    _word_counts,
)

# name | aliases (";"-separated; other scripts included)
PEOPLE = """\
Tom Cruise|Thomas Cruise Mapother;Том Круз
Brad Pitt|William Bradley Pitt;Брэд Питт
Scarlett Johansson|ScarJo;Скарлетт Йоханссон
Keanu Reeves|Киану Ривз
Morgan Freeman|Морган Фриман
David Attenborough|Sir David Attenborough;Дэвид Аттенборо
Taylor Swift|Taylor Alison Swift;Тейлор Свифт
Beyonce|Beyonce Knowles;Queen Bey;Бейонсе
Rihanna|Robyn Fenty;Рианна
Jackie Chan|Cheng Long;成龙
Jet Li|Li Lianjie;李连杰
Zhang Ziyi|章子怡
Gong Li|巩俐
Andy Lau|Liu Dehua;刘德华
Jay Chou|Zhou Jielun;周杰伦
Leonardo DiCaprio|Leo DiCaprio;Леонардо Ди Каприо
Meryl Streep|Мерил Стрип
Denzel Washington|Дензел Вашингтон
Angelina Jolie|Анджелина Джоли
Johnny Depp|John Christopher Depp;Джонни Депп
Natalie Portman|Натали Портман
Robert Downey Jr|RDJ;Роберт Дауни
Margot Robbie|Марго Робби
Ryan Gosling|Райан Гослинг
Emma Stone|Эмма Стоун
Timothee Chalamet|Тимоти Шаламе
Zendaya|Zendaya Coleman;Зендея
Dwayne Johnson|The Rock;Дуэйн Джонсон
Harrison Ford|Харрисон Форд
Samuel L Jackson|Samuel Jackson;Сэмюэл Джексон
Cate Blanchett|Кейт Бланшетт
Hugh Jackman|Хью Джекман
Anne Hathaway|Энн Хэтэуэй
Will Smith|Willard Smith;Уилл Смит
Jennifer Lawrence|J Law;Дженнифер Лоуренс
Chris Hemsworth|Крис Хемсворт
Idris Elba|Идрис Эльба
Pedro Pascal|Педро Паскаль
Cillian Murphy|Киллиан Мёрфи
Florence Pugh|Флоренс Пью
Billie Eilish|Билли Айлиш
Ariana Grande|Ариана Гранде
Ed Sheeran|Эд Ширан
Adele|Adele Adkins;Адель
Lady Gaga|Stefani Germanotta;Леди Гага
Kanye West|Ye;Канье Уэст
Elton John|Элтон Джон
Freddie Mercury|Фредди Меркьюри
Marilyn Monroe|Norma Jeane Mortenson;Мэрилин Монро
Audrey Hepburn|Одри Хепбёрн
Charlie Chaplin|Чарли Чаплин
Bruce Lee|Lee Jun-fan;李小龙
Michelle Yeoh|Yeoh Choo Kheng;杨紫琼
Tony Leung|Liang Chaowei;梁朝伟
Donnie Yen|Zhen Zidan;甄子丹
"""

# name | aliases | anchor phrases (a character's)
CHARACTERS = """\
Spider-Man|Peter Parker;Spidey|web-slinging, red and blue suit, masked hero, wall-crawling
Batman|Bruce Wayne;Dark Knight|caped crusader, bat symbol, gotham vigilante, black cowl
Superman|Clark Kent;Man of Steel|red cape, krypton refugee, daily planet reporter, flying strongman
Wonder Woman|Diana Prince|lasso of truth, amazon warrior, themyscira princess, silver bracelets
Mickey Mouse|Micky Maus|round black ears, red shorts, white gloves, cartoon mouse
Darth Vader|Anakin Skywalker|black helmet, heavy breathing, red lightsaber, sith lord
Harry Potter|The Boy Who Lived|lightning scar, round glasses, boy wizard, hogwarts student
Pikachu|ピカチュウ|yellow electric mouse, red cheeks, lightning tail, pocket monster
Mario|Super Mario|red cap, plumber moustache, mushroom kingdom, blue overalls
Elsa|Snow Queen|ice powers, frozen castle, platinum braid, arendelle queen
Shrek|Шрек|green ogre, swamp dweller, scottish accent, onion layers
James Bond|Agent 007|british spy, martini shaken, licence to kill, tuxedo agent
"""

# Descriptions that name no character and mostly avoid its registered anchor words, as a prompt
# writer paraphrases (written by hand, two a character, in CHARACTERS' order): what stems cannot see.
PARAPHRASES = """\
a masked teenager swinging between skyscrapers on sticky webs, red and blue costume
a superhero in a red spandex costume with a black web pattern climbing up a building
a brooding billionaire in a dark bat costume perched on a gargoyle at night
a vigilante with pointed ears on his mask and a utility belt fighting a clown
an alien hero with an S on his chest flying faster than a speeding bullet
a mild-mannered journalist in glasses tearing open his shirt to reveal a blue suit
a warrior princess with a golden lasso and a tiara deflecting bullets with her bracers
an island-born heroine in star-spangled armour with a glowing rope
a cheerful animated mouse in red pants and big yellow shoes whistling on a steamboat
the famous theme park mascot with two circle ears waving
a masked dark lord in black armour and a cape choking an officer with the force
a fallen jedi knight in a respirator mask holding a crimson laser sword
a young sorcerer with a bolt-shaped mark on his forehead riding a broomstick
a bespectacled orphan at a school of magic with a snowy owl
a chubby yellow rodent creature shooting thunderbolts from its rosy cheeks
a cute electric-type creature with black-tipped ears sitting on a trainer's shoulder
an italian plumber with a mustache in a red hat jumping on turtles
a short video game hero in dungarees smashing bricks to collect coins
a blonde animated queen with a side braid conjuring snowflakes and an ice palace
a princess singing let it go on a mountain while making a palace of ice
a big green troll-like creature with trumpet ears living in a swamp with a talking donkey
an animated ogre in a vest bursting out of an outhouse
a suave secret agent in a dinner jacket ordering a vodka martini in a casino
an mi6 operative with a walther ppk and an aston martin
"""

TEMPLATES = [
    "a photo of {} at the beach",
    "{} giving a speech in the rain",
    "cinematic shot of {} riding a motorcycle through tokyo",
    "portrait of {}, oil painting, dramatic light",
    "{} cooking pasta in a small kitchen",
    "a video of {} dancing at a wedding",
    "{} as an astronaut on mars, 4k",
    "an interview with {} on a late night talk show",
    "{} walking a dog in central park",
    "close-up of {} laughing, shallow depth of field",
    "a fight between {} and a robot on a rooftop",
    "{} reading the news, breaking news banner",
]
INNOCENT_TEMPLATES = [
    "a {} on a wooden table, studio lighting",
    "the word {} painted on a brick wall",
    "a children's book about a {} in the forest",
    "{} written in neon letters over a bar",
    "a cartoon of a {} eating ice cream",
    "an old map with {} marked in red ink",
    "a poster with the word {} in bold letters",
    "a watercolor painting titled {}, soft pastel colors",
]
INNOCENT_FIXED = [
    "cruise control on a desert highway",
    "a pitted olive on a plate",
    "a freeman's certificate in a museum",
    "a swift flying over a lake at dawn",
    "a stone bridge over a river",
    "the rock formations of the grand canyon",
    "a fast swift and a slow turtle racing",
    "a depp blue ocean wave",
    "a lee shore in a storm",
    "an ice queen sculpture at a winter festival",
    "a red cap on a hook",
    "a green swamp at sunrise with fireflies",
    "a tuxedo cat sleeping on a sofa",
    "a yellow mouse toy on the floor",
    "a black helmet on a motorcycle seat",
    "a boy with round glasses reading a book",
    "an amazon delivery van in the snow",
    "a reporter in front of a daily newspaper stand",
    "a go-kart race in a park",
    "a mouse with white gloves in a laboratory",
    "hear ye, hear ye: a town crier in a market square",
    "Ye Olde Tavern sign above a wooden door",
    "a dark night sky over a quiet harbour",
    "the dark knight of the soul, a moody etching",
    "a man of steel and glass, abstract sculpture",
    "a snow queen ice sculpture at a winter fair",
    "the boy who lived next door, a watercolor",
    "the rocks on a beach at low tide",
    "a rock concert with a huge crowd",
    "the queen of hearts playing card",
]
# Look-alike letters from other scripts (Cyrillic, Greek), as an evader types them.
LOOKALIKE = {
    "a": "а",
    "e": "е",
    "o": "о",
    "p": "р",
    "c": "с",
    "y": "у",
    "x": "х",
    "i": "і",
    "s": "ѕ",
    "k": "κ",
    "n": "η",
}
LEET = {"o": "0", "i": "1", "e": "3", "a": "4", "s": "5", "t": "7", "l": "1"}
LEET_SIGNS = {"a": "@", "s": "$"}
# A hand-typed Latin romanisation of Cyrillic (not the screener's anyascii).
_LATIN_OF = "a b v g d e yo zh z i y k l m n o p r s t u f kh ts ch sh shch _ y _ e yu ya"
_CYRILLIC = dict(zip("абвгдеёжзийклмнопрстуфхцчшщъыьэюя", _LATIN_OF.split(" "), strict=True))
KEYBOARD = "qwertyuiopasdfghjklzxcvbnm"


@dataclass(frozen=True)
class Asset:
    id: str
    kind: str
    name: str
    aliases: tuple[str, ...]
    anchors: tuple[str, ...]


def assets() -> list[Asset]:
    out = []
    for i, line in enumerate(PEOPLE.splitlines()):
        name, aliases = line.split("|")
        out.append(Asset(f"p{i:03d}", "identity", name, tuple(a for a in aliases.split(";") if a), ()))
    for i, line in enumerate(CHARACTERS.splitlines()):
        name, aliases, anchors = line.split("|")
        out.append(Asset(f"w{i:03d}", "work", name, tuple(a for a in aliases.split(";") if a), (anchors,)))
    return out


def terms(items: list[Asset]) -> list[Term]:
    out = []
    for a in items:
        out.append(Term(a.id, a.kind, "name", a.name))
        out += [Term(a.id, a.kind, "alias", x) for x in a.aliases]
        out += [Term(a.id, a.kind, "anchor", x) for x in a.anchors]
    return out


def _latin(text: str) -> bool:
    return all(c.isascii() for c in text)


def _romanise(text: str) -> str:
    out = "".join(_CYRILLIC.get(c.lower(), c) for c in text).replace("_", "")
    return " ".join(w.capitalize() for w in out.split())


def _leet(rng: random.Random, name: str) -> str:
    chars = list(name)
    spots = [i for i, c in enumerate(chars) if c.lower() in LEET or c.lower() in LEET_SIGNS]
    for i in rng.sample(spots, max(1, len(spots) // 2)):
        c = chars[i].lower()
        chars[i] = LEET_SIGNS[c] if c in LEET_SIGNS and rng.random() < 0.3 else LEET.get(c, chars[i])
    return "".join(chars)


def _spacing(rng: random.Random, name: str) -> str:
    letters = name.replace(" ", "").replace("-", "")
    style = rng.choice(["spaced", "joined", "dotted", "hyphens"])
    if style == "spaced":
        return "  ".join(" ".join(w) for w in name.split())
    if style == "joined":
        return letters if rng.random() < 0.5 else letters.lower()
    if style == "dotted":
        return ".".join(letters)
    return "-".join(name.split())


def _lookalike(rng: random.Random, name: str) -> str:
    chars = list(name)
    spots = [i for i, c in enumerate(chars) if c.lower() in LOOKALIKE]
    for i in rng.sample(spots, min(len(spots), rng.randint(1, 3))):
        chars[i] = LOOKALIKE[chars[i].lower()]
    return "".join(chars)


def _typo(rng: random.Random, name: str) -> str:
    words = name.split()
    long = [i for i, w in enumerate(words) if len(w) >= 4] or [
        max(range(len(words)), key=lambda i: len(words[i]))
    ]
    i = rng.choice(long)
    w = words[i]
    j = rng.randrange(1, len(w) - 1) if len(w) > 2 else 0
    kind = rng.choice(["substitute", "delete", "double", "transpose"])
    if kind == "substitute":
        w = w[:j] + rng.choice(KEYBOARD.replace(w[j].lower(), "")) + w[j + 1 :]
    elif kind == "delete":
        w = w[:j] + w[j + 1 :]
    elif kind == "double":
        w = w[:j] + w[j] + w[j:]
    else:
        w = w[: j - 1] + w[j] + w[j - 1] + w[j + 1 :] if j >= 1 else w[1] + w[0] + w[2:]
    words[i] = w
    return " ".join(words)


def _inflect(rng: random.Random, phrase: str) -> str:
    """A phrase as a prompt may word it: words in another order around "and", a plural, -er for -ing."""
    if " and " in phrase and rng.random() < 0.3:
        head, _, tail = phrase.partition(" and ")
        last = tail.split()
        phrase = f"{last[0]} and {head} {' '.join(last[1:])}".strip()
    words = [w[:-3] + "er" if w.endswith("ing") and rng.random() < 0.3 else w for w in phrase.split()]
    if words[-1][-1] not in "sioy" and rng.random() < 0.3:
        words[-1] += "s"
    return " ".join(words)


def _anchor_prompt(rng: random.Random, anchors: str) -> str:
    phrases = [p.strip() for p in anchors.split(",")]
    chosen = [_inflect(rng, p) for p in rng.sample(phrases, rng.choice([2, 2, 3]))]
    lead = rng.choice(["a hero", "a character", "someone", "a figure", "an illustration of a figure"])
    tail = rng.choice(["in a city at night", "on a poster", "in a comic panel", ", 3d render", "in the rain"])
    return f"{lead} with {' and '.join(chosen)} {tail}"


def prompts(items: list[Asset], seed: int) -> list[tuple[str, str, str | None]]:
    """(category, prompt, the asset it names or None)."""
    rng = random.Random(seed)
    out: list[tuple[str, str, str | None]] = []
    # A word that is itself a registered name or alias (Rihanna, Ye) names its asset wherever it is.
    single_terms = {t.lower() for a in items for t in (a.name, *a.aliases) if " " not in t and "-" not in t}
    for a in items:
        latin_aliases = [x for x in a.aliases if _latin(x)]
        cyrillic = [x for x in a.aliases if any("а" <= c.lower() <= "я" for c in x)]
        chinese = [x for x in a.aliases if any("\u4e00" <= c <= "\u9fff" for c in x)]

        def put(category: str, text: str, asset: Asset = a) -> None:
            out.append((category, rng.choice(TEMPLATES).format(text), asset.id))

        for _ in range(2):
            put("name", rng.choice([a.name, a.name.lower(), a.name.upper()]))
            put("leet", _leet(rng, a.name))
            put("spacing", _spacing(rng, a.name))
            put("lookalike", _lookalike(rng, a.name))
            put("misspelling", _typo(rng, a.name))
        for x in latin_aliases[:2]:
            put("alias", x)
        for x in cyrillic[:1]:
            put("alias", x)
            put("transliteration", _romanise(x))
        for x in chinese[:1]:
            put("alias", x)
        if chinese and _latin(a.name) and len(latin_aliases) and latin_aliases[0].count(" ") == 1:
            put("transliteration", chinese[0])  # native script for a registered pinyin alias
        for anchors in a.anchors:
            for _ in range(16):
                out.append(("anchor", _anchor_prompt(rng, anchors), a.id))
            for phrase in [p.strip() for p in anchors.split(",")]:
                out.append(("innocent", f"{rng.choice(['a', 'the'])} {phrase} in a shop window", None))
                out.append(("innocent", f"a pencil sketch of {rng.choice(['a', 'the'])} {phrase}", None))
        for w in sorted({w.lower() for w in a.name.replace("-", " ").split()} - single_terms):
            for t in rng.sample(INNOCENT_TEMPLATES, 6):
                out.append(("innocent", t.format(w), None))
    for w in _near_words(single_terms, rng):
        out.append(("innocent", rng.choice(INNOCENT_TEMPLATES).format(w), None))
    people = [a for a in items if a.kind == "identity" and len(a.name.split()) == 2]
    registered = {t.lower() for a in items for t in (a.name, *a.aliases)}
    for _ in range(250):
        x, y = rng.sample(people, 2)
        mixed = f"{x.name.split()[0]} {y.name.split()[1]}"
        if mixed.lower() not in registered:  # "Jet" and Gong "Li" make Jet Li
            out.append(("innocent", rng.choice(TEMPLATES).format(mixed), None))
    out += [("innocent", p, None) for p in INNOCENT_FIXED]
    characters = [a for a in items if a.kind == "work"]
    for k, text in enumerate(PARAPHRASES.splitlines()):
        out.append(("paraphrase", text, characters[k // 2].id))
    return out


def _near_words(names: set[str], rng: random.Random, per_name: int = 4) -> list[str]:
    """English words one edit from each short one-word name ("elba" for "elsa"), ``per_name`` each."""
    short = sorted(n for n in names if n.isascii() and 4 <= len(n) < MIN_MISSPELT_MONONYM)
    english = [w for w in SpellChecker(language="en") if w.isalpha() and w.isascii() and 3 <= len(w) <= 7]
    out = []
    for name in short:
        near = sorted(w for w in english if w not in names and OSA.distance(w, name) == 1)
        out += rng.sample(near, min(per_name, len(near)))
    return out


def _padding(n: int, seed: int) -> list[Term]:
    """Made-up names to bring the registered aliases to ``n`` (the speed run only)."""
    rng = random.Random(seed)
    syl = ["ka", "ro", "mi", "tan", "del", "vor", "shi", "lu", "ben", "zar", "qui", "mo", "ra", "len", "tor"]

    def word() -> str:
        return "".join(rng.choice(syl) for _ in range(rng.randint(2, 4))).capitalize()

    return [Term(f"x{i}", "identity", "alias", f"{word()} {word()}") for i in range(n)]


def run(seed: int) -> dict[str, object]:
    items = assets()
    registered = terms(items)
    screener = PromptScreener(registered)
    cases = prompts(items, seed)
    by_cat: dict[str, list[bool]] = defaultdict(list)
    how: dict[str, Counter[str]] = defaultdict(Counter)
    peer_cat: dict[str, list[bool]] = defaultdict(list)
    wrong = 0
    misses: dict[str, list[str]] = defaultdict(list)
    names = [t.text for t in registered if t.kind != "anchor"]
    owner = [t.asset_id for t in registered if t.kind != "anchor"]
    for category, text, asset in cases:
        found = screener.screen(text)
        ids = {m.asset_id for m in found}
        peer = {owner[i] for _, score, i in process.extract(
            text, names, scorer=fuzz.partial_ratio, processor=utils.default_process, score_cutoff=90, limit=None)}  # fmt: skip
        if asset is None:
            by_cat[category].append(bool(ids))
            peer_cat[category].append(bool(peer))
            if ids:
                misses[category].append(text)
        else:
            hit = asset in ids
            by_cat[category].append(hit)
            peer_cat[category].append(asset in peer)
            wrong += len(ids - {asset})
            how[category].update(m.match for m in found if m.asset_id == asset)
            if not hit:
                misses[category].append(text)
    # Throughput on one core: every prompt, repeated, against the terms padded to 10,000 aliases.
    padded_terms = registered + _padding(10_000 - sum(t.kind == "alias" for t in registered), seed)
    t0 = time.perf_counter()
    padded = PromptScreener(padded_terms)
    build_s = time.perf_counter() - t0
    texts = [c[1] for c in cases]
    for cached in (_word_counts, _known_words, _common_english):
        cached.cache_clear()
    t0 = time.perf_counter()
    for language in KNOWN_WORD_LANGUAGES:
        _known_words(language)
    _common_english()
    dictionary_s = time.perf_counter() - t0
    for cached in (_skeleton, _stem, _loose, _readings, _capitals_needed, _plain_words):
        cached.cache_clear()
    t0 = time.perf_counter()
    for t in texts:
        padded.screen(t)
    cold_rate = len(texts) / (time.perf_counter() - t0)
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < 3.0:
        for t in texts:
            padded.screen(t)
        n += len(texts)
    rate = n / (time.perf_counter() - t0)
    padded_names = [t.text for t in padded_terms if t.kind != "anchor"]
    t0 = time.perf_counter()
    for t in texts[:200]:
        process.extract(
            t,
            padded_names,
            scorer=fuzz.partial_ratio,
            processor=utils.default_process,
            score_cutoff=90,
            limit=None,
        )
    peer_rate = 200 / (time.perf_counter() - t0)
    return {
        "assets": len(items), "people": sum(a.kind == "identity" for a in items),
        "aliases": sum(t.kind == "alias" for t in registered), "prompts": len(cases), "by_cat": by_cat,
        "peer_cat": peer_cat, "how": how, "wrong": wrong, "misses": misses, "rate": rate,
        "peer_rate": peer_rate, "cold_rate": cold_rate, "build_s": build_s, "dictionary_s": dictionary_s, "padded": sum(t.kind == "alias" for t in padded_terms),
    }  # fmt: skip


GOALS = {"alias": 97, "leet": 97, "spacing": 97, "lookalike": 97, "misspelling": 97, "transliteration": 97,
         "anchor": 90, "name": 97}  # fmt: skip
ORDER = [
    "name",
    "alias",
    "leet",
    "spacing",
    "lookalike",
    "misspelling",
    "transliteration",
    "anchor",
    "paraphrase",
    "innocent",
]


def render(res: dict[str, object], command: str) -> str:
    by_cat: dict[str, list[bool]] = res["by_cat"]  # type: ignore[assignment]
    peer_cat: dict[str, list[bool]] = res["peer_cat"]  # type: ignore[assignment]
    how: dict[str, Counter[str]] = res["how"]  # type: ignore[assignment]
    misses: dict[str, list[str]] = res["misses"]  # type: ignore[assignment]
    lines = [
        f"Command: `{command}`  ",
        f"Date: {datetime.date.today()}; machine: {platform.machine()}, {platform.python_implementation()} "
        f"{platform.python_version()}.  ",
        f"Registered: {res['people']} people and {int(res['assets']) - int(res['people'])} characters (works), "  # type: ignore[call-overload]
        f"{res['aliases']} aliases, 12 anchors of 4 phrases; {res['prompts']} prompts (module docstring of "
        "`benchmarks/prompts.py`). Found: the named asset is among the matches; for innocent prompts, "
        "the rate is of prompts with any match (a false positive). 'low'/'high': the 95 % Wilson interval.",
        "",
        "| prompts | n | goal % | clearance % (low) | how clearance matched | peer: rapidfuzz partial_ratio >= 90 % |",
        "|---|---|---|---|---|---|",
    ]
    for cat in ORDER:
        hits = by_cat.get(cat, [])
        if not hits:
            continue
        k, n = sum(hits), len(hits)
        goal = "<= 0.5" if cat == "innocent" else str(GOALS.get(cat, ""))
        bound = (
            f"{100 - report.wilson_low(n - k, n):.1f} high"
            if cat == "innocent"
            else f"{report.wilson_low(k, n):.1f}"
        )
        ways = ", ".join(f"{w} {c}" for w, c in how.get(cat, Counter()).most_common())
        pk = sum(peer_cat[cat])
        lines.append(f"| {cat} | {n} | {goal} | {100 * k / n:.1f} ({bound}) | {ways} | {100 * pk / n:.1f} |")
    lines += [
        "",
        f"- Other assets reported on protected prompts: {res['wrong']}.",
        f"- Throughput on one core, {res['padded']} aliases (the registered ones and made-up two-word names): "
        f"{res['rate']:,.0f} prompts/s (goal >= 10,000) over 3 s of the prompts again and again, "
        f"{res['cold_rate']:,.0f} prompts/s in their first pass, from empty caches (the screener remembers "
        f"each word's forms and near terms), building the screener {res['build_s']:.2f} s and loading the "
        f"dictionaries (short names' misspellings, ordinary words) {res['dictionary_s']:.2f} s (once a process, each when "
        "first needed); the peer "
        f"{res['peer_rate']:,.0f} prompts/s on the same terms ({float(res['rate']) / float(res['peer_rate']):.0f} times "  # type: ignore[arg-type]
        "fewer).",
    ]
    for cat in ORDER:
        if misses.get(cat):
            shown = "; ".join(f"`{m}`" for m in misses[cat][:6])
            lines.append(
                f"- {'False positives' if cat == 'innocent' else 'Missed'} ({cat}, {len(misses[cat])}): {shown}."
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--write", type=Path, default=None, help="update this BENCHMARKS.md")
    args = parser.parse_args()
    res = run(args.seed)
    report.publish(
        render(res, f"python -m benchmarks.prompts --seed {args.seed}"), args.write, "Prompt screening"
    )


if __name__ == "__main__":
    main()
