"""The specific terms of a report (names, figures, dates, ordinals) for the pairwise evidence of
stories.fingerprint, and the tokens its MinHash is made of. Pure. The method is described in
fingerprint.py ("Method", 2); this is its text side, split off to keep each module short.

Its word lists were made for one beat; story profiles (profile.py) weigh words by their
rarity in the archive instead and use this module only while the archive is too small.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import repeat
from typing import NamedTuple

_MAYBE = 0.5  # a word capitalised only where every word is; also a big place (fingerprint.py too)

# --- tokens --------------------------------------------------------------------


class _Tok(NamedTuple):
    kind: str  # "word", "num", "ord" (1st, 2nd), "iso" (2026-03-06)
    text: str  # as written
    fold: str  # lower-case, no diacritics, no possessive
    initial: bool  # first word of a sentence or after a quote: its capital says nothing
    where: int  # 0 in the title, 1 in the first sentence of the summary, 2 after it
    joined: bool  # only spaces or a hyphen since the previous token (one name, one amount)
    capital: bool  # starts with a capital letter


def _tokens(title: str, summary: str) -> list[_Tok]:
    # A few hundred tokens an article, in a parser worker: tuple.__new__ makes each _Tok
    # without NamedTuple's Python-level __new__, and span() gives both ends in one call.
    out: list[_Tok] = []
    append, fold, new = out.append, _fold, tuple.__new__
    for part, text in enumerate((title, summary)):
        initial, where, end = True, part, -1
        text = text.replace("U.S.", "US").replace("U.K.", "UK")
        for m in _TOKEN.finditer(text):
            kind, word = m.lastgroup, m.group()
            start, stop = m.span()
            if kind == "brk":
                initial, end = True, -1
                if where == 1 and word in ".!?" and out and out[-1].where == 1:
                    where = 2
                continue
            if end < 0:
                joined = False
            else:
                gap = text[end:start]
                joined = gap == " " or not gap.strip(" -–")
            append(new(_Tok, (kind or "", word, fold(word), initial, where, joined, word[0].isupper())))
            initial, end = False, stop
    return out


def folded_words(title: str, summary: str) -> list[str]:
    """The folds of _tokens(title, summary) that are not stop words, without making its tokens:
    all a copy signature reads (a parser worker makes one per article)."""
    out: list[str] = []
    for text in (title, summary):
        text = text.replace("U.S.", "US").replace("U.K.", "UK")  # as _tokens reads it
        tokens = _WORD_TOKENS.findall(text)
        folds = list(map(_FOLDED.get, tokens, repeat(_UNSEEN)))  # looked up in C
        at = -1
        for _ in range(folds.count(_UNSEEN)):  # the few not kept: folded in Python
            at = folds.index(_UNSEEN, at + 1)
            folds[at] = _kept_fold(tokens[at])
        out += [w for w in folds if w is not None]
    return out


# A token as written → its _fold, None for a stop word: folded_words's cache, a plain dict that
# map() reads in C (an lru_cache called per token took twice as long: 15.8 against 7.9 µs for
# a farm article's 250 tokens, h-words). The first FOLDS_KEPT seen stay (the commonest words), as
# many as _fold's lru_cache holds; a worker fills this one only, its lru_cache stays empty (the
# worker after 1,000 farm feeds: 39.7 -> 39.2 MB, bench/worker_memory.py).
_FOLDED: dict[str, str | None] = {}
FOLDS_KEPT = 1 << 12
_UNSEEN = "\0"  # no token: no _FOLDED value is it


def _kept_fold(token: str) -> str | None:
    fold = _fold.__wrapped__(token)
    kept = None if fold in _STOP else fold
    if len(_FOLDED) < FOLDS_KEPT:
        _FOLDED[token] = kept
    return kept


# 4,096 words: a miss costs about a microsecond; on the bench farm's text 1.4% of look-ups miss
# against 0.5% at 32,768, which held 6 MB in each process that tokenises (issue 18).
@lru_cache(maxsize=1 << 12)
def _fold(word: str) -> str:
    word = _POSSESSIVE.sub("", word)
    if word.isascii():
        return word.lower()
    decomposed = unicodedata.normalize("NFKD", word.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c)).replace("’", "'")


@lru_cache(maxsize=1 << 15)
def _stem(word: str) -> str:
    """Crude, but the same on both sides: "meetings", "meeting" → "meeting"."""
    return word[:-1] if word.endswith("s") and not word.endswith("ss") and len(word) > 4 else word


# --- specific terms ------------------------------------------------------------


@dataclass
class _Terms:
    weights: dict[str, float] = field(default_factory=dict)
    central: set[str] = field(default_factory=set)
    headline: set[str] = field(default_factory=set)

    def add(self, term: str, weight: float, tok: _Tok) -> None:
        if weight > self.weights.get(term, 0.0):
            self.weights[term] = weight
        if tok.where < 2:
            self.central.add(term)


def _salient(toks: Sequence[_Tok]) -> _Terms:
    terms = _Terms()
    title_case = _is_title_case(toks)
    lower = {_stem(t.fold) for t in toks if t.kind == "word" and not t.capital}
    named = _shown_as_names(toks, title_case)
    previous: tuple[str, float] | None = None
    source = False  # inside the name of whoever told the news: "spokesperson Randhir Jaiswal"
    for i, tok in enumerate(toks):
        name = _name(tok, lower, named, title_case) if tok.capital and tok.kind == "word" else None
        if tok.fold in _ORDINAL_WORDS or tok.kind == "ord":
            _ordinal(toks, i, terms)
        elif tok.fold in _WEEKDAYS:
            terms.add("~" + _WEEKDAYS[tok.fold], 1.0, tok)
        elif tok.kind in ("num", "iso"):
            _number(toks, i, terms)
        source = (source and name is not None and tok.joined) or tok.fold in _SOURCES
        if name is not None:
            name = (name[0], min(name[1], 0.3)) if source else name
            _add_name(terms, tok, name, previous)
        previous = name
    for acronym, tok in _acronyms(toks):
        terms.add(acronym, 1.0, tok)
    return terms


def _is_title_case(toks: Sequence[_Tok]) -> bool:
    """A Headline In Title Case, whose capitals do not mark names."""
    words = [t for t in toks if t.where == 0 and t.kind == "word" and len(t.fold) > 3 and t.fold not in _STOP]
    return len(words) >= 3 and all(t.capital for t in words)


def _shown_as_names(toks: Sequence[_Tok], title_case: bool) -> set[str]:
    """Words the text capitalises where a common word would not be: mid-sentence, or followed by
    another capitalised word ("Nippon Steel said" starts with a name)."""
    named = {t.fold for t in toks if t.capital and not t.initial and (t.where or not title_case)}
    for tok, nxt in zip(toks, toks[1:], strict=False):
        if tok.capital and nxt.capital and nxt.joined and nxt.kind == "word" and nxt.fold not in _STOP:
            if tok.where or not title_case:
                named.add(tok.fold)
    return named


def _name(tok: _Tok, lower: set[str], named: set[str], title_case: bool) -> tuple[str, float] | None:
    """The folded name and its weight, or None when the word is not a name."""
    text, fold = tok.text, tok.fold
    if not tok.capital or len(fold) < 2 or fold in _GENERIC or fold in _MONTHS or fold in _WEEKDAYS:
        return None
    if _is_acronym(text):  # JETRO, MAHSR, IREL; EVs, PSUs
        return fold.removesuffix("s") if text[-1] == "s" else fold, 1.0
    if _stem(fold) in lower or _COMMON_SUFFIX.search(fold):
        return fold, 0.3
    if fold in _PLACES:
        return fold, _MAYBE
    if fold in named or not (tok.initial or (tok.where == 0 and title_case)):
        return fold, 1.0
    return fold, _MAYBE  # capitalised only where every word is: maybe a name


def _is_acronym(text: str) -> bool:
    return text.isupper() or (len(text) > 2 and text[-1] == "s" and text[:-1].isupper())


def _add_name(terms: _Terms, tok: _Tok, name: tuple[str, float], previous: tuple[str, float] | None) -> None:
    terms.add(name[0], name[1], tok)
    if tok.where == 0 and (name[1] >= 1.0 or name[0] in _PLACES) and not _is_acronym(tok.text):
        terms.headline.add(name[0])
    if previous is not None and tok.joined and min(previous[1], name[1]) >= _MAYBE:
        terms.add(f"{previous[0]} {name[0]}", min(previous[1], name[1]), tok)


def _acronyms(toks: Sequence[_Tok]) -> list[tuple[str, _Tok]]:
    """Initials of organisations' names, so that "Bharat Electronics Ltd" meets "BEL"."""
    found: list[tuple[str, _Tok]] = []
    run: list[_Tok] = []
    for tok in toks:
        capital = tok.capital and tok.kind == "word" and not tok.text.isupper()
        if run:
            linked = tok.joined or run[-1].fold in _CONNECTORS
            if (capital or tok.fold in _CONNECTORS) and linked and not _POSSESSIVE.search(run[-1].text):
                run.append(tok)
                continue
            _initials(run, found)
        run = [tok] if capital and tok.fold not in _STOP else []
    _initials(run, found)
    return found


