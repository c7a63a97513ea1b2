"""Small formatting helpers for the Markdown report."""

from __future__ import annotations

import math
from collections.abc import Sequence


def status(ok: bool | None) -> str:
    """A goal's status cell."""
    if ok is None:
        return "not measured"
    return "met" if ok else "**not met**"


def num(value: float, digits: int = 2) -> str:
    """A number with thousands separators, or an em dash for NaN."""
    if isinstance(value, float) and math.isnan(value):
        return "—"
    return f"{value:,.{digits}f}"


def table(head: Sequence[str], rows: Sequence[Sequence[object]]) -> list[str]:
    """A Markdown table."""
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return [*lines, ""]
