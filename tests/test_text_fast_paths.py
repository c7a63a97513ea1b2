"""The fast paths of ``one_line`` and ``clean`` give exactly what their regular expressions give."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from alertd.render import text

# Whitespace of every kind Python's ``\s`` knows, the characters ``clean`` strips, and plain text.
_ALPHABET = list(" \t\n\r\x0b\x0c\x1c\x1d\x1e\x1f\x85\xa0\u1680\u2003\u2028\u2029\u3000") + list(
    "\x00\x07\x7f\x9f\u200b\u200c\u200d\u202e\u2066\ufeff\u00adab é日"
)
_WS = re.compile(r"\s+")


def _one_line_by_regex(raw: str, limit: int) -> str:
    if len(raw) > 4 * limit + 64:
        head = _WS.sub(" ", raw[: 4 * limit + 64]).strip()
        if len(head) > limit:
            return head[: limit - 1].rstrip() + text.ELLIPSIS
    flat = _WS.sub(" ", raw).strip()
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + text.ELLIPSIS


def _clean_by_regex(raw: str) -> str:
    stripped = text._STRIP.sub("", raw)
    return text._JOINER.sub("", stripped) if "\u200c" in stripped or "\u200d" in stripped else stripped


@given(st.text(alphabet=st.sampled_from(_ALPHABET), max_size=40), st.sampled_from([1, 3, 8, 200]))
def test_one_line_matches_the_regex_fold(raw: str, limit: int) -> None:
    """one_line skips its regex only where the regex would change nothing but the strip."""
    assert text.one_line(raw, limit) == _one_line_by_regex(raw, limit)


@given(st.text(alphabet=st.sampled_from(_ALPHABET), max_size=40))
def test_clean_matches_the_regex_strip(raw: str) -> None:
    """clean returns printable ASCII as it is and strips everything else as before."""
    assert text.clean(raw) == _clean_by_regex(raw)
