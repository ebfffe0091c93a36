"""Benchmark: the one-pass matcher against a straightforward regex matcher, on generated news.

    python bench/rules_bench.py [--articles 10000] [--rules 1000] [--baseline-articles 150] [--seed 7]
    python bench/rules_bench.py --equivalence [--seed 7]    # no timing: do the matchers agree?

Articles are drawn from a Zipf-distributed vocabulary (30,000 words in stem families, so
prefixes have something to match), with capitalised names, a topic mixture (an article is
mostly background words plus words and set phrases of one to three topics), and the
punctuation of real copy: commas, hyphens, en dashes, curly and straight quotes,
possessives, numbers, and some accented names. Rules use the mid- and low-frequency words
of one topic, as real topic keywords do: OR lists, AND of groups, phrases, prefixes, NOT,
NEAR, title:/summary: scopes and @lists.

The baseline folds each field with the reference tokenizer, compiles one regex per term
and evaluates every rule's tree for every article. It is slow, so it runs on the first
--baseline-articles articles only and its rate is extrapolated from them; the rule ids of
both matchers are compared article by article on that subset. Exit 1 if they differ.

--equivalence times nothing: in a small world (600 words, 40 topics, so that rules and
articles share words and NEAR, NOT and fields really decide), 120 rules over 8 term lists
match 100 articles whose summaries are cut at a random point (short fields put more
occurrences near their edges), with both matchers; exit 1 if any article's rule ids differ.
The test suite runs it (tests/rules/test_matcher_equivalence.py).
"""

from __future__ import annotations

import argparse
import bisect
import itertools
import random
import re
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from monitor.rules.matcher import RuleSet
from monitor.rules.query import And, Field, Near, Node, Not, Or, Term, parse_query
from monitor.rules.ruleset import TermList, compile_rule_set, make_term_list
from monitor.rules.termlists import index_term_lists, resolve_lists
from monitor.rules.textfold import tokenize
from monitor.types import Rule

TARGET_RATE = 10_000  # articles per second, one core
TARGET_RATIO = 100  # times the baseline
REPEATS = 3  # timed runs of the one-pass matcher; the fastest counts

# --- generated news --------------------------------------------------------------

_ONSETS = "b c d f g h j k l m n p r s t v w br cr dr fr gr pl pr st tr ch sh th".split()
_VOWELS = "a e i o u ai ea ou io".split()
_SUFFIXES = ["", "s", "ed", "ing", "er", "ation", "al", "ity"]
_ACCENTED = ["Japón", "Muñoz", "Zürich", "Nestlé", "São", "Łódź", "Gdańsk", "Ōita", "Citroën"]


@dataclass(frozen=True)
class Topic:
    words: tuple[str, ...]  # mid- and low-frequency words it uses
    rare: tuple[str, ...]  # those of them that are low-frequency (rank 5,000 and beyond)
    stems: tuple[str, ...]  # beginnings of those words (7+ letters), for prefix terms
    names: tuple[str, ...]  # people, places, companies
    phrases: tuple[str, ...]  # set phrases of two or three words


@dataclass(frozen=True)
class World:
    vocabulary: list[str]  # by rank, most frequent first
    cumulative: list[float]  # Zipf cumulative weights for the vocabulary
    names: list[str]  # by rank, most frequent first
    name_cumulative: list[float]  # Zipf cumulative weights for the names
    topics: list[Topic]


def _syllables(rng: random.Random, count: int) -> str:
    return "".join(rng.choice(_ONSETS) + rng.choice(_VOWELS) for _ in range(count))


