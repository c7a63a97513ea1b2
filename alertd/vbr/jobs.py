"""A job's retry settings (``GET /api/v1/jobs/{id}``) and how they tell a retry session apart.

Before 1.3-rev2 a session carries no retry field (reference §4, §6). Issue 13 asks for the job's
retry settings instead: ``JobModel`` subtypes with a schedule hold ``schedule.retry``
(``ScheduleRetryModel``: ``isEnabled``, ``retryCount`` default 3, ``awaitMinutes`` default 10;
OpenAPI 1.2-rev1, 1.3-rev0, 1.3-rev2). Veeam retries "only for scheduled runs, not after Success
or Warning", and each retry is a new session that starts ``awaitMinutes`` after the failed one
(https://helpcenter.veeam.com/docs/backup/vsphere/job_retry.html, reference §4).

So a session is a retry when its job retries (``schedule.runAutomatically`` and
``retry.isEnabled``) and it started within ``awaitMinutes`` plus `SLACK` after a failed session
of the same job ended, that failed session being at most ``retryCount - 1`` links into such a
chain itself. The slack is veeam-monit's window (awaitMinutes + 20 minutes, reference §4). This
is an inference: a manual run started within the window after a failure also reads as a retry.

Pure apart from `JobSettingsCache`, which remembers each job's settings for `REFRESH` and isolates
failures to read them (logged once per job until a read succeeds again; the caller falls back),
and `RetryJudge`, which asks the server for a job's earlier sessions to follow the chain.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Final

from structlog.typing import FilteringBoundLogger

from alertd.vbr.decode import DecodeError, SessionRow
from alertd.vbr.errors import VBRError
from alertd.vbr.times import ServerZone, format_filter

if TYPE_CHECKING:
    from alertd.vbr.client import VBRClient

__all__ = [
    "REFRESH",
    "RETRY_FAILED_AGAIN",
    "SLACK",
    "JobSettingsCache",
    "RetryJudge",
    "RetrySettings",
    "decode_retry_settings",
    "retry_number",
]

#: How long a job's settings are used before they are read again.
REFRESH: Final = timedelta(hours=1)
#: After a failed read, how long alertd waits before asking again (the name heuristic meanwhile).
RETRY_FAILED_AGAIN: Final = timedelta(minutes=10)
#: Added to ``awaitMinutes``: a retry may start late (queued for a proxy or repository slot).
SLACK: Final = timedelta(minutes=20)
# ScheduleRetryModel's documented defaults (every subset).
_DEFAULT_COUNT: Final = 3
_DEFAULT_AWAIT: Final = 10


@dataclass(frozen=True, slots=True)
class RetrySettings:
    """What Veeam does after a failed scheduled run of one job."""

    enabled: bool
    count: int
    await_minutes: int

    @property
    def window(self) -> timedelta:
        """How long after a failed session ends its retry may start."""
        return timedelta(minutes=self.await_minutes) + SLACK


def _positive(fields: dict[str, Any], key: str, default: int) -> int:
    value = fields.get(key)
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    return default


def decode_retry_settings(body: bytes) -> RetrySettings | None:
    """A JobModel's retry settings; None when it has no ``schedule.retry`` (a type without one).

    DecodeError when the body is no JSON object. A missing field takes ScheduleRetryModel's
    default; a job that is disabled or not scheduled (``runAutomatically`` false) is never retried.
    """
    try:
        doc = json.loads(body.removeprefix(b"\xef\xbb\xbf").decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise DecodeError(f"not JSON: {e}") from e
    if not isinstance(doc, dict):
        raise DecodeError(f"expected a JobModel object, got {type(doc).__name__}")
    schedule = doc.get("schedule")
    retry = schedule.get("retry") if isinstance(schedule, dict) else None
    if not isinstance(schedule, dict) or not isinstance(retry, dict):
        return None
    scheduled = schedule.get("runAutomatically") is True and doc.get("isDisabled") is not True
    return RetrySettings(
        enabled=scheduled and retry.get("isEnabled") is True,
        count=_positive(retry, "retryCount", _DEFAULT_COUNT),
        await_minutes=_positive(retry, "awaitMinutes", _DEFAULT_AWAIT),
    )


def retry_number(run: SessionRow, settings: RetrySettings, earlier: Iterable[SessionRow]) -> int | None:
    """``run``'s retry number by the job's settings and its ``earlier`` sessions; None: not a retry.

    ``earlier`` may hold any sessions; only finished ones of the same job that ended before
    ``run`` started count. The chain is followed back at most ``count`` links.
    """
    if not settings.enabled or run.job_id is None:
        return None
    failed = sorted(
        (
            s
            for s in earlier
            if s.id != run.id
            and s.job_id == run.job_id
            and s.end_time is not None
            and (s.result or "").lower() == "failed"
        ),
        key=lambda s: s.creation_time,
        reverse=True,
    )
    links, started = 0, run.creation_time
    while links <= settings.count:
        before = _latest_failed_before(failed, started, settings.window)
        if before is None:
            break
        links, started = links + 1, before.creation_time
    return links if 1 <= links <= settings.count else None


def _latest_failed_before(
    failed: list[SessionRow], started: datetime, window: timedelta
) -> SessionRow | None:
    for s in failed:
        assert s.end_time is not None
        if s.creation_time < started and started - window <= s.end_time <= started:
            return s
    return None


class JobSettingsCache:
    """Each job's retry settings, read at most once per `REFRESH` (failures once per `RETRY_FAILED_AGAIN`).

    ``get`` never raises VBRError: a failed read is logged the first time for its job (until a
    read succeeds again) and answers None, as does a job whose model has no retry settings.
    """

    def __init__(self, log: FilteringBoundLogger, clock: Callable[[], datetime]) -> None:
        self._log = log
        self._clock = clock
        self._known: dict[str, tuple[datetime, RetrySettings | None]] = {}
        self._failing: set[str] = set()

    def clear(self) -> None:
        """Forget every job's settings (read again on next use)."""
        self._known.clear()

    async def get(
        self, job_id: str, read: Callable[[str], Awaitable[RetrySettings | None]]
    ) -> RetrySettings | None:
        """``job_id``'s settings, from the cache while fresh, else ``read(job_id)``."""
        now = self._clock()
        cached = self._known.get(job_id)
        if cached is not None and now < cached[0]:
            return cached[1]
        try:
            settings = await read(job_id)
        except VBRError as e:
            if job_id not in self._failing:
                self._failing.add(job_id)
                self._log.warning(
                    "vbr_job_settings_unreadable",
                    job_id=job_id,
                    kind=e.kind,
                    status=e.status,
                    error=e.message,
                    note="retries of this job are recognised by a ' (Retry N)' name until it can be read",
                )
            self._known[job_id] = (now + RETRY_FAILED_AGAIN, None)
            return None
        if job_id in self._failing:
            self._failing.discard(job_id)
            self._log.info("vbr_job_settings_readable", job_id=job_id)
        self._known[job_id] = (now + REFRESH, settings)
        return settings


