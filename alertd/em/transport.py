"""One HTTP(S) connection pool to one Enterprise Manager: `alertd.wire` with EM's own rules.

`alertd.wire` owns what both source kinds share (TLS, timeouts, no cookie jar, no redirects, the
response-size cap, mapping transport failures to an error). This module owns what is EM's: the
url rules (http or https, a trailing ``/api`` dropped), no Content-Type on bodiless requests,
reading EM's clock from the ``Date`` header, and the wording of its `EMError` messages. It knows
nothing of EM's tokens or documents; `alertd.em.client` does.
"""

from __future__ import annotations

import email.utils
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Final

import aiohttp
import structlog
from yarl import URL

from alertd import wire
from alertd.em.errors import EMError
from alertd.wire import Reply

__all__ = ["Clock", "Reply", "Transport", "base_url", "utc_now"]

#: A callable returning the current time as an aware UTC datetime (injected in tests).
Clock = Callable[[], datetime]

_log = structlog.get_logger(__name__)
# alertd never sends a body, so it never sends a Content-Type. aiohttp would add
# "application/octet-stream" to an empty POST; EM picks a body parser from that header, and the
# clients known to log on successfully send none (reference, audit notes).
_NO_CONTENT_TYPE: Final = ("Content-Type",)
# No Date header names a year this early but a broken one (HTTP dates start in 1970 in practice).
_LAST_NULL_YEAR: Final = 1900
_WORDING: Final = wire.Wording(
    error=EMError,
    server="EM",
    cert_holder="EM's certificate or its CA",
    verify_hint="set ca_file to EM's certificate or CA bundle (or verify_tls: false, not recommended)",
    handshake_hint="check the url's scheme and port",
    busy="EM may be busy",
    listens="(EM's REST API listens on https://<host>:9398)",
)


def utc_now() -> datetime:
    """The real wall clock, in UTC."""
    return datetime.now(UTC)


def base_url(url: str) -> str:
    """The server root without a trailing ``/`` or ``/api`` (the client appends ``/api/...`` itself)."""
    u = URL(url)
    if u.scheme not in ("http", "https") or not u.host:
        raise ValueError("url must be an http(s) URL naming EM's host, e.g. https://em.example:9398")
    return wire.server_root(u, "/api")


class Transport(wire.Transport):
    """Sends requests to ``base`` and returns whole `Reply` objects or raises `EMError`.

    Every response's ``Date`` header sets `server_time` and `clock_skew`.
    """

    _skip_auto_headers = _NO_CONTENT_TYPE

    def __init__(
        self,
        base: str,
        *,
        verify_tls: bool,
        ca_file: str | None,
        connect_timeout: float,
        read_timeout: float,
        max_response_bytes: int,
        clock: Clock = utc_now,
    ) -> None:
        """Build the TLS context now, so a bad ``ca_file`` fails at startup with EMError(kind="tls")."""
        super().__init__(
            base,
            words=_WORDING,
            tls=wire.ssl_context(verify_tls, ca_file, _WORDING),
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            max_response_bytes=max_response_bytes,
        )
        self._clock = clock
        #: EM's clock at its latest response, from the ``Date`` header (None before the first).
        self.server_time: datetime | None = None
        #: EM's clock minus ours at that response, both at whole seconds (None before the first).
        self.clock_skew: timedelta | None = None
        self._warned_date = False

    def _received(self, resp: aiohttp.ClientResponse) -> None:
        self._note_date(resp.headers.get("Date"))

    def _note_date(self, value: str | None) -> None:
        """Read EM's clock from a Date header (RFC 9110 §6.6.1: origin servers with a clock send one).

        Date has whole seconds, so ours is truncated too: equal clocks give a skew of 0 (or -1 s
        when a second boundary falls between EM's stamp and our reading).
        """
        if not value:
            return
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            when = None
        if when is None or when.year <= _LAST_NULL_YEAR:
            if not self._warned_date:  # once per connection pool: it would repeat on every response
                self._warned_date = True
                _log.warning("em_date_header_unreadable", url=self.base, value=value[:64])
            return
        # A "-0000" zone reads as naive; HTTP dates are GMT by definition.
        when = when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
        self.server_time = when
        self.clock_skew = when - self._clock().astimezone(UTC).replace(microsecond=0)
