"""Full-text search of text without spaces between words: Chinese, Japanese, Korean.

FTS5's word index (``articles_fts``, the porter tokenizer) takes an unspaced run of Japanese
as one token: "インド" was not found in "モルディブ、親インドか親中国か". Beside it,
``articles_cjk`` indexes only the articles that hold CJK text, with each run of CJK
characters written as its overlapping character pairs, plus its last character, and every
other word as it is ("親インドか" → "親イ イン ンド ドか か")::

    index_text("インドと日本")          → " イン ンド ドと と日 日本 本 "
    cjk_query("インド AND 半導体")      → '"イン ンド" AND "半導 導体"'
    cjk_query("中")                     → '中*'   (any pair that starts with it, or a run's last)

A query with CJK in it searches ``articles_cjk``; any other, the word index, as before.
Pairs rather than FTS5's trigram tokenizer: two-character words (日本, 中国, 政府) are the most
common in Japanese and Chinese headlines, and a trigram index finds nothing shorter than
three; a trigram index over every article would also triple an English archive's index for
nothing. Articles without CJK cost nothing here.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from monitor.archive.behind import Insert

if TYPE_CHECKING:
    import sqlite3

    import sqlite_utils

    from monitor.archive.behind import Rows

# Han (with extensions and compatibility ideographs), kana without the middle dot, Hangul.
# rules/textfold.py has the same class for rule matching (the archive may not import it).
CJK_CHARS = (
    "\u3005\u3007\u3041-\u309f\u30a1-\u30fa\u30fc-\u30ff\u31f0-\u31ff\u3400-\u4dbf\u4e00-\u9fff"
    "\uf900-\ufaff\uff66-\uff9f\u1100-\u11ff\u3130-\u318f\uac00-\ud7af\U00020000-\U0003134f"
)
_RUN = re.compile(f"[{CJK_CHARS}]+")
# FTS5 writes each transaction's new words as a segment, and merges a level's segments into one
# of the next level once AUTOMERGE of them are there (its default: 4). Every word is written again
# at each level: eight at a time, a 100,000-article archive has 4 levels, not 6, and FTS5's part
# of the archive write is 0.132 -> 0.107 ms an article (a search reads up to 7 segments a level,
# not 3: tens of µs; docs/performance-log.md, h-save).
AUTOMERGE = 8
_PHRASE = re.compile(r'"[^"]*"?')


def create(db: sqlite_utils.Database) -> None:
    """The CJK index, its cleanup when an article goes, and the archived articles in it."""
    db.execute(
        "create virtual table if not exists articles_cjk"
        " using fts5(text, tokenize='unicode61 remove_diacritics 2')"
    )
    db.execute(
        "create trigger if not exists articles_cjk_ad after delete on articles"
        " begin delete from articles_cjk where rowid = old.id; end"
    )
    rows = db.execute("select id, title, summary from articles").fetchall()
    db.conn.executemany(
        "insert into articles_cjk (rowid, text) values (?, ?)",
        [(i, index_text(t or "", s or "")) for i, t, s in rows if has_cjk(t or "") or has_cjk(s or "")],
    )


def merge_by(conn: sqlite3.Connection, segments: int = AUTOMERGE) -> None:
    """articles_fts merges its segments `segments` at a time (kept in articles_fts_config)."""
    conn.execute("insert into articles_fts (articles_fts, rank) values ('automerge', ?)", (segments,))


FTS_ROW = Insert("insert into articles_fts (rowid, title, summary)", 3)
CJK_ROW = Insert("insert into articles_cjk (rowid, text)", 2)


def index(rows: Rows, article_id: int, title: str, summary: str) -> None:
    """Index a new article's text (`rows`: written with the update's, behind.py): its words in
    articles_fts (by save_update, not by a trigger since m019: a trigger's savepoint made FTS5
    write each article as a segment of its own), and in articles_cjk when it holds CJK."""
    rows.add(FTS_ROW, article_id, title, summary)
    if has_cjk(title) or has_cjk(summary):
        rows.add(CJK_ROW, article_id, index_text(title, summary))


def has_cjk(text: str) -> bool:
    return not text.isascii() and _RUN.search(text) is not None


def index_text(title: str, summary: str) -> str:
    return _RUN.sub(lambda run: f" {_pairs(run.group())} ", f"{title}\n{summary}")


def _pairs(run: str) -> str:
    return " ".join([run[i : i + 2] for i in range(len(run) - 1)] + [run[-1]])


def cjk_query(query: str) -> str:
    """A search query (FTS5 syntax) for ``articles_cjk``: each CJK run a phrase of its pairs."""
    out, done = [], 0
    for phrase in _PHRASE.finditer(query):
        out.append(_RUN.sub(_bare_run, query[done : phrase.start()]))
        out.append(_RUN.sub(lambda run: f" {_query_pairs(run.group())} ", phrase.group()))
        done = phrase.end()
    out.append(_RUN.sub(_bare_run, query[done:]))
    return "".join(out)


def _bare_run(run: re.Match[str]) -> str:
    text = run.group()
    return f" {text}* " if len(text) == 1 else f' "{_query_pairs(text)}" '


def _query_pairs(run: str) -> str:
    return run if len(run) == 1 else " ".join(run[i : i + 2] for i in range(len(run) - 1))
