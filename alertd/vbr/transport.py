"""One HTTPS connection pool to one VBR server, with the transport rules applied.

This module owns the aiohttp session: TLS (default trust store, a ``ca_file`` bundle, a SHA-256
pin of the server certificate, or off), connect and read timeouts, no cookie jar, no redirects,
the response-size cap, and turning every transport failure into a `VBRError`. It knows nothing
of tokens or API revisions (`alertd.vbr.auth` does). The REST API is HTTPS only (reference §1.1).
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

import aiohttp
from multidict import CIMultiDictProxy
from yarl import URL

from alertd.vbr.errors import VBRError

__all__ = ["Reply", "Transport", "base_url", "parse_fingerprint"]

_CHUNK: Final = 64 * 1024
_HEX: Final = frozenset("0123456789abcdef")
FINGERPRINT_HELP: Final = (
    "read it with: openssl s_client -connect HOST:9419 </dev/null 2>/dev/null | "
    "openssl x509 -noout -fingerprint -sha256"
)


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
    """The server root, e.g. ``https://vbr01:9419``, without a trailing ``/``, ``/api`` or ``/api/v1``."""
    u = URL(url)
    if u.scheme != "https" or not u.host:
        raise ValueError(
            "url must be an https URL naming the backup server, e.g. https://vbr01.corp.local:9419 "
            "(the VBR REST API does not serve plain HTTP)"
        )
    if u.user is not None or u.password is not None:
        # Refused rather than stripped: the url appears in messages and must hold no secret.
        raise ValueError("url must not carry credentials; set username and password instead")
    path = u.path.rstrip("/").removesuffix("/api/v1").removesuffix("/api")
    return str(u.with_path(path or "/").with_query(None).with_fragment(None)).rstrip("/")


def parse_fingerprint(text: str) -> bytes:
    """A SHA-256 fingerprint written as 64 hex digits, with or without ``:`` separators."""
    digits = text.strip().lower().replace(":", "").replace(" ", "")
    if len(digits) == 40 and set(digits) <= _HEX:
        raise ValueError(
            "tls_fingerprint is a SHA-1 thumbprint (what the VBR console and /api/v1/serverCertificate "
            f"show); alertd pins the SHA-256 fingerprint: {FINGERPRINT_HELP}"
        )
    if len(digits) != 64 or not set(digits) <= _HEX:
        raise ValueError(f"tls_fingerprint must be 64 hex digits (SHA-256); {FINGERPRINT_HELP}")
    return bytes.fromhex(digits)


