"""Plausible names and failure texts for generated data: jobs, VMs, backup servers, Reasons.

Reasons are templates with ``{vm}``, ``{job}``, ``{file}`` and ``{host}`` fields. Some span
lines and one VM name is non-ASCII, because real Reasons and names do both.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class JobSpec:
    """A backup job: its name, the backup server running it, and the VMs it protects."""

    name: str
    backup_server: str
    vms: tuple[str, ...]
    repository: str = r"E:\Backups"


DEFAULT_JOBS = (
    JobSpec("SQL Daily", "vbr01.corp.local", ("dbserver01", "dbserver02", "sqlclu-n1", "sqlclu-n2")),
    JobSpec("Fileserver Backup", "vbr01.corp.local", ("fs01", "fs02", "fs-zürich01"), r"\\nas01\backups"),
    JobSpec("Exchange Nightly", "vbr02.corp.local", ("exch01", "exch02", "exch-edge01")),
    JobSpec("Web Tier", "vbr02.corp.local", ("web01", "web02", "web03", "lb01")),
    JobSpec("Domain Controllers", "vbr01.corp.local", ("dc01", "dc02")),
)

FAILED_REASONS = (
    "Error: There is not enough space on the disk. Failed to write data to the file [{file}]. "
    "Failed to download disk '{vm}-flat.vmdk'.",
    "Error: Failed to create VM snapshot. Timed out",
    "Error: VSSControl: Failed to prepare guest for freeze, wait timeout 900 sec",
    "Error: Cannot connect to the host {host}. The operation has timed out\n"
    "Unable to retrieve next block transmission command. Number of already processed blocks: [0].",
    "Error: Access is denied. Failed to open storage for read/write access. Storage: [{file}].",
    "Error: Failed to call RPC function 'FcWriteFileEx': The device is not ready.",
    "Error: Task failed unexpectedly",
)

WARNING_REASONS = (
    "Processing finished with warnings: Changed block tracking is disabled",
    "Unable to truncate Microsoft SQL Server transaction logs. Details: Failed to connect to SQL instance "
    "MSSQLSERVER on {vm}.",
    "Processing finished with warnings: VM '{vm}' is running on snapshot, consolidation is needed",
    "Guest processing skipped: Failed to connect to guest OS via VIX (login failed).\r\n"
    "Indexing of guest file system is disabled.",
    "Hard disk 1 (0 B) was skipped: the disk is independent",
)

#: ESXi hosts named in connection-failure Reasons.
HOSTS = ("esx01.corp.local", "esx02.corp.local", "esx03.corp.local")
