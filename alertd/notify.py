"""Delivery edge: one configured target URL, sent to through apprise 2.x.

This module owns everything alertd knows about apprise: building exactly one ``apprise.Apprise``
object per target URL (so retrying one target never re-sends to another), switching off
apprise's own blocking throttle and retries (alertd paces and retries per target itself),
mapping alertd's ``BodyFormat``/``NotifyType`` to apprise's, and turning apprise's result and
log lines into a ``SendOutcome`` that says whether a retry can help. Secrets in target URLs
never leave this module except in apprise's privacy form (``url(privacy=True)``).
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Iterable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Final
from urllib.parse import parse_qsl, unquote, urlsplit

import apprise
import structlog
from apprise.plugins.email import NotifyEmail
from apprise.result import AppriseResult, AppriseResultStatus

from alertd.model import BodyFormat, Channel, NotifyType, RenderedMessage

log = structlog.get_logger(__name__)

# Plugins log through this logger instead of apprise's global "apprise" logger. At DEBUG they
# write request URLs (webhook tokens included) and exception text: we want that text captured
# into each send's result (to classify the failure) but never emitted to the daemon's log
# handlers, whatever level the operator configures. So: DEBUG, no propagation, a NullHandler
# (else logging's last-resort handler would print warnings to stderr).
_PLUGIN_LOGGER: Final = logging.getLogger("alertd.notify.apprise")
_PLUGIN_LOGGER.setLevel(logging.DEBUG)
_PLUGIN_LOGGER.propagate = False
_PLUGIN_LOGGER.addHandler(logging.NullHandler())

# apprise's email-style plugins (they take an HTML body and make a Subject of the title).
_EMAIL_PLUGINS: Final = frozenset(
    {
        "NotifyACS",
        "NotifyBrevo",
        "NotifyGroundmail",
        "NotifyMailerSend",
        "NotifyMailgun",
        "NotifyOffice365",
        "NotifyPostmark",
        "NotifyResend",
        "NotifySendGrid",
        "NotifySendPulse",
        "NotifySES",
        "NotifySMTP2Go",
        "NotifySparkPost",
    }
)

_BODY_FORMATS: Final = {
    BodyFormat.MARKDOWN: apprise.NotifyFormat.MARKDOWN,
    BodyFormat.HTML: apprise.NotifyFormat.HTML,
    BodyFormat.TEXT: apprise.NotifyFormat.TEXT,
}
_NOTIFY_TYPES: Final = {
    NotifyType.INFO: apprise.NotifyType.INFO,
    NotifyType.SUCCESS: apprise.NotifyType.SUCCESS,
    NotifyType.WARNING: apprise.NotifyType.WARNING,
    NotifyType.FAILURE: apprise.NotifyType.FAILURE,
}

_SCHEME = re.compile(r"\s*([A-Za-z][A-Za-z0-9+.\-]{0,31})://")
# apprise's HTTP plugins log "...: Bad Request, error=400." on a non-2xx answer.
_HTTP_STATUS = re.compile(r"\berror=(\d{3})\b")
# smtplib exceptions print as "(451, b'4.3.0 Try later')" or "{'rcpt': (550, b'...')}".
_SMTP_REPLY = re.compile(r"\((\d{3}), b?['\"]")
_FAILURE_TEXT = re.compile(
    r"error=|fail|error|refused|timed out|timeout|invalid|could not|unable|exception|\(\d{3}, b",
    re.IGNORECASE,
)
_NOISE = re.compile(r"\S+ (POST|GET|PUT) URL:|\S+ Payload:|Throttling|Applying|Connecting|Securing")
_RESPONSE_DETAILS = re.compile(r"Response Details: (b?'.*'|b?\".*\")$")
_RESPONSE_MAX = 160
_ANY_URL = re.compile(r"\b([a-z][a-z0-9+.\-]*://[^/\s'\"?#]*)[^\s'\"]*", re.IGNORECASE)
_URL_PATH = re.compile(r"(\burl: )\S+", re.IGNORECASE)
_DETAIL_MAX = 500
#: HTTP statuses worth retrying: request timeout, too early, rate limited (and all 5xx).
_RETRYABLE_HTTP: Final = frozenset({408, 425, 429})


# apprise's own messages while parsing a URL quote it, only partly masked ("Could not load Slack
# URL: slack://T...D/B...H/secret"). While alertd instantiates a plugin, this filter keeps those
# records away from every log handler and hands their text to the TargetError (redacted).
_HELD_APPRISE_LOGS: ContextVar[list[str] | None] = ContextVar("alertd_held_apprise_logs", default=None)


class _HoldApprise(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        held = _HELD_APPRISE_LOGS.get()
        if held is None:
            return True
        if record.levelno >= logging.WARNING:
            held.append(record.getMessage())
        return False


if not any(isinstance(f, _HoldApprise) for f in logging.getLogger("apprise").filters):
    logging.getLogger("apprise").addFilter(_HoldApprise())


class TargetError(ValueError):
    """A target URL that apprise cannot use. The message never contains the URL itself."""


@dataclass(frozen=True, slots=True)
class SendOutcome:
    """What one send attempt did: ``detail`` is safe to log and store (no secrets)."""

    ok: bool
    retryable: bool
    detail: str


def safe_scheme(url: str) -> str | None:
    """The URL's scheme if it looks like one (the only part of a raw URL we ever repeat)."""
    match = _SCHEME.match(url)
    return match.group(1).lower() if match else None


