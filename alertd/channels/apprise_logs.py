"""Reading apprise's log lines: why a send failed, whether a retry can help, what to redact.

apprise does not expose HTTP statuses, SMTP replies or exceptions; they only show in the log
lines it captures per send. These functions turn those lines into a short detail and a
retryable verdict. Pure text functions: this module does not import apprise.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Final
from urllib.parse import parse_qsl, unquote, urlsplit

# apprise's HTTP plugins log "...: Bad Request, error=400." on a non-2xx answer.
_HTTP_STATUS = re.compile(r"\berror=(\d{3})\b")
# smtplib exceptions print as "(451, b'4.3.0 Try later')" or "{'rcpt': (550, b'...')}"; apprise
# names a recipient refused while others were accepted as "SMTP recipient x was refused: 550 ...".
_SMTP_REPLY = re.compile(r"\((\d{3}), b?['\"]|\bwas refused: (\d{3})\b")
_FAILURE_TEXT = re.compile(
    r"error=|fail|error|refused|timed out|timeout|invalid|could not|unable|exception|\(\d{3}, b",
    re.IGNORECASE,
)
_NOISE = re.compile(r"\S+ (POST|GET|PUT) URL:|\S+ Payload:|Throttling|Applying|Connecting|Securing")
_RESPONSE_DETAILS = re.compile(r"Response Details: (b?'.*'|b?\".*\")$")
_RESPONSE_MAX = 160
#: HTTP statuses worth retrying: request timeout, too early, rate limited (and all 5xx).
_RETRYABLE_HTTP: Final = frozenset({408, 425, 429})


def useful_lines(messages: Iterable[str]) -> list[str]:
    """apprise's failure lines plus DEBUG exception text and a short response body.

    Payload dumps and request URLs (DEBUG) are dropped; they are noise and may carry tokens.
    """
    out: list[str] = []
    for message in messages:
        text = " ".join(message.split())
        response = _RESPONSE_DETAILS.match(text)
        if response and response.group(1) in ("b''", "''"):
            continue
        if response:
            # Slack and Teams explain 4xx in the body ("no_service", "channel_is_archived").
            text = "response: " + response.group(1)[:_RESPONSE_MAX]
        elif _NOISE.match(text) or not _FAILURE_TEXT.search(text):
            continue
        if text not in out:
            out.append(text)
    return out


def retryable(email: bool, lines: list[str]) -> bool:
    """Decide whether sending again later can help, from apprise's log lines.

    HTTP 5xx/408/425/429, SMTP 4xx replies, timeouts and connection errors are transient.
    Other HTTP 4xx (bad payload, bad token, gone webhook) and SMTP 5xx replies (rejected
    sender/recipient, auth failure) are permanent. Anything unrecognised is treated as
    transient: the outbox's retry cap still ends it, and dropping an alert is worse.
    """
    text = " ".join(lines)
    statuses = [int(code) for code in _HTTP_STATUS.findall(text)]
    if statuses:
        return all(code >= 500 or code in _RETRYABLE_HTTP for code in statuses)
    replies = [int(a or b) for a, b in _SMTP_REPLY.findall(text)]
    if email and replies:
        return all(400 <= code < 500 for code in replies)
    # The server offers no AUTH but the URL has credentials: configuration, not weather.
    return "SMTP AUTH extension not supported" not in text


def join(*parts: str) -> str:
    return ": ".join(p for p in parts if p)


def url_parts(url: str) -> set[str]:
    """Every piece of a raw URL that could be a secret: credentials, host, path, query values."""
    candidates = {url.strip()}
    try:
        parts = urlsplit(url.strip())
        # netloc keeps the host's case (``hostname`` lowers it; Slack tokens are case-sensitive).
        userinfo, _, hostport = parts.netloc.rpartition("@")
        user, _, password = userinfo.partition(":")
        host = hostport.rsplit(":", 1)[0] if hostport.count(":") == 1 else hostport
        candidates.update({unquote(user), unquote(password), host})
        candidates.update(unquote(seg) for seg in parts.path.split("/"))
        candidates.update(value for _, value in parse_qsl(parts.query))
        candidates.add(unquote(parts.fragment))
    except ValueError:
        pass
    return {c for c in candidates if len(c) >= 3}


def secret_parts(url: str, privacy_url: str) -> list[str]:
    """Pieces of ``url`` that apprise masks in its privacy form, longest first."""
    shown = privacy_url + unquote(privacy_url)
    # A part apprise shows unmasked (host, recipients, options) is not a secret.
    return sorted((c for c in url_parts(url) if c not in shown), key=len, reverse=True)


def instantiate_hint(messages: list[str], parts: set[str]) -> str:
    """apprise's reasons for refusing a URL, minus anything that could be part of it."""
    hints: list[str] = []
    for message in messages:
        if "URL" in message:  # "Could not load ... URL: <url>" only restates the URL
            continue
        for part in sorted(parts, key=len, reverse=True):
            message = message.replace(part, "***")
        # apprise quotes offending values in parentheses; a value with digits may be a token.
        message = re.sub(r"\((?!None\))[^)]*\d[^)]*\)", "(***)", message)
        if message not in hints:
            hints.append(message)
    return " ".join(hints) or "missing or malformed token, host or address"


#: "url: <anything>" in exception text (requests' "Max retries exceeded with url: /hook-token").
URL_PATH = re.compile(r"(\burl: )\S+", re.IGNORECASE)
