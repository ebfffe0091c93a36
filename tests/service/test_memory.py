"""What bounds a pass's memory: few analysed feeds wait to be saved; memory handed back after."""

from __future__ import annotations

import asyncio
import gc
import importlib.util
import pickle
import platform
import subprocess
import sys
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from monitor.app import open_app
from monitor.config.load import load_config
from monitor.rules.query import Term
from monitor.rules.rulefile import load_rules
from monitor.service import memory
from monitor.service.pipeline import Pipeline
from monitor.service.workers import POOL_MIN_FEEDS, Analyser
from tests.conftest import RULES, rss

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Outstanding:
    now: int = 0  # feeds whose analysis began and which are not saved yet
    most: int = 0
    analysed: int = 0


class CountingAnalyser:
    """The service's Analyser, counting the feeds it was given that are not saved yet."""

    def __init__(self, real: Analyser, count: Outstanding) -> None:
        self.real, self.count = real, count

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)

    async def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.count.now += 1
        self.count.analysed += 1
        self.count.most = max(self.count.most, self.count.now)
        return await self.real(*args, **kwargs)


@dataclass(frozen=True)
class CountingPipeline(Pipeline):
    count: Outstanding = field(default_factory=Outstanding)

    def prepare(self, feed: Any, result: Any, analysed: Any, report: Any) -> Any:
        if analysed is not None:
            self.count.now -= 1
        return super().prepare(feed, result, analysed, report)


def test_a_big_pass_holds_only_a_few_analysed_feeds_waiting_to_be_saved(feed_server, write_config, seeds):
    """Three times the pool's threshold of feeds, all answering at once, 20 fetches in flight: the
    archive is the slower stage, yet no more than Analyser.in_flight() feeds are being analysed
    or wait, analysed, to be saved; every feed is still archived."""
    urls = [
        feed_server.add(
            f"/outlet{i}.xml", rss(f"Outlet {i}", [seeds[i % len(seeds)], seeds[(i + 1) % len(seeds)]])
        )
        for i in range(3 * POOL_MIN_FEEDS)
    ]
    config = load_config(write_config(urls, fetch="workers = 1"), environ={})
    count = Outstanding()

    async def cold_pass() -> tuple[int, int]:
        async with open_app(config) as app:
            real = app.pipeline
            values = {f.name: getattr(real, f.name) for f in fields(real)}
            values["analyser"] = CountingAnalyser(real.analyser, count)
            report = await CountingPipeline(**values, count=count).run_pass()
            return report.feeds, len(report.errors)

    feeds, errors = asyncio.run(cold_pass())
    assert (feeds, errors) == (len(urls), 0)
    assert count.analysed == len(urls) and count.now == 0
    assert 1 < count.most <= 2 * 1 + 2


def test_memory_is_handed_back_only_after_a_pass_of_many_new_articles():
    assert not memory.release_memory(memory.RELEASE_AFTER - 1)
    assert memory.release_memory(memory.RELEASE_AFTER)
    if platform.libc_ver()[0] == "glibc":
        assert memory._TRIM is not None
        assert memory.trim()  # what batching.py does every TRIM_EVERY commits of a pass


def test_the_shipped_rules_share_their_lists_terms_and_key_sets():
    """An @name brings its list's own terms (not a copy each), and equal key sets compile to one
    object: the shipped rules, pickled to every parser worker, stay small (4.3 MB before)."""
    rules = load_rules([RULES])
    assert len(pickle.dumps(rules, protocol=pickle.HIGHEST_PROTOCOL)) < 1_000_000
    lists = rules._lists
    assert lists
    keys, objects, uses = set(), set(), 0
    for _, query in rules._compiled:
        keys.update(term.key for term in query.terms)
        stack: list[Any] = [query.root]
        while stack:
            node = stack.pop()
            if isinstance(node, Term):
                uses += 1
                objects.add(id(node))
            else:
                stack.extend(getattr(node, "children", ()))
                stack.extend([node.child] if hasattr(node, "child") else [])
    # Each Term one object however many @names bring it (with a copy each: `uses` objects, some
    # 87,000); more objects than keys where a term is spelt twice (Japan, japan) or written both
    # in a query and in a list.
    assert len(objects) < 2 * len(keys) and uses > 20 * len(objects)


def test_the_service_imports_no_package_it_does_not_use():
    """httpx imports click, rich and pygments (about 6 MB) for its CLI, and python-telegram-bot
    `cryptography` (about 8 MB) for Telegram Passport, when they are installed, as they are in the
    test environment: monitor keeps both out of its processes, and cryptography still works.
    charset-normalizer (2.6 MB) is imported only for a body that needs it."""
    code = (
        "import sys, monitor.app, monitor.chat.bot, monitor.service.workers, telegram._bot;"
        " unused = {'click', 'rich', 'pygments', 'cryptography', 'charset_normalizer'};"
        " print(sorted(unused & set(sys.modules)));"
        " from cryptography.hazmat.primitives.asymmetric import ec; print(ec.SECP256R1.name)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.split() == ["[]", "secp256r1"]
    assert importlib.util.find_spec("rich") and importlib.util.find_spec("cryptography")  # installed


def test_equal_key_sets_of_the_shipped_rules_are_one_object_each():
    """An @list ORed into many rules compiles to one key set, shared, in the service and (pickled
    with the sharing kept) in every parser worker; so do the rules a word wakes and a phrase's
    other words. The shipped rules had 1,950 sets of 567 values, 2 MB in every process."""
    rules = pickle.loads(pickle.dumps(load_rules([RULES]), protocol=pickle.HIGHEST_PROTOCOL))
    for part in (rules._plans, rules._anchored, rules._index):
        found: dict[int, frozenset[Any]] = {}
        seen: set[int] = set()
        stack: list[Any] = [part]
        while stack:
            node = stack.pop()
            if id(node) in seen or isinstance(node, (str, int, type)) or callable(node):
                continue
            seen.add(id(node))
            if isinstance(node, frozenset):
                found[id(node)] = node
            stack.extend(gc.get_referents(node))
        assert len(found) > 10
        assert len(found) == len(set(found.values()))
