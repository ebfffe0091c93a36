"""A parser worker's part of story grouping, per article, alone in a loop: CPU or instructions.

    python bench/worker_stories.py [--source farm|generator|JSONL] [--feeds 300] [--rounds 5] A [B ...]
    python bench/worker_stories.py --feeds 20 --keep T.pickle --rounds 1 .     # texts kept, then:
    PYTHONHASHSEED=0 PYTHONPATH=TREE valgrind --tool=callgrind --toggle-collect=functools_reduce \\
        python bench/worker_stories.py --texts T.pickle --rounds 1 --only words   # Ir / articles

What parsing.describe_fresh makes for grouping, per feed: its reports' words (stories.words.reports:
the feed's boilerplate, profile.terms, the scaled counts and lone text) and each article's copy
signature (fingerprint.copy_signature, textform.signature_blob), timed apart, each pass with the
caches a worker fills (stems._WORDS and _NAMES, evidence's folds) emptied first, as in a worker's first pass.
Texts: the farm's feeds (bench/farm.py, built in-process and parsed, 50 items each), or the bench
generator's articles (rules_bench.make_article, 25 a feed, as stories_archive_bench makes them),
or a JSONL file of {"title", "summary"} rows, 25 a feed (e.g. the storybench's real news, for
evaluation only). Each pass runs inside functools.reduce, so callgrind's toggle counts the passes
and nothing else. Prints CPU µs per article (median of --rounds) and a digest of what was made,
so two trees are compared for speed and sameness (A B A B..., each round in a child process whose
monitor is the variant's, as bench/stage_loop.py does; a variant is a source tree or a git ref).
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import importlib
import json
import os
import pickle
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from importlib.util import find_spec
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

NOW = datetime(2026, 12, 5, 6, tzinfo=UTC)
Feeds = list[list[tuple[str, str, datetime]]]


def farm_feeds(count: int) -> Feeds:
    from farm import Farm

    from monitor.ingest.dedupe import distinct_entries
    from monitor.ingest.parse import parse_feed

    farm, feeds = Farm(feeds=count, items=50, now=NOW), []
    for i in range(count):
        parsed = parse_feed(
            f"http://127.0.0.1:1/feed/{i}.xml", farm.body(i), {"content-type": "application/xml"}
        )
        assert not isinstance(parsed, Exception), parsed
        feeds.append(
            [(e.title, e.summary, e.published or NOW) for e, _, _ in distinct_entries(parsed.entries)]
        )
    return feeds


def generated_feeds(count: int) -> Feeds:
    import rules_bench

    rng, world = random.Random(99), rules_bench.make_world(random.Random(1))
    return [[(*rules_bench.make_article(rng, world), NOW) for _ in range(25)] for _ in range(count)]


def file_feeds(path: Path, count: int) -> Feeds:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    items = [(r.get("title") or "", r.get("summary") or "", NOW) for r in rows]
    return [items[i : i + 25] for i in range(0, len(items), 25)][:count]


def words_pass(feeds: Feeds) -> list[object]:
    from monitor.stories.words import reports

    return [reports([(title, summary) for title, summary, _ in items]) for items in feeds]


def signature_pass(feeds: Feeds) -> list[object]:
    from monitor.stories.fingerprint import copy_signature
    from monitor.stories.textform import signature_blob

    made: list[object] = []
    for items in feeds:
        for title, summary, published in items:
            fp = copy_signature(title, summary, published)
            made.append(signature_blob(fp.published, fp.signature))
    return made


def _cold() -> None:
    """A worker's first pass: its word caches empty."""
    from monitor.stories import evidence, fingerprint, profile, textform, words  # imported outside the toggle

    assert fingerprint and textform and words
    # the words' caches: profile's before h-words2, stems's (a chunk's word, its names) since
    new = find_spec("monitor.stories.stems")
    stems = importlib.import_module("monitor.stories.stems") if new else profile
    for cache in (stems._WORDS, getattr(stems, "_NAMES", {}), getattr(evidence, "_FOLDED", {})):
        cache.clear()
    evidence._fold.cache_clear()


def timed(run: Callable[[Feeds], list[object]], feeds: Feeds) -> tuple[float, list[object]]:
    _cold()
    began = time.process_time()
    made: list[object] = functools.reduce(lambda _, f: run(f), [feeds], [])  # callgrind's toggle
    return time.process_time() - began, made


def _texts(source: str, feeds: int) -> Feeds:
    if source == "farm":
        return farm_feeds(feeds)
    if source == "generator":
        return generated_feeds(feeds)
    return file_feeds(Path(source), feeds)


def measure(feeds: Feeds, rounds: int, only: str | None) -> dict[str, tuple[float, str]]:
    """Per pass: (CPU µs per article, median of `rounds`; digest of what it made)."""
    articles, figures = sum(map(len, feeds)), {}
    for name, run in (("words", words_pass), ("signature", signature_pass)):
        if only not in (None, name):
            continue
        spent: list[float] = []
        made: list[object] = []
        for _ in range(rounds):
            seconds, made = timed(run, feeds)
            spent.append(seconds)
        digest = hashlib.sha256(repr(made).encode()).hexdigest()[:16]
        figures[name] = (1e6 * statistics.median(spent) / articles, digest)
    return figures


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("variants", nargs="*", help="source trees or git refs, measured alternately")
    p.add_argument("--source", default="farm", help="farm, generator, or a JSONL file of title/summary rows")
    p.add_argument("--feeds", type=int, default=300)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--only", choices=("words", "signature"), help="one of the two (callgrind counts both)")
    p.add_argument("--texts", type=Path, help="the texts, pickled by a run with variants (for valgrind)")
    p.add_argument("--keep", type=Path, help="with variants: keep the texts in this file")
    args = p.parse_args(argv)
    if not args.variants:  # this process's monitor (PYTHONPATH) on texts made here or read
        feeds = pickle.loads(args.texts.read_bytes()) if args.texts else _texts(args.source, args.feeds)
        import monitor

        print(f"{monitor.__file__}: {sum(map(len, feeds))} articles", file=sys.stderr)
        print(json.dumps(measure(feeds, args.rounds, args.only)))
        return 0
    from ab import _tree

    folder = Path(tempfile.mkdtemp(prefix="worker-stories-"))
    try:
        texts = args.keep or folder / "texts.pickle"
        texts.write_bytes(pickle.dumps(_texts(args.source, args.feeds)))
        trees = {v: _tree(v, folder) for v in args.variants}
        runs: dict[str, list[dict[str, tuple[float, str]]]] = {v: [] for v in args.variants}
        for n in range(args.rounds):
            for v, tree in trees.items():
                command = [sys.executable, __file__, "--texts", str(texts), "--rounds", "1"]
                env = {**os.environ, "PYTHONPATH": str(tree)}
                done = subprocess.run(command, env=env, check=True, capture_output=True, text=True)
                runs[v].append(json.loads(done.stdout))
                shown = ", ".join(f"{k} {f[0]:.1f}" for k, f in runs[v][-1].items())
                print(f"{v}: round {n + 1}: {shown} µs/article (load {os.getloadavg()[0]:.1f})", flush=True)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    print(f"\n{args.source}: median of {args.rounds} rounds, CPU µs per article")
    for v, rs in runs.items():
        medians = {k: statistics.median(r[k][0] for r in rs) for k in rs[0]}
        digests = {k: "/".join(sorted({str(r[k][1]) for r in rs})) for k in rs[0]}
        shown = ", ".join(f"{k} {medians[k]:.1f} ({digests[k]})" for k in rs[0])
        print(f"{v}: {shown}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
