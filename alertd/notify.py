"""The apprise edge: a configured target URL that alertd does not post itself, sent through apprise 2.x.

This module owns everything alertd knows about apprise: exactly one ``apprise.Apprise`` object
per target URL (so retrying one target never re-sends to another); apprise's own blocking
throttle, retries and branding switched off (alertd paces and retries per target itself);
alertd's ``BodyFormat``/``NotifyType`` mapped to apprise's; email given the text/plain part and
the attachments alertd rendered; apprise's result and log lines turned into a ``SendOutcome``
that says whether a retry can help. Target URLs leave this module only in privacy form.

It is imported only when an apprise URL is configured (``alertd.channels.make_target``), so a
daemon that only posts to Slack and Teams never loads apprise or its plugin table.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Final

import apprise
import structlog
from apprise.attachment.memory import AttachMemory
from apprise.plugins import NotifyBase
from apprise.result import AppriseResult, AppriseResultStatus

from alertd.channels import apprise_logs
from alertd.channels.base import MASK, SendOutcome, TargetError, privacy_form, redact, safe_scheme
from alertd.model import BodyFormat, Channel, NotifyType, RenderedMessage

__all__ = ["AppriseTarget", "SendOutcome", "TargetError"]

log = structlog.get_logger(__name__)

# Plugins log through this logger instead of apprise's global "apprise" logger. At DEBUG they
# write request URLs (webhook tokens included) and exception text: that text is captured into
# each send's result (to classify the failure) but never reaches the daemon's log handlers,
# whatever level the operator configures: DEBUG, no propagation, a NullHandler.
_PLUGIN_LOGGER: Final = logging.getLogger("alertd.notify.apprise")
_PLUGIN_LOGGER.setLevel(logging.DEBUG)
_PLUGIN_LOGGER.propagate = False
_PLUGIN_LOGGER.addHandler(logging.NullHandler())

# apprise's email-style plugins (they take an HTML body and make a Subject of the title).
_EMAIL_PLUGINS: Final = frozenset(
    {
        "NotifyACS", "NotifyBrevo", "NotifyGroundmail", "NotifyMailerSend", "NotifyMailgun",
        "NotifyOffice365", "NotifyPostmark", "NotifyResend", "NotifySendGrid", "NotifySendPulse",
        "NotifySES", "NotifySMTP2Go", "NotifySparkPost",
    }
)  # fmt: skip

_BODY_FORMATS: Final = {
    BodyFormat.MARKDOWN: apprise.NotifyFormat.MARKDOWN,
    BodyFormat.HTML: apprise.NotifyFormat.HTML,
    BodyFormat.TEXT: apprise.NotifyFormat.TEXT,
    BodyFormat.JSON: apprise.NotifyFormat.TEXT,  # a native payload reaching apprise: sent as text
}
_NOTIFY_TYPES: Final = {
    NotifyType.INFO: apprise.NotifyType.INFO,
    NotifyType.SUCCESS: apprise.NotifyType.SUCCESS,
    NotifyType.WARNING: apprise.NotifyType.WARNING,
    NotifyType.FAILURE: apprise.NotifyType.FAILURE,
}

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

# apprise builds an HTML email's text/plain part itself (one table cell per line). While alertd
# sends an email that carries its own text part, this context variable holds that text, and the
# email plugin's HTML-to-text conversion returns it. apprise copies context variables into its
# worker threads, so concurrent sends to different targets each see their own text.
_EMAIL_TEXT: ContextVar[str | None] = ContextVar("alertd_email_text", default=None)


def _convert_with(original: Callable[..., Any]) -> Callable[..., Any]:
    def convert_between(from_format: Any, to_format: Any, content: Any, *args: Any, **kwargs: Any) -> Any:
        text = _EMAIL_TEXT.get()
        if (
            text is not None
            and from_format == apprise.NotifyFormat.HTML
            and to_format == apprise.NotifyFormat.TEXT
        ):
            return text
        return original(from_format, to_format, content, *args, **kwargs)

    convert_between.__wrapped__ = original  # type: ignore[attr-defined]
    return convert_between


def _prepare_email() -> None:
    """Set apprise's SMTP plugin up for alertd, once, when the first mailto/mailtos target is built.

    Done then rather than at import: the email plugin (smtplib, the email package, its templates)
    costs ~1 MB that a daemon without email targets should not carry. Two module-level changes,
    checked against apprise 2.3.0:

    * its HTML-to-text conversion returns alertd's own text part while one is set (see above);
    * during alertd's sends, its SMTP wrapper logs to the plugin logger, like the plugin itself.
      It reports a refused DATA or RCPT (smtplib's ``(554, b'...')``) only in a DEBUG line on its
      module logger, which is held at WARNING and not captured per send: the send's result then
      said only "failed", and a permanent 5xx was retried until retry_for ran out. On the plugin
      logger the line is captured into that send's own result (apprise keeps concurrent sends
      apart) and never reaches a log handler. Outside alertd's sends it logs as before.
    """
    email_base = importlib.import_module("apprise.plugins.email.base")
    current = getattr(email_base, "convert_between")  # noqa: B009 - not re-exported
    if getattr(current, "__wrapped__", None) is None:
        setattr(email_base, "convert_between", _convert_with(current))  # noqa: B010 - see above
    smtp = importlib.import_module("apprise.plugins.email.smtp")
    logger = getattr(smtp, "logger")  # noqa: B009 - a module global, not an API
    if not isinstance(logger, _SendLogger):
        setattr(smtp, "logger", _SendLogger(logger))  # noqa: B010 - see above


#: True while alertd's own send runs (apprise copies it into the send's worker thread).
_SENDING: ContextVar[bool] = ContextVar("alertd_sending", default=False)


class _SendLogger:
    """A module logger of apprise's that logs to the plugin logger while alertd sends."""

    def __init__(self, original: logging.Logger) -> None:
        self._original = original

    def __getattr__(self, name: str) -> Any:
        return getattr(_PLUGIN_LOGGER if _SENDING.get() else self._original, name)