class Transport:
    """Sends requests to ``base`` and returns whole `Reply` objects or raises `VBRError`."""

    def __init__(
        self,
        base: str,
        *,
        verify_tls: bool,
        ca_file: str | None,
        tls_fingerprint: str | None,
        connect_timeout: float,
        read_timeout: float,
        max_response_bytes: int,
    ) -> None:
        """Build the TLS settings now, so a bad ``ca_file`` or pin fails at startup."""
        self.base = base
        self._pin = parse_fingerprint(tls_fingerprint) if tls_fingerprint else None
        self._ssl: ssl.SSLContext | bool | aiohttp.Fingerprint
        if self._pin is not None:
            # The pin replaces CA and host-name checks: VBR's certificate is self-signed (§1.1),
            # and a matching SHA-256 digest is a stronger statement than any chain.
            self._ssl = aiohttp.Fingerprint(self._pin)
        else:
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
            # No redirects: following one would hand the bearer token to whatever host it names.
            async with http.request(
                method,
                URL(self.base + path_and_query, encoded=True),
                headers=dict(headers),
                data=body,
                allow_redirects=False,
                timeout=timeout,
            ) as resp:
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

    def _session(self) -> aiohttp.ClientSession:
        if self._closed:
            raise RuntimeError("VBR client is closed")
        if self._http is None:
            # Created on first use because an aiohttp session belongs to the running loop.
            self._http = aiohttp.ClientSession(
                # Only the bearer token authenticates; a cookie could outlive a logout.
                cookie_jar=aiohttp.DummyCookieJar(),
                connector=aiohttp.TCPConnector(ssl=self._ssl),
                timeout=self._timeout,
            )
        return self._http

    async def _read_capped(self, resp: aiohttp.ClientResponse, what: str) -> bytes:
        hint = "lower page_size or raise max_response_bytes"
        if resp.content_length is not None and resp.content_length > self._cap:
            raise VBRError(
                "too_large",
                f"VBR at {self.base} announced {resp.content_length} bytes for {what}, over "
                f"max_response_bytes={self._cap}: {hint}",
                resp.status,
            )
        # Read in chunks so an endless or lying body stops at the cap instead of filling memory.
        body = bytearray()
        async for chunk in resp.content.iter_chunked(_CHUNK):
            body += chunk
            if len(body) > self._cap:
                raise VBRError(
                    "too_large",
                    f"VBR at {self.base} sent more than max_response_bytes={self._cap} for {what}: {hint}",
                    resp.status,
                )
        return bytes(body)

    def _error(self, e: BaseException, what: str) -> VBRError:
        base = self.base
        if isinstance(e, aiohttp.ServerFingerprintMismatch):
            return VBRError(
                "tls",
                f"the certificate of {base} does not match tls_fingerprint: its SHA-256 fingerprint is "
                f"{_colons(e.got)}, not {_colons(e.expected)}; if the server's certificate was renewed, "
                f"check the new one out of band and update tls_fingerprint ({FINGERPRINT_HELP})",
            )
        if isinstance(e, aiohttp.ClientConnectorCertificateError):
            return VBRError(
                "tls",
                f"certificate verify failed for {base}: {_verify_reason(e)}: VBR's certificate is "
                "self-signed by default; set tls_fingerprint to its SHA-256 fingerprint, or ca_file to "
                "its certificate or CA bundle (verify_tls: false is not recommended)",
            )
        if isinstance(e, aiohttp.ClientSSLError | ssl.SSLError):
            return VBRError(
                "tls", f"TLS handshake with {base} failed: {_reason(e)}: check the url's host and port (9419)"
            )
        if isinstance(e, aiohttp.ConnectionTimeoutError):
            return VBRError(
                "timeout",
                f"VBR at {base} did not accept a connection within connect_timeout={self._connect_timeout}s",
            )
        if isinstance(e, TimeoutError):
            return VBRError(
                "timeout",
                f"VBR at {base} sent nothing for read_timeout={self._read_timeout}s during {what}: "
                "the server may be busy; lower page_size or raise read_timeout",
            )
        if isinstance(e, aiohttp.ClientConnectorError):
            return VBRError(
                "unreachable",
                f"cannot connect to VBR at {base}: {_reason(e.os_error)}: check url (the REST API "
                "listens on https://<backup server>:9419 by default) and that the host is reachable",
            )
        if isinstance(e, aiohttp.ClientPayloadError | aiohttp.ClientResponseError):
            return VBRError("malformed", f"VBR at {base} sent a broken HTTP response to {what}: {_reason(e)}")
        return VBRError("unreachable", f"connection to VBR at {base} failed during {what}: {_reason(e)}")


def _ssl_context(verify_tls: bool, ca_file: str | None) -> ssl.SSLContext | bool:
    if not verify_tls:
        return False
    try:
        # With ca_file the context trusts only that bundle: the server's certificate or its CA.
        return ssl.create_default_context(cafile=ca_file)
    except (OSError, ssl.SSLError) as e:
        raise VBRError(
            "tls",
            f"cannot load ca_file {ca_file!r}: {_reason(e)}: set ca_file to a readable PEM file "
            "holding the backup server's certificate or its CA",
        ) from e


def _colons(digest: bytes) -> str:
    return ":".join(f"{b:02X}" for b in digest)


def _verify_reason(e: aiohttp.ClientConnectorCertificateError) -> str:
    cert_error = e.certificate_error
    return str(getattr(cert_error, "verify_message", "") or _reason(cert_error))


def _reason(e: BaseException | None) -> str:
    if e is None:
        return "unknown error"
    if isinstance(e, OSError) and e.strerror:
        return e.strerror
    return str(e) or type(e).__name__
