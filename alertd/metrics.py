"""Prometheus metrics: every alertd_* series, its labels and its exposition.

This module owns the metric names, help texts, label sets and histogram buckets. Each Metrics
object has its own CollectorRegistry instead of the process-global default one, so tests (and a
future in-process reload) can create as many as they like without "Duplicated timeseries" errors.

Labels carry configured names only (source, receiver), never an EM URL or a webhook URL: URLs can
embed credentials or tokens, and they change when an operator moves a server, which would break
dashboards and alerts that select by name.
"""

from __future__ import annotations

import platform
import time
from datetime import datetime

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector

from alertd import __version__

__all__ = ["Metrics"]

# An EM poll is a few REST calls: tens of ms on a LAN, up to the request timeout when EM is slow.
_POLL_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)


class Metrics:
    """All alertd metrics, registered in a private registry; attributes are the metric objects."""

    def __init__(self, *, process_metrics: bool = True) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry

        self.polls_total = Counter(
            "alertd_polls_total", "EM polls by outcome.", ["source", "outcome"], registry=r
        )
        self.poll_duration_seconds = Histogram(
            "alertd_poll_duration_seconds",
            "Wall time of one EM poll.",
            ["source"],
            buckets=_POLL_BUCKETS,
            registry=r,
        )
        self.em_errors_total = Counter(
            "alertd_em_errors_total",
            "Failed polls by kind: the source's errors (unreachable, timeout, tls, auth, http, malformed, too_large) "
            "and alertd's own (state, internal).",
            ["source", "kind"],
            registry=r,
        )
        self.alerts_total = Counter(
            "alertd_alerts_total",
            "New Failed/Warning task sessions recorded, by their result (Failed, Warning), "
            "whether routed, silenced or unrouted.",
            ["source", "result"],
            registry=r,
        )
        self.unrouted_alerts_total = Counter(
            "alertd_unrouted_alerts_total",
            "Alerts that matched no route and reached no receiver.",
            ["source"],
            registry=r,
        )
        self.deliveries_total = Counter(
            "alertd_deliveries_total",
            "Delivery attempts by outcome: sent, failed (will retry) or dead (gave up).",
            ["receiver", "outcome"],
            registry=r,
        )
        self.delivery_retries_total = Counter(
            "alertd_delivery_retries_total",
            "Delivery attempts scheduled for retry.",
            ["receiver"],
            registry=r,
        )
        self.dead_letters_total = Counter(
            "alertd_dead_letters_total",
            "Outbox entries abandoned after the last retry.",
            ["receiver"],
            registry=r,
        )
        self.outbox_pending = Gauge(
            "alertd_outbox_pending", "Outbox entries waiting for delivery.", registry=r
        )
        self.last_successful_poll_timestamp_seconds = Gauge(
            "alertd_last_successful_poll_timestamp_seconds",
            "Unix time of the last successful EM poll.",
            ["source"],
            registry=r,
        )
        self.watermark_lag_seconds = Gauge(
            "alertd_watermark_lag_seconds",
            "How far the poll watermark trails the current time.",
            ["source"],
            registry=r,
        )
        self.config_last_reload_successful = Gauge(
            "alertd_config_last_reload_successful",
            "1 if the last configuration load or reload succeeded, else 0.",
            registry=r,
        )
        self.config_last_reload_timestamp_seconds = Gauge(
            "alertd_config_last_reload_timestamp_seconds",
            "Unix time of the last configuration load or reload attempt.",
            registry=r,
        )
        self.recovered_on_retry_total = Counter(
            "alertd_recovered_on_retry_total",
            "Held failures not sent because Veeam's own retry succeeded within the hold.",
            ["source"],
            registry=self.registry,
        )
        self.silenced_alerts_total = Counter(
            "alertd_silenced_alerts_total",
            "Alerts suppressed by a silence.",
            ["source"],
            registry=r,
        )
        self.late_sessions_total = Counter(
            "alertd_late_sessions_total",
            "Failed/Warning sessions found only by the reconciliation sweep (EM collected them late).",
            ["source", "backup_server"],
            registry=r,
        )
        self.undecodable_sessions_total = Counter(
            "alertd_undecodable_sessions_total",
            "Task sessions the source sent that could not be fully decoded (alerted with what could be read).",
            ["source"],
            registry=r,
        )
        self.success_query_failures_total = Counter(
            "alertd_success_query_failures_total",
            "Success (recovery, retry-hold) queries the source refused; asked again next poll.",
            ["source"],
            registry=r,
        )
        self.em_clock_skew_seconds = Gauge(
            "alertd_em_clock_skew_seconds",
            "The source's clock minus alertd's, from the Date header of its responses.",
            ["source"],
            registry=r,
        )
        self.source_info = Gauge(
            "alertd_source_info",
            "Always 1, set after each successful poll of a source; labels: its kind (em, vbr), the API "
            "version in use ('' when the source does not say, as EM's polls do not) and whether it is "
            "degraded (a VBR 12.0-12.3.0 server without task sessions: job-level alerts only).",
            ["source", "kind", "api_version", "degraded"],
            registry=r,
        )
        self._source_labels: dict[str, tuple[str, str, str, str]] = {}
        self.build_info = Gauge(
            "alertd_build_info",
            "Always 1; labels carry the alertd and Python versions.",
            ["version", "python"],
            registry=r,
        )
        self.build_info.labels(version=__version__, python=platform.python_version()).set(1)

        if process_metrics:
            # RSS, open fds and CPU of the daemon; a leak shows up here before the OOM killer.
            ProcessCollector(registry=r)
            PlatformCollector(registry=r)
            GCCollector(registry=r)

    def observe_poll(self, source: str, outcome: str, duration: float, *, ok: bool) -> None:
        """Record one finished poll; a successful one also moves the last-success timestamp."""
        self.polls_total.labels(source=source, outcome=outcome).inc()
        self.poll_duration_seconds.labels(source=source).observe(duration)
        if ok:
            self.last_successful_poll_timestamp_seconds.labels(source=source).set(time.time())

    def source_polled(self, source: str, kind: str, reader: object) -> None:
        """A poll of ``source`` succeeded: its info series, read from the source object ``reader``.

        ``api_version`` and ``degraded`` are what a source offers beyond the Source protocol
        (`alertd.vbr.source.VBRSource` has both); a changed value replaces the source's old series.
        """
        api_version = getattr(reader, "api_version", None)
        degraded = getattr(reader, "degraded", None)
        labels = (source, kind, str(api_version or ""), "true" if degraded is True else "false")
        old = self._source_labels.get(source)
        if old is not None and old != labels:
            self.source_info.remove(*old)
        self._source_labels[source] = labels
        self.source_info.labels(*labels).set(1)

    def config_reloaded(self, ok: bool) -> None:
        """Record the result of a configuration load or reload attempt."""
        self.config_last_reload_successful.set(1 if ok else 0)
        self.config_last_reload_timestamp_seconds.set(time.time())

    # -- the narrow interfaces the pipeline and delivery report through ---------------------

    def poll_done(self, source: str, ok: bool, seconds: float, error_kind: str | None) -> None:
        """One poll finished; failures are also counted by EM error kind."""
        self.observe_poll(source, "success" if ok else "failure", seconds, ok=ok)
        if not ok:
            self.em_errors_total.labels(source=source, kind=error_kind or "unknown").inc()

    def alerts(self, source: str, result: str, count: int) -> None:
        """New alerts recorded."""
        self.alerts_total.labels(source=source, result=result).inc(count)

    def unrouted(self, source: str, count: int) -> None:
        """Alerts no route matched."""
        self.unrouted_alerts_total.labels(source=source).inc(count)

    def watermark(self, source: str, watermark: datetime, now: datetime) -> None:
        """How far behind ``now`` the newest EndTime read from a source is."""
        self.watermark_lag_seconds.labels(source=source).set(max(0.0, (now - watermark).total_seconds()))

    def late_sessions(self, source: str, backup_server: str, count: int) -> None:
        """Sessions only the reconciliation sweep found."""
        self.late_sessions_total.labels(source=source, backup_server=backup_server).inc(count)

    def undecodable(self, source: str, count: int) -> None:
        """Sessions that could not be fully decoded."""
        self.undecodable_sessions_total.labels(source=source).inc(count)

    def success_query_failed(self, source: str, count: int) -> None:
        """Success queries the source refused."""
        self.success_query_failures_total.labels(source=source).inc(count)

    def clock_skew(self, source: str, seconds: float) -> None:
        """The source's clock minus alertd's."""
        self.em_clock_skew_seconds.labels(source=source).set(seconds)

    def delivery(self, receiver: str, outcome: str) -> None:
        """One delivery attempt's outcome (sent, failed, dead)."""
        self.deliveries_total.labels(receiver=receiver, outcome=outcome).inc()

    def retry(self, receiver: str) -> None:
        """A delivery will be retried."""
        self.delivery_retries_total.labels(receiver=receiver).inc()

    def dead_letter(self, receiver: str) -> None:
        """A delivery was given up."""
        self.dead_letters_total.labels(receiver=receiver).inc()

    def recovered_on_retry(self, source: str, count: int) -> None:
        """Held failures dropped because Veeam's own retry succeeded."""
        self.recovered_on_retry_total.labels(source=source).inc(count)

    def outbox(self, depth: int) -> None:
        """The outbox depth, refreshed by the daemon's flush loop."""
        self.outbox_pending.set(depth)

    def silenced(self, source: str, count: int) -> None:
        """Alerts recorded but not sent because a silence matched."""
        self.silenced_alerts_total.labels(source=source).inc(count)

    def render(self) -> tuple[bytes, str]:
        """Return the Prometheus text exposition and its Content-Type."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