def _initials(run: list[_Tok], found: list[tuple[str, _Tok]]) -> None:
    """A run of capitalised words is an organisation when it ends in a generic word (Ltd, Force,
    Party) or holds an "of", and has a word of its own ("Free and Open Indo-Pacific" has none)."""
    while run and run[-1].fold in _CONNECTORS:
        run.pop()
    if len(run) < 3:
        return
    initials = "".join(t.fold[0] for t in run if t.fold not in _CONNECTORS)
    organisation = run[-1].fold in _GENERIC or any(t.fold in _CONNECTORS for t in run)
    if len(initials) >= 3 and organisation and initials not in _GENERIC:
        if any(t.fold not in _GENERIC for t in run):
            found.append((initials, run[-1]))


def _ordinal(toks: Sequence[_Tok], i: int, terms: _Terms) -> None:
    """Record "^meeting:2" when an ordinal numbers a recurring event: "second round", "3rd
    India-Japan 2+2 Dialogue", but not "will first facilitate a dialogue"."""
    tok = toks[i]
    n = int(tok.text[:-2]) if tok.kind == "ord" else _ORDINAL_WORDS[tok.fold]
    for nxt in toks[i + 1 : i + 6]:
        noun = nxt.fold if nxt.fold in _EVENT_NOUNS else nxt.fold.rstrip("s")
        if nxt.kind == "word" and noun in _EVENT_NOUNS:
            terms.add(f"^{_EVENT_NOUNS[noun]}:{n}", 1.0, tok)
            return
        if not (nxt.capital or nxt.kind == "num" or nxt.fold in _ORDINAL_GAP):
            return


