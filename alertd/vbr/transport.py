"""One HTTPS connection pool to one VBR server: `alertd.wire` with VBR's own rules.

`alertd.wire` owns what both source kinds share (TLS context, timeouts, no cookie jar, no
redirects, the response-size cap, mapping transport failures to an error). This module owns what
is VBR's: the url rules (HTTPS only, reference §1.1; a trailing ``/api`` or ``/api/v1`` dropped),
the SHA-256 pin of the server certificate (``tls_fingerprint``, checked by aiohttp in place of the
CA) and its mismatch message, and the wording of its `VBRError` messages. It knows nothing of
tokens or API revisions (`alertd.vbr.auth` does).
"""

from __future__ import annotations

from typing import Final

import aiohttp
from yarl import URL

from alertd import wire
from alertd.source import SourceError
from alertd.vbr.errors import VBRError
from alertd.wire import Reply

__all__ = ["FINGERPRINT_HELP", "Reply", "Transport", "base_url", "parse_fingerprint"]

_HEX: Final = frozenset("0123456789abcdef")
FINGERPRINT_HELP: Final = (
    "read it with: openssl s_client -connect HOST:9419 </dev/null 2>/dev/null | "
    "openssl x509 -noout -fingerprint -sha256"
)
_WORDING: Final = wire.Wording(
    error=VBRError,
    server="VBR",
    cert_holder="the backup server's certificate or its CA",
    verify_hint=(
        "VBR's certificate is self-signed by default; set tls_fingerprint to its SHA-256 fingerprint, "
        "or ca_file to its certificate or CA bundle (verify_tls: false is not recommended)"
    ),
    handshake_hint="check the url's host and port (9419)",
    busy="the server may be busy",
    listens="(the REST API listens on https://<backup server>:9419 by default)",
)


def base_url(url: str) -> str:
    """The server root, e.g. ``https://vbr01:9419``, without a trailing ``/``, ``/api`` or ``/api/v1``."""
    u = URL(url)
    if u.scheme != "https" or not u.host:
        raise ValueError(
            "url must be an https URL naming the backup server, e.g. https://vbr01.corp.local:9419 "
            "(the VBR REST API does not serve plain HTTP)"
        )
    return wire.server_root(u, "/api/v1", "/api")


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


class Transport(wire.Transport):
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
        tls: wire.TLSSetting
        if tls_fingerprint:
            # The pin replaces CA and host-name checks: VBR's certificate is self-signed (§1.1),
            # and a matching SHA-256 digest is a stronger statement than any chain.
            tls = aiohttp.Fingerprint(parse_fingerprint(tls_fingerprint))
        else:
            tls = wire.ssl_context(verify_tls, ca_file, _WORDING)
        super().__init__(
            base,
            words=_WORDING,
            tls=tls,
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            max_response_bytes=max_response_bytes,
        )

    def _error(self, e: BaseException, what: str) -> SourceError:
        if isinstance(e, aiohttp.ServerFingerprintMismatch):
            return VBRError(
                "tls",
                f"the certificate of {self.base} does not match tls_fingerprint: its SHA-256 fingerprint is "
                f"{_colons(e.got)}, not {_colons(e.expected)}; if the server's certificate was renewed, "
                f"check the new one out of band and update tls_fingerprint ({FINGERPRINT_HELP})",
            )
        return super()._error(e, what)


def _colons(digest: bytes) -> str:
    return ":".join(f"{b:02X}" for b in digest)
