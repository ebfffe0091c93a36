"""monitor.stories.fingerprint: terms, keys, the same-story decision, the eval set, and the seed fixture."""

from __future__ import annotations

import json
import random
import re
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitor.stories.fingerprint import (
    ArticleFingerprint,
    StorySettings,
    candidate_keys,
    choose_story,
    fingerprint,
    same_story,
)
from tests.conftest import SEED_TIMES, printed_rate, run_bench

ROOT = Path(__file__).resolve().parents[2]
SEEDS = ROOT / "seeds"
T0 = datetime(2026, 3, 6, 9, 0, tzinfo=UTC)


def fp(title: str, body: str = "", hours: float = 0.0) -> ArticleFingerprint:
    return fingerprint(title, body, T0 + timedelta(hours=hours))


# --- terms ---------------------------------------------------------------------

TERMS = [
    (
        "Foreign Secretary Vikram Misri met Sadamasa Oue in Tokyo.",
        {"misri", "vikram misri", "oue", "sadamasa"},
        {"foreign", "secretary", "tokyo"},
    ),
    ("Talks were held on November 27, 2024.", {"@11-27", "#2024"}, set()),
    ("It met on 27 November and on Nov 28.", {"@11-27", "@11-28"}, set()),
    ("date 2026-03-06 The minister met.", {"@03-06"}, set()),
    ("A ₹91,000-crore fab and a $2.75 billion plant.", {"#inr9.1e+11", "#usd2.75e+09"}, set()),
    ("A loan of ¥120 billion at 0.1% interest.", {"#jpy1.2e+11", "#0.1%"}, set()),
    ("They held the second round of talks.", {"^meeting:2"}, set()),
    ("The 3rd India-Japan 2+2 Dialogue was held.", {"^meeting:3", "2+2"}, set()),
    ("The two will first facilitate a dialogue.", set(), {"^meeting:1"}),
    ("The ninth edition of the exercise began.", {"^edition:9"}, set()),
    ("India won the first Test on Monday.", {"^match:1", "~mon"}, set()),
    ("Nippon Steel said it closed the deal.", {"nippon"}, set()),
    ("The Defence Ministry said defence ties grew.", set(), {"defence", "ministry"}),
    ("Bharat Electronics Ltd will build the masts.", {"bharat", "bel"}, set()),
    ("The Reserve Bank of India cut rates.", {"rbi"}, set()),
    ("Leaders backed a Free and Open Indo-Pacific.", set(), {"free", "open", "foip", "oip"}),
    ("The MPs and their EVs.", {"ev"}, {"evs", "mps"}),
]


@pytest.mark.parametrize(("text", "present", "absent"), TERMS, ids=[t[0][:32] for t in TERMS])
def test_specific_terms(text: str, present: set[str], absent: set[str]) -> None:
    terms = fp("", text).weights
    assert present <= terms.keys(), sorted(terms)
    assert not absent & terms.keys(), sorted(terms)


WEIGHTS = [
    ("Officials said Okano met Misri.", "okano", 1.0),  # mid-sentence capital: a name
    ("Okano met officials.", "okano", 0.5),  # capitalised only at the start: maybe
    ("Spokesperson Randhir Jaiswal said so.", "jaiswal", 0.3),  # a source, not an actor
    ("The plan for Exploration was drafted.", "exploration", 0.3),  # a common-noun suffix
    ("Suzuki will invest in Gujarat, officials said.", "gujarat", 0.5),  # a big place
]


@pytest.mark.parametrize(("text", "term", "weight"), WEIGHTS, ids=[w[1] + str(w[2]) for w in WEIGHTS])
def test_term_weights(text: str, term: str, weight: float) -> None:
    assert fp("", text).weights[term] == weight


def test_title_case_headline_capitals_are_not_names() -> None:
    titled = fp("India And Japan Strengthen Ties With New Defence Tech", "The two sides met.")
    assert "strengthen" not in titled.headline and titled.weights.get("strengthen", 0) < 1
    sentence_case = fp("Misri meets Oue in Delhi", "Foreign Secretary Misri met Oue.")
    assert {"misri", "oue"} <= sentence_case.headline


def test_fingerprint_needs_an_aware_time() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        fingerprint("t", "b", datetime(2026, 3, 6))  # noqa: DTZ001 (the point of the test)


def test_fingerprint_round_trips_through_json_compactly() -> None:
    for path in sorted(SEEDS.glob("*.txt")):
        title, body = _seed_text(path)
        original = fp(title, body)
        text = original.to_json()
        assert len(text.encode()) < 4096, path.name
        again = ArticleFingerprint.from_json(text)
        assert again == original
        assert candidate_keys(again) == candidate_keys(original)
        assert same_story(again, original).same


