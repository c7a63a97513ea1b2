"""Which target URLs alertd posts itself (Slack, Teams Workflows), and where they post to.

Accepted forms (everything else goes to apprise):

Slack incoming webhook
    ``https://hooks.slack.com/services/T…/B…/…`` (also ``hooks.slack-gov.com``) and apprise's
    ``slack://[botname@]TokenA/TokenB/TokenC[/#channel]`` (``?mode=gov-hook`` for Slack GovCloud).
Slack bot (``chat.postMessage``)
    apprise's ``slack://xoxb-…/#channel``.
Teams (Power Automate / Power Platform Workflows)
    ``https://….logic.azure.com:443/workflows/<id>/triggers/manual/paths/invoke?…``,
    ``https://….environment.api.powerplatform.com:443/powerautomate/automations/direct/workflows/<id>/…``
    and apprise's ``workflows://HOST[:PORT]/WORKFLOW_ID/SIGNATURE/[?pa=yes&route=N&ver=V]``.
Explicit (any base URL: a proxy, a loopback test server)
    ``slack+https://host[:port]/path`` posts Slack webhook payloads to ``https://host[:port]/path``;
    ``slack+https://xoxb-TOKEN@host[:port]/#channel`` uses the bot API under that base
    (``/api/chat.postMessage``); ``teams+https://host[:port]/path?query`` posts Workflows
    messages to that URL. ``slack+http``/``teams+http`` do the same without TLS.

Slack Workflow Builder URLs (``/workflows/``, ``/triggers/``, ``?mode=workflow``) and templated
apprise URLs (``?template=``) stay with apprise: they take variables, not Block Kit or cards.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit, urlunsplit

from alertd.channels.base import TargetError, safe_scheme
from alertd.model import Channel

SLACK_HOOKS = {"": "https://hooks.slack.com/services", "gov": "https://hooks.slack-gov.com/services"}
SLACK_API = "https://slack.com/api/chat.postMessage"
_TOKEN = re.compile(r"^[A-Za-z0-9]+$")
_BOT_TOKEN = re.compile(r"^(?:xoxe\.)?xox[abp]-[A-Za-z0-9-]+$")
_SLACK_NATIVE = re.compile(
    r"^https://hooks\.slack(?:-gov)?\.com/services/[A-Za-z0-9]+/[A-Za-z0-9]+/[A-Za-z0-9]+/?$", re.I
)
_TEAMS_NATIVE = re.compile(
    r"^https?://[A-Z0-9_.-]+\.(?:logic\.azure\.[A-Z]{2,12}|(?:power|apps)platform(?:\.[A-Z0-9-]{2,24}){1,3})"
    r"(?::[0-9]{1,5})?(?:/powerautomate/automations/direct(?:/cu/[0-9]+)?)?"
    r"/workflows/[A-Z0-9_-]+/triggers/manual/paths/invoke/?\?.+$",
    re.I,
)
_WORKFLOW_VERSION = "2016-06-01"
_POWER_AUTOMATE_VERSION = "2022-03-01-preview"


@dataclass(frozen=True, slots=True)
class NativeSpec:
    """Where and how alertd posts a native target."""

    channel: Channel
    mode: str  # slack-webhook | slack-bot | teams-workflow
    endpoint: str
    token: str | None = None
    slack_channel: str | None = None
    username: str | None = None

    @property
    def identity(self) -> str:
        """The normalised target: mode, endpoint and destination (secret: it holds the tokens)."""
        text = f"{self.mode}:{self.endpoint}"
        if self.token:
            text += f"|token={self.token}"
        if self.slack_channel:
            text += f"|channel={self.slack_channel}"
        return text


def native_spec(url: str, where: str) -> NativeSpec | None:
    """The native target ``url`` names, None for a URL apprise should handle.

    Raises TargetError (naming ``where``, never the URL) for a Slack or Teams URL that is malformed.
    """
    text = url.strip()
    scheme = safe_scheme(text)
    if scheme in ("slack+http", "slack+https"):
        return _explicit_slack(text.split("+", 1)[1], where)
    if scheme in ("teams+http", "teams+https", "workflows+http", "workflows+https"):
        return _explicit_teams(text.split("+", 1)[1], where)
    if scheme in ("http", "https"):
        if _SLACK_NATIVE.match(text.split("#", 1)[0]):
            return NativeSpec(Channel.SLACK, "slack-webhook", text.split("#", 1)[0].rstrip("/"))
        if _TEAMS_NATIVE.match(text):
            return NativeSpec(Channel.TEAMS, "teams-workflow", text)
        return None
    if scheme == "slack":
        return _apprise_slack(text, where)
    if scheme in ("workflow", "workflows"):
        return _apprise_workflows(text, where)
    return None


def _query(parts: object) -> dict[str, str]:
    return {k.lower(): v for k, v in parse_qsl(getattr(parts, "query", ""), keep_blank_values=True)}


def _split(text: str) -> list[str]:
    """Channel lists as apprise writes them: ``#a/#b``, ``a,b``."""
    return [c for c in re.split(r"[\s,#/\\]+", unquote(text)) if c]


