"""The HTTP side shared by alertd's native targets: one JSON POST with aiohttp, classified.

`JsonPostTarget` is what the Slack and Teams targets have in common: their name, identity and
privacy URL, sends serialised per target, the outcome redacted of every secret part of the URL
(and token), and the ``notify.send`` debug line. Each subclass says what it posts (`body`),
with which headers, and how a 2xx answer reads (`JsonPostTarget._outcome`).

One send is one POST (a new connection per message: messages are rare, and a per-send client
has no lifecycle to leak across reloads). Classification, shared by Slack and Teams:

* 2xx: the caller looks at the body (Slack's ``chat.postMessage`` answers 200 ``ok:false``);
* 429 and 503: retryable, with ``Retry-After`` (seconds or an HTTP-date) as ``retry_after``;
* other 5xx, 408, 425, timeouts, connection errors: retryable;
* other 4xx: permanent, with the service's reason from the body (``channel_not_found``,
  ``invalid_blocks``, Workflows' ``TriggerInputSchemaMismatch``).

Details are redacted of every part of the target URL and never name the URL itself.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any, ClassVar

import aiohttp

from alertd.channels.base import SendOutcome, parse_retry_after, privacy_form, redact, secret_parts
from alertd.channels.urls import NativeSpec
from alertd.model import Channel, RenderedMessage

#: Bytes of a response body read to explain a failure.
BODY_MAX = 64 * 1024
#: Characters of the service's reason kept in a detail.
REASON_MAX = 200
_RETRYABLE = frozenset({408, 425, 429})
USER_AGENT = "alertd"


@dataclass(frozen=True, slots=True)
class Response:
    """What came back: status, Retry-After (seconds) and the start of the body."""

    status: int
    retry_after: float | None
    text: str

    def json(self) -> Any:
        """The body as JSON, or None when it is not JSON."""
        try:
            return json.loads(self.text)
        except ValueError:
            return None


async def post_json(
    endpoint: str, body: str, timeout: float, headers: dict[str, str] | None = None
) -> Response | SendOutcome:
    """POST ``body`` (JSON text) to ``endpoint``: the response, or a retryable outcome on a network error."""
    all_headers = {
        "Content-Type": "application/json; charset=utf-8",
        "User-Agent": USER_AGENT,
        **(headers or {}),
    }
    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout), trust_env=True) as session,
            session.post(endpoint, data=body.encode(), headers=all_headers, allow_redirects=False) as resp,
        ):
            raw = await resp.content.read(BODY_MAX)
            return Response(
                resp.status,
                parse_retry_after(resp.headers.get("Retry-After")),
                raw.decode("utf-8", "replace"),
            )
    except TimeoutError:
        return SendOutcome(False, True, f"timed out after {timeout:g}s")
    except aiohttp.ClientConnectorError as exc:
        return SendOutcome(
            False, True, f"cannot connect: {exc.os_error.strerror or type(exc.os_error).__name__}"
        )
    except (aiohttp.ClientError, OSError, asyncio.IncompleteReadError) as exc:
        return SendOutcome(False, True, f"{type(exc).__name__}: {exc}")


def reason_text(resp: Response) -> str:
    """The service's own words for a failure: Slack's short text, Workflows' error code and message."""
    data = resp.json()
    if isinstance(data, dict):
        error = data.get("error")
        if isinstance(error, dict):
            parts = [str(error.get("code", "")), str(error.get("message", ""))]
            return " ".join(p for p in parts if p)[:REASON_MAX]
        if isinstance(error, str):
            return error[:REASON_MAX]
    return " ".join(resp.text.split())[:REASON_MAX]


def classify(resp: Response, service: str, secrets: list[str]) -> SendOutcome:
    """The outcome of a non-2xx answer (see the module docstring)."""
    reason = redact(reason_text(resp), secrets)
    said = f": {reason}" if reason else ""
    if resp.status == 429:
        wait = f", retry after {resp.retry_after:g}s" if resp.retry_after is not None else ""
        return SendOutcome(
            False, True, f"{service} rate limited the target (HTTP 429{wait}){said}", resp.retry_after
        )
    if resp.status >= 500 or resp.status in _RETRYABLE:
        return SendOutcome(False, True, f"{service} answered HTTP {resp.status}{said}", resp.retry_after)
    if 300 <= resp.status < 400:
        return SendOutcome(False, False, f"{service} answered HTTP {resp.status} (a redirect: check the URL)")
    return SendOutcome(False, False, f"{service} refused the message (HTTP {resp.status}){said}")


class JsonPostTarget:
    """One native target (a `NativeSpec` endpoint) that posts one JSON body per message, sends serialised.

    Subclasses set `channel`, `service` (how details name the service) and `log` (their module's
    logger), and define `body`.
    """

    channel: ClassVar[Channel]
    #: The service as outcome details name it, e.g. ``"Slack"``.
    service: ClassVar[str]
    log: ClassVar[Any]

    def __init__(
        self, receiver: str, label: str, spec: NativeSpec, url: str, extra_secrets: list[str] | None = None
    ) -> None:
        self.receiver = receiver
        self.label = label
        self._spec = spec
        self._secrets = secret_parts(url) + secret_parts(spec.endpoint) + (extra_secrets or [])
        self._lock = asyncio.Lock()

    @property
    def name(self) -> str:
        """``receiver[label]``: how logs, metrics and the outbox name this target."""
        return f"{self.receiver}[{self.label}]"

    @property
    def privacy_url(self) -> str:
        """The endpoint with every path segment and query value (the signature) hidden."""
        return privacy_form(self._spec.endpoint)

    @property
    def identity(self) -> str:
        """The normalised target (secret; the caller hashes it into a stable key)."""
        return self._spec.identity

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name} {self.privacy_url}>"

    def body(self, msg: RenderedMessage) -> str:
        """The JSON text posted for ``msg``."""
        raise NotImplementedError

    def headers(self) -> dict[str, str] | None:
        """Headers sent besides Content-Type and User-Agent (none by default)."""
        return None

    async def send(self, msg: RenderedMessage, timeout: float = 30) -> SendOutcome:
        """Post one message; never raises for a delivery failure (the outcome says what happened)."""
        body = self.body(msg)
        headers = self.headers()
        async with self._lock:
            answer = await post_json(self._spec.endpoint, body, timeout, headers)
        outcome = answer if isinstance(answer, SendOutcome) else self._outcome(answer)
        outcome = SendOutcome(
            outcome.ok, outcome.retryable, redact(outcome.detail, self._secrets), outcome.retry_after
        )
        self.log.debug(
            "notify.send",
            target=self.name,
            url=self.privacy_url,
            ok=outcome.ok,
            retryable=outcome.retryable,
            detail=outcome.detail,
        )
        return outcome

    def _outcome(self, resp: Response) -> SendOutcome:
        """A 2xx is delivered; anything else is classified (see the module docstring)."""
        if 200 <= resp.status < 300:
            return SendOutcome(True, False, "delivered")
        return classify(resp, self.service, self._secrets)
