"""The simulated endpoints: token, logout, serverTime, sessions, task sessions and jobs/{id}.

Each answers as the OpenAPI subsets describe; the request's revision shape (from its
``x-api-version``, which the middleware has checked) decides which fields and parameters exist.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from aiohttp import web

from alertd.simulator.vbr.backend import BACKEND, Backend
from alertd.simulator.vbr.errors import AUTH_FAILED, BAD_PARAMETERS, NOT_FOUND, VBRHttpError
from alertd.simulator.vbr.profiles import Shape, shape_of
from alertd.simulator.vbr.query import Listing, parse_sessions, parse_tasks
from alertd.simulator.vbr.records import SessionRecord, TaskRecord
from alertd.simulator.vbr.render import render_job, render_session, render_task, server_time, token

__all__ = ["ANONYMOUS", "add_routes", "bearer", "shape_for"]

#: Operations declared with ``security: []`` in every subset; all others need a bearer token.
ANONYMOUS = frozenset({("POST", "/api/oauth2/token"), ("GET", "/api/v1/serverTime")})


def shape_for(request: web.Request) -> Shape:
    """The documented shape of the request's revision (the middleware has checked the revision)."""
    return shape_of(request.headers["x-api-version"])


_FORM = "application/x-www-form-urlencoded"


def _json(payload: Any, status: int = 200) -> web.Response:
    return web.Response(
        status=status,
        body=json.dumps(payload).encode(),
        headers={"Content-Type": "application/json; charset=utf-8"},
    )


def _page(rows: list[dict[str, Any]], total: int, skip: int, limit: int) -> web.Response:
    """A ``*Result`` envelope: ``data`` and PaginationResult (§2.2)."""
    return _json(
        {"data": rows, "pagination": {"total": total, "count": len(rows), "skip": skip, "limit": limit}}
    )


async def create_token(request: web.Request) -> web.Response:
    """``POST /api/oauth2/token``: password and refresh_token grants (reference §1.3)."""
    backend = request.app[BACKEND]
    settings = backend.settings
    if request.content_type != _FORM:
        raise VBRHttpError.of(BAD_PARAMETERS)  # the body is declared form-urlencoded only
    form = await request.post()
    # Q8: 1.3-rev1+ enumerate "Password"/"Refresh_token" while every example sends lowercase;
    # neither spelling is refused.
    grant = str(form.get("grant_type", "")).lower()
    if grant == "password":
        username, password = str(form.get("username", "")), str(form.get("password", ""))
        if settings.mfa_enabled or not backend.tokens.check_password(username, password):
            raise VBRHttpError.of(AUTH_FAILED)
    elif grant == "refresh_token":
        if not backend.tokens.redeem(str(form.get("refresh_token", ""))):
            raise VBRHttpError.of(AUTH_FAILED)  # the status of a refused refresh is undocumented
    else:
        raise VBRHttpError.of(BAD_PARAMETERS)  # authorization_code was removed; vbr_token is internal
    issued = backend.tokens.issue(grant, settings.expires_in, settings.refresh_lifetime)
    return _json(token(issued, settings))


async def logout(request: web.Request) -> web.Response:
    """``POST /api/oauth2/logout``: both tokens expire; answers EmptySuccessResponse ``{}``."""
    backend = request.app[BACKEND]
    backend.tokens.logout(bearer(request) or "")
    return _json({})


async def get_server_time(request: web.Request) -> web.Response:
    backend = request.app[BACKEND]
    return _json(server_time(backend.clock(), shape_for(request), backend.settings))


def _sessions_listing(backend: Backend, listing: Listing, shape: Shape) -> web.Response:
    page, total, limit = listing.apply(list(backend.store.sessions.values()), backend.settings.max_limit)
    rows = [render_session(r, shape, backend.settings) for r in page if isinstance(r, SessionRecord)]
    return _page(rows, total, listing.skip, limit)


async def list_sessions(request: web.Request) -> web.Response:
    backend, shape = request.app[BACKEND], shape_for(request)
    return _sessions_listing(backend, parse_sessions(request.query, shape, backend.settings), shape)


def _session(backend: Backend, raw_id: str) -> SessionRecord:
    record = backend.store.sessions.get(_id(raw_id) or "")
    if record is None:
        raise VBRHttpError.of(NOT_FOUND, resource_id=raw_id)
    return record


