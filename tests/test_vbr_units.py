"""Pure parts of the VBR edge: revisions, times, fingerprints, URLs, body decoding, normalisation."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from alertd.vbr.decode import (
    DecodeError,
    decode_server_time,
    decode_sessions,
    decode_task_sessions,
    decode_token,
)
from alertd.vbr.normalise import job_name, parse_session_uid, session_uid, task_uid, unexplained
from alertd.vbr.times import ServerZone, format_filter, parse_time
from alertd.vbr.transport import base_url, parse_fingerprint
from alertd.vbr.versions import capabilities, choose, next_older, parse_supported

NEW_YORK = ZoneInfo("America/New_York")


def test_supported_list_is_parsed_without_the_v_prefix() -> None:
    """The observed 400 message's list (reference §1.2) becomes bare revisions."""
    text = (
        "Unsupported RESTAPI version. The following versions are supported: v1.0-rev1, v1.0-rev2, v1.1-rev0"
    )
    assert parse_supported(text) == ["1.0-rev1", "1.0-rev2", "1.1-rev0"]
    assert parse_supported("The specified API version is not supported.") == []


@pytest.mark.parametrize(
    ("supported", "below", "chosen"),
    [
        (["1.0-rev1", "1.0-rev2", "1.1-rev0"], None, "1.1-rev0"),
        (["1.1-rev0", "1.2-rev1", "1.3-rev0"], None, "1.3-rev0"),
        (["1.1-rev0", "1.2-rev1", "1.3-rev0"], "1.3-rev0", "1.2-rev1"),
        (["1.0-rev1", "1.0-rev2"], None, None),
        (["1.4-rev0", "1.3-rev2"], None, "1.3-rev2"),
    ],
)
def test_choose_picks_the_newest_known_revision(
    supported: list[str], below: str | None, chosen: str | None
) -> None:
    """Negotiation takes the newest revision both sides speak, below a refused one when given."""
    assert choose(supported, below=below) == chosen


def test_next_older_steps_down_and_ends() -> None:
    """Without a list, negotiation tries each older known revision, then gives up."""
    assert next_older("1.3-rev2") == "1.3-rev1"
    assert next_older("1.1-rev0") is None


@pytest.mark.parametrize(
    ("revision", "tasks", "paged", "retry"),
    [
        ("1.1-rev0", "no", False, False),
        ("1.2-rev0", "unknown", False, False),
        ("1.2-rev1", "yes", False, False),
        ("1.3-rev0", "yes", False, False),
        ("1.3-rev1", "yes", True, False),
        ("1.3-rev2", "yes", True, True),
    ],
)
def test_capabilities_follow_the_revision_table(revision: str, tasks: str, paged: bool, retry: bool) -> None:
    """What each revision offers is reference §3.1 and §6."""
    caps = capabilities(revision)
    assert (caps.task_sessions, caps.session_tasks_paged, caps.retry_info) == (tasks, paged, retry)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-11-13T18:00:45.528604", datetime(2024, 11, 13, 23, 0, 45, 528604, tzinfo=UTC)),
        ("2024-01-25T18:31:50.7300443+01:00", datetime(2024, 1, 25, 17, 31, 50, 730044, tzinfo=UTC)),
        ("2025-06-10T10:29:39Z", datetime(2025, 6, 10, 10, 29, 39, tzinfo=UTC)),
        ("2025-06-10T10:29:39", datetime(2025, 6, 10, 14, 29, 39, tzinfo=UTC)),
        ("2025-06-10T10:29:39-0700", datetime(2025, 6, 10, 17, 29, 39, tzinfo=UTC)),
    ],
)
def test_times_without_offset_are_read_in_the_server_zone(text: str, expected: datetime) -> None:
    """Naive values are server-local (New York here); offsets and 7 fraction digits are honoured."""
    assert parse_time(text, NEW_YORK) == expected


@pytest.mark.parametrize("text", ["", "yesterday", "2025-13-01T00:00:00", "2025-06-10"])
def test_unreadable_times_raise(text: str) -> None:
    """A value that is no date and time raises ValueError."""
    with pytest.raises(ValueError):
        parse_time(text, UTC)