def _is_smtp(plugin: object) -> bool:
    """The plugin is apprise's mailto/mailtos plugin (never true while its module is not loaded)."""
    module = sys.modules.get("apprise.plugins.email")
    cls = getattr(module, "NotifyEmail", None)
    return cls is not None and isinstance(plugin, cls)


@contextmanager
def _sending(email_text: str | None) -> Iterator[None]:
    """Mark one of alertd's sends (with the email text part it carries, if any)."""
    token = _EMAIL_TEXT.set(email_text)
    sending = _SENDING.set(True)
    try:
        yield
    finally:
        _SENDING.reset(sending)
        _EMAIL_TEXT.reset(token)


def _asset() -> apprise.AppriseAsset:
    return apprise.AppriseAsset(
        async_mode=True,
        secure_logging=True,
        # alertd's outbox retries with backoff; apprise retrying inside a send would hide
        # failures and multiply attempts.
        default_service_retry=0,
        # No apprise branding in what people receive: X-Application and the default From name
        # say alertd, and no plugin attaches apprise's icon.
        app_id="alertd",
        app_desc="alertd",
        app_url="https://alertd.invalid/",
        image_url_mask="",
        image_url_logo="",
        image_path_mask=False,
    )


# The plugin of each common scheme, by module and class in apprise 2.3's ``apprise/plugins/``.
# apprise 2.3 can only load its whole plugin table (~150 modules, ~16 MB, on the first URL it
# parses: ``PluginManager.load_modules`` scans the directory; there is no per-scheme loading),
# but every plugin class can parse and build its own URLs: ``Apprise.instantiate`` is
# ``N_MGR[scheme].parse_url(url)`` and then ``N_MGR[scheme](**results)``. For these schemes
# alertd makes the same two calls on the one class, and ``Apprise.add`` accepts the plugin object
# without the table. Any other scheme goes through ``Apprise.instantiate`` and the whole table.
# tests/test_apprise_contract.py checks each entry against apprise's own table.
NATIVE_PLUGINS: Final[dict[str, tuple[str, str]]] = {
    "json": ("custom_json", "NotifyJSON"),
    "jsons": ("custom_json", "NotifyJSON"),
    "xml": ("custom_xml", "NotifyXML"),
    "xmls": ("custom_xml", "NotifyXML"),
    "form": ("custom_form", "NotifyForm"),
    "forms": ("custom_form", "NotifyForm"),
    "mailto": ("email", "NotifyEmail"),
    "mailtos": ("email", "NotifyEmail"),
    "ntfy": ("ntfy", "NotifyNtfy"),
    "ntfys": ("ntfy", "NotifyNtfy"),
    "gotify": ("gotify", "NotifyGotify"),
    "gotifys": ("gotify", "NotifyGotify"),
    "discord": ("discord", "NotifyDiscord"),
    "tgram": ("telegram", "NotifyTelegram"),
    "mmost": ("mattermost", "NotifyMattermost"),
    "mmosts": ("mattermost", "NotifyMattermost"),
    "pover": ("pushover", "NotifyPushover"),
    "pagerduty": ("pagerduty", "NotifyPagerDuty"),
    "opsgenie": ("opsgenie", "NotifyOpsgenie"),
}