#: Filters are written one second wide of their bound: whether a bound is inclusive is open question 1.
_EDGE: Final = timedelta(seconds=1)


class RetryJudge:
    """Decides whether a session is a retry by its job's retry settings, on revisions without ``retryInfo``.

    ``is_retry`` answers None when the settings cannot decide (the session carries 1.3-rev2's own
    fields, its job has no id, the settings are unreadable or absent, or its earlier sessions could
    not be read): the caller then falls back to the " (Retry N)" name, the last resort. It never
    raises VBRError, so a job run is never lost to it.
    """

    def __init__(self, client: VBRClient, clock: Callable[[], datetime]) -> None:
        self.client = client
        self.settings = JobSettingsCache(client.log, clock)

    async def is_retry(self, run: SessionRow, zone: ServerZone) -> bool | None:
        """Whether ``run`` is a retry by its job's settings (None: they cannot tell)."""
        if run.has_retry_info or run.original_session_id is not None or run.job_id is None:
            return None
        settings = await self.settings.get(run.job_id, self.client.job_retry_settings)
        if settings is None:
            return None
        if not settings.enabled:
            return False
        # Every earlier session that could be a link of the chain: jobIdFilter, ended in the window.
        since = run.creation_time - settings.window * (settings.count + 1) - _EDGE
        params = [
            ("jobIdFilter", run.job_id),
            ("endedAfterFilter", format_filter(since, zone.tz)),
            ("createdBeforeFilter", format_filter(run.creation_time + _EDGE, zone.tz)),
            ("orderColumn", "EndTime"),
            ("orderAsc", "true"),
        ]
        try:
            earlier = await self.client.sessions(params, zone.tz)
        except VBRError as e:
            self.client.log.warning(
                "vbr_retry_chain_unreadable", session_id=run.id, kind=e.kind, status=e.status, error=e.message
            )
            return None
        return retry_number(run, settings, earlier.rows) is not None
