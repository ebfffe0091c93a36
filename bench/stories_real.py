"""Story grouping on real labelled news, through the real pipeline, next to a TF-IDF baseline.

    corpus.jsonl (id, title, summary, published, outlet, cluster, url)
      → one RSS feed per outlet on a loopback feed server (fakes/feed_server.py)
      → for each day: the feeds hold their items published up to that day's end, and one
        pass runs in-process as `monitor poll` runs it (load_config → open_app → run_pass),
        with the clock at the day's end and one rule that matches every article (console)
      → articles.story_id and the alerts table, scored against `cluster`

Printed per system: pair precision and recall (pairs of articles in one story vs one event),
B-cubed precision/recall/F1, events whose alert was hidden (no article of the event got an
alert of its own: all were folded into stories other events started), extra alerts (alerts
beyond one per event). Next to monitor, in the same run: TF-IDF cosine ≥ 0.3 within 48 h,
single link (an article joins every earlier article it is that close to; it alerts when it
joins none), and every article its own story.

The corpus's text belongs to its outlets: it is read from the path given, never stored.

    python bench/stories_real.py --corpus ../shared/storybench/allsides-dev.jsonl [--part dev|held|all]
        [--since 2021-04-01 --until 2021-06-01] [--verbose] [--orders N [--seed S]]

--part dev is April-May (to tune on), held is June-July (looked at once, at the end).

Feeds are handled as they answer, so which outlet's report of an event comes first, and so the
figures, vary from run to run. --orders N runs the corpus N times, each in a deterministic feed
order (order S: one feed fetched at a time, a day's feeds in the order random.Random("S:day")
shuffles them; S from --seed, default 0, up), and prints each order's figures, then their
minimum, median and maximum: what holds in every order, not on average.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import random
import re
import sqlite3
import statistics
import string
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from xml.sax.saxutils import escape

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from fakes.feed_server import FeedServer  # noqa: E402 (the loopback feed server of the tests)
from monitor.app import open_app  # noqa: E402
from monitor.config.load import load_config  # noqa: E402
from monitor.service.workers import tune_gc  # noqa: E402
from monitor.types import FeedForUpdate  # noqa: E402

PARTS = {"dev": ("2021-04-01", "2021-06-01"), "held": ("2021-06-01", "2021-08-01"), "all": (None, None)}
FEED_DAYS = 7  # a feed holds its items of the last week, as news feeds do


@dataclass(frozen=True)
class Doc:
    id: str
    title: str
    summary: str
    published: datetime
    outlet: str
    cluster: str
    url: str


def load(path: Path, since: str | None, until: str | None) -> list[Doc]:
    docs = []
    with path.open(encoding="utf-8") as lines:
        for n, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                published = datetime.fromisoformat(row["published"].replace("Z", "+00:00")).astimezone(UTC)
                doc = Doc(
                    row["id"],
                    row["title"],
                    row["summary"],
                    published,
                    row["outlet"],
                    row["cluster"],
                    row["url"],
                )
            except (ValueError, KeyError, TypeError) as exc:
                raise SystemExit(f"stories_real: {path}:{n}: not a corpus line ({exc})") from None
            day = doc.published.date().isoformat()
            if (since is None or day >= since) and (until is None or day < until):
                docs.append(doc)
    return sorted(docs, key=lambda d: (d.published, d.id))


# --- monitor through its pipeline ------------------------------------------------


def _catch_all_rule(folder: Path) -> Path:
    """One rule matching any title with a word of two letters or more: every article alerts."""
    prefixes = " OR ".join(a + b + "*" for a in string.ascii_lowercase for b in string.ascii_lowercase)
    path = folder / "rules" / "all.toml"
    path.parent.mkdir()
    path.write_text(f"[[rule]]\nid = \"all\"\nname = \"All news\"\nquery = '''title:({prefixes})'''\n")
    return path.parent


def _rss(outlet: str, docs: Iterable[Doc]) -> bytes:
    items = "".join(
        f"<item><title>{escape(d.title)}</title><link>{escape(d.url)}</link>"
        f'<guid isPermaLink="false">{escape(d.id)}</guid><pubDate>{format_datetime(d.published)}</pubDate>'
        f"<description>{escape(d.summary)}</description></item>"
        for d in docs
    )
    head = (
        f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>{escape(outlet)}</title>'
    )
    return (head + f"<link>https://{_slug(outlet)}.invalid/</link>{items}</channel></rss>").encode()


def _slug(outlet: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", outlet.lower()).strip("-") or "outlet"


@dataclass
class Run:
    story: dict[str, int]  # doc id → story id
    alerts: Counter[str]  # doc id → alerts it sent itself (kind 'send')
    seconds: float
    passes: int
    missing: list[str]  # doc ids the archive does not hold


def run_monitor(docs: Sequence[Doc], folder: Path, stories: str = "", order: int | None = None) -> Run:
    """The corpus through the pipeline, day by day; `order`: the feeds fetched one at a time, a
    day's in the order random.Random(f"{order}:{day}") shuffles them (None: as they answer)."""
    by_outlet: dict[str, list[Doc]] = defaultdict(list)
    for doc in docs:
        by_outlet[doc.outlet].append(doc)
    db = folder / "monitor.db"
    rules = _catch_all_rule(folder)
    started = time.perf_counter()
    passes = 0
    tune_gc()
    with FeedServer() as server:
        paths = {outlet: f"/{i}-{_slug(outlet)}.rss" for i, outlet in enumerate(sorted(by_outlet))}
        for outlet, path in paths.items():
            server.add(path, _rss(outlet, []))
        feeds = "".join(
            f"[[feeds]]\nurl = {json.dumps(server.url(p))}\nname = {json.dumps(o)}\n\n"
            for o, p in paths.items()
        )
        config_path = folder / "monitor.toml"
        fetch = "" if order is None else "[fetch]\nconcurrency = 1\n\n"
        config_path.write_text(
            f"[storage]\npath = {json.dumps(str(db))}\n\n{fetch}"
            f"[rules]\npaths = [{json.dumps(str(rules))}]\n\n[stories]\n{stories}\n\n{feeds}",
            encoding="utf-8",
        )
        config = load_config(config_path, environ={})
        day = docs[0].published.replace(hour=23, minute=59, second=59, microsecond=0)
        last = docs[-1].published
        while day - timedelta(days=1) < last:
            for outlet, path in paths.items():
                recent = [
                    d for d in by_outlet[outlet] if day - timedelta(days=FEED_DAYS) < d.published <= day
                ]
                server.add(path, _rss(outlet, recent))
            shuffle = None if order is None else random.Random(f"{order}:{day.date()}").shuffle
            asyncio.run(_one_pass(config, lambda at=day: at, shuffle))
            passes += 1
            day += timedelta(days=1)
    seconds = time.perf_counter() - started
    conn = sqlite3.connect(db)
    story = {guid: sid for guid, sid in conn.execute("select guid, story_id from articles")}
    alerts: Counter[str] = Counter(
        guid
        for (guid,) in conn.execute(
            "select a.guid from alerts l join articles a on a.id = l.article_id where l.kind = 'send'"
        )
    )
    conn.close()
    missing = [d.id for d in docs if d.id not in story]
    return Run(story, alerts, seconds, passes, missing)


