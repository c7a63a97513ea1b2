"""The Veeam Backup & Replication REST API edge: one backup server's own API as an alertd source.

`alertd.vbr.versions`, `alertd.vbr.times`, `alertd.vbr.decode` and `alertd.vbr.normalise` are
pure; `alertd.vbr.transport`, `alertd.vbr.auth` and `alertd.vbr.client` do the I/O;
`alertd.vbr.source.VBRSource` is what the pipeline uses (the `alertd.source.Source` contract).
Facts and their sources: ``shared/reference/vbr-rest-api.md`` (cited below as "reference §n").
"""

from alertd.vbr.client import VBRClient, VBRConnection
from alertd.vbr.errors import VBRError
from alertd.vbr.source import VBRSource

__all__ = ["VBRClient", "VBRConnection", "VBRError", "VBRSource"]