async def get_session(request: web.Request) -> web.Response:
    backend, shape = request.app[BACKEND], shape_for(request)
    return _json(render_session(_session(backend, request.match_info["id"]), shape, backend.settings))


def _tasks_listing(backend: Backend, rows: list[TaskRecord], listing: Listing, shape: Shape) -> web.Response:
    page, total, limit = listing.apply(rows, backend.settings.max_limit)
    data = [render_task(r, shape, backend.settings) for r in page if isinstance(r, TaskRecord)]
    return _page(data, total, listing.skip, limit)


async def session_tasks(request: web.Request) -> web.Response:
    """``/sessions/{id}/taskSessions``: no parameters but ``id`` before 1.3-rev1 (§3.1)."""
    backend, shape = request.app[BACKEND], shape_for(request)
    if not shape.task_sessions:
        raise VBRHttpError.of(NOT_FOUND)  # absent in 1.1-rev0 (§3.1)
    record = _session(backend, request.match_info["id"])
    rows = backend.store.tasks_of(record.id)
    if shape.session_tasks_paged:
        return _tasks_listing(backend, rows, parse_tasks(request.query, shape, backend.settings), shape)
    if request.query:
        raise VBRHttpError.of(BAD_PARAMETERS)
    # Q3: Veeam's 1.3-rev0 example answers "limit":200 although no limit is accepted; a larger
    # run is cut there, with the true total, so a client can tell.
    cap = backend.settings.session_tasks_cap
    data = [render_task(r, shape, backend.settings) for r in rows[:cap]]
    return _page(data, len(rows), 0, cap)


async def list_tasks(request: web.Request) -> web.Response:
    backend, shape = request.app[BACKEND], shape_for(request)
    if not shape.task_sessions:
        # Absent before 1.2-rev1 (§3.1); the design notes (§8.1) read a 404 as "unsupported".
        raise VBRHttpError.of(NOT_FOUND)
    listing = parse_tasks(request.query, shape, backend.settings)
    return _tasks_listing(backend, list(backend.store.tasks.values()), listing, shape)


async def get_task(request: web.Request) -> web.Response:
    backend, shape = request.app[BACKEND], shape_for(request)
    raw = request.match_info["id"]
    record = backend.store.tasks.get(_id(raw) or "") if shape.task_sessions else None
    if record is None:
        raise VBRHttpError.of(NOT_FOUND, resource_id=raw)
    return _json(render_task(record, shape, backend.settings))


async def get_job(request: web.Request) -> web.Response:
    """``GET /api/v1/jobs/{id}`` (OpenAPI ``GetJob``, 1.2-rev1+; Backup Viewer may call it): the job
    with its ``schedule.retry``; 404 NotFound for an unknown id and where `render_job` shows none."""
    backend, shape = request.app[BACKEND], shape_for(request)
    raw = request.match_info["id"]
    record = backend.store.jobs.get(_id(raw) or "")
    rendered = render_job(record, shape) if record is not None else None
    if rendered is None:
        raise VBRHttpError.of(NOT_FOUND, resource_id=raw)
    return _json(rendered)


def _id(raw: str) -> str | None:
    try:
        return str(uuid.UUID(raw))
    except ValueError:
        return None


def bearer(request: web.Request) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header (§1.3 "Use")."""
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    return value.strip() or None if scheme.lower() == "bearer" else None


def add_routes(app: web.Application) -> None:
    app.router.add_post("/api/oauth2/token", create_token)
    app.router.add_post("/api/oauth2/logout", logout)
    app.router.add_get("/api/v1/serverTime", get_server_time, allow_head=False)
    app.router.add_get("/api/v1/sessions", list_sessions, allow_head=False)
    app.router.add_get("/api/v1/sessions/{id}", get_session, allow_head=False)
    app.router.add_get("/api/v1/sessions/{id}/taskSessions", session_tasks, allow_head=False)
    app.router.add_get("/api/v1/taskSessions", list_tasks, allow_head=False)
    app.router.add_get("/api/v1/taskSessions/{id}", get_task, allow_head=False)
    app.router.add_get("/api/v1/jobs/{id}", get_job, allow_head=False)
