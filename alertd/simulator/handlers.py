"""The EM routes: version discovery, logon/logoff, the query service and session collections.

Each route accepts only the query parameters its Veeam help page documents (parameter names are
case-insensitive, reference §2.1): ``v`` on logon (em_rest/logging_on.html), ``format`` on the
plain collections and single resources (``?format=Entity``, reference §2.2), nothing on ``/api/``
and the logon sessions, and the query service's own list (`alertd.simulator.query`). Anything
else is refused with an Error body: what real EM does with an unknown parameter is unknown, and
a client sending one relies on something no documentation backs.
"""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web

from alertd.simulator.auth import TOKEN_HEADER, LogonSession
from alertd.simulator.context import BACKEND, Backend
from alertd.simulator.query import QueryError, parse_params
from alertd.simulator.records import JobSessionRecord, TaskSessionRecord, bare_uid
from alertd.simulator.render import VERSIONS, Renderer
from alertd.simulator.responses import EMError, body_response, mixed_accept, renderer_for

REALM = {"WWW-Authenticate": "Basic Realm=RestSvc"}
#: The docs' description of a 401; the exact text of real EM is unknown.
TOKEN_REJECTED = "The authorization header has been expected but not found (or found but is expired)."
#: A public client's test mock of a refused logon (surfer190/veeam; reference §5); real text unknown.
BAD_CREDENTIALS = "The user name or password is incorrect."


def request_token(request: web.Request) -> str | None:
    """The cookie beats the header when both are sent (a documented EM quirk)."""
    for part in request.headers.get("Cookie", "").split(";"):
        name, _, value = part.strip().partition("=")
        if name.lower() == TOKEN_HEADER.lower() and value:
            return value.strip('"')
    return request.headers.get(TOKEN_HEADER)


def authenticate(request: web.Request) -> LogonSession:
    backend = request.app[BACKEND]
    token = request_token(request)
    session = backend.tokens.touch(token, backend.settings.idle_timeout) if token else None
    if session is None:
        raise EMError(401, TOKEN_REJECTED, REALM)
    return session


def _ok(request: web.Request, build: Callable[[Renderer], bytes], status: int = 200) -> web.Response:
    """Answer with ``build(renderer)`` in the negotiated format."""
    settings = request.app[BACKEND].settings
    renderer = renderer_for(request, settings)
    return body_response(renderer, status, build(renderer), settings)


def _param(request: web.Request, name: str) -> str | None:
    return next((value for key, value in request.query.items() if key.lower() == name.lower()), None)


def only_documented(request: web.Request, *names: str) -> None:
    """Refuse any query parameter not in ``names`` (lower-case), with the bad-request status."""
    unknown = [key for key in request.query if key.lower() not in names]
    if unknown:
        known = ", ".join(names) or "none"
        raise EMError(
            request.app[BACKEND].settings.bad_filter_status,
            f"Unknown query parameter {unknown[0]!r} for {request.path}; documented: {known}.",
        )


def _entity(request: web.Request) -> bool:
    """``format=Entity`` asks for the entity; no ``format`` for the reference (reference §2.2)."""
    only_documented(request, "format")
    value = _param(request, "format")
    if value is not None and value.lower() != "entity":
        raise EMError(
            request.app[BACKEND].settings.bad_filter_status,
            f"Unknown format {value!r} for {request.path}; use format=Entity.",
        )
    return value is not None


async def versions(request: web.Request) -> web.Response:
    only_documented(request)
    return _ok(request, lambda r: r.versions())


async def logon(request: web.Request) -> web.Response:
    backend = request.app[BACKEND]
    only_documented(request, "v")
    if backend.settings.reject_mixed_accept and mixed_accept(request.headers.get("Accept", "")):
        raise EMError(400, "Node [root] does not exist.")
    content_type = request.headers.get("Content-Type")
    media = (content_type or "").split(";", 1)[0].strip().lower()
    if backend.settings.strict_logon_content_type and content_type is not None and media != "application/xml":
        raise EMError(
            backend.settings.bad_filter_status,
            f"Content-Type {content_type!r} on an empty logon POST: send none (or application/xml).",
        )
    version = (_param(request, "v") or "latest").lower()
    if version != "latest" and version not in VERSIONS:
        raise EMError(
            400, f"API version {version!r} is not supported; use one of {', '.join(VERSIONS)} or latest."
        )
    if not backend.tokens.check_basic(request.headers.get("Authorization")):
        raise EMError(401, BAD_CREDENTIALS, REALM)
    session = backend.tokens.logon()
    response = _ok(request, lambda r: r.logon(session.session_id, session.username), status=201)
    response.headers[TOKEN_HEADER] = session.token
    response.headers["Set-Cookie"] = f"{TOKEN_HEADER}={session.token}; Path=/api"
    return response