def test_a_fingerprint_of_another_version_is_refused() -> None:
    data = json.loads(fp("Misri meets Oue").to_json())
    data["v"] = 0
    with pytest.raises(ValueError, match="version"):
        ArticleFingerprint.from_json(json.dumps(data))


# --- keys ----------------------------------------------------------------------


def test_keys_are_few_and_the_same_in_every_process() -> None:
    # Python's hash() is salted per process; stored keys must not be
    title, body = _seed_text(SEEDS / "001_646094dc37beb527.txt")
    keys = candidate_keys(fp(title, body))
    assert 10 < len(keys) <= 40 and len(set(keys)) == len(keys)
    code = (
        "import sys, json; from datetime import datetime, timedelta, UTC; "
        "from monitor.stories.fingerprint import fingerprint, candidate_keys; "
        "t, b = json.load(sys.stdin); "
        "print(json.dumps(candidate_keys(fingerprint(t, b, datetime(2026, 3, 6, 9, tzinfo=UTC)))))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        input=json.dumps([title, body]),
        capture_output=True,
        text=True,
        env={"PYTHONHASHSEED": "12345", "PATH": ""},
        cwd=ROOT,
        check=True,
    )
    assert tuple(json.loads(result.stdout)) == keys


def test_generic_words_make_no_term_keys() -> None:
    keys = candidate_keys(
        fp("India, Japan hold talks", "The Prime Minister of India met officials of Japan.")
    )
    assert all(key.startswith("b") for key in keys)  # only the MinHash bands


def test_copies_share_band_keys() -> None:
    body = "The agency said on Thursday the loan would fund the second phase of the metro line in the city."
    a, b = fp("Loan for metro", body), fp("Metro loan signed", body + " More details later.")
    shared = set(candidate_keys(a)) & set(candidate_keys(b))
    assert any(key.startswith("b") for key in shared)


# --- the decision --------------------------------------------------------------

IWAYA = (
    "Jaishankar, Iwaya agree to step up cooperation on critical minerals",
    "External Affairs Minister S Jaishankar and Japan's Takeshi Iwaya held talks in New Delhi on "
    "Monday and agreed to expand cooperation on critical minerals and AI.",
)
DECISIONS = [
    (
        "copy",
        (IWAYA[0], IWAYA[1], 0),
        ("Jaishankar and Iwaya agree on minerals", IWAYA[1] + " They also discussed the East China Sea.", 5),
        True,
        "near-identical text",
    ),
    (
        "reworded",
        IWAYA + (0,),
        (
            "Japan FM Iwaya, in Delhi, seeks minerals pact with Jaishankar",
            "Visiting Foreign Minister Takeshi Iwaya told S Jaishankar on Monday that Tokyo wanted "
            "to build supply chains for rare earths together.",
            9,
        ),
        True,
        "points",
    ),
    ("outside the window", IWAYA + (0,), IWAYA + (100,), False, "100 h apart"),
    (
        "different dates",
        ("Misri meets Oue", "Foreign Secretary Vikram Misri met Sadamasa Oue in New Delhi on March 6.", 0),
        ("Oue, Misri discuss defence technology", "Sadamasa Oue and Misri talked in Tokyo on March 9.", 40),
        False,
        "different dates: 03-06 / 03-09",
    ),
    (
        "different rounds",
        (
            "India, Japan hold first round of security dialogue",
            "Vikram Misri and Masataka Okano met in Tokyo.",
            0,
        ),
        (
            "Second round of security talks held in Delhi",
            "Masataka Okano and Vikram Misri reviewed supply chains.",
            30,
        ),
        False,
        "different meeting: 1 / 2",
    ),
    (
        "one name and the same day",
        ("Supreme Court strikes down electoral bonds", "The Supreme Court ruled on Thursday.", 0),
        ("Supreme Court grants bail to AAP leader", "The Supreme Court granted bail on Thursday.", 3),
        False,
        "too little in common",
    ),
    (
        "other counterparts",
        ("Modi meets Albanese at G20 in Johannesburg", "Narendra Modi met Anthony Albanese on Saturday.", 0),
        ("Modi meets Takaichi at G20 in Johannesburg", "Narendra Modi met Sanae Takaichi on Saturday.", 2),
        False,
        "other names: albanese / takaichi",
    ),
]


