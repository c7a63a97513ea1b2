"""Report sections for the storm, floor, idle and latency benchmarks, and the summary rows."""

from __future__ import annotations

from typing import Any

from bench.fmt import num, status, table
from bench.idle import IdleResult
from bench.latency import LatencyResult
from bench.requests import describe
from bench.state import StateResult
from bench.state_report import state_section, state_summary
from bench.storm import StormResult
from bench.sweep import SweepResult

FLOOR_GOAL = 1.5
IDLE_CPU_GOAL = 2.0
#: Issue 12's bar (it was 80 MB before).
IDLE_RSS_GOAL = 70.0
#: Issue 12: the storm, first poll to last delivery, no slower than before the restructuring.
STORM_GOAL_S = 7.5

__all__ = [
    "idle_section",
    "latency_section",
    "state_section",
    "storm_section",
    "summary_rows",
    "sweep_section",
]


def exit_text(code: int | None) -> str:
    """An ``alertd run`` exit status after SIGTERM."""
    return "no exit within 30 s of SIGTERM (killed)" if code is None else f"exit {code}"


def floor_ratio(s: StormResult, key: str = "wall") -> float:
    """alertd's read-and-decide time over the floor's (medians)."""
    floor = s.readdecide.get("floor", {}).get(key, 0.0)
    return s.readdecide.get("poll", {}).get(key, 0.0) / floor if floor else float("nan")


def _complete(s: StormResult) -> bool:
    return s.vms_delivered == s.sessions and s.messages == s.runs


def summary_rows(
    storm: StormResult | None,
    idle: IdleResult | None,
    lat: LatencyResult | None,
    state: StateResult | None,
    sweep: SweepResult | None = None,
) -> list[tuple[str, str, str, str]]:
    """(benchmark, figure, goal, status) for the summary table."""
    rows = []
    if storm is not None:
        rows.append(
            (
                "Storm",
                f"{storm.sessions:,} failures -> {storm.messages} messages in {num(storm.first_poll_to_last_delivery)} s, "
                f"{storm.em_requests} EM requests, peak RSS {num(storm.peak_rss_mb, 0)} MB",
                f"every failure delivered, one message per job run; ≤ {STORM_GOAL_S} s",
                status(_complete(storm) and storm.first_poll_to_last_delivery <= STORM_GOAL_S),
            )
        )
        ratio = floor_ratio(storm)
        rows.append(
            (
                "Floor",
                f"read-and-decide / floor = {num(ratio)} (CPU {num(floor_ratio(storm, 'cpu'))})",
                f"≤ {FLOOR_GOAL}",
                status(ratio <= FLOOR_GOAL),
            )
        )
        if storm.vbr is not None:
            v = storm.vbr
            rows.append(
                (
                    "VBR storm",
                    f"{v.sessions:,} failures -> {v.messages} messages in {num(v.first_poll_to_last_delivery)} s, "
                    f"{v.em_requests} VBR requests, peak RSS {num(v.peak_rss_mb, 0)} MB",
                    "every failure delivered, one message per job run",
                    status(_complete(v)),
                )
            )
    if sweep is not None:
        rows += _sweep_summary(sweep)
    if idle is not None:
        rows.append(
            (
                "Idle",
                f"{num(idle.requests_per_poll, 1)} EM requests per poll ({describe(idle.requests_by_purpose)} "
                f"in {idle.polls} polls)",
                "",
                "",
            )
        )
        rows.append(
            (
                "Idle",
                f"{num(idle.cpu_percent)} % of one core",
                f"< {IDLE_CPU_GOAL} %",
                status(idle.cpu_percent < IDLE_CPU_GOAL),
            )
        )
        rows.append(
            (
                "Idle",
                f"RSS {num(idle.rss_mb, 1)} MB (peak {num(idle.hwm_mb, 1)} MB)",
                f"< {IDLE_RSS_GOAL:.0f} MB",
                status(idle.rss_mb < IDLE_RSS_GOAL),
            )
        )
    if lat is not None:
        p50, p99 = lat.percentile(50), lat.percentile(99)
        complete = len(lat.latencies) == lat.injected
        rows.append(
            (
                "Latency",
                f"p50 {num(p50)} s, p99 {num(p99)} s ({len(lat.latencies)}/{lat.injected} delivered)",
                f"≤ {num(lat.goal_s, 0)} s (poll + group_wait + 1 s)",
                status(complete and p99 <= lat.goal_s),
            )
        )
    stops = [(n, r.exit_code) for n, r in (("idle", idle), ("latency", lat)) if r is not None]
    if stops:
        rows.append(
            (
                "Shutdown",
                "; ".join(f"{n}: {exit_text(c)}" for n, c in stops),
                "exit 0 within 30 s of SIGTERM",
                status(all(c == 0 for _, c in stops)),
            )
        )
    if state is not None:
        rows += state_summary(state)
    return rows