async def logon_session(request: web.Request) -> web.Response:
    session = authenticate(request)
    only_documented(request)
    if session.session_id != request.match_info["id"].lower():
        raise EMError(404, f"Logon session [{request.match_info['id']}] was not found.")
    return _ok(request, lambda r: r.logon(session.session_id, session.username))


async def logoff(request: web.Request) -> web.Response:
    authenticate(request)
    only_documented(request)
    if not request.app[BACKEND].tokens.logoff(request.match_info["id"]):
        raise EMError(404, f"Logon session [{request.match_info['id']}] was not found.")
    return web.Response(status=204, headers={"Server": request.app[BACKEND].settings.server_header})


async def query(request: web.Request) -> web.Response:
    authenticate(request)
    backend = request.app[BACKEND]
    try:
        page = backend.query.run(
            parse_params(request.query, backend.settings), renderer_for(request, backend.settings).hrefs
        )
    except QueryError as err:
        raise EMError(backend.settings.bad_filter_status, str(err)) from None
    return _ok(request, lambda r: r.query(page))


def _recent(backend: Backend, records: list[TaskSessionRecord]) -> list[TaskSessionRecord]:
    """The plain collections only show the last 30 days (documented)."""
    since = backend.clock() - backend.settings.collection_window
    return [record for record in records if record.visible and record.creation_time >= since]


def _job(backend: Backend, uid: str) -> JobSessionRecord:
    job = backend.store.jobs.get(bare_uid(uid))
    if job is None or not job.visible:
        raise EMError(404, f"BackupJobSession [{uid}] was not found.")
    return job


async def task_sessions(request: web.Request) -> web.Response:
    authenticate(request)
    backend = request.app[BACKEND]
    tasks, entity = _recent(backend, list(backend.store.tasks.values())), _entity(request)
    return _ok(request, lambda r: r.task_list(tasks, entity=entity))


async def task_session(request: web.Request) -> web.Response:
    authenticate(request)
    task = request.app[BACKEND].store.tasks.get(bare_uid(request.match_info["id"]))
    if task is None or not task.visible:
        raise EMError(404, f"BackupTaskSession [{request.match_info['id']}] was not found.")
    found, entity = task, _entity(request)
    return _ok(request, lambda r: r.task(found, entity=entity))


async def job_sessions(request: web.Request) -> web.Response:
    authenticate(request)
    backend = request.app[BACKEND]
    since = backend.clock() - backend.settings.collection_window
    jobs = [job for job in backend.store.jobs.values() if job.visible and job.creation_time >= since]
    entity = _entity(request)
    return _ok(request, lambda r: r.job_list(jobs, entity=entity))


async def job_session(request: web.Request) -> web.Response:
    authenticate(request)
    job, entity = _job(request.app[BACKEND], request.match_info["id"]), _entity(request)
    return _ok(request, lambda r: r.job(job, entity=entity))


async def job_session_tasks(request: web.Request) -> web.Response:
    authenticate(request)
    backend = request.app[BACKEND]
    job = _job(backend, request.match_info["id"])
    tasks, entity = _recent(backend, backend.store.tasks_of_job(job.uid)), _entity(request)
    return _ok(request, lambda r: r.task_list(tasks, entity=entity))


def add_routes(app: web.Application) -> None:
    router = app.router
    for path in ("/api", "/api/"):
        router.add_get(path, versions)
    for path in ("/api/sessionMngr", "/api/sessionMngr/"):
        router.add_post(path, logon)
    router.add_get("/api/logonSessions/{id}", logon_session)
    router.add_delete("/api/logonSessions/{id}", logoff)
    router.add_get("/api/query", query)
    router.add_get("/api/backupTaskSessions", task_sessions)
    router.add_get("/api/backupTaskSessions/{id}", task_session)
    router.add_get("/api/backupSessions", job_sessions)
    router.add_get("/api/backupSessions/{id}", job_session)
    router.add_get("/api/backupSessions/{id}/taskSessions", job_session_tasks)