def make_world(rng: random.Random, words: int = 30_000, topics: int = 5_000) -> World:
    stem_of: dict[str, str] = {}
    while len(stem_of) < words:
        stem = _syllables(rng, rng.choice((1, 2, 2, 3, 3, 4)))
        for suffix in rng.sample(_SUFFIXES, rng.randint(1, 4)):
            stem_of.setdefault(stem + suffix, stem)
    # frequent words are short, as in real text: sort by length with noise, then Zipf ranks
    vocabulary = sorted(stem_of, key=lambda w: len(w) + rng.gauss(0, 2.5))[:words]
    # mid-frequency words are ranks words/30 (1,000) to words/6 (5,000); low-frequency beyond
    common = {word[:n] for word in vocabulary[: words // 6] for n in range(1, len(word) + 1)}
    cumulative = list(itertools.accumulate(1 / (rank + 2.7) for rank in range(len(vocabulary))))
    names = sorted({_syllables(rng, rng.randint(2, 3)).capitalize() for _ in range(max(words // 10, 30))})
    name_cumulative = list(itertools.accumulate(1 / (rank + 10) for rank in range(len(names))))
    return World(
        vocabulary,
        cumulative,
        names,
        name_cumulative,
        [_topic(rng, vocabulary, names, common) for _ in range(topics)],
    )


def _topic(rng: random.Random, vocabulary: list[str], names: list[str], common: set[str]) -> Topic:
    """Common words start with none of a topic's prefixes ("mineral*" not "min*")."""
    size = len(vocabulary)
    ranks = [rng.randint(size // 30, size - 1) for _ in range(30)]
    words = tuple(vocabulary[rank] for rank in ranks)
    rare = tuple(vocabulary[rank] for rank in ranks if rank >= size // 6)
    phrases = tuple(" ".join(rng.sample(words, rng.choice((2, 2, 3)))) for _ in range(6))
    # a prefix that also starts a common word would be a bad keyword: leave those out
    heads = {word[:n] for word in rare for n in range(7 if size >= 10_000 else 4, len(word))}
    stems = tuple(sorted(heads - common))
    # the very most mentioned names belong to no topic in particular
    return Topic(words, rare, stems, tuple(rng.sample(names[len(names) // 30 :], 5)), phrases)


def make_article(rng: random.Random, world: World) -> tuple[str, str]:
    topics = rng.sample(world.topics, rng.choice((1, 1, 2, 3)))
    title = " ".join(_word(rng, world, topics).capitalize() for _ in range(rng.randint(7, 13)))
    sentences = []
    while sum(map(len, sentences)) < 1450:
        sentences.append(_sentence(rng, world, topics))
    if rng.random() < 0.05:
        sentences.insert(rng.randrange(len(sentences)), f"{rng.choice(_ACCENTED)} said so.")
    return title, " ".join(sentences)


def _word(rng: random.Random, world: World, topics: Sequence[Topic]) -> str:
    roll = rng.random()
    if roll < 0.1:
        topic = rng.choice(topics)
        return rng.choice(topic.phrases) if rng.random() < 0.2 else rng.choice(topic.words)
    if roll < 0.14:
        return _zipf(rng, world.names, world.name_cumulative)
    return _zipf(rng, world.vocabulary, world.cumulative)


def _zipf(rng: random.Random, ranked: list[str], cumulative: list[float]) -> str:
    at = bisect.bisect(cumulative, rng.random() * cumulative[-1])
    return ranked[min(at, len(ranked) - 1)]


def _sentence(rng: random.Random, world: World, topics: Sequence[Topic]) -> str:
    words = [_word(rng, world, topics) for _ in range(rng.randint(8, 24))]
    for i, word in enumerate(words):
        roll = rng.random()
        if roll < 0.07:
            words[i] = word + ","
        elif roll < 0.09 and i + 1 < len(words):
            words[i] = word + rng.choice(("-", "-", "–"))  # joined to the next word below
        elif roll < 0.1 and word[0].isupper():
            words[i] = word + rng.choice(("'s", "’s"))
        elif roll < 0.11:
            words[i] = f"{rng.randint(2, 2030)}" + rng.choice(("", "%", ".5"))
        elif roll < 0.115:
            words[i] = "–"
    if rng.random() < 0.15:
        start = rng.randrange(len(words))
        open_, close = rng.choice((("“", "”"), ('"', '"')))
        words[start] = open_ + words[start]
        words[-1] += close
    text = " ".join(words).replace("- ", "-").replace("– ", "–").replace(" –", " – ")
    return text[0].upper() + text[1:] + "."


# --- generated rules -----------------------------------------------------------------


def make_term_lists(rng: random.Random, world: World, count: int = 30) -> list[TermList]:
    lists = []
    for number in range(count):
        topic = rng.choice(world.topics)
        elements = {_element(rng, topic) for _ in range(rng.randint(5, 12))}
        lists.append(make_term_list(f"list-{number}", sorted(elements)))
    return lists


def _element(rng: random.Random, topic: Topic, rare: bool = False) -> str:
    roll = rng.random()
    if roll < 0.5:
        return rng.choice(topic.rare if rare and topic.rare else topic.words)
    if roll < 0.7:
        return rng.choice(topic.names)
    if roll < 0.85 and topic.stems:
        return rng.choice(topic.stems) + "*"
    return rng.choice(topic.phrases)


def _term(rng: random.Random, topic: Topic, rare: bool) -> str:
    text = _element(rng, topic, rare)
    if " " in text:
        return f'"{text}*"' if rng.random() < 0.2 else f'"{text}"'
    return text


def _group(rng: random.Random, topic: Topic, low: int = 2, high: int = 6, rare: bool = False) -> str:
    terms = list(dict.fromkeys(_term(rng, topic, rare) for _ in range(rng.randint(low, high))))
    return terms[0] if len(terms) == 1 else "(" + " OR ".join(terms) + ")"


def make_query(rng: random.Random, world: World, lists: Sequence[TermList]) -> str:
    """One rule about one topic. As in real rule files, a lone OR list is a watch list of
    rare words and names; mid-frequency words only ever appear combined with AND."""
    topic = rng.choice(world.topics)
    shape = rng.random()
    if shape < 0.2:
        return _group(rng, topic, 2, 6, rare=True)
    if shape < 0.55:
        return " AND ".join(_group(rng, topic) for _ in range(rng.choice((2, 2, 3))))
    if shape < 0.67:
        return (
            f"{_group(rng, topic)} AND {_group(rng, topic)} NOT {_group(rng, rng.choice(world.topics), 1, 3)}"
        )
    if shape < 0.79:
        near = f"{_group(rng, topic, 1, 3)} NEAR/{rng.randint(0, 15)} {_group(rng, topic, 1, 3)}"
        return near if rng.random() < 0.5 else f"{near} OR ({_group(rng, topic)} AND {_group(rng, topic)})"
    if shape < 0.91:
        field = rng.choice(("title", "summary", "body"))
        return f"{field}:{_group(rng, topic)} AND {_group(rng, topic)}"
    return f"@{rng.choice(lists).name} AND {_group(rng, topic)}"


def make_rules(rng: random.Random, world: World, lists: Sequence[TermList], count: int) -> list[Rule]:
    return [Rule(f"rule-{n}", f"Rule {n}", make_query(rng, world, lists)) for n in range(count)]


# --- the straightforward matcher -----------------------------------------------------


class RegexMatcher:
    """One compiled regex per term over the folded text; every rule's tree evaluated in turn."""

    def __init__(self, rules: Sequence[Rule], lists: Sequence[TermList]) -> None:
        index = index_term_lists(lists)
        self.rules = [(rule.id, resolve_lists(parse_query(rule.query), index).root) for rule in rules]
        self.patterns: dict[tuple[str, ...], re.Pattern[str]] = {}

    def match(self, title: str, summary: str) -> list[str]:
        fields = [" ".join(token.text for token in tokenize(text)) for text in (title, summary)]
        scopes = {None: fields, "title": fields[:1], "summary": fields[1:]}
        return [rule_id for rule_id, root in self.rules if self._holds(root, scopes, None)]

    def _holds(self, node: Node, scopes: dict, scope: str | None) -> bool:
        if isinstance(node, Term):
            return any(self._pattern(node).search(text) for text in scopes[scope])
        if isinstance(node, Not):
            return not self._holds(node.child, scopes, scope)
        if isinstance(node, Field):
            return self._holds(node.child, scopes, node.name)
        if isinstance(node, Near):
            return any(self._near(node, text) for text in scopes[scope])
        if isinstance(node, And):
            return all(self._holds(child, scopes, scope) for child in node.children)
        assert isinstance(node, Or)
        return any(self._holds(child, scopes, scope) for child in node.children)

    def _pattern(self, term: Term) -> re.Pattern[str]:
        key = (*term.tokens, "*" if term.prefix else "")
        if key not in self.patterns:
            # zero-width, at the start of a word, so that overlapping occurrences are all found
            end = "" if term.prefix else "(?= |$)"
            self.patterns[key] = re.compile("(?<![^ ])(?=" + re.escape(" ".join(term.tokens)) + end + ")")
        return self.patterns[key]

    def _near(self, node: Near, text: str) -> bool:
        chain = [self._spans(child, text) for child in node.children]
        reached = chain[0]
        for spans, distance in zip(chain[1:], node.distances, strict=True):
            reached = [
                s
                for s in spans
                if any(_apart(s, r) is not None and _apart(s, r) <= distance for r in reached)
            ]
        return bool(reached)

    def _spans(self, node: Node, text: str) -> list[tuple[int, int]]:
        terms = node.children if isinstance(node, Or) else (node,)
        spans = []
        for term in terms:
            if isinstance(term, Or):
                spans += self._spans(term, text)
                continue
            assert isinstance(term, Term)
            for found in self._pattern(term).finditer(text):
                first = text.count(" ", 0, found.start())
                spans.append((first, first + len(term.tokens) - 1))
        return spans


def _apart(one: tuple[int, int], other: tuple[int, int]) -> int | None:
    """Words between two spans; None when they overlap."""
    if one[1] < other[0]:
        return other[0] - one[1] - 1
    if other[1] < one[0]:
        return one[0] - other[1] - 1
    return None


# --- the run -------------------------------------------------------------------------


@dataclass(frozen=True)
class Corpus:
    articles: list[tuple[str, str]]  # the timed ones
    warmup: list[tuple[str, str]]  # others from the same world, matched first, untimed
    rules: list[Rule]
    lists: list[TermList]


def make_corpus(seed: int, articles: int, rules: int, warmup: int = 0) -> Corpus:
    rng = random.Random(seed)
    world = make_world(rng)
    lists = make_term_lists(rng, world)
    rule_list = make_rules(rng, world, lists, rules)
    timed = [make_article(rng, world) for _ in range(articles)]
    return Corpus(timed, [make_article(rng, world) for _ in range(warmup)], rule_list, lists)


def run_fast(rule_set: RuleSet, articles: Sequence[tuple[str, str]]) -> tuple[list[list[str]], float]:
    start = time.perf_counter()
    results = [[m.rule_id for m in rule_set.match(title, summary)] for title, summary in articles]
    return results, time.perf_counter() - start


def run_baseline(matcher: RegexMatcher, articles: Sequence[tuple[str, str]]) -> tuple[list[list[str]], float]:
    start = time.perf_counter()
    results = [matcher.match(title, summary) for title, summary in articles]
    return results, time.perf_counter() - start


def describe(corpus: Corpus) -> str:
    queries = [rule.query for rule in corpus.rules]
    kinds = {"NEAR": "NEAR/", "NOT": "NOT ", "field": ":", "@list": "@", "phrase": '"', "prefix": "*"}
    count = ", ".join(f"{kind} {sum(mark in q for q in queries)}" for kind, mark in kinds.items())
    size = sum(len(t) + len(s) for t, s in corpus.articles) / max(len(corpus.articles), 1)
    return (
        f"{len(corpus.articles)} articles (mean {size:.0f} characters), {len(corpus.rules)} rules"
        f" (rules with {count}), {len(corpus.lists)} term lists"
    )


def check_equivalence(seed: int) -> int:
    """The --equivalence run: both matchers on a small world; 1 if they differ anywhere."""
    rng = random.Random(seed)
    world = make_world(rng, words=600, topics=40)
    lists = make_term_lists(rng, world, count=8)
    rules = make_rules(rng, world, lists, 120)
    articles = []
    for _ in range(100):
        title, summary = make_article(rng, world)
        articles.append((title, summary[: rng.randint(0, len(summary))]))
    fast = compile_rule_set(rules, lists)
    slow = RegexMatcher(rules, lists)
    matches, differing = 0, 0
    for title, summary in articles:
        expected = slow.match(title, summary)
        found = [m.rule_id for m in fast.match(title, summary)]
        matches += len(expected)
        if found != expected:
            differing += 1
            print(f"  {title!r} / {summary!r}: one-pass {found} != baseline {expected}", file=sys.stderr)
    verdict = "identical" if not differing else f"DIFFERENT on {differing}"
    print(f"equivalence: {verdict}: {len(articles)} articles, {len(rules)} rules, {matches} matches")
    return 1 if differing else 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--articles", type=int, default=10_000)
    parser.add_argument("--rules", type=int, default=1_000)
    parser.add_argument("--baseline-articles", type=int, default=150)
    parser.add_argument("--warmup", type=int, default=2_000, help="untimed articles matched first")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--equivalence", action="store_true", help="no timing: compare the matchers")
    args = parser.parse_args(argv)
    if args.equivalence:
        return check_equivalence(args.seed)
    corpus = make_corpus(args.seed, args.articles, args.rules, args.warmup)
    print(f"corpus:    {describe(corpus)}")
    rule_set = compile_rule_set(corpus.rules, corpus.lists)
    run_fast(rule_set, corpus.warmup)  # a running service has seen its vocabulary: untimed
    # best of REPEATS: this machine's noise only ever adds time (timeit reports minima too)
    fast, elapsed = min((run_fast(rule_set, corpus.articles) for _ in range(REPEATS)), key=lambda run: run[1])
    subset = corpus.articles[: args.baseline_articles]
    slow, slow_elapsed = run_baseline(RegexMatcher(corpus.rules, corpus.lists), subset)
    return report(corpus, (fast, elapsed), (slow, slow_elapsed))


def report(
    corpus: Corpus, fast_run: tuple[list[list[str]], float], slow_run: tuple[list[list[str]], float]
) -> int:
    """Print the rates and the comparison; 1 if the two matchers disagree."""
    (fast, elapsed), (slow, slow_elapsed) = fast_run, slow_run
    rate, slow_rate = len(fast) / elapsed, len(slow) / slow_elapsed
    print(
        f"one-pass:  {len(fast)} articles in {elapsed:.2f} s = {rate:,.0f} articles/s;"
        f" {sum(map(len, fast)):,} matches, {sum(1 for ids in fast if ids):,} articles matched at least"
        f" one rule (best of {REPEATS} runs, after {len(corpus.warmup):,} untimed warm-up articles)"
    )
    print(
        f"baseline:  {len(slow)} articles in {slow_elapsed:.2f} s = {slow_rate:,.1f} articles/s"
        f" (regex per term, every rule; timed on the first {len(slow)} articles, rate extrapolated)"
    )
    differing = [n for n, (a, b) in enumerate(zip(fast, slow, strict=False)) if a != b]
    print(f"speed-up:  {rate / slow_rate:,.0f}x")
    verdict = "identical" if not differing else "DIFFERENT"
    print(f"results:   {verdict} on the {len(slow)} articles both ran ({sum(map(len, slow)):,} matches)")
    print(f"target:    >= {TARGET_RATE:,} articles/s: {'PASS' if rate >= TARGET_RATE else 'FAIL'}")
    print(f"target:    >= {TARGET_RATIO}x baseline: {'PASS' if rate / slow_rate >= TARGET_RATIO else 'FAIL'}")
    for number in differing[:5]:
        print(f"  article {number}: one-pass {fast[number]} != baseline {slow[number]}", file=sys.stderr)
    return 1 if differing else 0


if __name__ == "__main__":
    sys.exit(main())
