"""Bench child processes: ``python -m bench.child {storm,readdecide,sweep} ARGS.json OUT.json``.

``storm`` runs the real ``Daemon.once`` over the simulator's storm and reports its timings and
peak memory. ``readdecide`` alternates the floor (bare fetch and parse) with alertd's
``Pipeline.poll`` on a fresh state file, then profiles one of each. ``sweep`` times a catch-up
poll, a normal poll and a sweep poll (see `bench.sweep`).
"""

from __future__ import annotations

import asyncio
import cProfile
import json
import pstats
import statistics
import sys
import time
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from alertd.config import load_config
from alertd.daemon import Daemon
from alertd.em.filters import failed_since
from alertd.log import configure
from alertd.runtime import build_client, build_renderer, build_targets, client_spec
from alertd.state import SQLiteStore
from bench.floor import fetch_all
from bench.procstat import memory_mb
from bench.profiling import profiling, summarize
from bench.scenario import PASSWORD, USERNAME
from bench.sweep import sweep_child_plan
from bench.timed import TimedPipeline


async def storm(args: dict[str, Any]) -> dict[str, Any]:
    """One ``alertd once`` cycle, in-process, with a timed pipeline."""
    cfg = load_config(Path(args["config"]))
    daemon = Daemon(cfg)
    pipeline = TimedPipeline(cfg, daemon.store, daemon.renderer, daemon.targets.by_receiver, daemon.metrics)
    daemon.pipeline = pipeline
    started = time.time()
    code = await daemon.once(deliver_timeout=float(args["deliver_timeout"]))
    return {
        "exit_code": code,
        "started": started,
        "finished": time.time(),
        "polls": [s.as_dict() for s in pipeline.polls],
        "flushes": [s.as_dict() for s in pipeline.flushes],
        "memory": memory_mb(),
    }


async def _alertd_poll(config: Path, state: Path, prof: cProfile.Profile | None = None) -> dict[str, float]:
    """One ``Pipeline.poll`` on a fresh state file; only the poll itself is timed."""
    cfg = load_config(config)
    source = cfg.sources[0]
    store = SQLiteStore(state)
    pipeline = TimedPipeline(cfg, store, build_renderer(cfg), build_targets(cfg).by_receiver)
    reader = build_client(client_spec(source))
    try:
        with profiling(prof):
            await pipeline.poll(source, reader, datetime.now(UTC))
    finally:
        await reader.close()
        store.close()
    span = pipeline.polls[0]
    return {"wall": span.wall, "cpu": span.cpu, "sessions": span.count, "requests": span.requests}


async def _floor(
    em_url: str, lookback_s: float, page_size: int, prof: cProfile.Profile | None = None
) -> dict[str, float]:
    """One floor fetch, timed from logon to the last page parsed."""
    start = datetime.fromtimestamp(time.time() - lookback_s, UTC)
    filter_text = failed_since(start, ("Failed", "Warning"))
    wall, cpu = time.perf_counter(), time.process_time()
    with profiling(prof):
        found = await fetch_all(em_url, USERNAME, PASSWORD, filter_text, page_size)
    return {
        "wall": time.perf_counter() - wall,
        "cpu": time.process_time() - cpu,
        "sessions": found["sessions"],
    }


async def readdecide(args: dict[str, Any]) -> dict[str, Any]:
    """Alternate floor and alertd poll ``rounds`` times; then profile one of each."""
    config = Path(args["config"])
    em_url, lookback, page_size = args["em_url"], float(args["lookback_s"]), int(args["page_size"])
    tmp = Path(args["workdir"])
    floor_runs, poll_runs = [], []
    for i in range(int(args["rounds"])):
        floor_runs.append(await _floor(em_url, lookback, page_size))
        poll_runs.append(await _alertd_poll(config, tmp / f"round{i}.db"))
    floor_prof, poll_prof = cProfile.Profile(), cProfile.Profile()
    await _floor(em_url, lookback, page_size, floor_prof)
    await _alertd_poll(config, tmp / "profiled.db", poll_prof)

    def median(runs: list[dict[str, float]], key: str) -> float:
        return statistics.median(r[key] for r in runs)

    return {
        "floor_runs": floor_runs,
        "poll_runs": poll_runs,
        "floor": {"wall": median(floor_runs, "wall"), "cpu": median(floor_runs, "cpu")},
        "poll": {"wall": median(poll_runs, "wall"), "cpu": median(poll_runs, "cpu")},
        "floor_profile": summarize(pstats.Stats(floor_prof)),
        "poll_profile": summarize(pstats.Stats(poll_prof)),
    }


async def sweep(args: dict[str, Any]) -> dict[str, Any]:
    """Three polls on a fresh state file: catch-up, normal, and the one a sweep is due in."""
    cfg = load_config(Path(args["config"]))
    source = cfg.sources[0]
    store = SQLiteStore(Path(args["workdir"]) / "sweep.db")
    pipeline = TimedPipeline(cfg, store, build_renderer(cfg), build_targets(cfg).by_receiver)
    reader = build_client(client_spec(source))
    try:
        for now in sweep_child_plan(datetime.now(UTC), source.reconcile_every):
            await pipeline.poll(source, reader, now)
    finally:
        await reader.close()
        store.close()
    return {"polls": [s.as_dict() for s in pipeline.polls]}


MODES: dict[str, Callable[[dict[str, Any]], Coroutine[Any, Any, dict[str, Any]]]] = {
    "storm": storm,
    "readdecide": readdecide,
    "sweep": sweep,
}


def main(argv: list[str]) -> int:
    mode, args_path, out_path = argv
    args = json.loads(Path(args_path).read_text())
    # Log as the daemon does in production (info, JSON lines) into this child's log file.
    configure("info", "json")
    result = asyncio.run(MODES[mode](args))
    Path(out_path).write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
