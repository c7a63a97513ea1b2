"""``make bench`` / ``python -m bench.run``: run every benchmark and write ``bench/results.md``.

    python -m bench.run                 # full run (about 10 minutes on 2 cores)
    python -m bench.run --quick         # smoke run, everything scaled down (under a minute); its report
                                        # goes to the work directory unless --out says otherwise
    python -m bench.run --only storm,idle --out /tmp/r.md
    python -m bench.run --state-budget 0   # let state growth run to 1,000,000 UIDs, however long

Goals are reported as met or not met; the exit status is 0 unless a benchmark crashed.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from alertd.log import configure
from bench.idle import run_idle
from bench.latency import run_latency
from bench.machine import machine_info
from bench.report import Results, write_report
from bench.scenario import FULL, QUICK, Sizes
from bench.state import run_state
from bench.storm import run_storm
from bench.sweep import run_sweep

REPO = Path(__file__).resolve().parent.parent
NAMES = ("storm", "sweep", "idle", "latency", "state")


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="scale every benchmark down (smoke run)")
    parser.add_argument(
        "--out",
        type=Path,
        help="Markdown report path (default: bench/results.md; with --quick: in the work dir)",
    )
    parser.add_argument(
        "--only", default=",".join(NAMES), help=f"comma-separated subset of {','.join(NAMES)}"
    )
    parser.add_argument(
        "--workdir", type=Path, help="where state files and logs go (default: a new temp dir)"
    )
    parser.add_argument(
        "--state-budget", type=float, help="seconds state growth may take before it stops early (0: no limit)"
    )
    return parser.parse_args(argv)


def _runners(sizes: Sizes, work: Path, state_budget: float | None) -> dict[str, Callable[[], Any]]:
    return {
        "storm": lambda: asyncio.run(run_storm(sizes, work / "storm")),
        "sweep": lambda: asyncio.run(run_sweep(sizes, work / "sweep")),
        "idle": lambda: asyncio.run(run_idle(sizes, work / "idle")),
        "latency": lambda: asyncio.run(run_latency(sizes, work / "latency")),
        "state": lambda: run_state(sizes, work / "state", state_budget),
    }


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    sizes = QUICK if args.quick else FULL
    chosen = [n.strip() for n in args.only.split(",") if n.strip()]
    unknown = set(chosen) - set(NAMES)
    if unknown:
        print(
            f"unknown benchmark(s): {', '.join(sorted(unknown))}; choose from {', '.join(NAMES)}",
            file=sys.stderr,
        )
        return 2
    budget = sizes.state_budget_s if args.state_budget is None else (args.state_budget or None)
    work = args.workdir or Path(tempfile.mkdtemp(prefix="alertd-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    out: Path = args.out or (work / "results.md" if args.quick else REPO / "bench" / "results.md")
    # alertd's own log lines (the state benchmark runs its pipeline in this process) go to a file.
    log = (work / "bench.log").open("a")
    configure("info", "json", stream=log)
    command = "python -m bench.run" + (" --quick" if args.quick else "")
    results = Results(command=command, quick=args.quick, sizes=sizes, machine=machine_info(REPO))
    results.machine["Load average at start"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"alertd bench ({'quick' if args.quick else 'full'}); work files in {work}", flush=True)
    began = time.perf_counter()
    runners = _runners(sizes, work, budget)
    for name in NAMES:
        if name not in chosen:
            continue
        print(f"  {name} ...", end=" ", flush=True)
        started = time.perf_counter()
        try:
            value = runners[name]()
            setattr(results, name, value)
            (work / f"{name}.json").write_text(json.dumps(dataclasses.asdict(value), indent=1, default=str))
            print(f"{time.perf_counter() - started:.0f} s", flush=True)
        except Exception:
            results.errors[name] = traceback.format_exc()
            print(f"FAILED after {time.perf_counter() - started:.0f} s (see {out})", flush=True)
    results.total_seconds = time.perf_counter() - began
    results.machine["Load average at end"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    write_report(results, out)
    log.close()
    print(f"wrote {out} in {results.total_seconds:.0f} s", flush=True)
    return 1 if results.errors else 0


if __name__ == "__main__":
    sys.exit(main())
