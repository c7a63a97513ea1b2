"""cProfile summaries: own time per area (XML parsing, decoding, SQLite, ...) and the top functions."""

from __future__ import annotations

import cProfile
import pstats
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

_REPO = str(Path(__file__).resolve().parent.parent) + "/"

_Key = tuple[str, int, str]
_Row = tuple[int, int, float, float, dict[_Key, tuple[int, int, float, float]]]

# First match wins; patterns are tried against "<file>:<function>" of each profiled function.
_AREAS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("XML parsing (expat, ElementTree, defusedxml)", ("pyexpat", "xml/etree", "defusedxml", "xmlparser")),
    (
        "alertd.em._wire: XML elements to field dicts",
        ("alertd/em/_wire.py", "alertd/em/_xml_stream.py", "alertd/em/_raw.py"),
    ),
    ("alertd.em.decode: fields to TaskSession", ("alertd/em/decode.py",)),
    ("alertd.em client and transport", ("alertd/em/", "alertd/wire.py")),
    ("SQLite (alertd.state + sqlite3)", ("alertd/state/", "sqlite3")),
    ("JSON, dataclass copies (json, dataclasses, copy)", ("json/", "dataclasses.py", "_json", "/copy.py")),
    ("routing and matchers", ("alertd/routing.py", "alertd/matchers.py")),
    ("decide, incidents, polling", ("alertd/decide.py", "alertd/incidents.py", "alertd/polling.py")),
    (
        "pipeline, reading, window, model",
        ("alertd/pipeline.py", "alertd/reading.py", "alertd/window.py", "alertd/model.py", "alertd/watch.py"),
    ),
    ("logging (structlog)", ("structlog", "logging/")),
    ("regex and datetime", ("'re.pattern'", "re/", "datetime", "_strptime")),
    (
        "HTTP and event loop (aiohttp, yarl, asyncio)",
        ("aiohttp", "yarl", "multidict", "asyncio", "selectors", "socket"),
    ),
    ("floor: elements to dicts", ("bench/floor.py",)),
)


def area_of(filename: str, function: str) -> str:
    """The area a profiled function belongs to."""
    where = f"{filename}:{function}".lower()
    for area, patterns in _AREAS:
        if any(p in where for p in patterns):
            return area
    return "other"


def _short(filename: str, line: int, function: str) -> str:
    if filename == "~":
        return function
    tail = filename.split("site-packages/")[-1].removeprefix(_REPO)
    if "/lib/python3" in tail:
        tail = tail.split("/lib/python3", 1)[1].partition("/")[2]
    return f"{tail}:{line} {function}"


@contextmanager
def profiling(prof: cProfile.Profile | None) -> Iterator[None]:
    """Enable ``prof`` (when given) for the block; everything the event loop runs meanwhile counts."""
    if prof is None:
        yield
        return
    prof.enable()
    try:
        yield
    finally:
        prof.disable()


def _areas(raw: dict[_Key, _Row]) -> dict[str, float]:
    """Own time per area; a builtin's own time goes to its callers' areas, in proportion."""
    areas: dict[str, float] = {}
    for (filename, _, function), (_, _, own, _, callers) in raw.items():
        if filename == "~" and callers and area_of(filename, function) == "other":
            weight = sum(c[2] for c in callers.values()) or float(len(callers))
            for (cfile, _, cfunc), cstats in callers.items():
                share = (cstats[2] / weight) if weight else 1 / len(callers)
                area = area_of(cfile, cfunc)
                areas[area] = areas.get(area, 0.0) + own * share
        else:
            area = area_of(filename, function)
            areas[area] = areas.get(area, 0.0) + own
    return areas


def summarize(stats: pstats.Stats, top: int = 12) -> dict[str, Any]:
    """Own time per area and the ``top`` functions by own time, in seconds (under the profiler)."""
    raw: dict[_Key, _Row] = stats.stats  # type: ignore[attr-defined]
    rows = sorted(
        ((own, cum, calls, _short(f, line, fn)) for (f, line, fn), (_, calls, own, cum, _) in raw.items()),
        reverse=True,
    )
    areas = _areas(raw)
    ours = sorted(
        (
            (cum, own, calls, _short(f, line, fn))
            for (f, line, fn), (_, calls, own, cum, _) in raw.items()
            if "alertd/" in f
        ),
        reverse=True,
    )
    return {
        "alertd": [
            {"function": name, "own": own, "cumulative": cum, "calls": calls}
            for cum, own, calls, name in ours[:top]
        ],
        "total": sum(areas.values()),
        "areas": sorted(areas.items(), key=lambda kv: -kv[1]),
        "top": [
            {"function": name, "own": own, "cumulative": cum, "calls": calls}
            for own, cum, calls, name in rows[:top]
        ],
    }