def storm_section(s: StormResult) -> list[str]:
    """Storm figures and the floor comparison with its profile."""
    per_msg = 1000 * s.deliver_wall / s.messages if s.messages else float("nan")
    lines = [
        "## Storm",
        "",
        f"{s.sessions:,} Failed task sessions in {s.runs} job runs ({s.sessions // max(s.runs, 1)} VMs each), "
        f"`page_size` {s.page_size}, read by one `Daemon.once` cycle (the real daemon in a child process; "
        "`group_wait` 0, `delivery.min_interval` 0).",
        "",
    ]
    lines += table(
        ["Figure", "Value"],
        [
            ("First poll to last delivery", f"{num(s.first_poll_to_last_delivery)} s"),
            (
                "... poll: read every page, dedup, decide, route, store",
                f"{num(s.poll_wall)} s (CPU {num(s.poll_cpu)} s)",
            ),
            ("... flush: group, render, write the outbox", f"{num(s.flush_wall)} s"),
            ("... delivery of all messages", f"{num(s.deliver_wall)} s ({num(per_msg, 1)} ms per message)"),
            ("EM requests", f"{s.em_requests}: {describe(s.requests_by_purpose)}"),
            ("Messages received by the webhook", f"{s.messages}"),
            ("Distinct failed VMs named in them", f"{s.vms_delivered:,} of {s.sessions:,}"),
            ("Peak RSS of the alertd process (VmHWM)", f"{num(s.peak_rss_mb, 1)} MB"),
            ("... cross-check: `ru_maxrss` of the bench's children", f"{num(s.rusage_maxrss_mb, 1)} MB"),
            ("`alertd once` exit code", f"{s.exit_code}"),
        ],
    )
    lines += [
        "All messages go to one target, and alertd keeps one send in flight per target, so the "
        f"{s.messages} messages leave one after another: delivery time grows linearly with the number of job runs.",
        "",
    ]
    if s.vbr is not None:
        lines += _vbr_storm(s, s.vbr)
    return lines + _floor(s)


def _vbr_storm(em: StormResult, v: StormResult) -> list[str]:
    """The VBR storm next to the EM one."""
    per_msg = [1000 * r.deliver_wall / r.messages if r.messages else float("nan") for r in (em, v)]
    lines = [
        "### The same storm from a VBR source",
        "",
        f"{v.sessions:,} failed task sessions in {v.runs} job sessions served by the VBR simulator (REST API "
        "revision of the 13.1 profile, HTTPS, OAuth2, `skip`/`limit` paging) to a `kind: vbr` source, "
        "`page_size` {v.page_size}; same child process, same webhook.".replace(
            "{v.page_size}", str(v.page_size)
        ),
        "",
    ]
    lines += table(
        ["Figure", "EM", "VBR"],
        [
            (
                "First poll to last delivery",
                f"{num(em.first_poll_to_last_delivery)} s",
                f"{num(v.first_poll_to_last_delivery)} s",
            ),
            (
                "... poll (wall / CPU)",
                f"{num(em.poll_wall)} / {num(em.poll_cpu)} s",
                f"{num(v.poll_wall)} / {num(v.poll_cpu)} s",
            ),
            ("... flush", f"{num(em.flush_wall)} s", f"{num(v.flush_wall)} s"),
            (
                "... delivery",
                f"{num(em.deliver_wall)} s ({num(per_msg[0], 1)} ms per message)",
                f"{num(v.deliver_wall)} s ({num(per_msg[1], 1)} ms per message)",
            ),
            ("Requests", f"{em.em_requests}", f"{v.em_requests}"),
            ("... by purpose", describe(em.requests_by_purpose), describe(v.requests_by_purpose)),
            (
                "Messages / VMs named",
                f"{em.messages} / {em.vms_delivered:,}",
                f"{v.messages} / {v.vms_delivered:,}",
            ),
            ("Peak RSS (VmHWM)", f"{num(em.peak_rss_mb, 1)} MB", f"{num(v.peak_rss_mb, 1)} MB"),
            ("Exit code", f"{em.exit_code}", f"{v.exit_code}"),
        ],
    )
    return lines


def _sweep_summary(sw: SweepResult) -> list[tuple[str, str, str, str]]:
    rows = []
    normal, swept = sw.poll("normal poll"), sw.poll("sweep poll")
    if normal is not None:
        rows.append(
            (
                "Requests",
                f"{normal.requests} EM requests per poll in steady state after {sw.sessions:,} failures "
                f"({describe(normal.by_purpose)})",
                "",
                "",
            )
        )
    if swept is not None and normal is not None:
        rows.append(
            (
                "Sweep",
                f"one sweep over 24 h ({sw.sessions:,} failures): {swept.pages} pages, {swept.requests} requests, "
                f"{num(swept.wall)} s (a normal poll: {normal.pages} pages, {normal.requests} requests, {num(normal.wall)} s)",
                "",
                "",
            )
        )
    return rows


