"""An article's alert as a channel-neutral record (types.Alert). Pure: no clock, no I/O.

The outbox stores this record; each notifier renders it in its own format when it sends it
(render.py: Telegram HTML; the console: the same as plain text). What a feed sent is bounded
here, far above what any renderer shows, so one hostile item cannot fill the outbox.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from monitor.alerts.render import ALSO_BUDGET, OUTLET_BUDGET, TITLE_BUDGET, cut_snippet
from monitor.alerts.text import clean, cut
from monitor.types import Alert, AlertRule, EntryData, RuleMatch

TITLE_KEPT = 4 * TITLE_BUDGET  # UTF-16 units of escaped text, as render budgets them
OUTLET_KEPT = 2 * OUTLET_BUDGET
LINK_KEPT = 8192  # characters; a longer link is never clickable (render.HREF_BUDGET)
ALSO_KEPT = ALSO_BUDGET // 2  # reports listed; more never fit "Also reported by" (3 units each)

Report = tuple[str | None, str | None]  # (outlet, link) of one article in a story


def compose_alert(
    entry: EntryData,
    outlet: str | None,
    matches: Sequence[RuleMatch],
    rule_names: Mapping[str, str],
    also: Sequence[Report] = (),
    priority: str = "normal",
) -> Alert:
    """The alert for one article; `also` lists the (outlet, link) of other reports of its story."""
    return Alert(
        title=cut(clean(entry.title), TITLE_KEPT),
        link=_link(entry.link),
        outlet=_outlet(outlet or entry.outlet),
        published=entry.published,
        snippet=cut_snippet(entry.summary),
        rules=tuple(AlertRule(m.rule_id, rule_names.get(m.rule_id, ""), m.terms, m.found) for m in matches),
        also=tuple((_outlet(o), _link(link)) for o, link in also[:ALSO_KEPT]),
        also_more=max(0, len(also) - ALSO_KEPT),
        priority=priority,
    )


def _outlet(outlet: str | None) -> str | None:
    return None if outlet is None else cut(clean(outlet), OUTLET_KEPT)


def _link(link: str | None) -> str | None:
    return None if link is None else link.strip()[:LINK_KEPT]
