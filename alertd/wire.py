"""The HTTP(S) transport both source kinds share: one aiohttp connection pool to one server.

This module owns what Enterprise Manager and VBR reach their servers by alike: the TLS context
(default trust store, a ``ca_file`` bundle, or off), connect and read timeouts, no cookie jar, no
redirects, the response-size cap (bodies read in chunks, whole `Reply` objects returned), the
server root of a configured url, the checks of a connection's sizes and timeouts, the
percent-encoding of query strings, and turning every aiohttp or socket failure into the source's
own `alertd.source.SourceError` subclass. The words of those errors (how the server is named and
what to check) are each source's, handed in as a `Wording`; what one source does beyond this
(EM's ``Date`` clock, VBR's certificate pin) lives in its own ``transport`` module. Nothing here
knows of tokens, logons or documents.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Final, Literal, Protocol
from urllib.parse import quote

import aiohttp
from multidict import CIMultiDictProxy
from yarl import URL

from alertd.source import SourceError

__all__ = [
    "ErrorFactory",
    "Limits",
    "Reply",
    "TLSSetting",
    "Transport",
    "TransportErrorKind",
    "Wording",
    "check_limits",
    "encode_query",
    "server_root",
    "ssl_context",
]

_CHUNK: Final = 64 * 1024
_SIZE_HINT: Final = "lower page_size or raise max_response_bytes"

#: The kinds of `SourceError` a transport raises (the others are about what a server answered).
TransportErrorKind = Literal["unreachable", "timeout", "tls", "malformed", "too_large"]
#: What aiohttp checks a server's certificate with: a context, False for none, or a pinned digest.
TLSSetting = ssl.SSLContext | bool | aiohttp.Fingerprint


class ErrorFactory(Protocol):
    """A source's error class (`alertd.em.errors.EMError`, `alertd.vbr.errors.VBRError`)."""

    def __call__(self, kind: TransportErrorKind, message: str, status: int | None = None) -> SourceError: ...


@dataclass(frozen=True, slots=True)
class Wording:
    """How one source kind's transport errors read: its server's name and what each one advises.

    Each message is ``<fixed text naming the base url and the cause>: <advice>``; the fields hold
    the source's part of it.
    """

    #: The error class raised.
    error: ErrorFactory
    #: The server as messages name it: ``"EM"`` in ``"EM at https://em:9398 ..."``.
    server: str
    #: Whose certificate a ``ca_file`` holds: ``"... a readable PEM file holding <cert_holder>"``.
    cert_holder: str
    #: Advice after ``"certificate verify failed for <base>: <why>: "``.
    verify_hint: str
    #: Advice after ``"TLS handshake with <base> failed: <why>: "``.
    handshake_hint: str
    #: Said of a read timeout: ``"<busy>; lower page_size or raise read_timeout"``.
    busy: str
    #: Where the API listens, said after ``"check url "`` when no connection could be made.
    listens: str


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


class Limits(Protocol):
    """The sizes and timeouts every source connection has (`EMConnection`, `VBRConnection`)."""

    @property
    def page_size(self) -> int: ...
    @property
    def max_response_bytes(self) -> int: ...
    @property
    def connect_timeout(self) -> float: ...
    @property
    def read_timeout(self) -> float: ...


def check_limits(conn: Limits) -> None:
    """Raise ValueError unless every size and timeout of ``conn`` is positive."""
    if conn.page_size < 1 or conn.max_response_bytes < 1:
        raise ValueError("page_size and max_response_bytes must be positive")
    if conn.connect_timeout <= 0 or conn.read_timeout <= 0:
        raise ValueError("connect_timeout and read_timeout must be positive")


def encode_query(params: Iterable[tuple[str, str]]) -> str:
    """``k=v&k=v`` with every reserved character of each value percent-encoded.

    Every one, as EM's own paging links do: no layer can then take a filter's ``;`` or ``,`` for
    a separator, nor a ``+`` in a time offset for a space.
    """
    return "&".join(f"{k}={quote(v, safe='')}" for k, v in params)


def server_root(url: URL, *suffixes: str) -> str:
    """``url`` without a trailing ``/`` or any of ``suffixes`` (stripped in order), query or fragment.

    The caller checks the scheme; a url carrying credentials is refused here.
    """
    if url.user is not None or url.password is not None:
        # Refused rather than stripped: the url appears in messages and must hold no secret.
        raise ValueError("url must not carry credentials; set username and password instead")
    path = url.path.rstrip("/")
    for suffix in suffixes:
        path = path.removesuffix(suffix)
    return str(url.with_path(path or "/").with_query(None).with_fragment(None)).rstrip("/")


def ssl_context(verify_tls: bool, ca_file: str | None, words: Wording) -> ssl.SSLContext | bool:
    """The TLS setting for aiohttp: False when off, else a context; a bad ``ca_file`` raises (kind tls)."""
    if not verify_tls:
        return False
    try:
        # With ca_file the context trusts only that bundle: the server's (self-signed) certificate or its CA.
        return ssl.create_default_context(cafile=ca_file)
    except (OSError, ssl.SSLError) as e:
        raise words.error(
            "tls",
            f"cannot load ca_file {ca_file!r}: {_reason(e)}: set ca_file to a readable PEM file "
            f"holding {words.cert_holder}",
        ) from e


