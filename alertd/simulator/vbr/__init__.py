"""A simulated Veeam Backup & Replication REST API (port 9419, ``/api/v1``), written from the documents.

Used by tests, benchmarks and demos; see `SimulatedVBR`. Every behaviour names its source (a
section of ``shared/reference/vbr-rest-api.md``, the OpenAPI subsets, a Veeam help page); what no
document shows is refused with the server's documented error; where the documents are silent (the
open questions of reference §8.4) `VBRSettings` picks the reading that is safest for never-miss.
"""

from alertd.simulator.vbr.exchange import Exchange
from alertd.simulator.vbr.generator import JobRun
from alertd.simulator.vbr.profiles import PROFILES, Profile
from alertd.simulator.vbr.records import JobRecord, SessionRecord, TaskRecord
from alertd.simulator.vbr.server import SimulatedVBR
from alertd.simulator.vbr.settings import VBRSettings

__all__ = [
    "PROFILES",
    "Exchange",
    "JobRecord",
    "JobRun",
    "Profile",
    "SessionRecord",
    "SimulatedVBR",
    "TaskRecord",
    "VBRSettings",
]
