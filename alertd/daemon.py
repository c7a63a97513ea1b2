"""The daemon's lifecycle: start, poll every source on its interval, flush groups, deliver, reload, stop.

Signals only set events (SIGTERM/SIGINT: stop; SIGHUP: reload). Stopping ends the poll loops,
lets sends in flight finish within a grace period (the rest stays pending in the outbox), logs
off EM and closes the state database.

A reload re-reads the config file and every file it names, builds everything anew (reusing only
what is unchanged, compared by contents), then swaps it in while no poll runs: new polls wait,
polls in flight get up to their source's read_timeout to end, and a client still in use when
that runs out is closed only after its poll ends (`alertd.inflight`).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from datetime import datetime, timedelta
from pathlib import Path

import structlog

from alertd import sdnotify
from alertd.config import Config, ConfigError, SourceConfig, config_warnings, load_config
from alertd.delivery import DeliveryService
from alertd.httpd import HttpServer, start_http
from alertd.inflight import PollGate
from alertd.metrics import Metrics
from alertd.notices import dead_letter_report, plan_notice
from alertd.pipeline import Pipeline, PollResult
from alertd.planner import Render
from alertd.records import Delivery, PlannedMessage
from alertd.redirect import reconcile_outbox
from alertd.routing import legacy_route_keys
from alertd.runtime import Clock, Runtime, Targets, build_runtime, state_path, utc_now
from alertd.selfmon import SourceHealth
from alertd.selfwatch import SelfWatch, with_newest_end
from alertd.source import Source, SourceError
from alertd.state import SQLiteStore, StateError

log = structlog.get_logger(__name__)

STOP_GRACE_S = 5.0
PRUNE_EVERY = timedelta(hours=1)
FLUSH_IDLE = 5.0


class Daemon:
    """One running alertd."""

    def __init__(self, cfg: Config, config_path: Path | None = None, *, clock: Clock = utc_now) -> None:
        self.cfg = cfg
        self.config_path = config_path
        self.clock = clock
        self.metrics = Metrics()
        self.runtime: Runtime = build_runtime(cfg, clock=clock, config_path=config_path)
        self.targets: Targets = self.runtime.targets
        self.renderer = self.runtime.renderer
        self.clients: dict[str, Source] = self.runtime.clients.by_source
        self.store = SQLiteStore(state_path(cfg))
        self.pipeline = Pipeline(cfg, self.store, self.renderer, self.targets.by_receiver, self.metrics)
        self.health: dict[str, SourceHealth] = {s.name: SourceHealth() for s in cfg.sources}
        self.gate = PollGate()
        self.delivery = DeliveryService(
            self.store,
            self.targets.by_name,
            cfg.delivery,
            clock=clock,
            dead_letter_report=self._dead_letter_report,
            metrics=self.metrics,
            initial_backoff=min(1.0, cfg.delivery.min_interval.total_seconds() or 1.0),
        )
        #: Self-monitoring checks by (source, check), as stored: a restart carries them on.
        self.selfwatch = SelfWatch(self.store, self.delivery.wake)
        if 0 < self.store.opened_at_version < 4:
            self._adopt_legacy_route_keys()
        self.stop_event = asyncio.Event()
        self.reload_event = asyncio.Event()
        self.config_ok = True
        self.http: HttpServer | None = None
        self._poll_tasks: dict[str, asyncio.Task[None]] = {}
        #: Whether run() is polling: only then does a reload start poll loops for new sources.
        self._running = False
        self._wake_flush = asyncio.Event()
        self._next_check: datetime | None = None
        self._reconcile_again = False
        self.metrics.config_reloaded(True)

    # -- lifecycle --------------------------------------------------------------------------

    async def run(self) -> int:
        """Run until SIGTERM/SIGINT. Returns the process exit code."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stop_event.set)
        loop.add_signal_handler(signal.SIGHUP, self.reload_event.set)
        try:
            if self.cfg.http.listen:
                try:
                    self.http = await start_http(self.cfg.http.listen, self.metrics, self.readiness)
                except (OSError, ValueError) as err:
                    # A port in use will not free itself by restarting every 5 s: exit as a config error.
                    log.error(
                        "http_bind_failed", key="http.listen", listen=self.cfg.http.listen, error=str(err)
                    )
                    return 2
            for warning in config_warnings(self.cfg):
                log.warning("config_warning", warning=warning)
            self._running = True
            self._reconcile_outbox()
            self._start_polls()
            self.delivery.wake()
            flusher = asyncio.create_task(self._flush_loop(), name="flush")
            reloader = asyncio.create_task(self._reload_loop(), name="reload")
            watchdog = asyncio.create_task(sdnotify.watchdog_loop(self.stop_event), name="watchdog")
            sdnotify.ready(f"watching {len(self.cfg.sources)} source(s)")
            log.info("alertd_started", sources=[s.name for s in self.cfg.sources], state=str(self.store.path))
            await self.stop_event.wait()
            self._running = False
            log.info("alertd_stopping")
            sdnotify.stopping()
            tasks = [*self._poll_tasks.values(), flusher, reloader]
            for task in tasks:
                task.cancel()
            # Bounded: a task that ignores its cancellation must not keep the process alive.
            _, stuck = await asyncio.wait(tasks, timeout=STOP_GRACE_S)
            if stuck:
                log.warning("tasks_not_stopped", tasks=sorted(t.get_name() for t in stuck))
            # Flush what is due so nothing waits a group_wait longer than needed after restart.
            self.pipeline.flush(self.clock())
            await self.delivery.stop(STOP_GRACE_S)
            watchdog.cancel()
            await asyncio.gather(watchdog, return_exceptions=True)
            pending = self._outbox_depth()
        finally:
            await self.close()
        log.info("alertd_stopped", outbox_pending=pending)
        return 0

    async def once(self, deliver_timeout: float = 60.0) -> int:
        """One poll of every source, every group flushed at once, deliveries attempted.

        Exit code 0 when every source was read and the outbox drained, 1 when a source could not
        be read, 3 when deliveries are still pending (they stay in the outbox for the next run).
        """
        try:
            self._reconcile_outbox()
            results = [await self.poll_source(s) for s in self.cfg.sources]
            self.pipeline.flush(self.clock(), flush_all=True)
            drained = await self.delivery.drain(deliver_timeout)
            await self.delivery.stop(STOP_GRACE_S)
            pending = self._outbox_depth()
        finally:
            await self.close()
        if not all(r.ok for r in results):
            return 1
        if not drained:
            log.warning("deliveries_pending", pending=pending, note="sent on the next run")
            return 3
        return 0

    async def close(self) -> None:
        """Log off EM, stop the HTTP server and close the state database.

        run() has stopped the polls by now; a poll that ignored that is given up on (`poll_source`
        reports it as abandoned, not as a source failure).
        """
        await self.gate.close_all(self.clients.values(), STOP_GRACE_S)
        if self.http is not None:
            await self.http.stop()
            self.http = None
        self.store.close()

    # -- polling ----------------------------------------------------------------------------

    def _start_polls(self) -> None:
        for source in self.cfg.sources:
            self._poll_tasks[source.name] = asyncio.create_task(
                self._poll_loop(source.name), name=f"poll:{source.name}"
            )

    async def _poll_loop(self, name: str) -> None:
        loop = asyncio.get_running_loop()
        while not self.stop_event.is_set():
            # Picked after any reload in progress: a poll runs under one configuration.
            await self.gate.wait_open()
            source = self._source(name)
            if source is None:
                return
            started = loop.time()
            try:
                await self.poll_source(source)
            except Exception as err:  # never let one bad cycle end this source's polling
                log.exception("poll_loop_error", source=name, error=repr(err), note="polling continues")
            self.wake_flush()
            # A sweep cannot run more often than polls do: a reconcile_every shorter than the
            # poll interval shortens the interval (the sweep runs on the poll that is due).
            every = min(source.poll_interval, source.reconcile_every).total_seconds()
            delay = max(0.0, started + every - loop.time())
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await self.stop_event.wait()

    def _adopt_legacy_route_keys(self) -> None:
        """A state file from before schema 4 keyed unnamed routes differently: carry their state over once."""
        try:
            moved = self.store.rename_routes(legacy_route_keys(self.cfg.routes))
        except StateError as err:
            log.error(
                "route_keys_not_upgraded", error=str(err), note="held alerts of unnamed routes may wait"
            )
            return
        if moved:
            log.info("route_keys_upgraded", open_members=moved)

    def wake_flush(self) -> None:
        """New data arrived: let the flush loop look at the groups now instead of at its next check."""
        self._wake_flush.set()

    def _source(self, name: str) -> SourceConfig | None:
        return next((s for s in self.cfg.sources if s.name == name), None)

    async def poll_source(self, source: SourceConfig) -> PollResult:
        """Poll one source once, never raising: failures are logged, counted and fed to self-monitoring.

        The client and pipeline are picked once, and the client is marked in use until the poll
        ends, so a reload meanwhile neither swaps them under the poll nor closes the client.
        """
        loop = asyncio.get_running_loop()
        started = loop.time()
        client, pipeline = self.clients[source.name], self.pipeline
        try:
            with self.gate.using(client):
                result = await pipeline.poll(source, client, self.clock())
        except Exception as err:
            if self.stop_event.is_set():
                # Stopping gave up on this poll (its client may be closed by now): nothing was
                # recorded, the next start reads the window again; not a source failure.
                log.info("poll_abandoned", source=source.name, error=repr(err), note="alertd is stopping")
                return PollResult(source.name, False, error_kind="stopping", error=repr(err))
            result = self._failed_poll(source.name, err)
        self.metrics.poll_done(source.name, result.ok, loop.time() - started, result.error_kind)
        if result.ok:
            self.metrics.source_polled(source.name, source.kind, self.clients.get(source.name))
            if self.cfg.self_alerts.stale_after is not None:
                with self.gate.using(client):
                    result = await with_newest_end(source.name, client, result)
        self._self_monitor(source.name, result)
        return result

    def _failed_poll(self, name: str, err: Exception) -> PollResult:
        """Log one failed poll and describe it (called while ``err`` is being handled)."""
        if isinstance(err, SourceError):
            log.error("poll_failed", source=name, kind=err.kind, error=str(err), note="retried next poll")
            return PollResult(name, False, error_kind=err.kind, error=str(err))
        if isinstance(err, StateError):
            log.error("poll_failed", source=name, kind="state", error=str(err), note="nothing marked seen")
            return PollResult(name, False, error_kind="state", error=str(err))
        # A bug in one poll must not end the daemon; it is retried next poll.
        log.exception("poll_crashed", source=name, error=repr(err))
        return PollResult(name, False, error_kind="internal", error=repr(err))

    def _self_monitor(self, name: str, result: PollResult) -> None:
        """Fold one poll into self-monitoring (which may send a self-alert)."""
        now = self.clock()
        if result.ok:
            self.health[name] = SourceHealth(last_success=now)
        self.selfwatch.observe(
            name,
            ok=result.ok,
            error=result.error,
            watermark=result.watermark,
            now=now,
            settings=self.cfg.self_alerts,
            plan=self._planned,
        )

    def _planned(self, receiver: str, render: Render) -> PlannedMessage:
        """One message to every target of ``receiver`` (self-alerts, dead-letter reports)."""
        return plan_notice(receiver, self.targets.by_receiver, self.renderer, render)

    def _dead_letter_report(self, row: Delivery, reason: str) -> PlannedMessage | None:
        return dead_letter_report(row, reason, self.cfg.delivery.fallback, self.targets.label, self._planned)

    async def _flush_loop(self) -> None:
        last_prune: datetime | None = None
        # Checks stop_event itself: on Python 3.11, wait_for can swallow a cancellation that
        # arrives in the same loop turn as the event it waits on, and the loop must still end.
        while not self.stop_event.is_set():
            try:
                now = self.clock()
                flushed = self.pipeline.flush(now)
                self._next_check = flushed.next_check
                if flushed.messages:
                    self.delivery.wake()
                self.metrics.outbox(self._outbox_depth())
                if last_prune is None or now - last_prune >= PRUNE_EVERY:
                    last_prune = now
                    self.store.prune_history(now, self.cfg.state.keep_history)
                if self._reconcile_again:
                    self._reconcile_outbox()
            except Exception as err:  # keep flushing on the next tick; the error is logged
                log.exception("flush_crashed", error=repr(err))
            self._wake_flush.clear()
            # Sleep until the next group can fall due, or new data arrives; a kept-open group
            # (missing receiver, failed write) is looked at again within FLUSH_IDLE.
            wait = FLUSH_IDLE
            if self._next_check is not None:
                wait = min(FLUSH_IDLE, max(0.05, (self._next_check - self.clock()).total_seconds()))
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait):
                    await self._wake_flush.wait()

    def _reconcile_outbox(self) -> None:
        """Close or move the pending rows of URLs the configuration no longer has (see alertd.redirect)."""
        try:
            moved = reconcile_outbox(
                self.store,
                self.targets.by_receiver,
                list(self.targets.by_name),
                self.renderer,
                self.cfg.delivery.fallback,
                self.clock(),
            )
        except StateError as err:
            self._reconcile_again = True
            log.error("outbox_reconcile_failed", error=str(err), note="tried again on the next flush")
            return
        self._reconcile_again = False
        if moved:
            self.delivery.wake()

    def _outbox_depth(self) -> int:
        try:
            return self.store.outbox_depth()
        except Exception:
            return -1

    # -- reload and readiness ---------------------------------------------------------------

    async def _reload_loop(self) -> None:
        while True:
            await self.reload_event.wait()
            self.reload_event.clear()
            await self.reload()

    async def reload(self) -> bool:
        """Validate the config file again and swap it in atomically; keep the old one when invalid.

        Every file the config names is read again (password_file, urls_file, ca_file, templates)
        and everything is built before anything is swapped, so a config that fails half-way (a bad
        ca_file, an unknown apprise URL) changes nothing. A client is kept only when what it is
        built from, file contents included, is unchanged. The swap waits for polls in flight (up
        to the longest read_timeout) and holds new ones back; a retired client a poll still uses
        is closed when that poll ends.
        """
        sdnotify.reloading()
        try:
            if self.config_path is None:
                raise ConfigError(["--config: no configuration file to reload"])
            cfg = load_config(self.config_path)
            runtime = build_runtime(cfg, self.runtime, clock=self.clock, config_path=self.config_path)
        except ConfigError as err:
            self.config_ok = False
            self.metrics.config_reloaded(False)
            for problem in err.problems:
                log.error("config_reload_rejected", problem=problem, note="keeping the running configuration")
            sdnotify.ready("reload rejected; running the previous configuration")
            return False
        if state_path(cfg) != state_path(self.cfg):
            log.warning(
                "config_reload_state_path_ignored", note="a new state.path takes effect after a restart"
            )
        for warning in config_warnings(cfg):
            log.warning("config_warning", warning=warning)
        bound = max(s.read_timeout for s in self.cfg.sources).total_seconds()
        async with self.gate.closed(bound) as idle:
            if not idle:
                log.warning(
                    "reload_without_waiting",
                    polls_in_flight=self.gate.busy,
                    waited_s=bound,
                    note="swapping now; their clients are closed when they end",
                )
            previous = self.runtime.clients.by_source
            rebuilt = sorted(n for n, c in runtime.clients.by_source.items() if previous.get(n) is not c)
            retired = self.runtime.clients.retired_by(runtime.clients)
            self._swap(runtime)
        await self.gate.retire(retired)
        sdnotify.ready(f"reloaded; watching {len(cfg.sources)} source(s)")
        log.info("config_reloaded", sources=[s.name for s in cfg.sources], clients_rebuilt=rebuilt)
        return True

    def _swap(self, runtime: Runtime) -> None:
        """Put ``runtime`` in force. No await: no task sees half a configuration."""
        cfg = runtime.cfg
        self.runtime = runtime
        self.cfg, self.targets, self.renderer = cfg, runtime.targets, runtime.renderer
        self.clients = runtime.clients.by_source
        self.pipeline = Pipeline(cfg, self.store, runtime.renderer, runtime.targets.by_receiver, self.metrics)
        self.delivery.replace_targets(runtime.targets.by_name)
        self._reconcile_outbox()
        for source in cfg.sources:
            self.health.setdefault(source.name, SourceHealth())
            task = self._poll_tasks.get(source.name)
            if self._running and (task is None or task.done()):
                self._poll_tasks[source.name] = asyncio.create_task(
                    self._poll_loop(source.name), name=f"poll:{source.name}"
                )
        self.config_ok = True
        self.metrics.config_reloaded(True)

    def readiness(self) -> tuple[bool, str]:
        """Ready when the config is valid, not stopping, and every source polled well lately."""
        if self.stop_event.is_set():
            return False, "stopping"
        if not self.config_ok:
            return False, "last configuration reload was rejected"
        now = self.clock()
        for source in self.cfg.sources:
            last = self.health.get(source.name, SourceHealth()).last_success
            if last is None:
                return False, f"source {source.name}: no successful poll yet"
            if now - last > 3 * source.poll_interval:
                return False, f"source {source.name}: no successful poll since {last.isoformat()}"
        return True, "ok"


def run_daemon(
    cfg: Config, config_path: Path | None, *, once: bool = False, deliver_timeout: float = 60.0
) -> int:
    """Run the daemon (or one cycle) in a fresh event loop."""

    async def main() -> int:
        daemon = Daemon(cfg, config_path)
        return await (daemon.once(deliver_timeout) if once else daemon.run())

    try:
        return asyncio.run(main())
    except StateError as err:
        print(f"alertd: {err}", file=sys.stderr)
        return 1
