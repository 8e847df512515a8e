"""Prompt screening: which registered people and works a text prompt names, and how.

Each registered term (a name or alias of an identity or a work) is compared with the prompt in
three forms, from the strictest:

1. **Plain**: Unicode NFKC, case folded, split into words. A term whose words appear in a row is an
   ``exact`` match (its name) or an ``alias`` match.
2. **Skeleton**: each word turned into lower-case ASCII (a word mixing Latin letters with look-alikes
   from other scripts, "Tom" with a Cyrillic o, through the Unicode confusables table of the
   ``confusables`` package; a word in another script transliterated by ``anyascii``), digits and
   signs read as the letters they stand for ("T0m Cru1se", "Cru$e"), and the words joined without
   spaces. A term met there starting and ending on word boundaries is an ``obfuscation`` match
   ("t o m  c r u i s e", "tom-cruise", "T0m Cru1se"), or a ``transliteration`` match when a word
   on one side was written in another script ("Tom Kruz" for a registered Cyrillic alias); across
   scripts, the letters romanisations differ on are made one first (``LOOSE_SPELLINGS``).
3. **Misspelling**: the skeleton words of the prompt within 1 edit of a term's words (2 for words of
   8 letters or more, none for words under 3), 2 edits in all at most (``rapidfuzz``'s optimal string
   alignment distance, candidates found by single deletions, as SymSpell does). Where one edit could
   as well make another word (a short name: ``MIN_MISSPELT_MONONYM``; a 3-letter word of a longer
   name, "Jt Li", as the name's only edit), the typed word must be one no dictionary knows, however
   its digits are read (``KNOWN_WORD_LANGUAGES``). A misspelling is of a term in the prompt's own
   script: a romanised term with an edit besides is two guesses deep.

Anchors are separate: a work's or identity's descriptive phrases ("web-slinging, red and blue suit,
masked hero"), each with its other wordings after a ``|`` ("masked hero | masked vigilante"). A phrase
is present when each content word of one of its wordings is, by stem (Snowball); an anchor is met when
``ANCHOR_MIN_PHRASES`` of its phrases are (all of them, if it has fewer).

The word-boundary rule keeps innocent words out: "a pitted olive" holds the letters of "Pitt", but
its match would end inside a word. Searches run through Aho-Corasick automata (``pyahocorasick``),
so their cost does not grow with the number of registered terms.
"""

from __future__ import annotations

import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache, lru_cache
from itertools import product
from math import prod
from typing import Any

import ahocorasick
import snowballstemmer
from anyascii import anyascii
from rapidfuzz.distance import OSA
from spellchecker import SpellChecker

from clearance.errors import InputError, LimitExceededError

MAX_PROMPT_CHARS = 10_000
MAX_EDITS = 2  # a misspelt term, in all
ANCHOR_MIN_PHRASES = 2
ANCHOR_OR = "|"  # between the ways of wording one phrase: "red and blue suit | red and blue costume"
MIN_SPELLED_OUT = 4  # letters of a term below which it counts only as one word, not spelled out
MIN_MISSPELT_MONONYM = 7
"""Letters a one-word term needs before any misspelling of it counts; a shorter one counts only
typed as a word no dictionary knows (one of 3 letters, never).
"Elsa" is one changed letter from "Elba", "Spidey" from "spider", "Mario" from "Margo", but "Mawio"
is nobody's word."""
KNOWN_WORD_LANGUAGES = ("en", "es", "fr", "de", "it", "pt", "nl")
"""The languages (``pyspellchecker``'s dictionaries) whose words are never taken for a misspelt short
name: a prompt in one of them uses its words as words ("esa" in Spanish is not "Elsa")."""
COMMON_WORD_COUNT = 5_000
"""Occurrences in ``pyspellchecker``'s English list from which a word is ordinary English ("rock",
"knight", "tom"; not "smith", "pitt", "mario"). An alias made of ordinary words and stopwords only
("The Rock", "Dark Knight", "Ye") is met only with the capitals it is registered with, unless written
with tricks; and no misspelling is read into ordinary words ("a dark night sky" is not "Dark Knight")."""
NEAR_CACHE_WORDS = 200_000  # prompt words whose near term words are remembered
LOOSE_SPELLINGS: tuple[tuple[str, str], ...] = (("shch", "sh"), ("kh", "h"), ("yo", "e"), ("jo", "e"))
LOOSE_SPELLINGS += (("yu", "u"), ("ju", "u"), ("ya", "a"), ("ja", "a"), ("ts", "c"), ("y", "i"))
"""Letters that romanisations of one name differ on (e for yo, h for kh): a term in another script
matches a Latin prompt (or the reverse) with them made one, as a ``transliteration``."""
MATCH_ORDER = ("exact", "alias", "transliteration", "obfuscation", "misspelling", "anchor")
"""How a term matched, strongest first: one asset met several ways is reported once, its strongest."""

