"""Alertmanager-style label matchers: parsing ``name op "value"`` and testing labels against them.

Operators are ``=``, ``!=``, ``=~``, ``!~`` (regexes fully anchored, as in Alertmanager), plus the
numeric comparisons ``>=``, ``>``, ``<=``, ``<`` for integer labels such as ``streak``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum


class MatcherError(ValueError):
    """A matcher string that cannot be parsed."""


class Op(StrEnum):
    """A matcher operator."""

    EQ = "="
    NE = "!="
    RE = "=~"
    NRE = "!~"
    GE = ">="
    GT = ">"
    LE = "<="
    LT = "<"


_NUMERIC = {Op.GE, Op.GT, Op.LE, Op.LT}
# Longest operators first so "=~" is not read as "=" followed by "~".
_SYNTAX = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|>=|<=|=|>|<)\s*(.*?)\s*$", re.DOTALL)


@dataclass(frozen=True, slots=True)
class Matcher:
    """One parsed matcher; ``matches`` tests a label set against it."""

    name: str
    op: Op
    value: str
    _regex: re.Pattern[str] | None = field(default=None, compare=False, repr=False)

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Whether ``labels`` satisfy this matcher (a missing label reads as the empty string)."""
        actual = labels.get(self.name, "")
        if self.op is Op.EQ:
            return actual == self.value
        if self.op is Op.NE:
            return actual != self.value
        if self.op in (Op.RE, Op.NRE):
            assert self._regex is not None
            found = self._regex.fullmatch(actual) is not None
            return found if self.op is Op.RE else not found
        return _compare_numbers(self.op, actual, self.value)

    def __str__(self) -> str:
        escaped = self.value.replace("\\", "\\\\").replace('"', '\\"')
        return f'{self.name}{self.op.value}"{escaped}"'


def _compare_numbers(op: Op, actual: str, expected: str) -> bool:
    try:
        left, right = int(actual), int(expected)
    except ValueError:
        return False
    if op is Op.GE:
        return left >= right
    if op is Op.GT:
        return left > right
    if op is Op.LE:
        return left <= right
    return left < right


def parse_matcher(text: str, known_labels: tuple[str, ...] | None = None) -> Matcher:
    """Parse ``text`` such as ``job_name=~"SQL.*"`` into a Matcher.

    Raises MatcherError naming what is wrong.
    """
    found = _SYNTAX.match(text)
    if not found:
        raise MatcherError(
            f"invalid matcher {text!r}: expected label, operator (= != =~ !~ >= > <= <), value"
        )
    name, op_text, raw = found.groups()
    if known_labels is not None and name not in known_labels:
        raise MatcherError(
            f"invalid matcher {text!r}: unknown label {name!r} (known: {', '.join(known_labels)})"
        )
    value = _unquote(raw, text)
    op = Op(op_text)
    regex = None
    if op in (Op.RE, Op.NRE):
        try:
            regex = re.compile(value, re.DOTALL)
        except re.error as err:
            raise MatcherError(f"invalid matcher {text!r}: bad regular expression: {err}") from err
    if op in _NUMERIC:
        try:
            int(value)
        except ValueError as err:
            raise MatcherError(f"invalid matcher {text!r}: {op.value} needs an integer value") from err
    return Matcher(name, op, value, regex)


def _unquote(raw: str, text: str) -> str:
    if not raw.startswith('"'):
        if any(ch in raw for ch in '"{},'):
            raise MatcherError(f"invalid matcher {text!r}: unquoted value contains reserved characters")
        return raw
    if len(raw) < 2 or not raw.endswith('"'):
        raise MatcherError(f"invalid matcher {text!r}: unterminated quoted value")
    out: list[str] = []
    body = raw[1:-1]
    i = 0
    while i < len(body):
        ch = body[i]
        if ch == "\\":
            if i + 1 >= len(body):
                raise MatcherError(f"invalid matcher {text!r}: dangling backslash")
            nxt = body[i + 1]
            out.append({"n": "\n", "t": "\t"}.get(nxt, nxt))
            i += 2
            continue
        if ch == '"':
            raise MatcherError(f"invalid matcher {text!r}: unescaped quote inside value")
        out.append(ch)
        i += 1
    return "".join(out)


def matches_all(matchers: tuple[Matcher, ...], labels: Mapping[str, str]) -> bool:
    """True when every matcher matches (an empty tuple matches everything)."""
    return all(m.matches(labels) for m in matchers)
