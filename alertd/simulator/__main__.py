"""``python -m alertd.simulator``: a live simulated EM to point a daemon (or curl) at."""

from __future__ import annotations

import argparse
from datetime import timedelta

from alertd.simulator import cli
from alertd.simulator.em import SimulatedEM


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = cli.parser("python -m alertd.simulator", __doc__, port=9398)
    cli.add_data_options(parser)
    parser.add_argument("--collection-interval", type=float, default=0.0, help="EM collection lag, seconds")
    parser.add_argument("--no-live", action="store_true", help="serve the history only")
    parser.add_argument("--no-bom", action="store_true", help="JSON without the UTF-8 BOM")
    cli.add_tls_options(parser, "PEM certificate (with --keyfile) to serve HTTPS")
    return parser.parse_args(argv)


async def serve(args: argparse.Namespace) -> None:
    sim = SimulatedEM(
        username=args.username, password=args.password, seed=args.seed, json_bom=not args.no_bom
    )
    sim.generate_job_runs(args.history)
    url = await sim.start(args.host, args.port, cli.server_context(args))
    if not args.no_live:
        sim.start_live(
            run_every=timedelta(seconds=args.run_every),
            collection_interval=timedelta(seconds=args.collection_interval),
        )
    await cli.serve_until_stopped(
        sim, f"Simulated Enterprise Manager at {url}/api/ (user {args.username!r}); Ctrl-C stops it."
    )


def main(argv: list[str] | None = None) -> None:
    cli.run(serve, parse_args(argv))


if __name__ == "__main__":
    main()