def _number(toks: Sequence[_Tok], i: int, terms: _Terms) -> None:
    tok, nxt = toks[i], (toks[i + 1] if i + 1 < len(toks) else None)
    if tok.kind == "iso":
        _year, month, day = tok.text.split("-")
        terms.add(f"@{int(month):02d}-{int(day):02d}", 2.0, tok)
        return
    digits = tok.text.lstrip("₹$¥€£").rstrip("%").replace(",", "")
    if "+" in digits:  # "2+2", a dialogue format
        terms.add(digits, 0.5, tok)
        return
    value = float(digits)
    if value.is_integer() and 1 <= value <= 31:  # "27 November", "Nov 27"
        for side in (toks[i - 1] if i else None, nxt):
            if side is not None and side.capital and side.fold in _MONTHS:
                terms.add(f"@{_MONTHS[side.fold]:02d}-{int(value):02d}", 2.0, tok)
                return
    unit = _UNITS.get(nxt.fold, 1.0) if nxt is not None else 1.0
    after = toks[i + 2] if unit != 1.0 and i + 2 < len(toks) else nxt
    currency = _CURRENCY.get(tok.text[0]) or (_CURRENCY_WORDS.get(after.fold) if after else None)
    if tok.text.endswith("%"):
        terms.add(f"#{value:g}%", 1.5, tok)
    elif currency is not None or unit != 1.0:
        terms.add(f"#{currency or ''}{value * unit:.4g}", 2.0, tok)
    elif len(digits) == 4 and 1900 <= value <= 2100:
        terms.add(f"#{value:.0f}", 0.2, tok)  # a year: background as often as not
    elif value >= 10:
        terms.add(f"#{value:g}", 0.5 if value < 100 else 1.0, tok)