#: apprise's own URL options, safe to show; every other query value may carry a secret
#: (``+Authorization=`` headers, ``-token=`` parameters, ``:key=`` payload fields).
_SAFE_OPTIONS = frozenset(
    {
        "method",
        "overflow",
        "retry",
        "wait",
        "optional",
        "format",
        "mode",
        "from",
        "to",
        "cc",
        "bcc",
        "name",
        "smtp",
        "image",
        "footer",
        "blocks",
        "timestamp",
        "pa",
        "ver",
        "wrap",
        "verify",
        "rto",
        "cto",
        "emojis",
        "tz",
        "priority",
        "tags",
        "avatar",
        "reply",
    }
)


def mask_query(url: str) -> str:
    """Mask every query value that is not a known-harmless apprise option."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if not parts.query:
        return url
    masked = []
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        shown = value if key.lower() in _SAFE_OPTIONS or not value else "***"
        masked.append(f"{key}={shown}")
    return parts._replace(query="&".join(masked)).geturl()


def _known_scheme(scheme: str) -> bool:
    if scheme in ("http", "https"):
        # Native service URLs (hooks.slack.com, Power Automate, Discord, ...) are recognised by
        # apprise's plugins themselves; instantiate() says whether one of them claims it.
        return True
    try:
        from apprise.plugins import N_MGR
    except ImportError:  # pragma: no cover - apprise moved its plugin registry
        return True
    return scheme in N_MGR


class AppriseTarget:
    """One target URL of one receiver, e.g. ``ops[0]``, with its own ``apprise.Apprise`` object.

    Sends are serialised per target (apprise plugin instances keep unlocked state); different
    targets send concurrently.
    """

    def __init__(self, receiver: str, index: int, url: str) -> None:
        """Build the apprise plugin for ``url``; raise ``TargetError`` (without the URL) if unusable."""
        self.receiver = receiver
        self.index = index
        scheme = safe_scheme(url)
        where = f"target {receiver}[{index}]"
        if scheme is None:
            # apprise would log the whole string ("Unsupported URL: ...") at ERROR: stop first.
            raise TargetError(f"{where}: not a URL of the form scheme://...")
        if not _known_scheme(scheme):
            raise TargetError(f"{where}: unsupported scheme {scheme}:// (not an apprise service)")
        asset = apprise.AppriseAsset(
            async_mode=True,
            secure_logging=True,
            # alertd's outbox retries with backoff; apprise retrying inside a send would hide
            # failures and multiply attempts.
            default_service_retry=0,
        )
        held: list[str] = []
        token = _HELD_APPRISE_LOGS.set(held)
        try:
            plugin = apprise.Apprise.instantiate(url, asset=asset)
        finally:
            _HELD_APPRISE_LOGS.reset(token)
        if plugin is None:
            hint = _instantiate_hint(held, _url_parts(url))
            raise TargetError(f"{where}: invalid {scheme}:// URL ({hint})")
        # Instance overrides, checked against apprise 2.3.0:
        # - the throttle sleeps (blocking a worker thread) up to 5.5 s between sends for
        #   workflows/email; alertd paces per target itself;
        plugin.request_rate_per_sec = 0
        # - ?retry=N / ?wait=S in a user's URL would make apprise retry inside one send;
        plugin.retry = 0
        plugin.wait = 0.0
        # - plugin log lines (URLs at DEBUG) go only to this send's captured result.
        plugin.logger = _PLUGIN_LOGGER
        self._plugin = plugin
        self._apprise = apprise.Apprise(asset=asset)
        if not self._apprise.add(plugin):  # pragma: no cover - add() of a plugin object succeeds
            raise TargetError(f"{where}: apprise refused the {scheme}:// URL")
        self.scheme = scheme
        self._secrets = _secret_parts(url, self.privacy_url)
        self._lock = asyncio.Lock()

    @property
    def name(self) -> str:
        """``receiver[index]``: how logs, metrics and the outbox name this target."""
        return f"{self.receiver}[{self.index}]"

    @property
    def privacy_url(self) -> str:
        """apprise's URL with tokens and passwords masked, plus custom headers and parameters; safe to log."""
        return mask_query(str(self._plugin.url(privacy=True)))  # type: ignore[no-untyped-call]

    @property
    def service_name(self) -> str:
        """apprise's human name of the service, e.g. ``Slack``."""
        return str(self._plugin.service_name)

    @property
    def kind(self) -> Channel:
        """EMAIL for mailto/mailtos and email-service plugins, else CHAT."""
        cls = type(self._plugin)
        if isinstance(self._plugin, NotifyEmail) or cls.__name__ in _EMAIL_PLUGINS:
            return Channel.EMAIL
        return Channel.CHAT

    @property
    def body_format_for_kind(self) -> BodyFormat:
        """The body format alertd renders for this target: HTML for email, Markdown for chat."""
        return BodyFormat.HTML if self.kind == "email" else BodyFormat.MARKDOWN

    @property
    def throttle_seconds(self) -> float:
        """apprise's per-instance pause between sends (0: alertd paces sends itself)."""
        return float(self._plugin.request_rate_per_sec)

    def __repr__(self) -> str:
        return f"<AppriseTarget {self.name} {self.privacy_url}>"

    # ``timeout`` is apprise's own per-call deadline, not an asyncio cancel scope: apprise cannot
    # cancel a plugin's worker thread, it marks the result TIMEOUT and stops waiting.
    async def send(self, msg: RenderedMessage, timeout: float = 30) -> SendOutcome:
        """Send one message; never raises for a delivery failure (the outcome says what happened)."""
        async with self._lock:
            try:
                result = await self._apprise.async_notify(
                    body=msg.body,
                    title=msg.title,
                    notify_type=_NOTIFY_TYPES[msg.notify_type],
                    body_format=_BODY_FORMATS[msg.body_format],
                    timeout=timeout,
                    log_level=logging.DEBUG,
                )
            except Exception as exc:  # apprise reports failures in its result; be safe anyway
                outcome = SendOutcome(False, True, self._redact(f"{type(exc).__name__}: {exc}"))
            else:
                with result:
                    outcome = self._outcome(result, timeout)
        log.debug(
            "notify.send",
            target=self.name,
            url=self.privacy_url,
            ok=outcome.ok,
            retryable=outcome.retryable,
            detail=outcome.detail,
        )
        return outcome

    # ---- internals -----------------------------------------------------------------------

    def _outcome(self, result: AppriseResult, timeout: float) -> SendOutcome:
        if result:
            return SendOutcome(True, False, "delivered")
        lines = _useful_lines(entry.message for entry in result.logs())
        detail = self._redact("; ".join(lines))
        if result.status == AppriseResultStatus.NOMATCH:
            return SendOutcome(False, False, detail or "apprise matched no service")
        if result.status == AppriseResultStatus.TIMEOUT:
            return SendOutcome(False, True, _join(f"timed out after {timeout:g}s", detail))
        return SendOutcome(False, _retryable(self.kind, lines), detail or "apprise reported a failure")

    def _redact(self, text: str) -> str:
        # Parts of the raw URL that apprise masks in the privacy form are secrets; so are the
        # paths and query strings of any URL that exception text (from requests) quotes.
        for secret in self._secrets:
            text = text.replace(secret, "***")
        text = _ANY_URL.sub(lambda m: m.group(1) + "/***", text)
        text = _URL_PATH.sub(lambda m: m.group(1) + "***", text)
        return text if len(text) <= _DETAIL_MAX else text[: _DETAIL_MAX - 1] + "…"


