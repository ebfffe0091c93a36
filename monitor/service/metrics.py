"""The service's Prometheus metrics (`[service] listen`): counters, and gauges of its state read
at scrape time. Imported only when the service serves /metrics (health.py's HealthServer):
prometheus-client and what it imports are 1 MB of the service's memory (issue 18).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.metrics_core import GaugeMetricFamily, Metric

from monitor.config.values import redact_urls
from monitor.service.health import ServiceState

log = logging.getLogger("monitor.health")

PASS_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)  # seconds
FEED_STATUSES = ("active", "failing", "suspended", "stale")  # always exported, 0 when none


class _StateCollector:
    """Gauges from the service's state callback; a failing callback costs its gauges, not the scrape."""

    def __init__(self) -> None:
        self.state: Callable[[], ServiceState] | None = None

    def collect(self) -> Iterable[Metric]:
        if self.state is None:
            return []
        families: list[Metric] = []
        up = GaugeMetricFamily("monitor_state_up", "1 if the service state could be read at this scrape")
        try:
            state = self.state()
            families.append(_gauge("monitor_alerts_pending", "Alerts waiting to be sent", state.pending))
            families.append(_gauge("monitor_alerts_held", "Alerts held for a digest", state.held))
            families.append(
                _gauge("monitor_chats_disabled", "Chats the bot cannot reach", state.disabled_chats)
            )
            families.append(_feeds_by_status(state.feeds))
            families.append(_last_success(state.last_success))
            up.add_metric([], 1)
        except Exception as exc:  # a scrape must never take the service down
            log.warning("event=metrics_state_error error=%r", exc)
            up.add_metric([], 0)
        return [*families, up]


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=value)


def _feeds_by_status(counts: Mapping[str, int]) -> GaugeMetricFamily:
    family = GaugeMetricFamily("monitor_feeds", "Feeds by status", labels=["status"])
    for status in dict.fromkeys([*FEED_STATUSES, *counts]):
        family.add_metric([status], counts.get(status, 0))
    return family


def _last_success(last_success: Mapping[str, datetime | None]) -> GaugeMetricFamily:
    # A feed that never succeeded has no series: monitor_feeds{status="failing"} counts it.
    family = GaugeMetricFamily(
        "monitor_feed_last_success_timestamp_seconds", "Last successful check of a feed", labels=["feed"]
    )
    for url, when in last_success.items():
        if when is not None:
            family.add_metric([redact_urls(url)], when.timestamp())  # no credentials in a label
    return family


class Metrics:
    """Counters and gauges for one running service, in a private registry."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self._passes = Counter("monitor_passes", "Completed passes over the due feeds", registry=r)
        self._checks = Counter("monitor_feed_checks", "Feed checks by result", ["result"], registry=r)
        for result in ("ok", "not_modified", "error"):
            self._checks.labels(result=result)  # export 0 before the first pass
        self._articles = Counter("monitor_articles", "New articles archived", registry=r)
        self._queued = Counter("monitor_alerts_queued", "Alerts written to the outbox", registry=r)
        self._matches = Counter("monitor_matches", "Rule matches found", registry=r)
        self._duration = Histogram(
            "monitor_pass_duration_seconds", "Wall time of a pass", buckets=PASS_BUCKETS, registry=r
        )
        self._last_pass = Gauge("monitor_last_pass_timestamp_seconds", "When the last pass ended", registry=r)
        self._sent = Counter("monitor_alerts_sent", "Alerts delivered", registry=r)
        self._failed = Counter("monitor_alerts_failed", "Alerts that failed for good", registry=r)
        self._deferred = Counter("monitor_alerts_deferred", "Alert sends put off to retry later", registry=r)
        self._state = _StateCollector()
        r.register(self._state)

    def pass_done(
        self,
        *,
        feeds: int,
        not_modified: int,
        errors: int,
        new_articles: int,
        alerts_queued: int,
        seconds: float,
    ) -> None:
        """Count one pass; ``feeds`` is every feed checked, including the 304s and the errors."""
        self._passes.inc()
        self._checks.labels(result="ok").inc(max(feeds - not_modified - errors, 0))
        self._checks.labels(result="not_modified").inc(not_modified)
        self._checks.labels(result="error").inc(errors)
        self._articles.inc(new_articles)
        self._queued.inc(alerts_queued)
        self._duration.observe(seconds)
        self._last_pass.set_to_current_time()

    def matches_found(self, n: int) -> None:
        self._matches.inc(n)

    def delivered(self, *, sent: int, failed: int, deferred: int) -> None:
        self._sent.inc(sent)
        self._failed.inc(failed)
        self._deferred.inc(deferred)

    def set_state(self, state: Callable[[], ServiceState]) -> None:
        """Read ``state()`` at every scrape, in the event loop, for the gauges of the moment."""
        self._state.state = state

    def exposition(self) -> tuple[str, bytes]:
        """/metrics' answer: its content type and the registry in Prometheus' text format."""
        return CONTENT_TYPE_LATEST, generate_latest(self.registry)
