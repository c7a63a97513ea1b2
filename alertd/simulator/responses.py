"""Content negotiation and response building: every non-2xx answer carries an Error body."""

from __future__ import annotations

from collections.abc import Mapping

from aiohttp import web

from alertd.simulator.jsonbody import JsonRenderer
from alertd.simulator.links import Hrefs
from alertd.simulator.render import Renderer
from alertd.simulator.settings import EMSettings
from alertd.simulator.xmlbody import XmlRenderer

_XML_TYPES = ("application/xml", "text/xml")


class EMError(Exception):
    """Raised by handlers; the middleware turns it into an Error body with this status."""

    def __init__(self, status: int, message: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = dict(headers or {})


def _media_types(accept: str) -> list[str]:
    return [part.split(";", 1)[0].strip().lower() for part in accept.split(",") if part.strip()]


def wants_json(accept: str) -> bool:
    """The first of xml/json listed wins; no Accept, ``*/*`` or anything else means XML.

    No Accept means XML [doc], ``*/*`` too [obs] (reference §1.4); which of two listed types wins
    is unknown (EM broke on such requests, §1.4), so the first is taken.
    """
    for media in _media_types(accept):
        if media == "application/json":
            return True
        if media in _XML_TYPES:
            return False
    return False


def mixed_accept(accept: str) -> bool:
    """An Accept listing both xml and json (broke POST/PUT on 9.5U4)."""
    types = _media_types(accept)
    return "application/json" in types and any(media in types for media in _XML_TYPES)


def renderer_for(request: web.Request, settings: EMSettings) -> Renderer:
    hrefs = Hrefs(settings.public_base)
    vm_uid = not settings.em9_mode
    if wants_json(request.headers.get("Accept", "")):
        return JsonRenderer(hrefs, bom=settings.json_bom, camel_case=settings.json_camel_case, vm_uid=vm_uid)
    return XmlRenderer(hrefs, vm_uid=vm_uid)


def body_response(renderer: Renderer, status: int, body: bytes, settings: EMSettings) -> web.Response:
    return web.Response(
        status=status,
        body=body,
        headers={"Content-Type": f"{renderer.content_type}; charset=utf-8", "Server": settings.server_header},
    )


def error_response(
    renderer: Renderer,
    status: int,
    message: str,
    settings: EMSettings,
    headers: Mapping[str, str] | None = None,
) -> web.Response:
    response = body_response(renderer, status, renderer.error(status, message), settings)
    response.headers.update(headers or {})
    return response
