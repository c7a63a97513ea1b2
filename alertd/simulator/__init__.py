"""A simulated Veeam Backup Enterprise Manager REST API, written from the reference only.

Used by tests, benchmarks and ``alertd demo``; see ``SimulatedEM`` for the entry point.
Deliberately shares no code with ``alertd.em``: a fake that shares the client's bugs proves
nothing.
"""

from alertd.simulator.catalog import DEFAULT_JOBS, JobSpec
from alertd.simulator.clock import Clock, ManualClock
from alertd.simulator.em import SimulatedEM
from alertd.simulator.faults import FaultPlan
from alertd.simulator.generator import JobRun
from alertd.simulator.live import LiveDriver
from alertd.simulator.records import JobSessionRecord, TaskSessionRecord
from alertd.simulator.requestlog import LoggedRequest, RequestLog
from alertd.simulator.settings import EMSettings

__all__ = [
    "DEFAULT_JOBS",
    "Clock",
    "EMSettings",
    "FaultPlan",
    "JobRun",
    "JobSessionRecord",
    "JobSpec",
    "LiveDriver",
    "LoggedRequest",
    "ManualClock",
    "RequestLog",
    "SimulatedEM",
    "TaskSessionRecord",
]
