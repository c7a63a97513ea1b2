"""The ``alertd`` command line: run, once, check-config, test-notify, preview, routes test, history, demo, healthcheck.

Configuration problems print one line per problem naming the key and exit 2, never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from alertd import __version__
from alertd.config import Config, ConfigError, config_path, load_config
from alertd.log import configure

EXIT_CONFIG = 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="alertd", description="Alerts for failed and warning Veeam backup task sessions."
    )
    parser.add_argument("--version", action="version", version=f"alertd {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    def with_config(name: str, help_text: str) -> argparse.ArgumentParser:
        cmd = sub.add_parser(name, help=help_text, description=help_text)
        cmd.add_argument("--config", "-c", help="YAML config file (default: $ALERTD_CONFIG)")
        return cmd

    with_config("run", "run in the foreground until SIGTERM/SIGINT (SIGHUP reloads)")
    once = with_config("once", "one poll and delivery cycle, groups flushed at once")
    once.add_argument(
        "--deliver-timeout", type=float, default=60.0, help="seconds to keep retrying deliveries"
    )
    check = with_config("check-config", "validate the configuration and print every problem")
    check.add_argument(
        "--probe", action="store_true", help="also log on to each source and check its endpoints"
    )
    notify = with_config("test-notify", "send a test message to every URL of a receiver")
    notify.add_argument("receiver")
    routes = sub.add_parser("routes", help="routing tools")
    routes_sub = routes.add_subparsers(dest="routes_command", metavar="SUBCOMMAND")
    rtest = routes_sub.add_parser("test", help="print the receivers an alert with these labels reaches")
    rtest.add_argument("--config", "-c")
    rtest.add_argument("labels", nargs="*", metavar="LABEL=VALUE")
    silence = sub.add_parser("silence", help="add, list and expire silences (applied by the running daemon)")
    silence_sub = silence.add_subparsers(dest="silence_command", metavar="SUBCOMMAND")
    s_add = silence_sub.add_parser("add", help="silence alerts matching every MATCHER")
    s_add.add_argument("--config", "-c")
    s_add.add_argument("matchers", nargs="+", metavar="MATCHER", help='e.g. job_name="SQL Daily" vm=~"db.*"')
    until = s_add.add_mutually_exclusive_group(required=True)
    until.add_argument("--for", dest="duration", help="how long, e.g. 4h")
    until.add_argument(
        "--until-resolved", action="store_true", help="until the silenced VM or job next succeeds"
    )
    s_add.add_argument("--comment", default="", help="why (shown in silence list; recommended)")
    s_add.add_argument("--author", default=os.environ.get("SUDO_USER") or os.environ.get("USER") or "unknown")
    s_list = silence_sub.add_parser("list", help="active silences (--all: expired ones too)")
    s_list.add_argument("--config", "-c")
    s_list.add_argument("--all", action="store_true")
    s_expire = silence_sub.add_parser("expire", help="end a silence now")
    s_expire.add_argument("--config", "-c")
    s_expire.add_argument("id", type=int)
    preview = with_config(
        "preview", "write each target's message for a sample job run to files, without sending"
    )
    preview.add_argument("--receiver", help="only this receiver (default: all)")
    preview.add_argument(
        "--out", default="alertd-preview", help="directory to write to (default: ./alertd-preview)"
    )
    preview.add_argument(
        "--from-state", action="store_true", help="the last real job run instead of a sample"
    )
    preview.add_argument("--vms", type=int, default=5, help="VMs in the sample job run (default: 5)")
    history = with_config("history", "what was sent, where, when, after how many attempts")
    history.add_argument("--limit", type=int, default=30)
    demo = sub.add_parser(
        "demo", help="run alertd against a built-in simulator (EM, or VBR with --source vbr) and show alerts"
    )
    demo.add_argument("--for", dest="duration", type=float, default=None, help="stop after this many seconds")
    demo.add_argument(
        "--source", choices=("em", "vbr"), default="em", help="the simulator to watch (default: em)"
    )
    health = sub.add_parser("healthcheck", help="exit 0 when the local /healthz answers (for Docker)")
    health.add_argument("--url", default="http://127.0.0.1:9478/healthz")
    return parser


def _load(args: argparse.Namespace) -> tuple[Config, Path]:
    path = config_path(args.config)
    return load_config(path), path


def _print_problems(err: ConfigError) -> int:
    for problem in err.problems:
        print(problem, file=sys.stderr)
    return EXIT_CONFIG


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``alertd`` console script."""
    args = _parser().parse_args(argv)
    command = args.command
    if command is None:
        _parser().print_help()
        return EXIT_CONFIG
    try:
        if command == "healthcheck":
            from alertd.httpd import healthcheck

            return healthcheck(args.url)
        if command == "demo":
            from alertd.demo import run_demo

            configure("info", "console")
            return run_demo(args.duration, args.source)
        if command == "silence":
            return _silence(args)
        if command == "routes":
            if args.routes_command != "test":
                print("usage: alertd routes test [--config PATH] LABEL=VALUE ...", file=sys.stderr)
                return EXIT_CONFIG
            return _routes_test(args)
        cfg, path = _load(args)
        configure(cfg.log.level, cfg.log.format)
        if command == "check-config":
            return _check_config(cfg, probe=args.probe)
        if command == "test-notify":
            return _test_notify(cfg, args.receiver)
        if command == "history":
            return _history(cfg, args.limit)
        if command == "preview":
            from alertd.preview import run_preview

            return run_preview(cfg, path, args.receiver, args.out, args.from_state, args.vms)
        from alertd.daemon import run_daemon
        from alertd.runtime import validate_fully

        validate_fully(cfg)
        return run_daemon(
            cfg,
            path,
            once=command == "once",
            deliver_timeout=args.deliver_timeout if command == "once" else 0,
        )
    except ConfigError as err:
        return _print_problems(err)
    except KeyboardInterrupt:
        return 130


