"""The benchmarks in bench/ run, small, and print what they promise (no timing is asserted)."""

from __future__ import annotations

import contextlib
import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # end to end: `pytest -m "not slow"` leaves it out

ROOT = Path(__file__).resolve().parent.parent


def _bench(script: str, *args: str, timeout: float = 300) -> str:
    """Run bench/SCRIPT with ARGS in a fresh interpreter; its output, once it has exited 0."""
    result = subprocess.run(
        [sys.executable, f"bench/{script}", *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_rules_bench_runs_small() -> None:
    stdout = _bench("rules_bench.py", "--articles", "50", "--rules", "20")
    for line in ("one-pass:", "baseline:", "speed-up:", "results:   identical", "articles/s"):
        assert line in stdout, stdout


def test_hostile_feeds_bench_runs_one_case() -> None:
    stdout = _bench("hostile_feeds.py", "--case", "near")
    assert "near: exit 0," in stdout and "neighbour archived: True" in stdout, stdout


def test_stage_loop_times_each_stage_and_digests_what_it_made() -> None:
    stdout = _bench("stage_loop.py", "--feeds", "3", "--rounds", "2", "--archive", ".", str(ROOT))
    assert stdout.count(": round ") == 4 and "150 articles" in stdout, stdout
    digests = [line.strip() for line in stdout.splitlines() if "parse digest" in line]
    # the same tree under two names: the same digests, and the same in both rounds (no "a/b")
    assert len(digests) == 2 and digests[0] == digests[1] and "/" not in digests[0], stdout
    assert "archive digest" in digests[0], stdout


def test_worker_stories_times_the_workers_stories_path_and_digests_it() -> None:
    stdout = _bench("worker_stories.py", "--feeds", "2", "--rounds", "2", ".", str(ROOT))
    assert stdout.count(": round ") == 4, stdout
    made = [line.split(": ", 1)[1] for line in stdout.splitlines()[-2:]]
    # the same tree under two names: the same digests of both passes, the same in both rounds
    digests = [[part.split("(")[1] for part in line.split(", ")] for line in made]
    assert len(digests[0]) == 2 and digests[0] == digests[1] and not any("/" in d for d in digests[0]), stdout


def test_stories_archive_bench_runs_small() -> None:
    stdout = _bench("stories_archive_bench.py", "--articles", "300", "--new", "20", "--workers", "1")
    lines = ("archive:  300 articles", "grouping: 20 new articles, median", "worker:   ", "joins:")
    for line in lines:
        assert stdout.count(line) == (1 if line.startswith("archive") else 2), stdout
    # measured twice: a process just started on the archive, and a running service's memory, which
    # holds the texts of the window's stories (of the 300 archived over 60 days, some are in it)
    assert "-- a process just started" in stdout and "-- a service running for days" in stdout, stdout
    held = next(line for line in stdout.splitlines() if line.startswith("running:  the memory holds "))
    assert int(held.split()[4].replace(",", "")) > 0, held
    assert "target (restarted): " in stdout and "target (running): " in stdout, stdout


def test_save_where_times_save_update_by_part(tmp_path: Path) -> None:
    db = tmp_path / "filled.db"
    _bench("stories_archive_bench.py", "--articles", "300", "--new", "5", "--workers", "1", "--db", str(db))
    stdout = _bench(
        "save_where.py", "--db", str(db), "--articles", "300", "--new", "50", "--commits",
        "--skip", "insert into term_df",
    )  # fmt: skip
    for line in ("save_update: wall", "COMMIT", "insert into articles_fts", "StoryMemory.indexed", "commit "):
        assert line in stdout, stdout
    assert "into term_df" not in stdout, stdout  # left out


def test_cold_place_profiles_placement_in_a_cold_pass(tmp_path: Path) -> None:
    stats = tmp_path / "place.prof"
    stdout = _bench("cold_place.py", "--feeds", "3", "--items", "20", "--profile", str(stats), "--top", "5")
    assert "60 articles" in stdout and "placements 60:" in stdout and "VmHWM" in stdout, stdout
    assert "grouping.py" in stdout and stats.stat().st_size > 0, stdout


def test_service_memory_runs_small() -> None:
    """`monitor run` over the feed farm: a cold and a warm pass of 20 feeds, then SIGTERM."""
    stdout = _bench("service_memory.py", "--feeds", "20", "--passes", "2", "--delay", "0.01", timeout=120)
    assert "warning:" not in stdout, stdout
    line = next(line for line in stdout.splitlines() if line.startswith("result: "))
    fields = dict(part.split("=", 1) for part in line.removeprefix("result: ").split())
    assert (fields["feeds"], fields["passes"]) == ("20", "2"), line
    assert float(fields["peak_rss_mb"]) > 0, line


def test_service_on_archive_makes_its_template_then_starts_the_service_on_a_copy(tmp_path: Path) -> None:
    template = tmp_path / "template.db"
    args = ("--template", str(template), "--feeds", "10", "--items", "5", "--delay", "0.01")
    args += ("--interval", "1", "--samples", "2", "--window", "2", "--passes", "2")
    first = _bench("service_on_archive.py", *args, timeout=180)
    assert "template: 50 articles" in first and "on an archive of 50 articles" in first
    again = _bench("service_on_archive.py", *args, timeout=180)  # the template's farm again
    assert "template:" not in again and "on an archive of 50 articles" in again
    for stdout in (first, again):
        assert "peak RSS" in stdout and "2/2 samples" in stdout, stdout
    with contextlib.closing(sqlite3.connect(template)) as conn:  # a copy was used: left as made
        assert conn.execute("select count(*) from articles").fetchone()[0] == 50


def test_memory_where_runs_small() -> None:
    """A 10-feed cold pass, untraced: the RSS each holder frees, in order."""
    stdout = _bench("memory_where.py", "--feeds", "10", "--items", "5", "--release", timeout=180)
    assert "pass: 10 feeds, 50 new articles, 0 errors" in stdout, stdout
    for holder in ("gc.collect + malloc_trim", "archive's StoryMemory dropped", "open_app closed"):
        assert f"MB freed by: {holder}" in stdout, stdout


def test_timeline_runs_small() -> None:
    """A 20-feed changed pass, timed step by step: each phase of the timeline is printed."""
    stdout = _bench("timeline.py", "--feeds", "20", "--items", "5", "--hosts", "4", timeout=180)
    assert "pass: 20 feeds, 18 304, 10 new" in stdout, stdout
    for line in ("fetch starts:", "analyses: 2,", "worker-ready", "batches:", "loop stalls"):
        assert line in stdout, stdout


# Every row of the suite's table: the cases, each against each of its baselines.
SUITE_ROWS = {
    "cold vs feedparser": False,  # key: whether the row has a target
    "cold vs feedparser fast": False,
    "cold vs reader cold": True,  # issue 18: ≥ 1x reader, ≥ 3x the afternoon loop
    "cold vs httpx cold": False,
    "cold vs loop cold": True,
    "cold cpu": False,  # CPU ms per article, by stage; against issue 18's estimate of the floor
    "cold cpu vs reader cold": False,  # the same, beside reader's CPU per entry
    "archive size": True,  # ≤ 4 KB per article, against reader's database
    "warm vs httpx warm": True,
    "warm vs loop warm": True,
    "warm vs reader warm": False,
    "duty cycle": True,  # a warm pass's share of a 15-minute interval
    "changed vs reader changed": True,
    "memory": True,
    "latency": True,
    "lag": False,
    "archive": False,
    "search phrase": False,
    "search boolean": False,
    "search rule": False,
    "startup search": True,  # < 150 ms end to end, against the sqlite3 shell
    "startup status": True,
    "startup feeds list": True,
    "startup rules check": True,
}
NO_BASELINE = {"memory", "archive", "duty cycle", "lag"}  # a bound or a count, nothing to divide by
NO_RATIO = NO_BASELINE | {"latency"}  # compared with the interval through its target


def test_suite_runs_tiny(tmp_path: Path) -> None:
    """bench/suite.py at tiny sizes: 10 feeds of 5 items, `monitor run` at a 1 s interval for two
    passes (the service's tick is 10 s, so a sample's alert takes up to about that), an archive of
    150 articles. Every case and baseline is in the table, with a ratio and a verdict."""
    out = tmp_path / "bench.json"
    # fmt: off
    stdout = _bench(
        "suite.py", "--feeds", "10", "--items", "5", "--delay", "0.01",
        "--interval", "1", "--samples", "2", "--window", "2", "--service-passes", "2",
        "--archive", "150", "--loop-feeds", "5", "--parse-feeds", "0", "--search-runs", "2",
        "--cli-runs", "1", "--json", str(out), timeout=120,
    )  # fmt: on
    document = json.loads(out.read_text(encoding="utf-8"))
    rows = {row["key"]: row for row in document["rows"]}
    assert list(rows) == list(SUITE_ROWS), list(rows)
    for key, row in rows.items():
        assert row["figure"], row
        if key not in NO_BASELINE:
            assert row["baseline"] and row["baseline_figure"], row
        if key not in NO_RATIO:
            assert row["ratio"] is not None and row["ratio"] > 0, row
        assert bool(row["target"]) == SUITE_ROWS[key], row
        assert row["verdict"] in (("met", "MISSED") if SUITE_ROWS[key] else ("",)), row
    # the printed table: a header, a rule, then the same rows with the same baselines and verdicts
    table = [line for line in stdout.splitlines() if line.startswith("| ")]
    assert len(table) == 2 + len(rows), stdout
    for line, row in zip(table[2:], rows.values(), strict=True):
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        assert (cells[2], cells[-1]) == (row["baseline"] or "—", row["verdict"]), line

    # --table prints the same table again from the JSON (to regenerate the README's)
    again = subprocess.run(
        [sys.executable, "bench/suite.py", "--table", str(out)], cwd=ROOT, capture_output=True, text=True
    )
    assert again.returncode == 0, again.stderr
    assert [line for line in again.stdout.splitlines() if line.startswith("| ")] == table

    figures = document["figures"]
    passes = figures["passes"]
    assert (passes["cold"]["new_articles"], passes["warm"]["not_modified"]) == (50, 10), passes
    assert passes["changed"]["new_articles"] == 5, passes  # one feed of ten, five new items
    assert figures["farm"]["httpx warm"] == {"200": 0, "304": 10, "404": 0}
    assert figures["farm"]["reader warm"]["304"] == 10  # reader asked conditionally too
    session = figures["session"]
    assert len(session["latencies"]) == 2, session  # both alerts reached the fake Bot API
    assert session["peak_kb"] > 0 and session["exit_code"] == 0, session
    assert figures["archive_articles"] >= 150
    for search in figures["searches"]:
        assert search["cli_hits"] == search["hits"] > 0, search  # monitor found what raw SQL found


def _invented_corpus(folder: Path) -> Path:
    """Three invented events of two reports each, over two days, in stories_real's format."""
    rows = []
    events = [
        ("dam", "Zorvath dam breaks above Kelmira"),
        ("pact", "Oslavia signs Quintar pact"),
        ("fair", "Brellin book fair opens in Tarsk"),
    ]
    for day, (event, words) in enumerate(events):
        for n, outlet in enumerate(("Left Wire", "Right Post")):
            rows.append(
                {
                    "id": f"{event}-{n}",
                    "title": f"{words} ({outlet})",
                    "summary": f"{words}, {outlet} reports. More on {event} later.",
                    "published": f"2021-05-0{1 + day // 2}T1{n}:00:00Z",
                    "outlet": outlet,
                    "cluster": event,
                    "url": f"https://{outlet.split()[0].lower()}.example/{event}",
                }
            )
    corpus = folder / "corpus.jsonl"
    corpus.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return corpus


def test_stories_offline_places_a_small_invented_corpus_in_several_orders(tmp_path) -> None:
    corpus = _invented_corpus(tmp_path)
    for published in ((), ("--published",)):
        args = ("--corpus", str(corpus), "--orders", "2", "--joins", *published)
        lines = _bench("stories_offline.py", *args, timeout=120).splitlines()
        assert lines[0].startswith("order 0: pair P ") and lines[1].startswith("order 1: ")
        assert lines[2].startswith("mean of 2: ") and "hidden" in lines[2]
        assert lines[3].startswith("min of 2: pair P ")
        assert lines[4].startswith("right joins: ") and lines[5].startswith("wrong joins: ")


def test_stories_frames_reproduces_the_method_when_no_idea_is_tried(tmp_path) -> None:
    """bench/stories_frames.py's "none" row is the method as the other benches score it: the
    pairs as stories_quality.py, the corpus as stories_offline.py --published; an idea is a row."""
    corpus = _invented_corpus(tmp_path)
    args = ("--corpus", str(corpus), "--orders", "2", "--idea", "none", "--idea", "slots:title:figures")
    rows = [line.split(" | ") for line in _bench("stories_frames.py", *args, timeout=180).splitlines()[2:]]
    assert [row[0] for row in rows] == ["| none", "| slots:title:figures"], rows
    offline = _bench("stories_offline.py", "--corpus", str(corpus), "--orders", "2", "--published")
    least = offline.splitlines()[-1].split()  # "min of 2: pair P 1.000 R 1.000 B3 F1 1.000"
    assert rows[0][5].split(" / ")[:3] == [least[5], least[7], least[10]], (rows[0], offline)
    quality = _bench("stories_quality.py", "--background", str(tmp_path))  # precision (39/39)…
    counts = [
        line.split("(")[1].split(")")[0] for line in quality.splitlines() if line.startswith("precision")
    ]
    assert f"({counts[0]})" in rows[0][2] and f"({counts[1]})" in rows[0][3], (rows[0], quality)


def test_prune_census_counts_candidates_by_keys_shared_in_a_small_cold_pass() -> None:
    """bench/prune_census.py (h-prune): its tables add up: an open candidate story (not a copy's)
    that was chosen reached min_similarity, and none is rebuilt or reaches more often than it is
    a candidate; its placements are counted once rarity weighs words."""
    stdout = _bench("prune_census.py", "cold", "--feeds", "3", "--items", "20")
    assert "60 articles" in stdout and "placements: " in stdout and "counted " in stdout, stdout
    tables = 0
    for line in stdout.splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if line.startswith("| ") and cells[1] == "kind":
            tables += 1
            continue
        if line.startswith("| ") and cells[1] == "other":
            candidates, _closed, rebuilt, reached, _both, chosen, _chosen_rebuilt = map(int, cells[2:])
            assert chosen <= reached <= candidates and rebuilt <= candidates, line
    assert tables == 4, stdout
    totals = [line for line in stdout.splitlines() if line.startswith("| all | other |")]
    assert len(totals) == 4 and int(totals[0].split("|")[8]) > 0, stdout  # some story was chosen


def test_prune_census_pairs_reproduce_stories_quality_before_the_rule() -> None:
    """bench/prune_census.py pairs: without the rule, the labelled pairs' and held-out pairs'
    precision and recall are stories_quality's own; with it, recall can only fall."""
    census = _bench("prune_census.py", "pairs").splitlines()
    quality = _bench("stories_quality.py").splitlines()
    expected = [
        (line.split()[1], next(q for q in quality[i:] if q.startswith("recall:")).split()[1])
        for i, line in enumerate(quality)
        if line.startswith("precision:")
    ]
    found = [line.split() for line in census if "as stories_quality" in line]
    assert [(f[3], f[5]) for f in found] == expected and len(expected) == 2, (census, quality)
    ruled = [line.split() for line in census if "at least 2 keys" in line]
    assert len(ruled) == 2 and all(float(r[-1]) <= float(f[5]) for r, f in zip(ruled, found, strict=True)), (
        census
    )


def test_prune_cost_cuts_candidates_sharing_one_key_and_counts_rebuilds() -> None:
    """bench/prune_cost.py (h-prune): the shipped code (--least 1) and the rule (--least 2) run the
    issue 17 bench, small, and say how many profiles were made again from their article."""
    for least in ("1", "2"):
        stdout = _bench(
            "prune_cost.py", "--least", least, "archive", "--articles", "300", "--new", "20", "--workers", "1"
        )
        assert "grouping: 20 new articles" in stdout, stdout
        assert f"least {least} keys shared" in stdout and "rebuilds (lookup.rebuild): " in stdout, stdout


def test_stories_real_runs_on_a_small_invented_corpus(tmp_path) -> None:
    """bench/stories_real.py on three invented events of two reports each, over two days."""
    corpus = _invented_corpus(tmp_path)
    stdout = _bench("stories_real.py", "--corpus", str(corpus))
    assert "6 articles, 3 events, 2 outlets" in stdout and "0 articles not archived" in stdout
    for system in (
        "| monitor |",
        "| TF-IDF cosine ≥ 0.3 within 48 h, single link |",
        "| every article its own story |",
    ):
        assert system in stdout, stdout
    bad = tmp_path / "bad.jsonl"
    bad.write_text("{not json\n", encoding="utf-8")
    failed = subprocess.run(
        [sys.executable, "bench/stories_real.py", "--corpus", str(bad)],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert failed.returncode == 1 and failed.stderr.strip().startswith(
        f"stories_real: {bad}:1: not a corpus line"
    )


def test_stories_real_runs_deterministic_feed_orders(tmp_path) -> None:
    """--orders: each order's line, then min/median/max; an order is the same order every run
    (the articles are archived, so placed, in the same sequence), and two orders differ."""
    corpus = _invented_corpus(tmp_path)
    args = ("--corpus", str(corpus), "--orders", "3", "--keep", str(tmp_path / "a"))
    stdout = _bench("stories_real.py", *args)
    for line in ("order 0: pair P ", "order 1: pair P ", "order 2: pair P ", "| **min** of 3 |"):
        assert line in stdout, stdout
    assert "| **median** of 3 |" in stdout and "| TF-IDF ≥ 0.3, 48 h, single link |" in stdout
    again = tmp_path / "b"
    _bench("stories_real.py", "--corpus", str(corpus), "--orders", "1", "--seed", "2", "--keep", str(again))

    def placed(folder: Path) -> list[str]:
        with contextlib.closing(sqlite3.connect(folder / "monitor.db")) as db:
            return [guid for (guid,) in db.execute("select guid from articles order by id")]

    sequences = [placed(tmp_path / "a" / f"order-{n}") for n in range(3)]
    assert placed(again / "order-2") == sequences[2]
    assert len({tuple(s) for s in sequences}) > 1, sequences


def test_stories_semantic_rules_and_the_offline_decider_hook(tmp_path, monkeypatch) -> None:
    """bench/stories_semantic.py's rules (the README's figures) without the model it scores:
    a veto refuses only the method's non-copy joins under its cosine, a rescue joins on its
    own; the AUC is Mann-Whitney's; and stories_offline.run places with a decider it is given."""
    monkeypatch.syspath_prepend(str(ROOT / "bench"))
    import stories_offline
    import stories_semantic as sem
    from stories_real import load

    Row = sem.Row
    joined, copy, missed = (
        Row(True, True, False, 0.3, 0.4, 0.1),
        Row(False, True, True, 2.0, 0.1, 0.0),
        Row(True, False, False, 0.05, 0.95, 0.5),
    )
    rule = sem.Rule.parse("veto:0.45+rescue:0.9")
    assert (rule.veto, rule.rest, rule.rescue, str(rule)) == (0.45, None, 0.9, "veto:0.45+rescue:0.90")
    assert [rule.joins(r) for r in (joined, copy, missed)] == [False, True, True]
    assert sem.Rule().joins(joined) and not sem.Rule().joins(missed) and str(sem.Rule()) == "the method"
    assert not sem.Rule.parse("rest:0.2").joins(joined) and sem.Rule.parse("rest:0.05").joins(joined)
    assert sem.Rule.parse("rest:0.2+below:0.3").joins(joined)  # a join of 0.3 is not a weak one
    assert not sem.Rule.parse("rest:0.2+below:0.31").joins(joined)
    assert sem.counts(rule, [joined, copy, missed]) == (1, 2, 2)  # (right, joined, same)
    with pytest.raises(SystemExit, match="a rule is"):
        sem.Rule.parse("cosine:0.5")
    assert sem.auc([2.0, 3.0], [1.0]) == 1.0 and sem.auc([1.0], [1.0]) == 0.5 and sem.auc([], [1.0]) is None
    assert sem.auc([0.0, 2.0], [1.0]) == 0.5

    docs = load(_invented_corpus(tmp_path), None, None)
    settings = stories_offline.StorySettings()
    told: list[tuple[str, int]] = []
    alone = stories_offline.run(
        docs, 0, settings, None, True, lambda *_: None, lambda d, s: told.append((d.id, s))
    )
    assert alone.pair_r == 0.0 and alone.hidden == 0, alone  # every report its own story
    assert sorted(d for d, _ in told) == sorted(d.id for d in docs) and len({s for _, s in told}) == len(docs)
    method = stories_offline.run(docs, 0, settings, None, True)
    place = stories_offline.profile.place
    same = stories_offline.run(
        docs, 0, settings, None, True, lambda d, c, n, r, v: place(c, d.published, n, r, v).story
    )
    assert same == method and method.pair_r > 0, method  # the default decider is profile.place's
