"""Silences: which matchers a silence may end on, what ends it in words, and parsing them once.

An ``--until-resolved`` silence ends when the job or VM it names next succeeds. Only an equality
on ``job_name`` or ``vm`` names one: a silence on ``result="Warning"`` alone could never end, and
would mute every warning forever.
"""

from __future__ import annotations

from collections.abc import Sequence

import structlog

from alertd.decide import ActiveSilence
from alertd.matchers import Matcher, MatcherError, Op, parse_matcher
from alertd.model import MATCHER_LABELS
from alertd.records import Silence

log = structlog.get_logger(__name__)

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


class SilenceParser:
    """Active silences with parsed matchers, each parsed once (a silence never changes after it is added)."""

    def __init__(self) -> None:
        self._parsed: dict[int, ActiveSilence | None] = {}

    def active(self, silences: Sequence[Silence]) -> list[ActiveSilence]:
        """``silences`` (the ones in force) parsed; an unparsable one is logged once and skipped."""
        found = []
        for silence in silences:
            if silence.id not in self._parsed:
                self._parsed[silence.id] = _parse(silence)
            parsed = self._parsed[silence.id]
            if parsed is not None:
                found.append(parsed)
        return found


def _parse(silence: Silence) -> ActiveSilence | None:
    try:
        matchers = tuple(parse_matcher(m, MATCHER_LABELS) for m in silence.matchers)
    except MatcherError as err:
        log.warning("silence_invalid", silence=silence.id, error=str(err))
        return None
    return ActiveSilence(silence.id, matchers, silence.until_resolved)