class Transport:
    """Sends requests to ``base`` and returns whole `Reply` objects or raises the source's error.

    A source's subclass may name headers aiohttp must not add (``_skip_auto_headers``), look at
    each response before its body is read (`_received`) and map more failures (`_error`).
    """

    #: Headers aiohttp adds by itself that this source never sends.
    _skip_auto_headers: tuple[str, ...] = ()

    def __init__(
        self,
        base: str,
        *,
        words: Wording,
        tls: TLSSetting,
        connect_timeout: float,
        read_timeout: float,
        max_response_bytes: int,
    ) -> None:
        self.base = base
        self._words = words
        self._ssl = tls
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

    async def send(
        self,
        method: str,
        path_and_query: str,
        what: str,
        *,
        headers: Mapping[str, str],
        body: bytes | None = None,
        total_seconds: float | None = None,
    ) -> Reply:
        """One exchange; ``path_and_query`` must be percent-encoded; ``what`` names it in messages."""
        http = self._session()
        timeout = self._timeout if total_seconds is None else aiohttp.ClientTimeout(total=total_seconds)
        self.requests_made += 1
        try:
            # No redirects: following one would hand the token to whatever host it names.
            async with http.request(
                method,
                URL(self.base + path_and_query, encoded=True),
                headers=dict(headers),
                data=body,
                skip_auto_headers=self._skip_auto_headers,
                allow_redirects=False,
                timeout=timeout,
            ) as resp:
                self._received(resp)
                data = await self._read_capped(resp, what)
                return Reply(resp.status, resp.reason or "", resp.headers, data)
        except (aiohttp.ClientError, OSError) as e:
            # ssl.SSLError and TimeoutError are OSErrors too.
            raise self._error(e, what) from e

    async def close(self) -> None:
        """Close the connection pool; later sends raise RuntimeError."""
        self._closed = True
        if self._http is not None:
            await self._http.close()

    def _received(self, resp: aiohttp.ClientResponse) -> None:
        """Called with each response before its body is read (a source's subclass reads headers)."""

    def _session(self) -> aiohttp.ClientSession:
        if self._closed:
            raise RuntimeError(f"{self._words.server} client is closed")
        if self._http is None:
            # Created on first use because an aiohttp session belongs to the running loop.
            self._http = aiohttp.ClientSession(
                # Only the token authenticates: a cookie could outlive a logout, and EM even prefers
                # its cookie over the token header, so a stale one would shadow a fresh token.
                cookie_jar=aiohttp.DummyCookieJar(),
                connector=aiohttp.TCPConnector(ssl=self._ssl),
                timeout=self._timeout,
            )
        return self._http

    async def _read_capped(self, resp: aiohttp.ClientResponse, what: str) -> bytes:
        server, cap = self._words.server, self._cap
        if resp.content_length is not None and resp.content_length > cap:
            raise self._words.error(
                "too_large",
                f"{server} at {self.base} announced {resp.content_length} bytes for {what}, over "
                f"max_response_bytes={cap}: {_SIZE_HINT}",
                resp.status,
            )
        # Read in chunks so an endless or lying body stops at the cap instead of filling memory.
        body = bytearray()
        async for chunk in resp.content.iter_chunked(_CHUNK):
            body += chunk
            if len(body) > cap:
                raise self._words.error(
                    "too_large",
                    f"{server} at {self.base} sent more than max_response_bytes={cap} for {what}: {_SIZE_HINT}",
                    resp.status,
                )
        return bytes(body)

    def _error(self, e: BaseException, what: str) -> SourceError:
        """The source's error for a failed exchange (checked most specific first)."""
        words, base = self._words, self.base
        fail, server = words.error, words.server
        if isinstance(e, aiohttp.ClientConnectorCertificateError):
            return fail(
                "tls", f"certificate verify failed for {base}: {_verify_reason(e)}: {words.verify_hint}"
            )
        if isinstance(e, aiohttp.ClientSSLError | ssl.SSLError):
            return fail("tls", f"TLS handshake with {base} failed: {_reason(e)}: {words.handshake_hint}")
        if isinstance(e, aiohttp.ConnectionTimeoutError):
            return fail(
                "timeout",
                f"{server} at {base} did not accept a connection within connect_timeout={self._connect_timeout}s",
            )
        if isinstance(e, TimeoutError):
            return fail(
                "timeout",
                f"{server} at {base} sent nothing for read_timeout={self._read_timeout}s during {what}: "
                f"{words.busy}; lower page_size or raise read_timeout",
            )
        if isinstance(e, aiohttp.ClientConnectorError):
            return fail(
                "unreachable",
                f"cannot connect to {server} at {base}: {_reason(e.os_error)}: check url {words.listens} "
                "and that the host is reachable",
            )
        if isinstance(e, aiohttp.ClientPayloadError | aiohttp.ClientResponseError):
            return fail(
                "malformed", f"{server} at {base} sent a broken HTTP response to {what}: {_reason(e)}"
            )
        return fail("unreachable", f"connection to {server} at {base} failed during {what}: {_reason(e)}")


def _verify_reason(e: aiohttp.ClientConnectorCertificateError) -> str:
    cert_error = e.certificate_error
    return str(getattr(cert_error, "verify_message", "") or _reason(cert_error))


def _reason(e: BaseException | None) -> str:
    if e is None:
        return "unknown error"
    if isinstance(e, OSError) and e.strerror:
        return e.strerror
    return str(e) or type(e).__name__
