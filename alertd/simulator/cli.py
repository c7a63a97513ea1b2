"""What the simulators' ``python -m`` entry points share (``alertd.simulator``, ``alertd.simulator.vbr``).

The options both take (where to listen, the account, the seed, history and pace of the data, a
certificate to serve HTTPS with), the server's TLS context from them, and serving until Ctrl-C.
Each entry point adds its own options in between and builds its own simulator.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ssl
from collections.abc import Callable, Coroutine
from typing import Any, Protocol

__all__ = ["add_data_options", "add_tls_options", "parser", "run", "serve_until_stopped", "server_context"]


class Stoppable(Protocol):
    """A running simulator."""

    async def stop(self) -> None: ...


def parser(prog: str, description: str | None, *, port: int) -> argparse.ArgumentParser:
    """A parser with where to listen (loopback, ``port``) and the account to accept."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=port)
    parser.add_argument("--username", default="CORP\\svc-alertd")
    parser.add_argument("--password", default="secret")
    return parser


def add_data_options(parser: argparse.ArgumentParser) -> None:
    """``--seed``, ``--history`` (job runs made first) and ``--run-every`` (live runs' pace)."""
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--history", type=int, default=20, help="job runs of history to create first")
    parser.add_argument("--run-every", type=float, default=30.0, help="seconds between live job runs")


def add_tls_options(parser: argparse.ArgumentParser, certfile_help: str) -> None:
    """``--certfile`` and ``--keyfile``, to serve HTTPS."""
    parser.add_argument("--certfile", help=certfile_help)
    parser.add_argument("--keyfile")


def server_context(args: argparse.Namespace) -> ssl.SSLContext | None:
    """The TLS context of ``--certfile``/``--keyfile``, or None when no certificate was given."""
    if not args.certfile:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(args.certfile, args.keyfile)
    return context


async def serve_until_stopped(sim: Stoppable, banner: str) -> None:
    """Print ``banner`` and serve until cancelled (Ctrl-C), then stop ``sim``."""
    print(banner, flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await sim.stop()


def run(serve: Callable[[argparse.Namespace], Coroutine[Any, Any, None]], args: argparse.Namespace) -> None:
    """Run ``serve(args)`` until Ctrl-C, the normal way to stop."""
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args))
