"""The middleware every request passes: request log, faults, ``x-api-version``, bearer check,
Error bodies, and the observer that sees each exchange.

Order follows the documents where they speak: every request must carry a revision the build
accepts (reference §1.2, including the token call), and every operation but the two declared
``security: []`` needs ``Authorization: Bearer`` (§1.3, OpenAPI).
"""

from __future__ import annotations

from aiohttp import web
from aiohttp.typedefs import Handler

from alertd.simulator.faults import UNAVAILABLE, FaultAction
from alertd.simulator.faultwire import pause, reset, stream_oversized
from alertd.simulator.vbr.backend import BACKEND, Backend
from alertd.simulator.vbr.errors import (
    NOT_FOUND,
    UNAUTHORIZED,
    VBRHttpError,
    error_response,
    for_status,
    unsupported_version,
)
from alertd.simulator.vbr.exchange import Exchange
from alertd.simulator.vbr.handlers import ANONYMOUS, bearer

__all__ = ["vbr_middleware"]


@web.middleware
async def vbr_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    backend = request.app[BACKEND]
    body = await request.read()
    entry = backend.log.record(request, backend.clock(), authenticated=bearer(request) is not None)
    action = backend.faults.before(request.path)
    entry.fault = action.kind
    if action.delay > 0:
        await pause(backend.stopping, action.delay)
    if action.kind == "reset":
        _observe(backend, request, body, None, b"", "reset")
        reset(request)
    response = await _answer(request, handler, backend, action)
    if (
        isinstance(response, web.Response)
        and 200 <= response.status < 300
        and response.body
        and backend.faults.malformed(request.path, None)
    ):
        entry.fault = "malformed"
        response = _truncated(response)
    entry.status = response.status
    sent = (
        bytes(response.body)
        if isinstance(response, web.Response) and isinstance(response.body, bytes)
        else b""
    )
    _observe(backend, request, body, response, sent, entry.fault)
    return response


async def _answer(
    request: web.Request, handler: Handler, backend: Backend, action: FaultAction
) -> web.StreamResponse:
    try:
        if action.kind == "unauthorized":
            raise VBRHttpError.of(UNAUTHORIZED)
        if action.kind == "fail":
            raise for_status(action.status, None if action.message == UNAVAILABLE else action.message)
        if action.kind == "oversized":
            return await _oversized(request, action, backend)
        revision = request.headers.get("x-api-version", "")
        profile = backend.profile
        if revision not in profile.revisions:
            raise unsupported_version(profile.revisions, backend.settings.version_error_lists)
        if (request.method, request.path) not in ANONYMOUS and not backend.tokens.valid(
            bearer(request) or ""
        ):
            raise VBRHttpError.of(UNAUTHORIZED)
        return await handler(request)
    except VBRHttpError as err:
        return error_response(err)
    except web.HTTPException as exc:  # routing: 404 unknown path, 405 wrong method
        if exc.status == 405:
            allow = {k: v for k, v in exc.headers.items() if k.lower() == "allow"}
            return error_response(VBRHttpError(405, "MethodNotAllowed", "Method not allowed."), allow)
        return error_response(VBRHttpError.of(NOT_FOUND))


def _observe(
    backend: Backend,
    request: web.Request,
    body: bytes,
    response: web.StreamResponse | None,
    sent: bytes,
    fault: str | None,
) -> None:
    if backend.observer is None:
        return
    backend.observer(
        Exchange(
            method=request.method,
            path=request.path,
            query=tuple(request.query.items()),
            headers=tuple(request.headers.items()),
            body=body,
            status=response.status if response is not None else None,
            response_headers=tuple(response.headers.items()) if response is not None else (),
            response_body=sent,
            fault=fault,
        )
    )


async def _oversized(request: web.Request, action: FaultAction, backend: Backend) -> web.StreamResponse:
    """A 200 that starts like a collection and never ends before ``action.size`` bytes."""
    response = web.StreamResponse(status=200, headers={"Content-Type": "application/json; charset=utf-8"})
    return await stream_oversized(request, response, b'{"data":[', action, backend.stopping)


def _truncated(response: web.Response) -> web.Response:
    body = bytes(response.body) if isinstance(response.body, bytes | bytearray) else b""
    cut = web.Response(status=response.status, body=body[: len(body) // 2])
    cut.headers["Content-Type"] = response.headers.get("Content-Type", "application/json")
    return cut
