"""`monitor run` as a user runs it, for bench/suite.py: peak memory and alert latency, one session.

    fake Bot API (fakes/telegram_api.py, on loopback) ← python-telegram-bot ← monitor run
    feed farm (another process) → monitor run: FEEDS feeds, [schedule] interval = INTERVAL

1. `monitor --config ... run` starts on feeds it has never seen (on the suite's archive, which
   by then holds the in-process passes' articles: a service some weeks old); its first tick is
   a cold pass over all of them.
2. From the end of the cold pass, SAMPLES breaking beat items (farm.breaking_item: matched
   by a shipped rule, each a story of its own) are published on distinct feeds within WINDOW
   seconds (at least an interval), each at its own phase of its feed's polling cycle: one
   sample goes out (k + 1/2) / SAMPLES of an interval before a check of its feed as the
   service planned it (feeds.next_check in the archive, whole seconds), for k = 0 .. SAMPLES-1
   shuffled over the samples, at the first such moment after its start (its index ×
   (WINDOW - interval) / SAMPLES). So the phases are spread evenly over the cycle, the wait no
   polling service can avoid has a median of exactly half an interval, and the measured
   median shows what the service adds (with phases drawn at random, the median of 24 waits
   uniform over 60 s varies by ±6 s from run to run). The phase is only the bench's aim: the
   latency is measured, not derived from it.
3. The service polls on its own schedule (jitter 0, so that every pass is a whole pass over
   the feeds: the worst case for memory). After its second pass (warm, but for the feeds a
   sample landed on) the farm changes 10% of the feeds (5 new items each), so the passes after
   it are changed passes. With passes=2 the change comes right after the cold pass. The
   samples' feeds are spared: at 2 items a feed (10,000 feeds) a sample published before the
   change was pushed out by its 5 new items before the service fetched it (the 23/24 of the
   last stop); farm.asked_at counts only a fetch that served the item.
4. A sample's latency: from the moment the farm serves the item to the moment the fake Bot
   API accepts the sendMessage that names it (both on this process's monotonic clock). Only a
   new message counts: an edit of an earlier alert (the sample joined another story) is not
   notified by Telegram, so a user would not see it arrive; such a sample is counted as joined,
   not delivered. The samples are unrelated events (farm.breaking_item) so that none joins.
   A sample that sent no alert is looked up in the archive afterwards (_fates): never served,
   not archived, joined another article's story (whose edit names outlets, not titles), or
   archived with its alert rows' status; the suite prints it.
   Each latency is also split at the moment the service first fetched the feed with the item
   (farm.asked_at, the same clock): the wait for the feed's next check, which a polling
   service cannot avoid (at most one interval), and the service's own part, fetch to alert.
5. Once every sample has arrived and a pass has seen the change (or a deadline passed), SIGTERM.

Memory: the RSS of the service's process tree (the service and its parser worker), sampled
from /proc every 0.2 s (service_memory.Sampler). The peak is the most that the VmHWMs (the
kernel's high-water marks, which no sampling interval can miss) of the processes alive together
summed to: an upper bound of the tree's peak (they may peak at different moments) that adds
only processes that lived at the same time. A parser worker stops after 60 s without work
(monitor/service/stoppable.py) and the next big pass starts a new one: at 10,000 feeds
(interval 200 s) the session has the service and three workers one after another, never two
at once, and summing all four high-water marks (hwm_sum_kb, the figure printed before) counted
workers that never coexisted.

Alerts go to one private chat whose bursts are folded within 1 s only ([[chats]]
burst_window = "1s"): with the shipped 10 minutes, the samples after the cold pass's flood of
alerts would arrive inside a "More matches" digest instead of as alerts of their own.
"""

from __future__ import annotations

import contextlib
import json
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT))
from farm import FarmProcess, breaking_item  # noqa: E402 (sibling scripts)
from monitor_cases import write_config  # noqa: E402
from service_memory import LogReader, Sampler, _status, _tree, start_monitor_run  # noqa: E402

from fakes.telegram_api import FakeTelegramAPI, SentMessage  # noqa: E402

CHAT_ID = 4242  # a private chat (positive id)
STOP_TIMEOUT = 60.0