# --- vocabulary ----------------------------------------------------------------

_KINDS = "@#^~"  # term prefixes: date, figure, ordinal, weekday; names have none
_KINDS_OF_TOKEN = (  # words first: most tokens are words, and \w* is the regex engine's fast path
    ("word", r"[^\W\d_]\w*(?:['’][^\W\d_]\w*)*"),
    ("iso", r"\d{4}-\d{2}-\d{2}\b"),
    ("ord", r"\d+(?:st|nd|rd|th)\b"),
    ("num", r"[₹$¥€£]?\d(?:[\d,]*\d)?(?:\.\d+)?(?:\+\d+)?%?"),
)
_BREAK = r"[.!?;:\"“”()\n]|\s[-–—]\s"
_TOKEN = re.compile("|".join([*(f"(?P<{k}>{p})" for k, p in _KINDS_OF_TOKEN), f"(?P<brk>{_BREAK})"]))
# _TOKEN without its breaks and groups, for findall (folded_words: 40% less CPU). The same
# tokens in the same order: a break's characters neither start another token nor are inside
# one, so skipping them is what matching them as a break did.
WORD_TOKENS = "|".join(p for _, p in _KINDS_OF_TOKEN)
# WORD_TOKENS written to start with one character class, a token's first character, each branch
# then checking it by a look-behind: the regex engine skips in C to the next character that can
# start a token instead of trying four branches at every space and mark. The same tokens
# (tests/stories/test_patterns.py), a sixth less CPU per summary (h-words).
_WORD_TOKENS = re.compile(
    r"[\w₹$¥€£](?:(?<=[^\W\d_])\w*(?:['’][^\W\d_]\w*)*"  # word
    r"|(?<=\d)\d{3}-\d{2}-\d{2}\b"  # iso
    r"|(?<=\d)\d*(?:st|nd|rd|th)\b"  # ord
    r"|(?<=[₹$¥€£])\d(?:[\d,]*\d)?(?:\.\d+)?(?:\+\d+)?%?"  # num, after a currency sign
    r"|(?<=\d)(?:[\d,]*\d)?(?:\.\d+)?(?:\+\d+)?%?)"  # num
)
_POSSESSIVE = re.compile(r"['’]s$", re.IGNORECASE)
_STOP = frozenset(
    """a an the and or but nor of in on at to for with by from as into onto upon over under about
    after before during since until while than then there here this that these those it its is are
    was were be been being has have had do does did will would shall should can could may might must
    not no also only just more most less least very so such same other another any each every both
    all some many much few he she they we i you his her their our your him them us me who whom which
    what when where why how said says say told according added if whether up out off
    one two three four five six seven eight nine ten""".split()
)
# Capitalised words that say nothing about which event a report is about: on this beat every
# report names the two countries, their capitals, the offices and the kinds of meeting; and
# common nouns that news capitalises inside names ("Ministry of Land, Infrastructure, Transport
# and Tourism", "Free and Open Indo-Pacific", "Digital Partnership"): the topic, not the event.
_GENERIC = _STOP | frozenset(
    """india indian indians japan japanese china chinese us usa america american united states uk
    britain british australia australian russia russian europe european eu asia asian pacific indo
    delhi new tokyo washington beijing world global international national north south east west
    northern southern eastern western central minister ministers ministry prime president vice
    deputy chief general secretary secretaries foreign external affairs defence defense home finance
    commerce trade industry economy economic state union cabinet government govt parliament official
    officials office department agency council committee commission board corporation corp ltd
    limited inc co company group holdings force forces navy army air self maritime ground coast
    guard naval command ins js uss hms security strategic special partnership dialogue summit
    meeting talks initiative cooperation memorandum joint declaration agreement plan action vision
    framework programme program project mission policy statement press release spokesperson advisor
    adviser director governor chairman ceo mr ms mrs dr jr shri smt sir admiral gen colonel col
    commander captain marshal lieutenant lt excellency earlier later meanwhile however first second
    today yesterday tomorrow week month year reuters pti ani ians ap afp bloomberg kyodo nhk update
    exclusive breaking watch live video photo read see via mea eam pm cm fm mou jv ai it gdp un g7
    g20 quad asean brics free open digital semiconductor semiconductors mineral minerals resource
    resources battery batteries energy clean green renewable supply chain chains technology
    technologies critical rare earth earths high speed rail railway railways train trains metro land
    transport tourism environment infrastructure development investment investments innovation
    science space research education health agriculture power electronics electronic institute
    safety people republic democratic market markets stock exchange fund capital city port airport
    road highway corridor river island sea ocean bay gulf mount lake district province prefecture
    region zone park centre center hall house court police fire disaster management emergency
    weather meteorological oil gas water food steel auto motor motors automotive chemicals
    pharmaceuticals telecom communications media news times post daily herald business financial
    monetary fiscal budget tax customs industries industrial manufacturing services service day
    night morning evening party front alliance league association federation organisation
    organization authority society trust foundation university school college hospital""".split()
)
# Big places: many events happen in them, so they are weak evidence and never index keys alone.
_PLACES = frozenset(
    """gujarat maharashtra karnataka tamil nadu kerala odisha bihar uttar pradesh andhra madhya
    telangana bengal assam punjab haryana rajasthan jharkhand chhattisgarh goa kashmir ladakh
    mumbai bengaluru bangalore chennai kolkata hyderabad pune ahmedabad lucknow jaipur kochi
    visakhapatnam gandhinagar noida gurugram surat osaka kyoto yokohama nagoya fukuoka hokkaido
    kyushu okinawa sendai kobe korea korean seoul taiwan taipei philippines philippine manila
    indonesia indonesian jakarta vietnam hanoi thailand bangkok singapore malaysia kuala lumpur
    sri lanka bangladesh dhaka nepal pakistan canberra sydney london paris berlin moscow brussels
    germany france italy canada israel iran ukraine africa""".split()
)
# Small words inside names that their initials skip: "Reserve Bank of India" → RBI.
_CONNECTORS = frozenset({"of", "for", "the"})
# Whoever follows these told the news; they are in many reports of many events.
_SOURCES = frozenset("spokesperson spokesman spokeswoman correspondent reporter analyst".split())
# Suffixes of English common nouns and adjectives: "Exploration" or "Environment" in an
# organisation's name is not the name of anything on its own.
_COMMON_SUFFIX = re.compile(
    r"(?:tion|sion|ment|ness|ity|ities|ance|ence|ship|ism|ure|ive|ing|ary|ory|ies|ical|ogy|ly)s?$"
)
_MONTH_NAMES = "january february march april may june july august september october november december".split()
_MONTHS = (
    {name: i + 1 for i, name in enumerate(_MONTH_NAMES)}
    | {name[:3]: i + 1 for i, name in enumerate(_MONTH_NAMES)}
    | {"sept": 9}
)
_WEEKDAYS = {day: day[:3] for day in "monday tuesday wednesday thursday friday saturday sunday".split()}
_ORDINALS = "first second third fourth fifth sixth seventh eighth ninth tenth eleventh twelfth"
_ORDINAL_WORDS = {word: i + 1 for i, word in enumerate(_ORDINALS.split())} | {"inaugural": 1, "maiden": 1}
# Nouns whose instances are numbered ("the second round", "the ninth edition"), grouped so that
# "the first meeting of the dialogue" and "the inaugural dialogue" agree.
_EVENT_NOUNS = {
    noun: group
    for group, nouns in {
        "meeting": "round meeting dialogue summit session conference consultation plenary talks",
        "edition": "edition exercise",
        "match": "test odi match",
        "tranche": "tranche phase loan",
    }.items()
    for noun in nouns.split()
}
# Words that may stand between an ordinal and what it numbers: "the first annual summit".
_ORDINAL_GAP = frozenset("annual bilateral ministerial trilateral joint official formal full".split())
_UNITS = {"crore": 1e7, "lakh": 1e5, "billion": 1e9, "bn": 1e9, "million": 1e6, "mn": 1e6, "trillion": 1e12}
_CURRENCY = {"₹": "inr", "$": "usd", "¥": "jpy", "€": "eur", "£": "gbp"}
_CURRENCY_WORDS = {"rupees": "inr", "rs": "inr", "yen": "jpy", "dollars": "usd", "euros": "eur"}