def _useful_lines(messages: Iterable[str]) -> list[str]:
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


def _retryable(kind: Channel, lines: list[str]) -> bool:
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
    replies = [int(code) for code in _SMTP_REPLY.findall(text)]
    if kind == "email" and replies:
        return all(400 <= code < 500 for code in replies)
    # The server offers no AUTH but the URL has credentials: configuration, not weather.
    return "SMTP AUTH extension not supported" not in text


def _join(*parts: str) -> str:
    return ": ".join(p for p in parts if p)


def _url_parts(url: str) -> set[str]:
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


def _secret_parts(url: str, privacy_url: str) -> list[str]:
    """Pieces of ``url`` that apprise masks in its privacy form, longest first."""
    shown = privacy_url + unquote(privacy_url)
    # A part apprise shows unmasked (host, recipients, options) is not a secret.
    return sorted((c for c in _url_parts(url) if c not in shown), key=len, reverse=True)


def _instantiate_hint(messages: list[str], url_parts: set[str]) -> str:
    """apprise's reasons for refusing a URL, minus anything that could be part of it."""
    hints: list[str] = []
    for message in messages:
        if "URL" in message:  # "Could not load ... URL: <url>" only restates the URL
            continue
        for part in sorted(url_parts, key=len, reverse=True):
            message = message.replace(part, "***")
        # apprise quotes offending values in parentheses; a value with digits may be a token.
        message = re.sub(r"\((?!None\))[^)]*\d[^)]*\)", "(***)", message)
        if message not in hints:
            hints.append(message)
    return " ".join(hints) or "missing or malformed token, host or address"
