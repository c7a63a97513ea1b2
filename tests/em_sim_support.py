"""What the EM simulator's own tests share (test_simulator, test_simulator_scenarios).

Its account, the instant they start at, EM's XML namespace and media types, and the raw HTTP
pieces those tests speak EM's REST API with (Basic credentials, JSON bodies with EM's BOM).
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Any

USER, PASSWORD = "CORP\\svc-alertd", "secret"
NOW = datetime(2025, 8, 16, 12, 0, tzinfo=UTC)
NS = "{http://www.veeam.com/ent/v1.0}"
XML, JSON = {"Accept": "application/xml"}, {"Accept": "application/json"}


def basic(user: str = USER, password: str = PASSWORD) -> dict[str, str]:
    """HTTP Basic credentials (the simulator's account unless given)."""
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def json_body(body: bytes) -> Any:
    """A JSON body without its BOM."""
    return json.loads(body.decode("utf-8-sig"))
