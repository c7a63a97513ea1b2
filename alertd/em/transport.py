"""One HTTP(S) connection pool to one Enterprise Manager, with EM's transport rules applied.

This module owns the aiohttp session: TLS verification (default trust store, a ``ca_file``
bundle, or off), connect and read timeouts, no cookie jar, no redirects, no Content-Type on
bodiless requests, the response-size cap, reading EM's clock from the ``Date`` header, and
turning every transport failure into an `EMError`. It knows nothing of EM's tokens or
documents; `alertd.em.client` does.
"""

from __future__ import annotations

import email.utils
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final

import aiohttp
import structlog
from multidict import CIMultiDictProxy
from yarl import URL

from alertd.em.errors import EMError

__all__ = ["Clock", "Reply", "Transport", "base_url", "utc_now"]

#: A callable returning the current time as an aware UTC datetime (injected in tests).
Clock = Callable[[], datetime]

_log = structlog.get_logger(__name__)
_CHUNK: Final = 64 * 1024
# alertd never sends a body, so it never sends a Content-Type. aiohttp would add
# "application/octet-stream" to an empty POST; EM picks a body parser from that header, and the
# clients known to log on successfully send none (reference, audit notes).
_NO_CONTENT_TYPE: Final = ("Content-Type",)
# No Date header names a year this early but a broken one (HTTP dates start in 1970 in practice).
_LAST_NULL_YEAR: Final = 1900


def utc_now() -> datetime:
    """The real wall clock, in UTC."""
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class Reply:
    """A whole HTTP response: status, headers and the body read under the size cap."""

    status: int
    reason: str
    headers: CIMultiDictProxy[str]
    body: bytes

    @property
    def ok(self) -> bool:
        """True for a 2xx status."""
        return 200 <= self.status < 300


def base_url(url: str) -> str:
    """The server root without a trailing ``/`` or ``/api`` (the client appends ``/api/...`` itself)."""
    u = URL(url)
    if u.scheme not in ("http", "https") or not u.host:
        raise ValueError("url must be an http(s) URL naming EM's host, e.g. https://em.example:9398")
    if u.user is not None or u.password is not None:
        # Refused rather than stripped: the url appears in messages and must hold no secret.
        raise ValueError("url must not carry credentials; set username and password instead")
    path = u.path.rstrip("/").removesuffix("/api")
    return str(u.with_path(path or "/").with_query(None).with_fragment(None)).rstrip("/")


