"""Silences: which matchers a silence may end on, and what ends it, in words. Pure.

An ``--until-resolved`` silence ends when the job or VM it names next succeeds. Only an equality
on ``job_name`` or ``vm`` names one: a silence on ``result="Warning"`` alone could never end, and
would mute every warning forever.
"""

from __future__ import annotations

from collections.abc import Sequence

from alertd.matchers import Matcher, Op, parse_matcher
from alertd.model import MATCHER_LABELS

#: The labels whose equality names what an until-resolved silence waits for.
RESOLVING_LABELS = ("job_name", "vm")


def resolving_matchers(matchers: Sequence[Matcher]) -> list[Matcher]:
    """The matchers that name the job or VM whose success ends an until-resolved silence."""
    return [m for m in matchers if m.op is Op.EQ and m.name in RESOLVING_LABELS]


def silence_end_text(matchers: Sequence[str]) -> str:
    """What ends an until-resolved silence with these matchers, for ``silence list``."""
    parsed = [parse_matcher(m, MATCHER_LABELS) for m in matchers]
    subjects = resolving_matchers(parsed)
    if not subjects:
        return "resolved (no job_name or vm equality: it cannot end; expire it)"
    return " and ".join(str(m) for m in subjects) + " next succeeds"