@dataclass
class Sample:
    n: int
    feed: int  # farm index
    title: str
    at: float  # seconds after the cold pass from which it may go out (within an interval)
    published: float = 0.0  # monotonic, once the farm serves it
    delivered: float | None = None  # monotonic, when the fake Bot API accepted its alert
    fetched: float | None = None  # monotonic, when the service first asked the farm for it
    due: float | None = None  # monotonic, the feed's next check as planned when it was published
    joined: bool = False  # not sent: the archive put it in a story an earlier article started
    link: str = ""  # as the farm serves it (the archive's articles.link)
    fate: str = ""  # when no alert arrived: what the archive says became of it (_fates)

    @property
    def latency(self) -> float | None:
        return None if self.delivered is None else self.delivered - self.published

    @property
    def waited(self) -> float | None:
        """Published → fetched: the wait for the feed's next check."""
        return None if self.fetched is None else max(0.0, self.fetched - self.published)

    @property
    def late(self) -> float | None:
        """Planned check → fetch: how late the scheduler woke (next_check has whole seconds)."""
        return None if self.fetched is None or self.due is None else self.fetched - self.due

    @property
    def handled(self) -> float | None:
        """Fetched → alert accepted: the service's own part (fetch, analysis, archive, send)."""
        if self.delivered is None or self.fetched is None:
            return None
        return self.delivered - max(self.fetched, self.published)


@dataclass
class PassLine:
    number: int
    kind: str  # cold, warm, changed
    fields: dict[str, float]  # of the service's event=pass line: feeds, not_modified, new_articles...
    rss_kb: int  # tree RSS when the line arrived


@dataclass
class Session:
    interval: float
    passes: list[PassLine] = field(default_factory=list)
    samples: list[Sample] = field(default_factory=list)
    start_kb: int = 0  # tree RSS when the service logged event=started (imports, rules, archive open)
    peak_kb: int = 0  # the most the VmHWMs of the processes alive together summed to
    most_sampled_kb: int = 0  # the largest sampled tree RSS
    processes: int = 0  # processes seen in the tree over the session
    process_peaks_kb: list[int] = field(default_factory=list)  # VmHWM of those of peak_kb, largest first
    at_once: int = 0  # the most processes alive at once
    hwm_sum_kb: int = 0  # VmHWM of every process the session had, summed (never together: see Memory)
    messages: int = 0  # sendMessage calls the fake Bot API accepted
    exit_code: int | None = None
    stop_seconds: float = 0.0
    errors: list[str] = field(default_factory=list)  # level=ERROR lines of the service's log
    seconds: float = 0.0  # the whole session
    # --memory-minutes: (seconds since the service started, tree RSS kB, processes), every minute
    minutes: list[tuple[float, int, int]] = field(default_factory=list)

    def hour_growth(self) -> tuple[int, int, int] | None:
        """(most sampled in the first hour, the sample at the hour, the last sample), kB; None
        before a sample past the hour."""
        first = [kb for at, kb, _ in self.minutes if at <= 3600]
        if not first or self.minutes[-1][0] <= 3600:
            return None
        return max(first), first[-1], self.minutes[-1][1]

    @property
    def latencies(self) -> list[float]:
        return sorted(s.latency for s in self.samples if s.latency is not None)

    @property
    def waits(self) -> list[float]:
        return sorted(s.waited for s in self.samples if s.waited is not None and s.delivered is not None)

    @property
    def lateness(self) -> list[float]:
        return sorted(s.late for s in self.samples if s.late is not None and s.delivered is not None)

    @property
    def handling(self) -> list[float]:
        return sorted(s.handled for s in self.samples if s.handled is not None)


def session_config(folder: Path, db: Path, urls: list[str], interval: float, api: FakeTelegramAPI) -> Path:
    schedule = (
        # jitter 0: every pass is a whole pass over the feeds, the worst case for memory
        f'[schedule]\ninterval = "{interval:g}s"\nmin_interval = "{min(interval, 60):g}s"\njitter = 0\n\n'
        f"[telegram]\ntoken = {json.dumps(api.token)}\nchat_id = {CHAT_ID}\n"
        f"api_url = {json.dumps(api.bot_url)}\n\n"
        f'[[chats]]\nid = {CHAT_ID}\nburst_window = "1s"'
    )
    return write_config(folder / "monitor.toml", db, urls, schedule)


def run_session(
    farm: FarmProcess,
    folder: Path,
    feeds: range,
    db: Path,
    interval: float,
    samples: int,
    window: float,
    passes: int = 3,
    change: tuple[float, int] = (0.1, 5),
    pass_timeout: float = 1800.0,
    progress: Any = print,
    minutes: float = 0.0,
) -> Session:
    """Run `monitor run` over the farm's feeds `feeds` (indices), with its archive at `db`."""
    session = Session(interval)
    started = time.monotonic()
    with FakeTelegramAPI() as api:
        config = session_config(folder, db, [farm.url(i) for i in feeds], interval, api)
        proc = start_monitor_run(config, folder)
        try:
            plan = _Plan(feeds, samples, window, passes, change, pass_timeout, db, minutes)
            _drive(proc, api, farm, folder, session, plan, progress)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    session.seconds = time.monotonic() - started
    return session


