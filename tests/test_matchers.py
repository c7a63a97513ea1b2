"""Alertmanager matcher syntax: parsing, anchoring and numeric comparisons."""

from __future__ import annotations

import contextlib
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from alertd.matchers import MatcherError, Op, parse_matcher
from alertd.model import MATCHER_LABELS

LABELS = {
    "job_name": "SQL Daily",
    "result": "Failed",
    "vm": "db01",
    "reason": 'disk "C:" full',
    "streak": "3",
}


@pytest.mark.parametrize(
    ("text", "matches"),
    [
        ('result="Failed"', True),
        ('result="Warning"', False),
        ('result!="Warning"', True),
        ('job_name=~"SQL.*"', True),
        ('job_name=~"SQL"', False),  # fully anchored, like Alertmanager
        ('job_name=~"Daily"', False),
        ('job_name!~"Exchange.*"', True),
        ("result=Failed", True),
        ('reason="disk \\"C:\\" full"', True),
        ('vm=~"db0[0-9]"', True),
        ('source=""', True),  # a missing label reads as empty
        ("streak>=3", True),
        ("streak>3", False),
        ("streak<=3", True),
        ('streak<"2"', False),
        ('streak=~"[3-9]|[1-9][0-9]+"', True),
    ],
)
def test_match_table(text: str, matches: bool) -> None:
    """Each operator matches (or not) as Alertmanager users expect."""
    assert parse_matcher(text).matches(LABELS) is matches


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("result", "expected label, operator"),
        ('result=="Failed"', "unescaped quote|reserved"),
        ('vm=~"("', "bad regular expression"),
        ('result="Failed', "unterminated"),
        ('streak>="x"', "needs an integer"),
        ('foo="x"', "unknown label 'foo'"),
        ('vm="a"b"', "unescaped quote"),
    ],
)
def test_parse_errors(text: str, message: str) -> None:
    """Bad matchers are refused with a message naming the problem."""
    with pytest.raises(MatcherError, match=message):
        parse_matcher(text, MATCHER_LABELS)


@given(st.text(max_size=30))
def test_quoted_value_round_trips(value: str) -> None:
    """Any value written as a quoted equality matcher reads back exactly, and str() re-parses the same."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    matcher = parse_matcher(f'vm="{escaped}"')
    assert matcher.value == value
    assert matcher.op is Op.EQ
    assert parse_matcher(str(matcher)).value == value
    assert matcher.matches({"vm": value})


@given(st.text(max_size=20))
def test_garbage_only_raises_matcher_error(text: str) -> None:
    """Arbitrary text parses or raises MatcherError, never another exception."""
    with contextlib.suppress(MatcherError):
        parse_matcher(text)


@given(st.text(alphabet="ab.*|()?+", max_size=8), st.text(alphabet="ab", max_size=6))
def test_regex_is_anchored(pattern: str, value: str) -> None:
    """=~ agrees with re.fullmatch for every valid pattern."""
    try:
        expected = re.fullmatch(pattern, value, re.DOTALL) is not None
    except re.error:
        return
    assert parse_matcher(f'vm=~"{pattern}"').matches({"vm": value}) is expected
