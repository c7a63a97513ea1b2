"""What every delivery target is and reports, and the privacy form of a target URL.

A target is one configured URL of one receiver. It is named ``receiver[label]`` in logs,
metrics and the outbox; its URL is a secret and only ever appears in ``privacy_url`` form, which
hides every path segment, query value, fragment and password (native and apprise targets alike).
``identity`` is the normalised URL: secret, never logged, stable across restarts (the caller
derives a stable target key from receiver + a hash of it).
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Protocol
from urllib.parse import parse_qsl, unquote, urlsplit

from alertd.model import Channel, RenderedMessage

#: A Retry-After longer than this is capped (a broken header must not park a target for days).
RETRY_AFTER_MAX = 3600.0
_SCHEME = re.compile(r"\s*([A-Za-z][A-Za-z0-9+.\-]{0,31})://")
MASK = "***"


class TargetError(ValueError):
    """A target URL that cannot be used. The message never contains the URL itself."""


@dataclass(frozen=True, slots=True)
class SendOutcome:
    """What one send attempt did.

    ``detail`` is safe to log and store (no secrets). ``retryable`` says whether sending again
    can help; ``retry_after`` is the service's own ask (HTTP ``Retry-After``), in seconds.
    """

    ok: bool
    retryable: bool
    detail: str
    retry_after: float | None = None


class Target(Protocol):
    """One delivery target: what the daemon, ``test-notify`` and ``preview`` use."""

    @property
    def name(self) -> str: ...
    @property
    def channel(self) -> Channel: ...
    @property
    def privacy_url(self) -> str: ...
    @property
    def identity(self) -> str: ...
    async def send(self, msg: RenderedMessage, timeout: float = 30) -> SendOutcome: ...


def safe_scheme(url: str) -> str | None:
    """The URL's scheme if it looks like one (the only part of a raw URL ever repeated)."""
    match = _SCHEME.match(url)
    return match.group(1).lower() if match else None


def privacy_form(url: str) -> str:
    """``url`` with every path segment, query value, fragment and password replaced by ``***``.

    Scheme, host, port, user name and query keys stay (they say where, not how to get in).
    """
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        scheme = safe_scheme(url)
        return f"{scheme}://{MASK}" if scheme else MASK
    userinfo, _, hostport = parts.netloc.rpartition("@")
    user = userinfo.partition(":")[0]
    netloc = (f"{user}:{MASK}@" if ":" in userinfo else f"{user}@" if user else "") + hostport
    if port is None and hostport.endswith(":"):
        netloc = netloc[:-1]
    path = "/".join(MASK if seg else "" for seg in parts.path.split("/"))
    query = "&".join(f"{k}={MASK}" if v else k for k, v in parse_qsl(parts.query, keep_blank_values=True))
    text = f"{parts.scheme}://{netloc}{path}"
    if query:
        text += f"?{query}"
    if parts.fragment:
        text += f"#{MASK}"
    return text


def secret_parts(url: str) -> list[str]:
    """Every piece of a raw URL that could be a secret, longest first (to redact echoes of it)."""
    candidates = {url.strip()}
    try:
        parts = urlsplit(url.strip())
        userinfo, _, hostport = parts.netloc.rpartition("@")
        user, _, password = userinfo.partition(":")
        candidates.update({unquote(user), unquote(password), user, password})
        candidates.update(unquote(seg) for seg in parts.path.split("/"))
        candidates.update(value for _, value in parse_qsl(parts.query))
        candidates.add(unquote(parts.fragment))
        if parts.scheme in ("slack", "workflow", "workflows", "discord", "tgram"):
            candidates.add(hostport)  # apprise services whose "host" is a token
    except ValueError:
        pass
    return sorted((c for c in candidates if len(c) >= 4), key=len, reverse=True)


def redact(text: str, secrets: list[str], limit: int = 500) -> str:
    """``text`` with every secret replaced by ``***`` and any URL's path cut, at most ``limit`` chars."""
    for secret in secrets:
        text = text.replace(secret, MASK)
    text = re.sub(
        r"\b([a-z][a-z0-9+.\-]*://[^/\s'\"?#]*)[^\s'\"]*", lambda m: m.group(1) + "/" + MASK, text, flags=re.I
    )
    return text if len(text) <= limit else text[: limit - 1] + "…"


def parse_retry_after(value: str | None, now_epoch: float | None = None) -> float | None:
    """``Retry-After`` as seconds (delta-seconds or an HTTP-date), capped; None when absent or bad."""
    if not value:
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            return None
        seconds = when.timestamp() - (now_epoch if now_epoch is not None else time.time())
    if seconds != seconds:  # NaN
        return None
    return min(max(seconds, 0.0), RETRY_AFTER_MAX)