@dataclass(frozen=True)
class _Plan:
    feeds: range  # farm indices the service watches
    samples: int
    window: float
    passes: int  # cold, warm..., and the pass after the change
    change: tuple[float, int]
    pass_timeout: float
    db: Path  # the service's archive, read for the feeds' planned checks
    minutes: float = 0.0  # keep the service running this long in all, its RSS sampled every minute


def _drive(
    proc: subprocess.Popen[str],
    api: FakeTelegramAPI,
    farm: FarmProcess,
    folder: Path,
    session: Session,
    plan: _Plan,
    progress: Any,
) -> None:
    sampler = Sampler(proc.pid).start()
    began = time.monotonic()
    minutes_done = threading.Event()
    if plan.minutes:
        args = (sampler, began, session.minutes, minutes_done, progress)
        threading.Thread(target=_every_minute, args=args, name="minute-rss", daemon=True).start()
    rss_at_pass: list[int] = []

    def on_line(event: str) -> None:
        sampler.sample(event)
        if event == "pass":
            rss_at_pass.append(sampler.rss)
        elif event == "started":
            session.start_kb = sampler.rss

    assert proc.stderr is not None
    log = LogReader(proc.stderr, folder / "service.log", on_line)
    pending: dict[str, Sample] = {}
    lock = threading.Lock()

    def on_accept(message: SentMessage) -> None:
        now = time.monotonic()
        with lock:
            for title, sample in list(pending.items()):
                if title in message.visible_text:
                    sample.delivered = now
                    del pending[title]

    api.on_accept = on_accept
    changed_after = [10**9]  # passes logged before the farm changed

    def record(number: int) -> None:
        fields = log.passes[number - 1]
        kind = "cold" if number == 1 else "changed" if number > changed_after[0] else "warm"
        session.passes.append(PassLine(number, kind, fields, rss_at_pass[number - 1]))
        line = " ".join(f"{k}={v:g}" for k, v in fields.items())
        progress(
            f"  service pass {number} ({kind}): {line}; tree RSS {rss_at_pass[number - 1] / 1024:.0f} MB"
        )

    log.wait_pass(1, plan.pass_timeout, proc)
    record(1)
    publisher = _Publisher(farm, plan, session.interval, pending, lock, session)
    publisher.start()
    for number in range(2, plan.passes):
        log.wait_pass(number, plan.pass_timeout, proc)
        record(number)
    changed_after[0] = len(log.passes)
    # not the samples' feeds: at 2 items a feed (10,000 feeds) the 5 new items would push a
    # sample published before the change out before the service fetched it
    farm.change(*plan.change, among=plan.feeds, spare=[sample.feed for sample in session.samples])
    deadline = time.monotonic() + plan.window + 2 * (session.interval + 10) + 60
    while time.monotonic() < deadline and proc.poll() is None:
        while len(session.passes) < len(log.passes):
            record(len(session.passes) + 1)
        with lock:
            if publisher.done and not pending and len(log.passes) > changed_after[0]:
                break
        time.sleep(0.2)
    # --memory-minutes: the service goes on polling on its own (mostly warm passes) until the
    # minutes are over; its RSS is noted every minute from its start (on a thread).
    while plan.minutes and proc.poll() is None and time.monotonic() - began < plan.minutes * 60:
        while len(session.passes) < len(log.passes):
            record(len(session.passes) + 1)
        time.sleep(0.5)
    publisher.stop()
    minutes_done.set()
    sampler.sample()
    session.peak_kb, session.process_peaks_kb = sampler.together, sampler.together_kb
    session.most_sampled_kb = sampler.max_rss
    session.processes, session.at_once = len(sampler.hwm), sampler.at_once
    session.hwm_sum_kb = sum(sampler.hwm.values())
    stopping = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    try:
        session.exit_code = proc.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        session.exit_code = None
    session.stop_seconds = time.monotonic() - stopping
    sampler.stop()
    log.join(5)
    while len(session.passes) < len(log.passes):
        record(len(session.passes) + 1)
    session.messages = sum(1 for method in api.requests if method == "sendMessage")
    session.errors = log.errors
    for sample in session.samples:
        if sample.published:
            sample.fetched = farm.asked_at(sample.feed)
    _fates(plan.db, [sample for sample in session.samples if sample.delivered is None])


