"""The contract checker itself: it must catch what the OpenAPI documents forbid, or it proves nothing."""

from __future__ import annotations

import json
from typing import Any

import pytest
from vbr_contract import check_request, check_response

from alertd.simulator.vbr import Exchange

TOKEN_HEADERS = (
    ("x-api-version", "1.3-rev2"),
    ("Accept", "application/json"),
    ("Content-Type", "application/x-www-form-urlencoded"),
)
GET_HEADERS = (
    ("x-api-version", "1.3-rev2"),
    ("Accept", "application/json"),
    ("Authorization", "Bearer eyJabc"),
)
SESSION = {
    "id": "c924ee2f-1197-4b37-8de3-009c1977f347",
    "name": "Backup Job 1",
    "jobId": "c05dfa57-f59a-4e90-8065-b7f5d3276406",
    "sessionType": "BackupJob",
    "creationTime": "2023-12-04T06:13:34.983+01:00",
    "state": "Stopped",
    "usn": 0,
}


def exchange(
    method: str = "GET",
    path: str = "/api/v1/sessions",
    query: tuple[tuple[str, str], ...] = (),
    headers: tuple[tuple[str, str], ...] = GET_HEADERS,
    body: bytes = b"",
    status: int = 200,
    answer: Any = None,
) -> Exchange:
    payload = {"data": [], "pagination": {"total": 0, "count": 0}} if answer is None else answer
    return Exchange(
        method,
        path,
        query,
        headers,
        body,
        status,
        (("Content-Type", "application/json; charset=utf-8"),),
        json.dumps(payload).encode(),
        None,
    )


def test_a_conforming_exchange_passes() -> None:
    """A documented request and answer yield no violation (the baseline of every test below)."""
    ex = exchange(
        query=(
            ("endedAfterFilter", "2025-08-15T01:00:00-04:00"),
            ("orderColumn", "EndTime"),
            ("orderAsc", "true"),
            ("skip", "0"),
            ("limit", "200"),
        )
    )
    assert check_request(ex) == []
    assert check_response(ex) == []


@pytest.mark.parametrize(
    ("ex", "says"),
    [
        (exchange(query=(("endedafterfilter", "2025-08-15T01:00:00Z"),)), "not declared"),
        (exchange(query=(("limit", "many"),)), "limit='many'"),
        (exchange(query=(("limit", "99999999999"),)), "limit="),
        (exchange(query=(("orderColumn", "endTime"),)), "orderColumn"),
        (exchange(query=(("orderAsc", "yes"),)), "orderAsc"),
        (exchange(query=(("endedAfterFilter", "yesterday"),)), "endedAfterFilter"),
        (exchange(query=(("jobIdFilter", "job-1"),)), "jobIdFilter"),
        (
            exchange(
                path="/api/v1/taskSessions", query=(("resultFilter", "Failed"), ("resultFilter", "Warning"))
            ),
            "single-valued",
        ),
        (exchange(path="/api/v1/jobs"), "no GET /api/v1/jobs"),
        (exchange(headers=GET_HEADERS[1:]), "x-api-version"),
        (exchange(headers=GET_HEADERS[:2]), "Bearer"),
        (exchange(headers=(*GET_HEADERS[:1], ("Accept", "application/xml"), GET_HEADERS[2])), "Accept"),
        (exchange(method="GET", path="/api/v1/serverTime", headers=GET_HEADERS), "security: []"),
        (exchange(headers=(("x-api-version", "2.0-rev0"), *GET_HEADERS[1:])), "no documented revision"),
        (exchange(body=b"x"), "a body"),
    ],
)
def test_bad_requests_are_caught(ex: Exchange, says: str) -> None:
    """Undeclared or miscased parameters, bad values, repeated single values, missing headers, stray bodies."""
    problems = check_request(ex)
    assert any(says in p for p in problems), problems


def test_arrays_repeat_only_where_declared() -> None:
    """resultFilter repeats on /sessions from 1.3-rev0 (an array) but not in 1.2-rev1."""
    query = (("resultFilter", "Failed"), ("resultFilter", "Warning"))
    assert check_request(exchange(query=query)) == []
    old = exchange(query=query, headers=(("x-api-version", "1.2-rev1"), *GET_HEADERS[1:]))
    assert any("single-valued" in p for p in check_request(old))


def test_task_sessions_do_not_exist_in_1_1_rev0() -> None:
    """The 1.1-rev0 reading has no /taskSessions (reference §3.1)."""
    ex = exchange(path="/api/v1/taskSessions", headers=(("x-api-version", "1.1-rev0"), *GET_HEADERS[1:]))
    assert check_request(ex) == ["no GET /api/v1/taskSessions in 1.1-rev0"]


