"""Normalised reasons: Veeam's failure texts with their per-VM parts folded, so alike failures count together.

"Error: There is not enough space on the disk. Failed to write \\\\nas01\\backups\\sql001.vbk" and the
same error for ``sql002`` are one reason. Folded: the VM's own name, GUIDs, Windows and Unix
paths, URLs, quoted names, hex and decimal numbers (sizes, ports, percentages, times). The folded text, with "…" in
place of what was folded, is what "Top reasons" shows and what the email groups its rows by.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from alertd.render.text import clean, one_line

#: How many reasons "Top reasons" names.
TOP_REASONS = 3

_FOLD = "…"
_PATTERNS = (
    re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b", re.I),  # GUID
    re.compile(r"\b[a-z][a-z0-9+.\-]*://\S+", re.I),  # URL
    re.compile(r"(?:\\\\|\b[a-z]:\\)[^\s'\"]*", re.I),  # UNC or drive path
    re.compile(
        r"(?<![^\s'\"])[^\s'\"\\]*+\\[^\s'\"]*"
    ),  # the rest of a Windows path after a space ("SQL Daily\\vm.vbk")
    re.compile(r"(?<![\w.])/(?:[^\s/'\"]+/)+[^\s'\"]*"),  # Unix path (two segments or more)
    re.compile(r"'[^'\n]{1,200}'|\"[^\"\n]{1,200}\"|\[[^\]\n]{1,200}\]|<[^>\n]{1,200}>"),  # quoted
    re.compile(r"\b0x[0-9a-f]+\b", re.I),  # hex
    re.compile(r"(?<![A-Za-z])\d+(?:[.,:]\d+)*"),  # numbers, versions, times, IPs
)
_RUNS = re.compile(rf"{_FOLD}(?:[\s,./:-]*{_FOLD})+")


#: Only the start of a reason decides its group (Veeam's reasons say what failed first).
KEY_CHARS = 500


def normalise(reason: str, vm: str = "") -> str:
    """The reason with per-VM parts (the VM's own name too) folded to "…", on one line ("" for none)."""
    text = one_line(clean(reason[: KEY_CHARS * 4]), KEY_CHARS)
    if len(vm) >= 3:
        text = _fold_name(text, vm)
    for pattern in _PATTERNS:
        text = pattern.sub(_FOLD, text)
    return _RUNS.sub(_FOLD, text)


def _fold_name(text: str, name: str) -> str:
    """``text`` with every case-insensitive occurrence of ``name`` folded to "…" (a literal search:
    compiling a regular expression per VM cost more than the rest of rendering a storm)."""
    lowered, needle = text.lower(), name.lower()
    if needle not in lowered or len(lowered) != len(text):
        # Rare: absent, or a character whose lower case has another length (fall back to re).
        return text if needle not in lowered else re.sub(re.escape(name), _FOLD, text, flags=re.I)
    out: list[str] = []
    start = 0
    while (found := lowered.find(needle, start)) >= 0:
        out += (text[start:found], _FOLD)
        start = found + len(needle)
    out.append(text[start:])
    return "".join(out)


@dataclass(frozen=True, slots=True)
class ReasonCount:
    """A normalised reason and how many VMs of the message failed with it."""

    number: int
    reason: str
    count: int


def top_reasons(keys: Iterable[str], limit: int = TOP_REASONS) -> list[ReasonCount]:
    """The most common normalised reasons (``normalise`` keys) shared by two VMs or more, numbered from 1."""
    counts = Counter(k for k in keys if k)
    shared = [(r, c) for r, c in counts.most_common() if c >= 2][:limit]
    return [ReasonCount(i, r, c) for i, (r, c) in enumerate(shared, start=1)]