def _fates(db: Path, samples: list[Sample]) -> None:
    """What became of each sample no alert named, from the service's archive: never served (a
    change pushed it out of its feed), not archived, joined another article's story (an edit of
    that story's alert, "Also reported by", which names outlets, not titles: Telegram does not
    notify it), or archived with its own alert rows (their status)."""
    if not samples:
        return
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)) as conn:
        for sample in samples:
            if not sample.published:
                sample.fate = "not published before the session ended"
                continue
            if sample.fetched is None:
                sample.fate = "never served to the service (not fetched while its feed carried it)"
                continue
            row = conn.execute("select id, story_id from articles where link = ?", (sample.link,)).fetchone()
            if row is None:
                sample.fate = "served to the service, not archived"
                continue
            article, story = row
            first = conn.execute(
                "select id, title from articles where story_id = ? order by published, id limit 1", (story,)
            ).fetchone()
            alerts = conn.execute(
                "select kind || ':' || status from alerts where article_id = ? order by id", (article,)
            ).fetchall()
            own = ", ".join(a for (a,) in alerts) or "none"
            if first is not None and first[0] != article:
                sample.joined = True
                story_alerts = conn.execute(
                    "select kind || ':' || status from alerts where story_id = ? and article_id != ?"
                    " order by id",
                    (story, article),
                ).fetchall()
                sample.fate = (
                    f"joined story {story} of article {first[0]} ({first[1][:50]!r}); its own alerts: "
                    f"{own}; the story's others: {', '.join(a for (a,) in story_alerts) or 'none'}"
                )
            else:
                sample.fate = f"archived as article {article}, story {story} of its own; its alerts: {own}"


def _every_minute(
    sampler: Sampler, began: float, out: list[tuple[float, int, int]], done: threading.Event, progress: Any
) -> None:
    """Append (seconds since `began`, the tree's RSS kB, its processes) every minute until `done`."""
    while not done.wait(max(0.0, began + 60 * (len(out) + 1) - time.monotonic())):
        pids = [pid for pid in _tree(sampler.pid) if _status(pid).get("VmRSS")]
        rss = sum(_status(pid).get("VmRSS", 0) for pid in pids)
        out.append((time.monotonic() - began, rss, len(pids)))
        progress(f"  minute {len(out)}: tree RSS {rss / 1024:.0f} MB in {len(pids)} processes")


class _Publisher:
    """Publishes the samples on threads, each at its phase of its feed's polling cycle."""

    def __init__(
        self,
        farm: FarmProcess,
        plan: _Plan,
        interval: float,
        pending: dict[str, Sample],
        lock: threading.Lock,
        session: Session,
    ) -> None:
        rng = random.Random("latency")
        count = min(plan.samples, len(plan.feeds))
        slot = max(0.0, plan.window - interval) / max(count, 1)
        chosen = rng.sample(plan.feeds, count)
        phases = [(k + 0.5) / count for k in range(count)]
        rng.shuffle(phases)
        self.leads = [phase * interval for phase in phases]  # seconds before the planned check
        for n, feed in enumerate(chosen):
            title, _ = breaking_item(n)
            session.samples.append(Sample(n, feed, title, at=n * slot))
        self.farm, self.pending, self.lock, self.samples = farm, pending, lock, session.samples
        self.interval, self.db = interval, plan.db
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._run, args=(sample,), name=f"latency-{sample.n}", daemon=True)
            for sample in self.samples
        ]

    @property
    def done(self) -> bool:
        return not any(thread.is_alive() for thread in self._threads)

    def start(self) -> None:
        self._began = time.monotonic()
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join()

    def _run(self, sample: Sample) -> None:
        if self._stop.wait(max(0.0, self._began + sample.at - time.monotonic())):
            return
        lead = self.leads[sample.n]
        due = self._planned(sample.feed)
        target = due - lead if due is not None else time.monotonic()
        while target < time.monotonic():  # that check is too near: aim at a later one
            target += self.interval
        if self._stop.wait(max(0.0, target - time.monotonic())):
            return
        title, body = breaking_item(sample.n)
        with self.lock:
            self.pending[title] = sample
        sample.link = self.farm.publish(sample.feed, title, body)
        sample.published = time.monotonic()
        sample.due = self._planned(sample.feed)

    def _planned(self, feed: int) -> float | None:
        """The feed's next check as the service stored it, on the monotonic clock; None when the
        archive cannot say (the sample then goes out at once)."""
        try:
            with contextlib.closing(sqlite3.connect(f"file:{self.db}?mode=ro", uri=True, timeout=5)) as db:
                query = "select next_check from feeds where url = ?"
                row = db.execute(query, (self.farm.url(feed),)).fetchone()
        except sqlite3.Error:
            return None
        if not row or not row[0]:
            return None
        when = datetime.fromisoformat(row[0].replace("Z", "+00:00"))
        return time.monotonic() + (when - datetime.now(UTC)).total_seconds()
