"""``python -m alertd.simulator.vbr``: a live simulated VBR REST API to point alertd (or curl) at."""

from __future__ import annotations

import argparse
from datetime import timedelta

from alertd.simulator import cli
from alertd.simulator.vbr.profiles import PROFILES
from alertd.simulator.vbr.server import SimulatedVBR
from alertd.simulator.vbr.settings import VBRSettings


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = cli.parser("python -m alertd.simulator.vbr", __doc__, port=9419)
    parser.add_argument("--profile", default="13.1", choices=sorted(PROFILES), help="VBR build to simulate")
    cli.add_data_options(parser)
    parser.add_argument("--no-live", action="store_true", help="serve the history only")
    cli.add_tls_options(
        parser, "PEM certificate (with --keyfile); default: a fresh self-signed one, as VBR has"
    )
    return parser.parse_args(argv)


async def serve(args: argparse.Namespace) -> None:
    sim = SimulatedVBR(
        username=args.username,
        password=args.password,
        seed=args.seed,
        settings=VBRSettings(profile=args.profile),
    )
    sim.generate_job_runs(args.history)
    url = await sim.start(args.host, args.port, cli.server_context(args))
    if not args.no_live:
        sim.start_live(timedelta(seconds=args.run_every))
    await cli.serve_until_stopped(
        sim, f"Simulated VBR {args.profile} REST API at {url} (user {args.username!r}); Ctrl-C stops it."
    )


def main(argv: list[str] | None = None) -> None:
    cli.run(serve, parse_args(argv))


if __name__ == "__main__":
    main()
