"""EMSource.job_runs for many runs at once: batched job-session queries and exact task counts."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from urllib.parse import unquote

import pytest
import structlog
from em_support import NOW, RESULTS, make_source, running_em

from alertd.em.source import BATCH_FROM, BATCH_SIZE, EMSource
from alertd.simulator import ManualClock, SimulatedEM


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(NOW)


@pytest.fixture
async def sim(clock: ManualClock) -> AsyncIterator[SimulatedEM]:
    async with running_em(clock, seed=5) as em:
        yield em


@pytest.fixture
async def source(sim: SimulatedEM, clock: ManualClock) -> AsyncIterator[EMSource]:
    src = make_source(sim, clock)
    yield src
    await src.close()


def _queries(sim: SimulatedEM) -> list[tuple[str, str]]:
    return [(q.query["type"], unquote(q.query.get("filter", ""))) for q in sim.requests.queries()]


async def test_many_runs_cost_two_requests_per_batch(sim: SimulatedEM, source: EMSource) -> None:
    """A storm's runs are read BATCH_SIZE at a time: one job-session query and one task query each,
    and every field (task count included) equals what the one-by-one read gives."""
    for i in range(BATCH_SIZE + 3):
        vms = [f"r{i:02d}-vm{v}" for v in range(6)]
        failed = {vms[0]: "Failed", vms[1]: "Warning"} if i % 2 else dict.fromkeys(vms, "Failed")
        sim.add_job_run(job_name=f"Job {i % 4}", vms=vms, results=failed, start=NOW - timedelta(hours=2))
    batch = await source.failures(NOW - timedelta(hours=3), RESULTS)
    uids = list(dict.fromkeys(s.job_session_uid for s in batch.sessions))
    assert len(uids) >= BATCH_FROM
    before = source.requests_made
    got = await source.job_runs(uids)
    cost = source.requests_made - before
    assert [r.uid for r in got] == uids
    chunks = -(-len(uids) // BATCH_SIZE)
    assert cost == 2 * chunks
    types = [t for t, _ in _queries(sim)[-cost:]]
    assert sorted(types) == ["BackupJobSession"] * chunks + ["BackupTaskSession"] * chunks
    by_uid = {r.uid: r for r in got}
    # Below BATCH_FROM, runs are read one by one (entity by path, task count by a pageSize=1 query).
    assert by_uid[uids[0]] == (await source.job_runs([uids[0]]))[0]
    assert by_uid[uids[1]] == (await source.job_runs([uids[1]]))[0]
    assert {r.task_count for r in got} == {6}


async def test_runs_em_does_not_return_are_left_out_and_logged(sim: SimulatedEM, source: EMSource) -> None:
    """A job session missing from the batch answer is logged and left out; the rest are read."""
    runs = [
        sim.add_job_run(vms=["a"], results={"a": "Failed"}, start=NOW - timedelta(hours=1)) for _ in range(6)
    ]
    await source.failures(NOW - timedelta(hours=2), RESULTS)
    missing = "urn:veeam:BackupJobSession:00000000-0000-4000-8000-000000000000"
    uids = [r.tasks[0].job_session_urn for r in runs]
    with structlog.testing.capture_logs() as logs:
        got = await source.job_runs([missing, *uids])
    assert [r.uid for r in got] == uids and all(r.task_count == 1 for r in got)
    assert [e["uid"] for e in logs if e["event"] == "job_run_unreadable"] == [missing]


async def test_batched_read_switches_to_urn_when_guids_match_nothing(
    sim: SimulatedEM, source: EMSource
) -> None:
    """On an EM matching only URNs, the empty job-session answer proves the GUID form wrong."""
    sim.settings.uid_filter_forms = frozenset({"urn"})
    runs = [
        sim.add_job_run(vms=["a", "b"], results={"a": "Failed"}, start=NOW - timedelta(hours=1))
        for _ in range(5)
    ]
    await source.failures(NOW - timedelta(hours=2), RESULTS)
    got = await source.job_runs([r.tasks[0].job_session_urn for r in runs])
    assert len(got) == 5 and all(r.task_count == 2 for r in got) and source.uid_form == "urn"


async def test_batched_read_falls_back_to_one_by_one(sim: SimulatedEM, source: EMSource) -> None:
    """When no UID form matches, the runs are still read one by one (entity by path)."""
    sim.settings.uid_filter_forms = frozenset()
    runs = [
        sim.add_job_run(vms=["a"], results={"a": "Failed"}, start=NOW - timedelta(hours=1)) for _ in range(5)
    ]
    await source.failures(NOW - timedelta(hours=2), RESULTS)
    with structlog.testing.capture_logs() as logs:
        got = await source.job_runs([r.tasks[0].job_session_urn for r in runs])
    assert len(got) == 5 and all(r.task_count is None for r in got)
    assert "job_run_batch_failed" in [e["event"] for e in logs]


async def test_batched_read_gives_up_when_em_is_unreachable(sim: SimulatedEM, source: EMSource) -> None:
    """EM unreachable: nothing is returned, one warning, no exception."""
    runs = [sim.add_job_run(vms=["a"], results={"a": "Failed"}) for _ in range(BATCH_SIZE * 2)]
    await sim.stop()
    with structlog.testing.capture_logs() as logs:
        got = await source.job_runs([r.tasks[0].job_session_urn for r in runs])
    assert got == []
    assert [e["event"] for e in logs if e["log_level"] == "warning"].count("job_runs_abandoned") == 1
