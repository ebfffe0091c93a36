"""The feed farm (bench/farm.py) the latency bench leans on: what it says a client was served."""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
from farm import Farm, breaking_item  # noqa: E402 (bench/ is scripts)


def _fetch(farm: Farm, i: int) -> str:
    with urllib.request.urlopen(farm.url(i), timeout=10) as answer:
        return str(answer.read().decode())


def test_a_published_item_a_change_pushed_out_was_never_fetched() -> None:
    """At two items a feed (the 10,000-feed case), five new items push a published one out:
    a fetch after that is not the item's fetch (the last stop's lost latency sample)."""
    with Farm(feeds=4, items=2, delay=0, hosts=1) as farm:
        title, body = breaking_item(16)
        farm.publish(1, title, body)
        farm.change(1.0, 5, among=[1])
        assert title not in farm.titles(1)
        assert title not in _fetch(farm, 1)
        assert farm.asked_at(1) is None


def test_a_published_item_is_fetched_when_a_client_gets_it() -> None:
    with Farm(feeds=4, items=2, delay=0, hosts=1) as farm:
        title, body = breaking_item(3)
        farm.publish(2, title, body)
        farm.change(1.0, 5, among=[0, 3])
        assert farm.asked_at(2) is None
        assert title in _fetch(farm, 2)
        # the farm's thread notes the fetch once its answer is sent: the client may read it first
        deadline = time.monotonic() + 5
        while farm.asked_at(2) is None and time.monotonic() < deadline:
            time.sleep(0.01)
        assert farm.asked_at(2) is not None


def test_a_change_spares_the_feeds_it_is_told_to_and_draws_the_same_feeds_otherwise() -> None:
    among = range(10, 110)
    drawn = Farm(feeds=110, items=2).change(0.1, 5, among=among)
    assert len(drawn) == 10
    spared = Farm(feeds=110, items=2).change(0.1, 5, among=among, spare=drawn[:3])
    assert len(spared) == 10 and not set(spared) & set(drawn[:3])
    assert set(drawn[3:]) <= set(spared)
    others = [i for i in among if i not in drawn][:24]  # spared, but not drawn: no difference
    assert Farm(feeds=110, items=2).change(0.1, 5, among=among, spare=others) == drawn


def test_the_tree_peak_adds_only_processes_alive_together() -> None:
    """A parent that runs two children one after the other (as the service runs a parser worker,
    stopped when idle, then another): the peak adds the parent and one child, not both children,
    while the sum of every high-water mark (the figure printed before) adds both."""
    from service_memory import Sampler

    child = "b = bytearray(b'x') * (60 << 20); import time; time.sleep(1.5)"
    run_child = f"subprocess.run([sys.executable, '-c', {child!r}])"
    parent = f"import subprocess, sys, time\nfor _ in range(2): {run_child}\ntime.sleep(0.6)"
    process = subprocess.Popen([sys.executable, "-c", parent])
    sampler = Sampler(process.pid).start()
    process.wait(timeout=60)
    sampler.stop()
    assert len(sampler.hwm) == 3 and sampler.at_once == 2, sampler.hwm
    children = sorted(sampler.hwm.values())[1:]
    assert min(children) > 60 << 10  # kB: each child held its 60 MB
    assert sampler.together == sum(sampler.together_kb) and len(sampler.together_kb) == 2
    assert sampler.together <= sum(sampler.hwm.values()) - min(children)


def test_a_sample_that_sent_no_alert_is_explained_from_the_archive(tmp_path: Path) -> None:
    """service_session._fates on an archive a real pass made: a sample pushed out of its feed
    was never served; one archived alone has its own alert row; a copy of it on another feed
    joined its story, and says whose."""
    from monitor_cases import monitor_pass, write_config
    from service_session import Sample, _fates

    db = tmp_path / "monitor.db"
    with Farm(feeds=6, items=2, delay=0, hosts=1) as farm:
        title, body = breaking_item(16)
        samples = [Sample(n, feed, title, at=0.0) for n, feed in enumerate((1, 2, 3))]
        for sample in samples:
            sample.link = farm.publish(sample.feed, title, body)
            sample.published = 1.0
        farm.change(1.0, 5, among=[3])  # sample 2 pushed out of its 2-item feed
        config = write_config(tmp_path / "monitor.toml", db, [farm.url(i) for i in range(6)])
        monitor_pass(config)
        for sample in samples:
            sample.fetched = farm.asked_at(sample.feed)
    _fates(db, samples)
    first, second = sorted(samples[:2], key=lambda s: "joined" in s.fate)
    assert first.fate.startswith("archived as article") and "send:pending" in first.fate, first.fate
    assert second.joined and second.fate.startswith("joined story"), second.fate
    assert "its own alerts: none" in second.fate and "send:pending" in second.fate, second.fate
    assert not samples[2].joined and samples[2].fate.startswith("never served"), samples[2].fate
