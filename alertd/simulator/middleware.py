"""The middleware every request passes: collection, request log, fault injection, Error bodies, Date.

Every answer carries a ``Date`` header on EM's clock: RFC 9110 §6.6.1 requires one from an origin
server with a clock, and EM answers through HTTP.sys (``Server: Microsoft-HTTPAPI/2.0``,
observed; reference §1), which always sends it.
"""

from __future__ import annotations

import email.utils

from aiohttp import web
from aiohttp.typedefs import Handler

from alertd.simulator.auth import TOKEN_HEADER
from alertd.simulator.context import BACKEND, Backend
from alertd.simulator.faults import FaultAction
from alertd.simulator.faultwire import pause, reset, stream_oversized
from alertd.simulator.handlers import REALM, TOKEN_REJECTED, request_token
from alertd.simulator.render import Renderer
from alertd.simulator.responses import EMError, error_response, renderer_for


@web.middleware
async def em_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    backend = request.app[BACKEND]
    backend.collect()  # EM answers from what its collection job has brought in by now
    entry = backend.log.record(
        request,
        backend.clock(),
        authenticated=request_token(request) is not None,
        content_type=request.headers.get("Content-Type"),
    )
    action = backend.faults.before(request.path)
    if action.kind is None:
        action = backend.faults.refusal(request.path, request.query) or action
    entry.fault = action.kind
    if action.delay > 0:
        await pause(backend.stopping, action.delay)
    renderer = renderer_for(request, backend.settings)
    if action.kind == "reset":
        reset(request)
    response = await _answer(request, handler, backend, renderer, action)
    if (
        isinstance(response, web.Response)
        and 200 <= response.status < 300
        and response.body
        and backend.faults.malformed(request.path, _page(request))
    ):
        entry.fault = "malformed"
        response = _truncated(response)
    if not response.prepared:
        response.headers["Date"] = http_date(backend)
    entry.status = response.status
    return response


def http_date(backend: Backend) -> str:
    """EM's clock as an HTTP date (IMF-fixdate, whole seconds)."""
    return email.utils.format_datetime(backend.clock(), usegmt=True)


async def _answer(
    request: web.Request, handler: Handler, backend: Backend, renderer: Renderer, action: FaultAction
) -> web.StreamResponse:
    settings = backend.settings
    if action.kind == "unauthorized":
        return error_response(renderer, 401, TOKEN_REJECTED, settings, REALM)
    if action.kind in ("fail", "refused"):
        return error_response(renderer, action.status, action.message, settings)
    if action.kind == "oversized":
        return await _oversized(request, renderer, action, backend)
    try:
        return await handler(request)
    except EMError as err:
        return error_response(renderer, err.status, err.message, settings, err.headers)
    except web.HTTPException as exc:  # routing: 404 unknown path, 405 wrong method
        headers = {key: value for key, value in exc.headers.items() if key.lower() == "allow"}
        return error_response(renderer, exc.status, exc.reason, settings, headers)


async def _oversized(
    request: web.Request, renderer: Renderer, action: FaultAction, backend: Backend
) -> web.StreamResponse:
    """A 200 that starts like a query result and never ends before ``action.size`` bytes."""
    response = web.StreamResponse(
        status=200,
        headers={
            "Content-Type": f"{renderer.content_type}; charset=utf-8",
            "Server": backend.settings.server_header,
            "Date": http_date(backend),
        },
    )
    return await stream_oversized(request, response, renderer.oversized_prefix(), action, backend.stopping)


def _page(request: web.Request) -> int | None:
    text = next((value for key, value in request.query.items() if key.lower() == "page"), "1")
    return int(text) if text.isdigit() else None


def _truncated(response: web.Response) -> web.Response:
    body = bytes(response.body) if isinstance(response.body, bytes | bytearray) else b""
    cut = web.Response(status=response.status, body=body[: len(body) // 2])
    for key in ("Content-Type", "Server", "Date", TOKEN_HEADER, "Set-Cookie"):
        if key in response.headers:
            cut.headers[key] = response.headers[key]
    return cut