def _check_config(cfg: Config, *, probe: bool = False) -> int:
    from alertd.config import config_warnings
    from alertd.runtime import validate_fully

    validate_fully(cfg)
    for warning in config_warnings(cfg):
        print(f"warning: {warning}", file=sys.stderr)
    urls = sum(len(r.all_urls()) for r in cfg.receivers)
    print(
        f"configuration OK: {len(cfg.sources)} source(s), {len(cfg.receivers)} receiver(s) with {urls} URL(s), "
        f"{len(cfg.routes)} route(s)"
    )
    if probe:
        from alertd.probe import probe_sources

        return probe_sources(cfg)
    return 0


def _routes_test(args: argparse.Namespace) -> int:
    from alertd.model import MATCHER_LABELS
    from alertd.routing import compile_routes, match_routes

    cfg, _ = _load(args)
    labels: dict[str, str] = {}
    for item in args.labels:
        name, sep, value = item.partition("=")
        if not sep or name not in (*MATCHER_LABELS, "job_session"):
            print(
                f"{item}: expected LABEL=VALUE with LABEL one of {', '.join(MATCHER_LABELS)}", file=sys.stderr
            )
            return EXIT_CONFIG
        labels[name] = value
    matched = match_routes(compile_routes(cfg.routes), labels)
    if not matched:
        print("no route matches: the alert would be logged and counted as unrouted", file=sys.stderr)
        return 1
    receivers: list[str] = []
    for route in matched:
        receivers += [r for r in route.receivers if r not in receivers]
    print(",".join(receivers))
    for route in matched:
        matchers = ", ".join(str(m) for m in route.matchers) or "(catch-all)"
        print(f"  routes[{route.index}] {matchers} -> {', '.join(route.receivers)}", file=sys.stderr)
    return 0


def _test_notify(cfg: Config, receiver: str) -> int:
    from alertd.runtime import build_renderer, build_targets

    if receiver not in {r.name for r in cfg.receivers}:
        names = ", ".join(r.name for r in cfg.receivers)
        print(f"receiver {receiver!r} is not configured (configured: {names})", file=sys.stderr)
        return EXIT_CONFIG
    targets = build_targets(cfg)
    renderer = build_renderer(cfg)

    async def send_all() -> bool:
        all_ok = True
        for info in targets.by_receiver[receiver]:
            target = targets.by_name[info.name]
            outcome = await target.send(
                renderer.render_test(receiver, info.channel),
                timeout=cfg.delivery.send_timeout.total_seconds(),
            )
            status = "ok" if outcome.ok else f"FAILED: {outcome.detail}"
            print(f"{target.name} {target.privacy_url}: {status}")
            all_ok = all_ok and outcome.ok
        return all_ok

    return 0 if asyncio.run(send_all()) else 1