def _instantiate(url: str, scheme: str, asset: apprise.AppriseAsset) -> NotifyBase | None:
    """The plugin for ``url`` (None if apprise refuses it), loading as little of apprise as it can."""
    native = NATIVE_PLUGINS.get(scheme.lower())
    if native is None:
        return apprise.Apprise.instantiate(url, asset=asset)
    module, name = native
    cls: type[NotifyBase] = getattr(importlib.import_module(f"apprise.plugins.{module}"), name)
    if not cls.enabled:
        return None
    # What apprise.plugins.url_to_dict does before parse_url: a '/#' (a channel) stays in the path.
    results = cls.parse_url(url.replace("/#", "/%23"))
    if not results:
        return None
    results["tag"] = set()
    results["asset"] = asset
    try:
        plugin = cls(**results)
    except Exception:  # apprise.Apprise.instantiate does the same: a refused URL is None
        return None
    return plugin if plugin.enabled else None


class AppriseTarget:
    """One target URL of one receiver, e.g. ``ops[0]``, with its own ``apprise.Apprise`` object.

    Sends are serialised per target (apprise plugin instances keep unlocked state); different
    targets send concurrently.
    """

    def __init__(self, receiver: str, label: str | int, url: str) -> None:
        """Build the apprise plugin for ``url``; raise ``TargetError`` (without the URL) if unusable."""
        self.receiver = receiver
        self.label = str(label)
        scheme = safe_scheme(url)
        where = f"target {self.name}"
        if scheme is None:
            # apprise would log the whole string ("Unsupported URL: ...") at ERROR: stop first.
            raise TargetError(f"{where}: not a URL of the form scheme://...")
        if scheme.lower() not in NATIVE_PLUGINS and not _known_scheme(scheme):
            raise TargetError(f"{where}: unsupported scheme {scheme}:// (not an apprise service)")
        asset = _asset()
        held: list[str] = []
        token = _HELD_APPRISE_LOGS.set(held)
        try:
            plugin = _instantiate(url, scheme, asset)
        finally:
            _HELD_APPRISE_LOGS.reset(token)
        if plugin is None:
            hint = apprise_logs.instantiate_hint(held, apprise_logs.url_parts(url))
            raise TargetError(f"{where}: invalid {scheme}:// URL ({hint})")
        if _is_smtp(plugin):
            _prepare_email()
        # Instance overrides, checked against apprise 2.3.0: the throttle sleeps (blocking a
        # worker thread) up to 5.5 s between sends; ?retry=N / ?wait=S would retry inside one
        # send; plugin log lines (URLs at DEBUG) go only to this send's captured result.
        plugin.request_rate_per_sec = 0
        plugin.retry = 0
        plugin.wait = 0.0
        plugin.logger = _PLUGIN_LOGGER
        self._plugin = plugin
        self._apprise = apprise.Apprise(asset=asset)
        if not self._apprise.add(plugin):  # pragma: no cover - add() of a plugin object succeeds
            raise TargetError(f"{where}: apprise refused the {scheme}:// URL")
        self.scheme = scheme
        self._privacy = privacy_form(str(plugin.url(privacy=True)))  # type: ignore[no-untyped-call]
        # Everything of the URL the privacy form does not show is redacted from details: every
        # path segment and query value (a generic webhook's path is its token), passwords.
        canonical = str(plugin.url(privacy=False))  # type: ignore[no-untyped-call]
        self._secrets = apprise_logs.secret_parts(url, self._privacy)
        self._secrets += [
            p for p in apprise_logs.secret_parts(canonical, self._privacy) if p not in self._secrets
        ]
        self._lock = asyncio.Lock()

    @property
    def name(self) -> str:
        """``receiver[label]``: how logs, metrics and the outbox name this target."""
        return f"{self.receiver}[{self.label}]"

    @property
    def privacy_url(self) -> str:
        """apprise's privacy URL with every path segment and query value hidden too; safe to log."""
        return self._privacy

    @property
    def identity(self) -> str:
        """apprise's canonical form of the URL (secret; the caller hashes it into a stable key)."""
        return str(self._plugin.url(privacy=False))  # type: ignore[no-untyped-call]

    @property
    def channel(self) -> Channel:
        """EMAIL for mailto/mailtos and the email-service plugins, else CHAT."""
        if _is_smtp(self._plugin) or type(self._plugin).__name__ in _EMAIL_PLUGINS:
            return Channel.EMAIL
        return Channel.CHAT

    @property
    def kind(self) -> str:
        """``email`` or ``chat``: ``channel.value``, for callers not yet using ``channel``."""
        return self.channel.value

    def __repr__(self) -> str:
        return f"<AppriseTarget {self.name} {self.privacy_url}>"

    # ``timeout`` is apprise's own per-call deadline, not an asyncio cancel scope: apprise cannot
    # cancel a plugin's worker thread, it marks the result TIMEOUT and stops waiting.
    async def send(self, msg: RenderedMessage, timeout: float = 30) -> SendOutcome:
        """Send one message; never raises for a delivery failure (the outcome says what happened)."""
        email = self.channel is Channel.EMAIL
        attach = [
            AttachMemory(content=a.content, name=a.name, mimetype=a.mime_type)  # type: ignore[no-untyped-call]
            for a in msg.attachments
        ]
        async with self._lock:
            try:
                with _sending(msg.text if email and msg.body_format is BodyFormat.HTML else None):
                    result = await self._apprise.async_notify(
                        body=msg.body,
                        title=msg.title,
                        notify_type=_NOTIFY_TYPES[msg.notify_type],
                        body_format=_BODY_FORMATS[msg.body_format],
                        attach=attach or None,
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
        lines = apprise_logs.useful_lines(entry.message for entry in result.logs())
        detail = self._redact("; ".join(lines))
        if result.status == AppriseResultStatus.NOMATCH:
            return SendOutcome(False, False, detail or "apprise matched no service")
        if result.status == AppriseResultStatus.TIMEOUT:
            return SendOutcome(False, True, apprise_logs.join(f"timed out after {timeout:g}s", detail))
        email = self.channel is Channel.EMAIL
        return SendOutcome(
            False, apprise_logs.retryable(email, lines), detail or "apprise reported a failure"
        )

    def _redact(self, text: str) -> str:
        # Parts of the raw URL that apprise masks are secrets; so are the paths and query
        # strings of any URL that exception text (from requests) quotes.
        text = redact(text, self._secrets, limit=10_000)
        text = apprise_logs.URL_PATH.sub(lambda m: m.group(1) + MASK, text)
        return text if len(text) <= 500 else text[:499] + "…"


def _known_scheme(scheme: str) -> bool:
    if scheme in ("http", "https"):
        # Native service URLs (Discord, ...) are recognised by apprise's plugins themselves;
        # instantiate() says whether one of them claims it.
        return True
    try:
        from apprise.plugins import N_MGR
    except ImportError:  # pragma: no cover - apprise moved its plugin registry
        return True
    return scheme in N_MGR