def sweep_section(sw: SweepResult) -> list[str]:
    """The reconciliation sweep's cost next to a normal poll."""
    lines = [
        "## Reconciliation sweep",
        "",
        f"{sw.sessions:,} Failed task sessions in {sw.runs} job runs, their ends spread over the last 23.5 h "
        f"(`page_size` {sw.page_size}; defaults `overlap` 30m, `reconcile_every` 15m, `reconcile_window` 24h). "
        "One process polls a fresh state file three times: a first poll looking back 25 h, a normal poll a second "
        "later, and a poll `reconcile_every` later on alertd's clock, when the sweep is due (it re-reads the whole "
        "24 h instead of the overlap; every UID is known already, so nothing is alerted). After the first poll every "
        "failed VM has an open incident, so each later poll also asks for the successes of every job with one: "
        "that is the steady state after a storm.",
        "",
    ]
    lines += table(
        [
            "Poll",
            "wall s",
            "CPU s",
            "new alerts",
            "EM requests",
            "failure-query pages",
            "requests by purpose",
        ],
        [
            (p.name, num(p.wall), num(p.cpu), f"{p.new:,}", p.requests, p.pages, describe(p.by_purpose))
            for p in sw.polls
        ],
    )
    normal, swept = sw.poll("normal poll"), sw.poll("sweep poll")
    if normal is not None and swept is not None:
        lines += [
            f"One sweep costs {swept.pages - normal.pages} more pages ({swept.requests - normal.requests} more requests) "
            f"and {num(swept.wall - normal.wall)} s more than a normal poll: pages = failures in the window / "
            f"`page_size`, one query per sweep, every `reconcile_every`.",
            "",
        ]
    return lines


def _floor(s: StormResult) -> list[str]:
    rd = s.readdecide
    ratio, cpu_ratio = floor_ratio(s), floor_ratio(s, "cpu")
    runs = zip(rd.get("floor_runs", []), rd.get("poll_runs", []), strict=False)
    lines = [
        "## Read-and-decide vs the floor",
        "",
        "The floor logs on, GETs every page of the same query (same filter, sort and page size) and parses",
        "each body with defusedxml's ElementTree into one dict per session; nothing else. alertd's figure is",
        "`Pipeline.poll` over the same window on a fresh state file (read, decode, dedup, incidents, decide,",
        "route, record in SQLite; no delivery). They alternate in one child process; medians are compared.",
        "The simulator answers from the parent process, so both include the same server time.",
        "",
    ]
    lines += table(
        ["Round", "Floor wall s", "Floor CPU s", "alertd wall s", "alertd CPU s"],
        [
            (i + 1, num(f["wall"], 3), num(f["cpu"], 3), num(p["wall"], 3), num(p["cpu"], 3))
            for i, (f, p) in enumerate(runs)
        ],
    )
    lines += [
        f"**Ratio (wall) {num(ratio)}**, goal ≤ {FLOOR_GOAL}: {status(ratio <= FLOOR_GOAL)}. "
        f"Ratio of CPU time (excludes waiting for the simulator): {num(cpu_ratio)}.",
        "",
    ]
    return lines + _profile(rd)


def _profile(rd: dict[str, Any]) -> list[str]:
    poll, floor = rd.get("poll_profile"), rd.get("floor_profile")
    if not poll or not floor:
        return []
    floor_areas = dict(floor["areas"])
    extra = sorted(((a, t - floor_areas.get(a, 0.0)) for a, t in poll["areas"]), key=lambda kv: -kv[1])
    excess = sum(d for _, d in extra if d > 0) or 1.0
    lines = [
        "### Where alertd's time goes (cProfile, one run each)",
        "",
        "Own time per area, under the profiler (which inflates Python-heavy code); builtins are charged",
        'to their callers\' areas. "Extra" is alertd minus floor.',
        "",
    ]
    lines += table(
        ["Area", "alertd s", "floor s", "extra s", "share of extra"],
        [
            (
                a,
                num(dict(poll["areas"])[a], 3),
                num(floor_areas.get(a, 0.0), 3),
                num(d, 3),
                f"{100 * max(d, 0) / excess:.0f} %",
            )
            for a, d in extra
            if abs(d) >= 0.0005
        ],
    )
    biggest = [f"{a} ({100 * d / excess:.0f} %)" for a, d in extra[:3] if d > 0]
    lines += [f"Most of the extra goes to: {'; '.join(biggest)}.", ""]
    lines += ["alertd's own functions by cumulative time (what calls the expensive parts):", ""]
    lines += table(
        ["Function", "cumulative s", "own s", "calls"],
        [
            (f"`{t['function']}`", num(t["cumulative"], 3), num(t["own"], 3), f"{t['calls']:,}")
            for t in poll.get("alertd", [])
        ],
    )
    lines += ["Top functions of alertd's poll by own time:", ""]
    lines += table(
        ["Function", "own s", "cumulative s", "calls"],
        [
            (f"`{t['function']}`", num(t["own"], 3), num(t["cumulative"], 3), f"{t['calls']:,}")
            for t in poll["top"]
        ],
    )
    return lines