@pytest.mark.parametrize(
    ("zone", "expected"),
    [
        (NEW_YORK, "2025-08-15T01:59:59-04:00"),
        (ZoneInfo("Europe/Prague"), "2025-08-15T07:59:59+02:00"),
        (timezone(timedelta(hours=5, minutes=30)), "2025-08-15T11:29:59+05:30"),
        (UTC, "2025-08-15T05:59:59+00:00"),
    ],
)
def test_filters_are_written_in_the_server_offset(zone: timezone | ZoneInfo, expected: str) -> None:
    """The same instant in each server's own offset, fractions dropped toward the past."""
    assert format_filter(datetime(2025, 8, 15, 5, 59, 59, 900000, tzinfo=UTC), zone) == expected


def test_filter_offset_follows_dst_at_that_instant() -> None:
    """With an IANA zone, a winter instant gets the winter offset even in summer."""
    assert format_filter(datetime(2025, 1, 15, 12, 0, tzinfo=UTC), NEW_YORK) == "2025-01-15T07:00:00-05:00"


def test_server_zone_names() -> None:
    """A fixed zone is named by its offset; an unknown IANA id yields None."""
    assert ServerZone.fixed(timedelta(hours=-5)).name == "UTC-05:00"
    assert ServerZone.named("Europe/Prague") is not None
    assert ServerZone.named("Mars/Olympus") is None


@pytest.mark.parametrize(
    "text",
    [
        "AB" * 32,
        ":".join(["ab"] * 32),
        " " + "0f" * 32 + " ",
    ],
)
def test_fingerprint_accepts_sha256_hex(text: str) -> None:
    """64 hex digits, with or without colons, are a SHA-256 pin."""
    assert len(parse_fingerprint(text)) == 32


@pytest.mark.parametrize(
    ("text", "says"), [("86F1769B6E0544E16A6EA1E9E9BC0BB71A8DE900", "SHA-1"), ("zz" * 32, "64 hex")]
)
def test_fingerprint_refuses_sha1_and_junk(text: str, says: str) -> None:
    """VBR's own SHA-1 thumbprint is refused with how to read the SHA-256 one."""
    with pytest.raises(ValueError, match=says) as info:
        parse_fingerprint(text)
    assert "openssl" in str(info.value)


@pytest.mark.parametrize(
    ("url", "base"),
    [
        ("https://vbr01:9419", "https://vbr01:9419"),
        ("https://vbr01:9419/api/v1/", "https://vbr01:9419"),
        ("https://vbr01:9419/api", "https://vbr01:9419"),
    ],
)
def test_base_url(url: str, base: str) -> None:
    """The server root is kept; /api and /api/v1 suffixes are dropped."""
    assert base_url(url) == base


@pytest.mark.parametrize("url", ["http://vbr01:9419", "vbr01:9419", "https://user:pw@vbr01:9419"])
def test_base_url_refuses(url: str) -> None:
    """Plain HTTP (unsupported by VBR) and URLs with credentials are refused."""
    with pytest.raises(ValueError):
        base_url(url)


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"not json",
        b"[]",
        b'{"data": []}',
        b'{"data": {}, "pagination": {"total": 1, "count": 1}}',
        b'{"data": [], "pagination": {"total": "1", "count": 0}}',
    ],
)
def test_broken_collections_raise_decode_error(body: bytes) -> None:
    """A page whose structure is broken raises DecodeError, nothing else."""
    with pytest.raises(DecodeError):
        decode_task_sessions(body, UTC)