_WORD = re.compile(r"[^\W_]+")
_LATIN = re.compile(r"[A-Za-z]")
_NOT_ALNUM = re.compile(r"[^a-z0-9]+")
_INNER_SIGN = re.compile(
    r"(?<=[^\W_])[@$!|](?=[^\W_])|(?<![^\W_])[@$](?=[^\W_]{2})|(?<=[^\W_]{2})[@$](?![^\W_])"
)
"""A sign standing for a letter: inside a word, or an @ or $ opening or closing one ("Els@")."""
_SIGNS = str.maketrans({"@": "a", "$": "s", "!": "i", "|": "i"})
_DIGITS = str.maketrans({"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "l": "i"})
"""Digits read as letters; and an l as an i, so that a 1 stands for either ("Je7 1i", "Cru1se")."""
_LETTERS_OF = {"0": "o", "1": "il", "3": "e", "4": "a", "5": "s", "7": "t"}
_LETTERS_OF |= {"|": "il", "!": "il", "@": "a", "$": "s"}
"""Each letter a digit or sign may stand for, when asking whether a typed word is a known word."""
GREEK_SHAPES = dict(zip("\u03b7\u03bd\u03c9\u03c1\u03c4\u03c5\u03ba\u03b9\u03bf", "nvwptukio", strict=True))
"""Lower-case eta, nu, omega, rho, tau, upsilon, kappa, iota, omicron, by shape."""
_STOPWORDS = frozenset(
    {"a", "an", "and", "the", "of", "in", "on", "at", "to", "with", "by", "for", "from", "as", "is"}
    | {"are", "his", "her", "its", "their", "wearing", "who", "that"}
)
_STEMMER = snowballstemmer.stemmer("english")


@cache
def _confusable_table() -> dict[int, str]:
    """Look-alikes of ASCII letters and digits from other scripts, each to the letter Unicode's
    confusables data (through the ``confusables`` package) reads it as, and then lower-case Greek
    letters by their shape, as evaders use them (Unicode reads an eta as an h, a prompt's "Johηson"
    means an n)."""
    from confusables import CONFUSABLE_MAP, normalize  # 0.1 s to load: only when a prompt is screened

    table: dict[int, str] = {}
    for c in CONFUSABLE_MAP:
        if len(c) == 1 and not c.isascii():
            forms = [
                f for f in normalize(c, prioritize_alpha=True) if len(f) == 1 and f.isascii() and f.isalnum()
            ]
            if forms:
                table[ord(c)] = forms[0].lower()
    table.update({ord(k): v for k, v in GREEK_SHAPES.items()})
    return table


@dataclass(frozen=True)
class Term:
    """A registered term: a name, alias or anchor of an identity or a work."""

    asset_id: str
    asset_kind: str  # identity | work
    kind: str  # name | alias | anchor
    text: str


@dataclass(frozen=True)
class PromptMatch:
    """One asset a prompt names: the term that matched, how, and the prompt's words that did."""

    asset_id: str
    asset_kind: str
    term: str
    term_kind: str
    match: str  # one of MATCH_ORDER
    text: str  # the prompt's words that matched (anchors: the phrases met, joined by " | ")
    score: float = 1.0
    """How much of the term the prompt holds: 1 but for a misspelling (1 less the edits per letter of
    the term) and an anchor (the share of its phrases met); a policy file's ``[review] below_score``
    sends weaker matches to review."""


def checked_prompt(prompt: str | bytes, max_chars: int = MAX_PROMPT_CHARS) -> str:
    """The prompt as text; ``InputError`` (one line) for an empty, huge, binary or malformed one."""
    if isinstance(prompt, bytes):
        if len(prompt) > 4 * max_chars:  # UTF-8 takes 4 bytes a character at most
            raise LimitExceededError(f"prompt is longer than {max_chars} characters ({len(prompt)} bytes)")
        try:
            prompt = prompt.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InputError(f"prompt is not valid UTF-8 (byte {exc.start})") from exc
    if any(0xD800 <= ord(c) <= 0xDFFF for c in prompt):
        raise InputError("prompt is not valid Unicode (it holds lone surrogates: undecodable bytes)")
    if len(prompt) > max_chars:
        raise LimitExceededError(f"prompt is longer than {max_chars} characters ({len(prompt)})")
    if not prompt.strip():
        raise InputError("prompt is empty")
    controls = sum(unicodedata.category(c) == "Cc" and c not in "\t\n\r" for c in prompt)
    if controls:
        raise InputError(f"prompt holds {controls} control characters: binary data, not text")
    return prompt


@dataclass
class _Words:
    """A text cut into words: each word's plain and skeleton form, and whether it was transliterated."""

    text: str
    spans: list[tuple[int, int]]
    plain: list[str]
    skeleton: list[str]
    foreign: list[bool]

    @classmethod
    def of(cls, text: str) -> _Words:
        text = unicodedata.normalize("NFKC", text)
        signed = _INNER_SIGN.sub(lambda m: m.group().translate(_SIGNS), text)
        spans, plain, skeleton, foreign = [], [], [], []
        for m in _WORD.finditer(signed):
            spans.append(m.span())
            plain.append(text[m.start() : m.end()].casefold())
            form, is_foreign = _skeleton(m.group())
            skeleton.append(form)
            foreign.append(is_foreign)
        return cls(text, spans, plain, skeleton, foreign)

    def snippet(self, first: int, last: int) -> str:
        return self.text[self.spans[first][0] : self.spans[last][1]]


@lru_cache(maxsize=1 << 16)
def _skeleton(word: str) -> tuple[str, bool]:
    """A word's skeleton (lower-case ASCII letters and digits) and whether it was transliterated."""
    latin = _LATIN.search(word) is not None
    ascii_word = word.translate(_confusable_table()) if latin else anyascii(word)
    return _NOT_ALNUM.sub("", ascii_word.lower().translate(_DIGITS)), not latin and not word.isascii()


@lru_cache(maxsize=1 << 16)
def _stem(word: str) -> str:
    """Snowball's English stem, less an agent's -er ("slinger" and "slinging" both give "sling")."""
    stem: str = _STEMMER.stemWord(word)
    return stem[:-2] if stem.endswith("er") and len(stem) >= 6 else stem


def _phrase_stems(phrase: str) -> frozenset[str]:
    return frozenset(_stem(w) for w in _Words.of(phrase).skeleton if w and w not in _STOPWORDS)


def _allowed_edits(word: str) -> int:
    return 0 if len(word) < 3 else 1 if len(word) < 8 else 2


@lru_cache(maxsize=1)  # English serves both sets below; the full lists are not kept
def _word_counts(language: str) -> dict[str, int]:
    """``pyspellchecker``'s words of ``language`` (lower case) with their counts (0.1-0.5 s)."""
    return dict(SpellChecker(language=language, distance=1).word_frequency.dictionary)


@cache
def _known_words(language: str) -> frozenset[str]:
    """The words of ``language`` short enough to be a misspelt short name (lower case); loaded when
    first asked, once."""
    return frozenset(w for w in _word_counts(language) if len(w) <= MIN_MISSPELT_MONONYM)


@cache
def _common_english() -> frozenset[str]:
    """English words seen ``COMMON_WORD_COUNT`` times or more (lower case)."""
    return frozenset(w for w, n in _word_counts("en").items() if n >= COMMON_WORD_COUNT)


def _ordinary(plain_words: Iterable[str]) -> bool:
    """Whether these (case-folded) words are all stopwords or ordinary English."""
    common = _common_english()
    return all(w in _STOPWORDS or w in common for w in plain_words)


@lru_cache(maxsize=1 << 12)
def _capitals_needed(alias: str) -> tuple[bool, ...] | None:
    """For an alias of ordinary words, which of its words must be capitalised in a prompt (those
    registered so, stopwords aside); None for any other alias."""
    words = _Words.of(alias)
    if not _ordinary(words.plain):
        return None
    return tuple(
        words.text[a].isupper() and w not in _STOPWORDS
        for (a, _), w in zip(words.spans, words.plain, strict=True)
    )


@lru_cache(maxsize=1 << 12)
def _plain_words(text: str) -> list[str]:
    return _Words.of(text).plain


def _capitals_kept(term: Term, words: _Words, first: int, last: int) -> bool:
    """Whether the prompt's words ``first..last``, which spell ``term`` word for word, keep the capitals
    that an alias of ordinary words needs ("The Rock", not "the rock formations")."""
    needed = _capitals_needed(term.text) if term.kind == "alias" else None
    if needed is None:
        return True
    if len(needed) != last - first + 1:
        return False
    return all(
        not need or words.text[words.spans[k][0]].isupper()
        for need, k in zip(needed, range(first, last + 1), strict=True)
    )


def _unknown_word(words: _Words, i: int) -> bool:
    """Whether the prompt's word ``i`` is in no dictionary however its digits and look-alikes are read
    ("31ba" is "elba"); a word in another script is taken as known: its dictionary is not loaded."""
    if words.foreign[i]:
        return False
    forms = {words.skeleton[i], *_readings(words.plain[i])}
    # Language by language, so a known word (the common case) seldom loads them all.
    return not any(forms & _known_words(language) for language in KNOWN_WORD_LANGUAGES)


@lru_cache(maxsize=1 << 12)
def _readings(word: str) -> list[str]:
    """The ways a typed word reads as letters: look-alikes as theirs, each digit or sign as every
    letter it stands for (a 1 for an i or an l), at most ``2 ** 7`` readings."""
    letters = word.translate(_confusable_table())
    options = [_LETTERS_OF.get(c, c) for c in letters]
    if prod(len(o) for o in options) > 1 << 7:
        return [letters]
    return ["".join(r) for r in product(*options)]


@lru_cache(maxsize=1 << 16)
def _loose(word: str) -> str:
    """A skeleton word with the spellings that romanisations differ on made one ("Myorfi", "Merfi")."""
    for spelling, loose in LOOSE_SPELLINGS:
        word = word.replace(spelling, loose)
    return word


def _strength(m: PromptMatch) -> tuple[int, float]:
    """Orders two matches of one asset: by how they matched (``MATCH_ORDER``), then by score."""
    return -MATCH_ORDER.index(m.match), m.score


def _word_at(words: list[str], gap: int) -> dict[int, int]:
    """The offset of each boundary in ``words`` joined with ``gap`` characters before each word and
    after the last, to the index of the word it opens (``len(words)`` for the end). An empty word
    shares its boundary with the next: the later index wins."""
    bounds = [0]
    for w in words:
        bounds.append(bounds[-1] + len(w) + gap)
    return {b: i for i, b in enumerate(bounds)}


def _deletions(word: str) -> set[str]:
    return {word[:i] + word[i + 1 :] for i in range(len(word))} | {word}


class PromptScreener:
    """Matches prompts against a fixed set of terms; build once, screen many (thread-safe reads)."""

    def __init__(self, terms: Iterable[Term]) -> None:
        self.terms = list(terms)
        self._plain: Any = ahocorasick.Automaton()
        self._skeleton: Any = ahocorasick.Automaton()
        self._loose: Any = ahocorasick.Automaton()
        self._by_first: dict[str, list[tuple[Term, list[str], bool]]] = defaultdict(list)
        self._near: dict[str, set[str]] = defaultdict(set)  # a deletion -> the term words giving it
        self._anchors: list[tuple[Term, list[list[tuple[str, frozenset[str]]]]]] = []  # phrases, ways
        self._stem_phrases: dict[str, set[tuple[int, int]]] = defaultdict(set)
        self._near_cache: dict[str, dict[str, int]] = {}  # prompt words recur: most are looked up once
        plain_keys: dict[str, list[Term]] = defaultdict(list)
        skeleton_keys: dict[str, list[tuple[Term, bool]]] = defaultdict(list)
        loose_keys: dict[str, list[tuple[Term, bool]]] = defaultdict(list)
        for term in self.terms:
            if term.kind == "anchor":
                self._add_anchor(term)
                continue
            words = _Words.of(term.text)
            skeleton = [w for w in words.skeleton if w]
            if not skeleton:
                continue
            plain_keys[" " + " ".join(words.plain) + " "].append(term)
            skeleton_keys["".join(skeleton)].append((term, any(words.foreign)))
            loose_keys["".join(_loose(w) for w in skeleton)].append((term, any(words.foreign)))
            self._by_first[skeleton[0]].append((term, skeleton, any(words.foreign)))
            for w in skeleton:
                if _allowed_edits(w):
                    for d in _deletions(w):
                        self._near[d].add(w)
        for key, found in plain_keys.items():
            self._plain.add_word(key, (len(key), found))
        for key, found_s in skeleton_keys.items():
            self._skeleton.add_word(key, (len(key), found_s))
        for key, found_s in loose_keys.items():
            self._loose.add_word(key, (len(key), found_s))
        for automaton in (self._plain, self._skeleton, self._loose):
            if len(automaton):
                automaton.make_automaton()

    def _add_anchor(self, term: Term) -> None:
        phrases = []
        for phrase in term.text.split(","):
            ways = [(w.strip(), _phrase_stems(w)) for w in phrase.split(ANCHOR_OR)]
            if ways := [(w, stems) for w, stems in ways if stems]:
                phrases.append(ways)
        if not phrases:
            return
        index = len(self._anchors)
        self._anchors.append((term, phrases))
        for j, ways in enumerate(phrases):
            for _, stems in ways:
                for stem in stems:
                    self._stem_phrases[stem].add((index, j))

    def screen(self, prompt: str) -> list[PromptMatch]:
        """Every asset the prompt names, once each, by its strongest match."""
        words = _Words.of(prompt)
        found: list[PromptMatch] = []
        self._plain_matches(words, found)
        self._skeleton_matches(words, found)
        self._skeleton_matches(words, found, loose=True)
        self._misspellings(words, found)
        self._anchor_matches(words, found)
        best: dict[str, PromptMatch] = {}
        for m in found:
            kept = best.get(m.asset_id)
            if kept is None or _strength(m) > _strength(kept):
                best[m.asset_id] = m
        return sorted(best.values(), key=lambda m: (MATCH_ORDER.index(m.match), m.asset_id))

    def _plain_matches(self, words: _Words, found: list[PromptMatch]) -> None:
        if not len(self._plain) or not words.plain:
            return
        text = " " + " ".join(words.plain) + " "
        word_at = _word_at(words.plain, gap=1)  # at the space before each word, and after the last
        for end, (length, terms) in self._plain.iter(text):
            first, last = word_at[end - length + 1], word_at[end] - 1
            for t in terms:
                if not _capitals_kept(t, words, first, last):
                    continue
                how = "exact" if t.kind == "name" else "alias"
                found.append(
                    PromptMatch(t.asset_id, t.asset_kind, t.text, t.kind, how, words.snippet(first, last))
                )

    def _skeleton_matches(self, words: _Words, found: list[PromptMatch], loose: bool = False) -> None:
        automaton = self._loose if loose else self._skeleton
        if not len(automaton):
            return
        forms = [_loose(w) for w in words.skeleton] if loose else words.skeleton
        word_at = _word_at(forms, gap=0)
        for end, (length, terms) in automaton.iter("".join(forms)):
            start, stop = end - length + 1, end + 1
            if start not in word_at or stop not in word_at:
                continue  # begins or ends inside a word
            first, last = word_at[start], word_at[stop] - 1
            while first < last and not words.skeleton[first]:
                first += 1
            if length < MIN_SPELLED_OUT and last > first:
                continue  # "D.o.n.n.i.e.Y.e.n" spells out no "Ye"
            foreign_prompt = any(words.foreign[first : last + 1])
            typed = words.plain[first : last + 1]
            for t, foreign_term in terms:
                how = "transliteration" if foreign_prompt != foreign_term else "obfuscation"
                if loose and how != "transliteration":
                    continue  # loose spelling only bridges two scripts' romanisations
                if not _capitals_kept(t, words, first, last) and typed == _plain_words(t.text):
                    continue  # no trick, just the ordinary words ("the-rock")
                found.append(
                    PromptMatch(t.asset_id, t.asset_kind, t.text, t.kind, how, words.snippet(first, last))
                )

    def _misspellings(self, words: _Words, found: list[PromptMatch]) -> None:
        near = [self._near_words(w) for w in words.skeleton]
        for i, candidates in enumerate(near):
            for first_word, first_edits in candidates.items():
                for t, term_words, foreign_term in self._by_first.get(first_word, ()):
                    last = i + len(term_words) - 1
                    if last >= len(near) or any(words.foreign[i : last + 1]) != foreign_term:
                        continue  # a misspelling is of a name in the prompt's script, not a romanisation
                    edits, weak = 0, -1  # edits in all; the typed word whose edit could make another word
                    for k, tw in enumerate(term_words, i):
                        e = first_edits if k == i else near[k].get(tw)
                        edits = MAX_EDITS + 1 if e is None else edits + e
                        if edits > MAX_EDITS:
                            break
                        if e and len(tw) < 4:
                            weak = k  # "Jt" for "Jet"
                    if not 0 < edits <= MAX_EDITS or _ordinary(words.plain[i : last + 1]):
                        continue  # ordinary words typed are no misspelling ("a dark night")
                    if len(term_words) == 1 and len(term_words[0]) < MIN_MISSPELT_MONONYM:
                        if len(term_words[0]) < 4:
                            continue
                        weak = i
                    elif weak >= 0 and edits > 1:
                        continue
                    if weak < 0 or _unknown_word(words, weak):
                        score = round(1 - edits / sum(len(tw) for tw in term_words), 3)
                        found.append(
                            PromptMatch(
                                t.asset_id,
                                t.asset_kind,
                                t.text,
                                t.kind,
                                "misspelling",
                                words.snippet(i, last),
                                score,
                            )
                        )

    def _near_words(self, w: str) -> dict[str, int]:
        """The term words within their allowed edits of the prompt word ``w``, with the edits."""
        candidates = self._near_cache.get(w)
        if candidates is None:
            candidates = {w: 0}
            if len(w) >= 2:
                for d in _deletions(w):
                    for v in self._near.get(d, ()):
                        if v not in candidates and (e := OSA.distance(w, v)) <= _allowed_edits(v):
                            candidates[v] = e
            if len(self._near_cache) >= NEAR_CACHE_WORDS:
                self._near_cache.clear()
            self._near_cache[w] = candidates
        return candidates

    def _anchor_matches(self, words: _Words, found: list[PromptMatch]) -> None:
        if not self._anchors:
            return
        stems = {_stem(w) for w in words.skeleton if w}
        hits: dict[int, set[int]] = defaultdict(set)
        for stem in stems:
            for index, j in self._stem_phrases.get(stem, ()):
                hits[index].add(j)
        for index, phrase_ids in hits.items():
            term, phrases = self._anchors[index]
            met = [next((w for w, need in phrases[j] if need <= stems), "") for j in sorted(phrase_ids)]
            met = [w for w in met if w]
            if len(met) >= min(ANCHOR_MIN_PHRASES, len(phrases)):
                found.append(
                    PromptMatch(
                        term.asset_id,
                        term.asset_kind,
                        term.text,
                        "anchor",
                        "anchor",
                        " | ".join(met),
                        round(len(met) / len(phrases), 3),
                    )
                )