def idle_section(i: IdleResult) -> list[str]:
    """Idle CPU and memory."""
    lines = [
        "## Idle",
        "",
        f"`alertd run` (child process, HTTP endpoints on, `poll_interval` 1s) after alerting one job run of "
        f"{i.sessions_per_poll} failures; then {num(i.seconds, 0)} s with nothing new. Each poll re-reads the "
        "overlap window, and open incidents add a success query per job.",
        "",
    ]
    lines += table(
        ["Figure", "Value", "Goal", "Status"],
        [
            ("Measured window", f"{num(i.seconds, 1)} s", "", ""),
            ("Polls / EM requests in the window", f"{i.polls} / {i.em_requests}", "", ""),
            (
                "EM requests per poll",
                f"{num(i.requests_per_poll, 1)} ({describe(i.requests_by_purpose)})",
                "",
                "",
            ),
            (
                "CPU used (utime + stime)",
                f"{num(i.cpu_seconds, 2)} s = {num(i.cpu_percent)} % of one core",
                f"< {IDLE_CPU_GOAL} %",
                status(i.cpu_percent < IDLE_CPU_GOAL),
            ),
            (
                "RSS at the end (VmRSS)",
                f"{num(i.rss_mb, 1)} MB",
                f"< {IDLE_RSS_GOAL:.0f} MB",
                status(i.rss_mb < IDLE_RSS_GOAL),
            ),
            ("Peak RSS (VmHWM)", f"{num(i.hwm_mb, 1)} MB", "", ""),
            (
                "... of which private (RssAnon) / mapped files (RssFile)",
                f"{num(i.anon_mb, 1)} / {num(i.file_mb, 1)} MB",
                "",
                "",
            ),
            ("CPU used by start-up and the first alert", f"{num(i.startup_cpu_seconds, 2)} s", "", ""),
            ("After SIGTERM", exit_text(i.exit_code), "exit 0", status(i.exit_code == 0)),
        ],
    )
    if i.imports:
        total = sum(mb for _, mb in i.imports)
        lines += [
            "Where the resident memory comes from: RSS added by importing each dependency in turn in a",
            "fresh interpreter (no work done):",
            "",
        ]
        lines += table(
            ["Import step", "RSS added MB"],
            [
                *((step, num(mb, 1)) for step, mb in i.imports),
                ("**total after imports**", f"**{num(total, 1)}**"),
            ],
        )
    return lines


def latency_section(lat: LatencyResult) -> list[str]:
    """Failure-to-delivery latency."""
    lines = [
        "## Latency",
        "",
        f"`alertd run` (child process) with `poll_interval` 1s, `group_wait` 1s, `delivery.min_interval` 0. "
        f"{lat.injected} failures were added to the simulator at random moments (exponential gaps) into 4 "
        "concurrent job runs; latency is from adding a failure to the webhook receiving the first message naming its VM.",
        "",
    ]
    complete = len(lat.latencies) == lat.injected
    lines += table(
        ["Figure", "Value"],
        [
            ("Failures injected / delivered", f"{lat.injected} / {len(lat.latencies)}"),
            ("Messages received", f"{lat.messages}"),
            ("p50", f"{num(lat.percentile(50))} s"),
            ("p90", f"{num(lat.percentile(90))} s"),
            ("p99", f"{num(lat.percentile(99))} s"),
            ("max", f"{num(max(lat.latencies, default=float('nan')))} s"),
            ("mean", f"{num(lat.mean)} s"),
            (
                "Goal (p99 ≤ poll_interval + group_wait + 1 s)",
                f"≤ {num(lat.goal_s, 0)} s: {status(complete and lat.percentile(99) <= lat.goal_s)}",
            ),
            ("After SIGTERM", exit_text(lat.exit_code)),
        ],
    )
    lines += [
        "Expected: a failure waits up to one poll interval to be read, then `group_wait` from the poll that",
        "read it, then the flush and one send.",
        "",
    ]
    return lines
