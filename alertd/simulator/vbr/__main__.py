"""``python -m alertd.simulator.vbr``: a live simulated VBR REST API to point alertd (or curl) at."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ssl
from datetime import timedelta

from alertd.simulator.vbr.profiles import PROFILES
from alertd.simulator.vbr.server import SimulatedVBR
from alertd.simulator.vbr.settings import VBRSettings


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m alertd.simulator.vbr", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9419)
    parser.add_argument("--username", default="CORP\\svc-alertd")
    parser.add_argument("--password", default="secret")
    parser.add_argument("--profile", default="13.1", choices=sorted(PROFILES), help="VBR build to simulate")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--history", type=int, default=20, help="job runs of history to create first")
    parser.add_argument("--run-every", type=float, default=30.0, help="seconds between live job runs")
    parser.add_argument("--no-live", action="store_true", help="serve the history only")
    parser.add_argument(
        "--certfile", help="PEM certificate (with --keyfile); default: a fresh self-signed one, as VBR has"
    )
    parser.add_argument("--keyfile")
    return parser.parse_args(argv)


async def serve(args: argparse.Namespace) -> None:
    sim = SimulatedVBR(
        username=args.username,
        password=args.password,
        seed=args.seed,
        settings=VBRSettings(profile=args.profile),
    )
    sim.generate_job_runs(args.history)
    context = None
    if args.certfile:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(args.certfile, args.keyfile)
    url = await sim.start(args.host, args.port, context)
    if not args.no_live:
        sim.start_live(timedelta(seconds=args.run_every))
    print(
        f"Simulated VBR {args.profile} REST API at {url} (user {args.username!r}); Ctrl-C stops it.",
        flush=True,
    )
    try:
        await asyncio.Event().wait()
    finally:
        await sim.stop()


def main(argv: list[str] | None = None) -> None:
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C is the normal way to stop
        asyncio.run(serve(parse_args(argv)))


if __name__ == "__main__":
    main()