def _silence(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    from alertd.durations import DurationError, parse_duration
    from alertd.matchers import MatcherError, parse_matcher
    from alertd.model import MATCHER_LABELS
    from alertd.runtime import state_path
    from alertd.silences import resolving_matchers, silence_end_text
    from alertd.state import SQLiteStore

    if args.silence_command not in ("add", "list", "expire"):
        print("usage: alertd silence {add,list,expire} ...", file=sys.stderr)
        return EXIT_CONFIG
    cfg, _ = _load(args)
    now = datetime.now(UTC)
    store = SQLiteStore(state_path(cfg))
    try:
        if args.silence_command == "add":
            try:
                parsed = [parse_matcher(m, MATCHER_LABELS) for m in args.matchers]
                ends_at = None if args.until_resolved else now + parse_duration(args.duration)
            except (MatcherError, DurationError) as err:
                print(f"silence: {err}", file=sys.stderr)
                return EXIT_CONFIG
            if args.until_resolved and not resolving_matchers(parsed):
                print(
                    "silence: --until-resolved needs an equality matcher on job_name or vm "
                    '(e.g. vm="dbserver01"): it ends when that job or VM next succeeds, and nothing '
                    "else can resolve it; use --for DURATION instead",
                    file=sys.stderr,
                )
                return EXIT_CONFIG
            matchers = [str(m) for m in parsed]
            silence_id = store.add_silence(
                matchers,
                comment=args.comment,
                created_by=args.author,
                now=now,
                ends_at=ends_at,
                until_resolved=args.until_resolved,
            )
            until_text = (
                f"until {silence_end_text(matchers)}"
                if ends_at is None
                else f"until {ends_at:%Y-%m-%d %H:%M} UTC"
            )
            print(f"silence {silence_id} added {until_text}: {' '.join(matchers)}")
            return 0
        if args.silence_command == "expire":
            if store.expire_silence(args.id, now, f"expired by {os.environ.get('USER', 'cli')}"):
                print(f"silence {args.id} expired")
                return 0
            print(f"no active silence with id {args.id}", file=sys.stderr)
            return 1
        shown = [s for s in store.silences() if args.all or s.active(now)]
        if not shown:
            print("no active silences" if not args.all else "no silences")
        for s in shown:
            if s.expired_at is not None:
                state = f"expired {s.expired_at:%Y-%m-%d %H:%M} ({s.expired_reason})"
            elif s.ends_at is not None and s.ends_at <= now:
                state = f"ended {s.ends_at:%Y-%m-%d %H:%M}"
            elif s.ends_at is None:
                state = f"active until {silence_end_text(s.matchers)}"
            else:
                state = f"active until {s.ends_at:%Y-%m-%d %H:%M} UTC"
            print(f"{s.id}\t{state}\t{' '.join(s.matchers)}\t{s.created_by}: {s.comment or '(no comment)'}")
        return 0
    finally:
        store.close()


def _history(cfg: Config, limit: int) -> int:
    from alertd.runtime import build_targets, state_path
    from alertd.state import SQLiteStore

    label: Callable[[str], str] = str  # a broken receiver URL must not hide the history
    with contextlib.suppress(ConfigError):
        label = build_targets(cfg).label

    store = SQLiteStore(state_path(cfg))
    try:
        rows = store.history(limit)
    finally:
        store.close()
    if not rows:
        print("nothing sent yet")
        return 0
    for row in rows:
        error = f"  error: {row['error']}" if row["error"] else ""
        print(
            f"{row['created_at']}  #{row['message']} {row['receiver']} -> {label(row['target'])}: {row['status']} "
            f"after {row['attempts']} attempt(s)  {row['title']}{error}"
        )
    return 0