class Transport:
    """Sends requests to ``base`` and returns whole `Reply` objects or raises `EMError`."""

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
        self.base = base
        self._clock = clock
        self._ssl = _ssl_context(verify_tls, ca_file)
        self._connect_timeout = connect_timeout
        self._read_timeout = read_timeout
        self._cap = max_response_bytes
        self._timeout = aiohttp.ClientTimeout(
            total=None, connect=connect_timeout, sock_connect=connect_timeout, sock_read=read_timeout
        )
        self._http: aiohttp.ClientSession | None = None
        self._closed = False
        #: Every request sent (for benchmarks).
        self.requests_made = 0
        #: EM's clock at its latest response, from the ``Date`` header (None before the first).
        self.server_time: datetime | None = None
        #: EM's clock minus ours at that response, both at whole seconds (None before the first).
        self.clock_skew: timedelta | None = None
        self._warned_date = False

    async def send(
        self,
        method: str,
        path_and_query: str,
        what: str,
        *,
        headers: dict[str, str],
        total_seconds: float | None = None,
    ) -> Reply:
        """One exchange; ``path_and_query`` must be percent-encoded; ``what`` names it in messages."""
        http = self._session()
        timeout = self._timeout if total_seconds is None else aiohttp.ClientTimeout(total=total_seconds)
        self.requests_made += 1
        try:
            # No redirects: following one would hand the token header to whatever host it names.
            async with http.request(
                method,
                URL(self.base + path_and_query, encoded=True),
                headers=headers,
                skip_auto_headers=_NO_CONTENT_TYPE,
                allow_redirects=False,
                timeout=timeout,
            ) as resp:
                self._note_date(resp.headers.get("Date"))
                body = await self._read_capped(resp, what)
                return Reply(resp.status, resp.reason or "", resp.headers, body)
        except (aiohttp.ClientError, OSError) as e:
            # ssl.SSLError and TimeoutError are OSErrors too.
            raise self._error(e, what) from e

    async def close(self) -> None:
        """Close the connection pool; later sends raise RuntimeError."""
        self._closed = True
        if self._http is not None:
            await self._http.close()

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

    def _session(self) -> aiohttp.ClientSession:
        if self._closed:
            raise RuntimeError("EM client is closed")
        if self._http is None:
            # Created on first use because an aiohttp session belongs to the running loop.
            self._http = aiohttp.ClientSession(
                # EM prefers its cookie over the token header, so a stale cookie would shadow a
                # fresh token after re-logon: keep no cookies at all.
                cookie_jar=aiohttp.DummyCookieJar(),
                connector=aiohttp.TCPConnector(ssl=self._ssl),
                timeout=self._timeout,
            )
        return self._http

    async def _read_capped(self, resp: aiohttp.ClientResponse, what: str) -> bytes:
        hint = "lower page_size or raise max_response_bytes"
        if resp.content_length is not None and resp.content_length > self._cap:
            raise EMError(
                "too_large",
                f"EM at {self.base} announced {resp.content_length} bytes for {what}, over "
                f"max_response_bytes={self._cap}: {hint}",
                resp.status,
            )
        # Read in chunks so an endless or lying body stops at the cap instead of filling memory.
        body = bytearray()
        async for chunk in resp.content.iter_chunked(_CHUNK):
            body += chunk
            if len(body) > self._cap:
                raise EMError(
                    "too_large",
                    f"EM at {self.base} sent more than max_response_bytes={self._cap} for {what}: {hint}",
                    resp.status,
                )
        return bytes(body)

    def _error(self, e: BaseException, what: str) -> EMError:
        base = self.base
        if isinstance(e, aiohttp.ClientConnectorCertificateError):
            return EMError(
                "tls",
                f"certificate verify failed for {base}: {_verify_reason(e)}: set ca_file to EM's "
                "certificate or CA bundle (or verify_tls: false, not recommended)",
            )
        if isinstance(e, aiohttp.ClientSSLError | ssl.SSLError):
            return EMError(
                "tls", f"TLS handshake with {base} failed: {_reason(e)}: check the url's scheme and port"
            )
        if isinstance(e, aiohttp.ConnectionTimeoutError):
            return EMError(
                "timeout",
                f"EM at {base} did not accept a connection within connect_timeout={self._connect_timeout}s",
            )
        if isinstance(e, TimeoutError):
            return EMError(
                "timeout",
                f"EM at {base} sent nothing for read_timeout={self._read_timeout}s during {what}: "
                "EM may be busy; lower page_size or raise read_timeout",
            )
        if isinstance(e, aiohttp.ClientConnectorError):
            return EMError(
                "unreachable",
                f"cannot connect to EM at {base}: {_reason(e.os_error)}: check url "
                "(EM's REST API listens on https://<host>:9398) and that the host is reachable",
            )
        if isinstance(e, aiohttp.ClientPayloadError | aiohttp.ClientResponseError):
            return EMError("malformed", f"EM at {base} sent a broken HTTP response to {what}: {_reason(e)}")
        return EMError("unreachable", f"connection to EM at {base} failed during {what}: {_reason(e)}")


def _ssl_context(verify_tls: bool, ca_file: str | None) -> ssl.SSLContext | bool:
    if not verify_tls:
        return False
    try:
        # With ca_file the context trusts only that bundle: EM's self-signed certificate or CA.
        return ssl.create_default_context(cafile=ca_file)
    except (OSError, ssl.SSLError) as e:
        raise EMError(
            "tls",
            f"cannot load ca_file {ca_file!r}: {_reason(e)}: set ca_file to a readable PEM file "
            "holding EM's certificate or its CA",
        ) from e


def _verify_reason(e: aiohttp.ClientConnectorCertificateError) -> str:
    cert_error = e.certificate_error
    return str(getattr(cert_error, "verify_message", "") or _reason(cert_error))


def _reason(e: BaseException | None) -> str:
    if e is None:
        return "unknown error"
    if isinstance(e, OSError) and e.strerror:
        return e.strerror
    return str(e) or type(e).__name__