def _one_channel(candidates: list[str], where: str) -> str | None:
    names = [c for c in (unquote(x).strip() for x in candidates) if c]
    if len(names) > 1:
        raise TargetError(f"{where}: names {len(names)} Slack channels; configure one URL per channel")
    if not names:
        return None
    name = names[0]
    return name if name.startswith(("#", "@")) or re.match(r"^[CGDU][A-Z0-9]{6,}$", name) else f"#{name}"


def _apprise_slack(url: str, where: str) -> NativeSpec | None:
    parts = urlsplit(url)
    query = _query(parts)
    if query.get("mode", "").lower().startswith(("work", "tri")) or "template" in query or "token" in query:
        return None
    userinfo, _, host = parts.netloc.rpartition("@")
    token = unquote(host)
    entries = [unquote(p) for p in parts.path.split("/") if p]
    channels = entries + _split(parts.fragment) + _split(query.get("to", ""))
    if token.lower().startswith("xo"):
        if not _BOT_TOKEN.match(token):
            raise TargetError(f"{where}: invalid slack:// URL (a bot token looks like xoxb-…)")
        channel = _one_channel(channels, where)
        if channel is None:
            raise TargetError(f"{where}: a Slack bot URL needs a channel (slack://xoxb-…/#channel)")
        return NativeSpec(Channel.SLACK, "slack-bot", SLACK_API, token=token, slack_channel=channel)
    tokens = [token, *entries[:2]]
    if len(tokens) < 3 or not all(_TOKEN.match(t) for t in tokens):
        raise TargetError(f"{where}: invalid slack:// URL (expected slack://TokenA/TokenB/TokenC/#channel)")
    base = SLACK_HOOKS["gov" if query.get("mode", "").lower().startswith("gov") else ""]
    channel = _one_channel(channels[2:], where)
    return NativeSpec(
        Channel.SLACK,
        "slack-webhook",
        f"{base}/{'/'.join(tokens)}",
        slack_channel=channel,
        username=unquote(userinfo) or None,
    )


def _apprise_workflows(url: str, where: str) -> NativeSpec | None:
    parts = urlsplit(url)
    query = _query(parts)
    if "template" in query:
        return None
    entries = [unquote(p) for p in parts.path.split("/") if p]
    workflow = entries[0] if entries else query.get("workflow", "")
    signature = entries[1] if len(entries) > 1 else query.get("signature", "")
    host = parts.hostname
    if (
        not host
        or not re.match(r"^[A-Za-z0-9_-]+$", workflow)
        or not re.match(r"^[A-Za-z0-9_-]+$", signature)
    ):
        raise TargetError(
            f"{where}: invalid workflows:// URL (expected workflows://HOST/WORKFLOW_ID/SIGNATURE/)"
        )
    power_automate = query.get("pa", query.get("powerautomate", "no")).lower() in (
        "yes",
        "y",
        "1",
        "true",
        "on",
    )
    route = query.get("route") or query.get("routeid")
    path = "/powerautomate/automations/direct" if power_automate else ""
    if path and route and route.isdecimal():
        path += f"/cu/{route}"
    version = (
        query.get("ver")
        or query.get("api-version")
        or (_POWER_AUTOMATE_VERSION if power_automate else _WORKFLOW_VERSION)
    )
    params = urlencode(
        {"api-version": version, "sp": "/triggers/manual/run", "sv": "1.0", "sig": signature}, quote_via=quote
    )
    port = f":{parts.port}" if parts.port else ""
    endpoint = f"https://{host}{port}{path}/workflows/{workflow}/triggers/manual/paths/invoke?{params}"
    return NativeSpec(Channel.TEAMS, "teams-workflow", endpoint)


def _explicit_slack(url: str, where: str) -> NativeSpec:
    parts = urlsplit(url)
    if not parts.hostname:
        raise TargetError(f"{where}: invalid slack+http(s):// URL (no host)")
    userinfo, _, hostport = parts.netloc.rpartition("@")
    token = unquote(userinfo.partition(":")[0])
    if token:
        if not _BOT_TOKEN.match(token):
            raise TargetError(f"{where}: invalid slack+http(s):// URL (a bot token looks like xoxb-…)")
        query = _query(parts)
        channel = _one_channel([parts.fragment, query.get("channel", "")], where)
        if channel is None:
            raise TargetError(f"{where}: a Slack bot URL needs a channel (…/#channel)")
        path = parts.path.rstrip("/")
        path = path if path.endswith("chat.postMessage") else f"{path}/api/chat.postMessage"
        endpoint = urlunsplit((parts.scheme, hostport, path, "", ""))
        return NativeSpec(Channel.SLACK, "slack-bot", endpoint, token=token, slack_channel=channel)
    endpoint = urlunsplit((parts.scheme, hostport, parts.path, parts.query, ""))
    channel = _one_channel([parts.fragment], where)
    return NativeSpec(Channel.SLACK, "slack-webhook", endpoint, slack_channel=channel)


def _explicit_teams(url: str, where: str) -> NativeSpec:
    parts = urlsplit(url)
    if not parts.hostname:
        raise TargetError(f"{where}: invalid teams+http(s):// URL (no host)")
    return NativeSpec(Channel.TEAMS, "teams-workflow", urlunsplit((*parts[:4], "")))