@pytest.mark.parametrize(
    ("body", "ok"),
    [
        (b"grant_type=password&username=u&password=p", True),
        (b"grant_type=Password&username=u&password=p", True),
        (b"grant_type=refresh_token&refresh_token=r", True),
        (b"grant_type=client_credentials", False),
        (b"username=u&password=p", False),
        (b"grant_type=password&username=u&password=p&scope=all", False),
    ],
)
def test_token_bodies(body: bytes, ok: bool) -> None:
    """The token form must fit TokenLoginSpec (grant_type compared case-insensitively, open question 8)."""
    ex = exchange(method="POST", path="/api/oauth2/token", headers=TOKEN_HEADERS, body=body)
    assert (check_request(ex) == []) is ok, check_request(ex)


def test_token_request_must_be_a_form() -> None:
    """A JSON token request is not what the operation declares."""
    headers = (*TOKEN_HEADERS[:2], ("Content-Type", "application/json"))
    ex = exchange(
        method="POST", path="/api/oauth2/token", headers=headers, body=b'{"grant_type": "password"}'
    )
    assert any("Content-Type" in p for p in check_request(ex))


@pytest.mark.parametrize(
    ("answer", "status", "says"),
    [
        (
            {
                "data": [{**SESSION, "retryInfo": {"isRecheckRetry": False}}],
                "pagination": {"total": 1, "count": 1},
            },
            200,
            None,
        ),
        (
            {"data": [{**SESSION, "color": "red"}], "pagination": {"total": 1, "count": 1}},
            200,
            "'color' was unexpected",
        ),
        (
            {"data": [{**SESSION, "parentSessionId": None}], "pagination": {"total": 1, "count": 1}},
            200,
            "None is not of type",
        ),
        (
            {
                "data": [{k: v for k, v in SESSION.items() if k != "usn"}],
                "pagination": {"total": 1, "count": 1},
            },
            200,
            "'usn' is a required",
        ),
        (
            {"data": [{**SESSION, "state": "Done"}], "pagination": {"total": 1, "count": 1}},
            200,
            "'Done' is not one of",
        ),
        ({"data": []}, 200, "'pagination' is a required"),
        ({"errorCode": "NotFound", "message": "gone"}, 404, "status 404 is not declared"),
        ({"errorCode": "Gone", "message": "x"}, 500, "'Gone' is not one of"),
        ({"errorCode": "NotImplemented", "message": "Unsupported RESTAPI version."}, 400, None),
    ],
)
def test_answers_are_checked_against_the_revision(answer: Any, status: int, says: str | None) -> None:
    """Extra, null, missing and off-enum fields and undeclared statuses are caught; 1.3-rev2 has retryInfo."""
    problems = check_response(exchange(status=status, answer=answer))
    if says is None:
        assert problems == []
    else:
        assert any(says in p for p in problems), problems


def test_fields_of_a_later_revision_are_caught() -> None:
    """retryInfo arrived in 1.3-rev2: a 1.3-rev0 answer must not carry it."""
    answer = {
        "data": [{**SESSION, "retryInfo": {"isRecheckRetry": False}}],
        "pagination": {"total": 1, "count": 1},
    }
    ex = exchange(answer=answer, headers=(("x-api-version", "1.3-rev0"), *GET_HEADERS[1:]))
    assert any("'retryInfo' was unexpected" in p for p in check_response(ex))


def test_task_sessions_are_checked_by_their_type() -> None:
    """The discriminator picks the subtype: an Antivirus row needs scan fields, a Backup row needs a state."""
    base = {
        "id": "8bec8b2d-11e8-45e1-b7be-a932376a0de4",
        "sessionId": "9811fb69-b436-4198-b848-fb6eb42fba03",
        "sessionType": "BackupJob",
        "creationTime": "2024-11-13T18:00:45.528604",
        "name": "vm",
        "usn": 1,
    }
    good = {**base, "type": "Backup", "state": "Stopped", "result": {"result": "Success"}}
    bad_av = {**base, "type": "Antivirus"}
    odd = {**base, "type": "Snapshot", "state": "Stopped"}
    for row, says in ((good, None), (bad_av, "'scanType' is a required"), (odd, "'Snapshot' is not one of")):
        ex = exchange(
            path="/api/v1/taskSessions", answer={"data": [row], "pagination": {"total": 1, "count": 1}}
        )
        problems = check_response(ex)
        assert (problems == []) if says is None else any(says in p for p in problems), problems