def test_unusable_rows_are_dropped_and_named() -> None:
    """Rows without id, sessionId or a readable creationTime are dropped with a reason; null fields are tolerated."""
    rows = [
        {
            "id": "A",
            "type": "Backup",
            "sessionId": "S",
            "sessionType": "BackupJob",
            "creationTime": "2025-01-01T00:00:00",
            "name": "vm1",
            "state": "Stopped",
            "result": {"result": "failed", "message": None},
        },
        {"type": "Backup", "sessionId": "S", "creationTime": "2025-01-01T00:00:00"},
        {"id": "C", "type": "Backup", "creationTime": "2025-01-01T00:00:00"},
        {"id": "D", "type": "Backup", "sessionId": "S", "creationTime": "soon"},
        {"id": "E", "type": "Backup", "sessionId": "S", "creationTime": "2025-01-01T00:00:00", "name": None},
        "junk",
    ]
    page = decode_task_sessions(
        json.dumps({"data": rows, "pagination": {"total": 6, "count": 6}}).encode(), UTC
    )
    assert [(r.id, r.result, r.message) for r in page.rows] == [("a", "Failed", ""), ("e", None, "")]
    assert [(p.id, p.reason.split(":")[0]) for p in page.dropped] == [
        (None, "no id"),
        ("C", "no sessionId"),
        ("D", "unreadable creationTime"),
        (None, "not an object"),
    ]
    assert [p.id for p in page.flawed] == ["e"]


def test_sessions_read_activity_id_before_1_2() -> None:
    """1.1-rev0 names the job link activityId (reference §2.2); a 1900 endTime means not ended."""
    row = {
        "id": "S",
        "name": "J",
        "activityId": "AB",
        "sessionType": "Job",
        "creationTime": "2025-01-01T00:00:00+01:00",
        "endTime": "1900-01-01T00:00:00",
        "state": "Working",
    }
    page = decode_sessions(json.dumps({"data": [row], "pagination": {"total": 1, "count": 1}}).encode(), UTC)
    assert (page.rows[0].job_id, page.rows[0].end_time) == ("ab", None)


def test_token_and_server_time() -> None:
    """A TokenModel without a usable expires_in keeps the token; serverTime keeps its offset."""
    grant = decode_token(b'{"access_token": "tok-A1", "refresh_token": "tok-R1", "expires_in": -5}')
    assert grant.expires_in is None
    assert "tok-" not in repr(grant)
    with pytest.raises(DecodeError):
        decode_token(b'{"refresh_token": "y"}')
    st = decode_server_time(
        b'{"serverTime": "2024-01-25T18:31:50.7300443+01:00", "ianaTimeZoneId": "Europe/Prague"}'
    )
    assert (st.offset, st.iana) == (timedelta(hours=1), "Europe/Prague")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("SQL Daily", ("SQL Daily", None)),
        ("SQL Daily (Retry 2)", ("SQL Daily", 2)),
        ("Odd (retry)", ("Odd (retry)", None)),
    ],
)
def test_job_name_strips_the_retry_suffix(raw: str, expected: tuple[str, int | None]) -> None:
    """A retry's " (Retry N)" suffix (reference §4, open question 5) is not part of the job name."""
    assert job_name(raw) == expected


def test_uids_are_namespaced_by_source() -> None:
    """Task and session keys carry the source; parsing accepts only this source's session keys."""
    assert task_uid("a", "ABC") == "vbr:a:task:abc"
    assert parse_session_uid("a", session_uid("a", "S1")) == "s1"
    assert parse_session_uid("b", session_uid("a", "S1")) is None
    assert parse_session_uid("a", task_uid("a", "S1")) is None


def _row(result: str) -> object:
    from alertd.vbr.decode import TaskRow

    now = datetime(2025, 1, 1, tzinfo=UTC)
    return TaskRow("t", "Backup", "s", "BackupJob", "vm", now, now, "Stopped", result, "", False)


@pytest.mark.parametrize(
    ("run", "tasks", "expected"),
    [
        ("Failed", ["Success", "Success"], True),
        ("Failed", ["Warning"], True),
        ("Failed", ["Failed", "Success"], False),
        ("Warning", ["Success"], True),
        ("Warning", ["Warning"], False),
        ("Warning", ["Failed"], False),
        ("Failed", [], True),
        ("Success", [], False),
    ],
)
def test_unexplained_when_the_run_is_worse_than_every_task(
    run: str, tasks: list[str], expected: bool
) -> None:
    """A job-level alert is due exactly when no task's result is as bad as the run's."""
    from alertd.vbr.decode import SessionRow

    now = datetime(2025, 1, 1, tzinfo=UTC)
    session = SessionRow("s", "J", "j", "BackupJob", now, now, "Stopped", run, "", False)
    assert unexplained(session, [_row(r) for r in tasks]) is expected  # type: ignore[misc]