async def _one_pass(
    config: object, clock: object, shuffle: Callable[[list[FeedForUpdate]], None] | None = None
) -> None:
    async with open_app(config, clock) as app:  # type: ignore[arg-type]
        if shuffle is not None:  # one feed at a time (concurrency 1): in the shuffled order
            archive = app.pipeline.archive
            due = archive.feeds_for_update

            def shuffled(now: datetime | None = None) -> list[FeedForUpdate]:
                feeds = sorted(due(now), key=lambda f: f.url)
                shuffle(feeds)
                return feeds

            archive.feeds_for_update = shuffled  # type: ignore[method-assign]
        report = await app.pipeline.run_pass()
    for error in report.errors:
        print(f"stories_real: feed {error.url}: {error.message}", file=sys.stderr)


# --- the TF-IDF baseline ------------------------------------------------------------


def tfidf_baseline(
    docs: Sequence[Doc], threshold: float = 0.3, hours: float = 48.0
) -> tuple[dict[str, int], Counter[str]]:
    """Single link over cosine ≥ threshold within `hours`; an article alerts when it links to
    no earlier one."""
    tokens = [re.findall(r"\w+", f"{d.title} {d.summary}".lower()) for d in docs]
    df = Counter(t for toks in tokens for t in set(toks))
    idf = {t: math.log(len(docs) / n) for t, n in df.items()}
    vectors = []
    for toks in tokens:
        v = {t: c * idf[t] for t, c in Counter(toks).items()}
        norm = math.sqrt(sum(x * x for x in v.values())) or 1.0
        vectors.append({t: x / norm for t, x in v.items()})
    parent = list(range(len(docs)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    alerts: Counter[str] = Counter()
    for i, doc in enumerate(docs):
        linked = False
        for j in range(i):
            if abs((doc.published - docs[j].published).total_seconds()) <= hours * 3600:
                a, b = vectors[i], vectors[j]
                if sum(x * b.get(t, 0.0) for t, x in a.items()) >= threshold:
                    linked = True
                    parent[root(i)] = root(j)
        if not linked:
            alerts[doc.id] += 1
    return {d.id: root(i) for i, d in enumerate(docs)}, alerts


# --- scores ------------------------------------------------------------------------


@dataclass(frozen=True)
class Scores:
    pair_p: float | None
    pair_r: float
    b3_p: float
    b3_r: float
    b3_f1: float
    hidden: int
    events: int
    extra: int


def score(docs: Sequence[Doc], story: Mapping[str, int], alerts: Mapping[str, int]) -> Scores:
    gold = {d.id: d.cluster for d in docs}
    pred = {d.id: story.get(d.id, -hash(d.id)) for d in docs}  # an article not archived: its own story
    by_gold: dict[str, set[str]] = defaultdict(set)
    by_pred: dict[int, set[str]] = defaultdict(set)
    for d in docs:
        by_gold[gold[d.id]].add(d.id)
        by_pred[pred[d.id]].add(d.id)
    pairs_pred = sum(len(s) * (len(s) - 1) // 2 for s in by_pred.values())
    pairs_gold = sum(len(s) * (len(s) - 1) // 2 for s in by_gold.values())
    both = Counter((gold[i], pred[i]) for i in gold)
    pairs_both = sum(n * (n - 1) // 2 for n in both.values())
    b3_p = sum(both[gold[i], pred[i]] / len(by_pred[pred[i]]) for i in gold) / len(gold)
    b3_r = sum(both[gold[i], pred[i]] / len(by_gold[gold[i]]) for i in gold) / len(gold)
    per_event = Counter({cluster: 0 for cluster in by_gold})
    for d in docs:
        per_event[d.cluster] += alerts.get(d.id, 0)
    return Scores(
        pair_p=pairs_both / pairs_pred if pairs_pred else None,
        pair_r=pairs_both / pairs_gold if pairs_gold else 0.0,
        b3_p=b3_p,
        b3_r=b3_r,
        b3_f1=2 * b3_p * b3_r / (b3_p + b3_r),
        hidden=sum(1 for n in per_event.values() if n == 0),
        events=len(by_gold),
        extra=sum(n - 1 for n in per_event.values() if n > 1),
    )


def table(rows: Sequence[tuple[str, Scores]]) -> str:
    out = [
        "| system | pair P | pair R | B3 P | B3 R | B3 F1 | hidden events | extra alerts |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, s in rows:
        p = "—" if s.pair_p is None else f"{s.pair_p:.3f}"
        out.append(
            f"| {name} | {p} | {s.pair_r:.3f} | {s.b3_p:.3f} | {s.b3_r:.3f} | {s.b3_f1:.3f} |"
            f" {s.hidden} of {s.events} | {s.extra} |"
        )
    return "\n".join(out)


def wrong_merges(docs: Sequence[Doc], story: Mapping[str, int]) -> str:
    """The stories holding more than one event, biggest first (for tuning on the dev part only)."""
    members: dict[int, list[Doc]] = defaultdict(list)
    for d in docs:
        if d.id in story:
            members[story[d.id]].append(d)
    lines = []
    mixed = [m for m in members.values() if len({d.cluster for d in m}) > 1]
    for m in sorted(mixed, key=len, reverse=True):
        lines.append(f"story of {len(m)} ({len({d.cluster for d in m})} events):")
        lines += [f"   {d.published:%m-%d %H:%M} {d.cluster:>10} {d.title[:90]}" for d in m]
    return "\n".join(lines)


def _documents(args: argparse.Namespace) -> list[Doc]:
    since, until = PARTS[args.part]
    docs = load(args.corpus, args.since or since, args.until or until)
    if not docs:
        raise SystemExit(f"stories_real: {args.corpus}: no article in the chosen dates")
    return docs


def run_orders(args: argparse.Namespace) -> int:
    """--orders: the corpus in N deterministic feed orders, a line per order as it ends, then
    the table of all with their minimum, median and maximum."""
    docs = _documents(args)
    baseline = score(docs, *tfidf_baseline(docs))
    print(
        f"{len(docs)} articles, {len({d.cluster for d in docs})} events; TF-IDF baseline: pair P"
        f" {baseline.pair_p or 0:.3f} R {baseline.pair_r:.3f} B3 F1 {baseline.b3_f1:.3f}"
        f" hidden {baseline.hidden}",
        flush=True,
    )
    rows: list[tuple[int, Scores, Run]] = []
    for order in range(args.seed, args.seed + args.orders):
        if args.keep:
            folder = args.keep / f"order-{order}"
            folder.mkdir(parents=True)
            run = run_monitor(docs, folder, args.stories, order)
        else:
            with tempfile.TemporaryDirectory(prefix="stories_real.") as tmp:
                run = run_monitor(docs, Path(tmp), args.stories, order)
        s = score(docs, run.story, run.alerts)
        rows.append((order, s, run))
        print(
            f"order {order}: pair P {s.pair_p or 0:.3f} R {s.pair_r:.3f} B3 F1 {s.b3_f1:.3f}"
            f" hidden {s.hidden} extra {s.extra} ({run.seconds:.0f} s, {len(run.missing)} not archived)",
            flush=True,
        )
        if args.verbose:
            print(wrong_merges(docs, run.story), flush=True)
    print(orders_table([(f"order {o}", s) for o, s, _ in rows], baseline))
    return 0


def orders_table(rows: Sequence[tuple[str, Scores]], baseline: Scores) -> str:
    """Each order's figures, then the minimum, median and maximum of each column (hidden and
    extra: the maximum is the worst), and the baseline."""
    out = [
        "| order | pair P | pair R | B3 F1 | hidden events | extra alerts |",
        "| --- | --- | --- | --- | --- | --- |",
    ]

    def line(name: str, p: float, r: float, f1: float, hidden: float, extra: float) -> str:
        return f"| {name} | {p:.3f} | {r:.3f} | {f1:.3f} | {hidden:g} | {extra:g} |"

    for name, s in rows:
        out.append(line(name, s.pair_p or 0.0, s.pair_r, s.b3_f1, s.hidden, s.extra))
    columns = [
        [s.pair_p or 0.0 for _, s in rows],
        [s.pair_r for _, s in rows],
        [s.b3_f1 for _, s in rows],
        [float(s.hidden) for _, s in rows],
        [float(s.extra) for _, s in rows],
    ]
    for name, pick in (("min", min), ("median", statistics.median), ("max", max)):
        out.append(line(f"**{name}** of {len(rows)}", *(pick(c) for c in columns)))
    b = baseline
    out.append(line("TF-IDF ≥ 0.3, 48 h, single link", b.pair_p or 0.0, b.pair_r, b.b3_f1, b.hidden, b.extra))
    return "\n".join(out)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--corpus",
        type=Path,
        required=True,
        help="JSONL: id, title, summary, published, outlet, cluster, url",
    )
    parser.add_argument(
        "--part", choices=sorted(PARTS), default="all", help="dev: April-May; held: June-July"
    )
    parser.add_argument("--since", help="first day (YYYY-MM-DD), overrides --part")
    parser.add_argument("--until", help="day after the last (YYYY-MM-DD), overrides --part")
    parser.add_argument("--verbose", action="store_true", help="list the stories that mix events")
    parser.add_argument("--stories", default="", help='[stories] settings, e.g. "min_similarity = 0.27"')
    parser.add_argument("--keep", type=Path, help="keep the archive in this (new) folder")
    parser.add_argument("--orders", type=int, help="run N deterministic feed orders (see above)")
    parser.add_argument("--seed", type=int, default=0, help="the first order of --orders (default 0)")
    args = parser.parse_args(argv)
    if args.orders is not None:
        return run_orders(args)
    docs = _documents(args)
    if args.keep:
        args.keep.mkdir(parents=True)
        run = run_monitor(docs, args.keep, args.stories)
    else:
        with tempfile.TemporaryDirectory(prefix="stories_real.") as folder:
            run = run_monitor(docs, Path(folder), args.stories)
    baseline, baseline_alerts = tfidf_baseline(docs)
    alone = {d.id: i for i, d in enumerate(docs)}
    events = len({d.cluster for d in docs})
    print(
        f"{len(docs)} articles, {events} events, {len({d.outlet for d in docs})} outlets,"
        f" {docs[0].published:%Y-%m-%d} to {docs[-1].published:%Y-%m-%d}: {run.passes} daily passes"
        f" in {run.seconds:.0f} s; {len(run.missing)} articles not archived"
    )
    print(
        table(
            [
                ("monitor", score(docs, run.story, run.alerts)),
                ("TF-IDF cosine ≥ 0.3 within 48 h, single link", score(docs, baseline, baseline_alerts)),
                ("every article its own story", score(docs, alone, Counter(alone.keys()))),
            ]
        )
    )
    if args.verbose:
        print(wrong_merges(docs, run.story))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