@pytest.mark.parametrize(
    ("a", "b", "same", "reason"), [d[1:] for d in DECISIONS], ids=[d[0] for d in DECISIONS]
)
def test_same_story(a: tuple, b: tuple, same: bool, reason: str) -> None:
    verdict = same_story(fp(*a), fp(*b))
    assert verdict.same is same, verdict
    assert reason in verdict.reason
    assert same_story(fp(*b), fp(*a)).same is same  # symmetric


def test_choose_story_takes_the_best_match_in_the_window() -> None:
    new = fp(*IWAYA, hours=50)
    reworded = fp("Iwaya and Jaishankar talk minerals", "Takeshi Iwaya met S Jaishankar on Monday.", 49)
    copy = fp(*IWAYA, hours=48)
    stale = fp(*IWAYA, hours=-30)  # 80 h before the new one
    assert choose_story(new, []) is None
    assert choose_story(new, [(7, stale)]) is None
    assert choose_story(new, [(3, reworded), (5, copy), (7, stale)]) == 5
    assert choose_story(new, [(9, copy), (4, copy)]) == 4  # a tie goes to the older story


# --- the eval set --------------------------------------------------------------


MEASURES = {
    "precision": "precision",
    "recall": "recall",
    "key_recall": "index-key recall (same-story pairs sharing a key)",
}


def stories_quality(*args: str) -> subprocess.CompletedProcess[str]:
    """bench/stories_quality.py on the labelled pairs alone (no held-out set, no background)."""
    nowhere = str(ROOT / "tests" / "data" / "no-such-folder")
    return run_bench("stories_quality.py", "--holdout", nowhere, "--background", nowhere, *args)


@pytest.fixture(scope="module")
def quality() -> tuple[str, str]:
    """What `python bench/stories_quality.py --verbose` prints for tests/data/stories_eval: the
    labelled pairs' part and the held-out pairs' part. It scores stories.profile, the method
    the pipeline places reports with."""
    nowhere = str(ROOT / "tests" / "data" / "no-such-folder")
    result = run_bench("stories_quality.py", "--background", nowhere, "--verbose")
    assert result.returncode == 0, result.stdout + result.stderr
    labelled, held_out = result.stdout.split("\n# held out: ")
    return labelled, held_out


def test_the_eval_set_is_big_enough_to_mean_something(quality: tuple[str, str]) -> None:
    pattern = r"^pairs: (\d+) \((\d+) same story, (\d+) different events\)$"
    counts = re.search(pattern, quality[0], re.MULTILINE)
    assert counts, quality[0]
    assert int(counts[1]) >= 60
    assert int(counts[2]) >= 25 and int(counts[3]) >= 25


@pytest.mark.parametrize(("measure", "target"), [("precision", 1.0), ("key_recall", 0.95)])
def test_the_method_meets_the_target(quality: tuple[str, str], measure: str, target: float) -> None:
    value, hits, total = printed_rate(quality[0], MEASURES[measure])
    assert total > 0 and value >= target, f"{measure} {value:.3f} ({hits}/{total})\n{quality[0]}"


def test_the_method_finds_nine_in_ten_same_story_pairs_held_out_ones_included(
    quality: tuple[str, str],
) -> None:
    _, hits, total = printed_rate(quality[0], "recall")
    _, held_hits, held_total = printed_rate(quality[1], "recall")
    assert held_total >= 20
    recall = (hits + held_hits) / (total + held_total)
    assert recall >= 0.9, f"recall {recall:.3f}: {hits}/{total} and held out {held_hits}/{held_total}"


def test_bench_checks_the_format_and_counts(tmp_path: Path) -> None:
    (tmp_path / "a.toml").write_text('[[pair]]\nsame = true\na_title = "t"\n')
    result = stories_quality("--pairs", str(tmp_path))
    assert result.returncode == 2 and result.stderr.startswith("error: a.toml#1: a pair has"), result.stderr
    assert len(result.stderr.splitlines()) == 1, result.stderr
    pair = {"a_title": IWAYA[0], "a_body": IWAYA[1], "a_hours": 0, "b_title": IWAYA[0], "b_body": IWAYA[1]}
    lines = [f"{k} = {json.dumps(v)}" for k, v in pair.items()]
    far = [line if not line.startswith("a_hours") else "a_hours = -500" for line in lines]
    text = "\n".join(["[[pair]]", "same = true", *lines, "b_hours = 1", "[[pair]]", "same = true", *far])
    (tmp_path / "a.toml").write_text(text + "\nb_hours = 1\n")
    result = stories_quality("--pairs", str(tmp_path), "--verbose")
    assert result.returncode == 0, result.stdout + result.stderr
    assert printed_rate(result.stdout, "precision")[1:] == (1, 1)
    assert printed_rate(result.stdout, "recall")[1:] == (1, 2)
    assert "a.toml#2 (same story, 501 h apart)" in result.stdout


