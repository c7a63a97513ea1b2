"""Text safety for data from Enterprise Manager, and the per-channel escapers.

EM data (VM and job names, reasons) is untrusted: it may carry Unicode direction overrides that
make ``vm-\u202eexe.txt`` display as "vm-txt.exe", zero-width characters that make two names look
identical, control characters, or markup that a channel would act on. This module owns:

* ``clean``: strip bidi controls, invisible characters and control characters (keeping the
  joiners that emoji and some scripts need);
* ``isolate``: wrap right-to-left text in FSI…PDI so it cannot reorder the text around it;
* the escapers: ``slack_escape`` (only ``& < >``, as Slack documents), ``slack_code`` (a code span
  where mrkdwn cannot act), ``md_escape`` (CommonMark backslashes, for apprise's chat targets);
* ``one_line`` and ``file_size``.
"""

from __future__ import annotations

import re
import unicodedata

ELLIPSIS = "…"

_WS = re.compile(r"\s+")
# Bidi embeddings/overrides/isolates and marks: LRE RLE PDF LRO RLO, LRI RLI FSI PDI, LRM RLM ALM.
_BIDI = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c"
# Invisible characters that can make two names look alike: ZWSP, word joiner and the invisible
# operators, BOM, Mongolian vowel separator, soft hyphen.
_INVISIBLE = "\u200b\u2060\u2061\u2062\u2063\u2064\ufeff\u180e\u00ad"
_STRIP = re.compile(f"[{_BIDI}{_INVISIBLE}\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
# ZWNJ/ZWJ are part of emoji sequences and of Persian/Indic spelling; next to ASCII they only
# serve to spoof ("sql\u200d01"), so they are kept only between two non-ASCII characters.
_JOINER = re.compile(r"(?<![^\x00-\x7f])[\u200c\u200d]|[\u200c\u200d](?![^\x00-\x7f])")
_FSI, _PDI = "\u2068", "\u2069"

# Slack: what mrkdwn would act on in bold text; such names go into a code span instead.
_MRKDWN_ACTIVE = re.compile(r"[*~`]|(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])|:[a-z0-9_+\-]+:|://|\bwww\.", re.I)

# CommonMark: `*~<>[]` always, ``_`` only at a word edge (``SQL_PROD_01`` stays literal), and a
# backslash only where it would escape the next character (Windows paths stay readable).
_MD_SPECIAL = re.compile(r"\\(?=[!-/:-@\[-`{-~]|$)|[`*~<>\[\]]|(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])")


def clean(text: object) -> str:
    """EM data made safe to display: no bidi controls, no invisible or control characters.

    Newlines and tabs are kept (reasons are multi-line); ``one_line`` folds them where needed.
    """
    value = str(text)
    if value.isascii() and value.isprintable():
        return value  # the common case: nothing in it is a control, bidi or invisible character
    stripped = _STRIP.sub("", value)
    if "\u200c" in stripped or "\u200d" in stripped:
        return _JOINER.sub("", stripped)
    return stripped


def has_rtl(text: str) -> bool:
    """True when ``text`` holds a strong right-to-left character (Hebrew, Arabic, ...)."""
    return not text.isascii() and any(unicodedata.bidirectional(ch) in ("R", "AL") for ch in text)


def isolate(text: str) -> str:
    """Wrap right-to-left text in FSI…PDI so it cannot reorder the line around it."""
    return f"{_FSI}{text}{_PDI}" if has_rtl(text) else text


def one_line(text: object, limit: int = 200) -> str:
    """Collapse whitespace (EM reasons carry CR/LF) and shorten to ``limit`` characters with "…"."""
    raw = str(text)
    if limit <= 0:
        return ""
    if len(raw) > 4 * limit + 64:
        # Long reasons (EM allows kilobytes): fold only what can be shown.
        head = _WS.sub(" ", raw[: 4 * limit + 64]).strip()
        if len(head) > limit:
            return head[: limit - 1].rstrip() + ELLIPSIS
    # Printable text with no double space has no whitespace to fold but single ASCII spaces
    # (str.isprintable is False for every other whitespace character): skip the regex.
    flat = raw.strip() if raw.isprintable() and "  " not in raw else _WS.sub(" ", raw).strip()
    if len(flat) <= limit:
        return flat
    return flat[: limit - 1].rstrip() + ELLIPSIS


def slack_escape(text: object) -> str:
    """Escape the three characters Slack parses (``& < >``) and nothing else.

    Slack has no backslash escapes: ``\\*`` would show both characters. ``<!channel>`` becomes
    ``&lt;!channel&gt;``, which Slack displays literally and never turns into a mention.
    """
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_code(text: object) -> str:
    """``text`` in an inline code span, where mrkdwn formatting, links and emoji codes do not apply.

    A backtick would end the span, so it is shown as the look-alike U+02CB.
    """
    inner = slack_escape(str(text).replace("`", "\u02cb")).strip()
    return f"`{inner}`" if inner else ""


def slack_strong(text: object) -> str:
    """A name in bold, or in a code span when mrkdwn would act on it (``*x*``, ``:fire:``, URLs)."""
    value = str(text)
    if not value.strip():
        return ""
    if _MRKDWN_ACTIVE.search(value):
        return slack_code(value)
    return f"*{slack_escape(isolate(value))}*"


def md_escape(text: object) -> str:
    """Backslash-escape CommonMark punctuation so data never becomes markup or a mention.

    For apprise's generic chat targets only (they take CommonMark); never used for Slack or Teams.
    """
    return _MD_SPECIAL.sub(lambda m: "\\" + m.group(0), str(text))


def file_size(value: int | None) -> str:
    """Bytes as a short human size (``1.5 GiB``)."""
    if value is None:
        return "—"
    size = float(value)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(size) < 1024 or unit == "TiB":
            return f"{int(size)} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")  # pragma: no cover