# --- the seeds, as they arrive -------------------------------------------------

EXPECTED_STORIES = {frozenset({"000", "002"}), frozenset({"001", "003"}), frozenset({"004"})}


def _seed_text(path: Path) -> tuple[str, str]:
    """First line the title, the rest the body; a first line that is a lead paragraph gives its
    first sentence as the title and stays in the body (as monitor.cli.demo does)."""
    text = path.read_text(encoding="utf-8").strip()
    title, _, body = text.partition("\n")
    if len(title) > 200:
        title, body = re.sub(r"^date \d{4}-\d{2}-\d{2}\s*", "", title).split(". ")[0], text
    return title.strip(), body.strip()


def _seed_fingerprints(settings: StorySettings) -> dict[str, ArticleFingerprint]:
    found = {}
    for path in sorted(SEEDS.glob("*.txt")):
        name = path.name[:3]
        found[name] = fingerprint(*_seed_text(path), SEED_TIMES[name], settings)
    return found


def _group(
    order: Sequence[str], fps: dict[str, ArticleFingerprint], settings: StorySettings
) -> set[frozenset]:
    """Archive the articles one by one, as the pipeline would: look up the articles sharing an
    index key, let choose_story pick a story, or start a new one."""
    story_of: dict[str, int] = {}
    for name in order:
        keys = set(candidate_keys(fps[name], settings))
        candidates = [
            (story_of[old], fps[old]) for old in story_of if keys & set(candidate_keys(fps[old], settings))
        ]
        chosen = choose_story(fps[name], candidates, settings)
        story_of[name] = len(set(story_of.values())) if chosen is None else chosen
    stories: dict[int, set[str]] = {}
    for name, story in story_of.items():
        stories.setdefault(story, set()).add(name)
    return {frozenset(names) for names in stories.values()}


ORDERS = {
    "by time": sorted(SEED_TIMES, key=SEED_TIMES.__getitem__),
    "forward": ["000", "001", "002", "003", "004"],
    "reverse": ["004", "003", "002", "001", "000"],
    **{f"shuffled {seed}": random.Random(seed).sample(sorted(SEED_TIMES), 5) for seed in (1, 2, 3)},
}


@pytest.mark.parametrize("order", ORDERS.values(), ids=ORDERS.keys())
def test_the_seeds_form_three_stories(order: list[str]) -> None:
    settings = StorySettings()
    assert _group(order, _seed_fingerprints(settings), settings) == EXPECTED_STORIES


@pytest.mark.parametrize("order", ORDERS.values(), ids=ORDERS.keys())
def test_the_seeds_form_three_stories_on_content_alone(order: list[str]) -> None:
    # all five in one window: the 2024 and 2026 events must be told apart by what they say
    settings = replace(StorySettings(), window_hours=float("inf"))
    assert _group(order, _seed_fingerprints(settings), settings) == EXPECTED_STORIES


def test_the_speed_bench_runs_small() -> None:
    result = subprocess.run(
        [sys.executable, "bench/stories_bench.py", "--repeat", "3"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "fingerprint 1,500 chars" in result.stdout and "same_story" in result.stdout


def _jaccard_by_definition(a: Sequence[int], b: Sequence[int]) -> float:
    filled = [(x, y) for x, y in zip(a, b, strict=True) if not x == y == -1]
    return sum(x == y for x, y in filled) / len(filled) if filled else 0.0


def test_signature_jaccard_is_equal_slots_over_slots_either_text_filled() -> None:
    """The fast count (stories._jaccard) against its definition, empty slots (-1) included."""
    from monitor.stories.fingerprint import _jaccard

    rng = random.Random(7)
    for _ in range(3000):
        a = tuple(rng.choice((-1, 2, 4, rng.randrange(0, 2**32, 2))) for _ in range(64))
        b = tuple(rng.choice((-1, 2, 4, rng.randrange(0, 2**32, 2))) for _ in range(64))
        assert _jaccard(a, b) == _jaccard_by_definition(a, b)
    assert _jaccard((-1,) * 64, (-1,) * 64) == 0.0
    with pytest.raises(ValueError):
        _jaccard((2,) * 64, (2,) * 32)
