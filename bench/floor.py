"""The floor: the least work any poller must do to read the storm's pages.

Log on, GET every page of the same query alertd sends, parse each body with defusedxml's
ElementTree into one dict per task session, and nothing else: no checks, no dedup, no state.
"""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import quote

import aiohttp
import defusedxml.ElementTree as DET
from yarl import URL


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def _entities(body: bytes) -> tuple[list[dict[str, Any]], int]:
    """The task sessions of one QueryResult page as dicts, and its PagesCount."""
    root = DET.fromstring(body)
    sessions: list[dict[str, Any]] = []
    pages = 1
    for part in root:
        name = _local(part.tag)
        if name == "PagingInfo":
            pages = int(part.get("PagesCount", "1"))
        elif name == "Entities":
            for item in part.iter():
                if _local(item.tag) != "BackupTaskSession":
                    continue
                fields: dict[str, Any] = dict(item.attrib)
                for child in item:
                    if len(child):
                        fields["Links"] = [dict(link.attrib) for link in child]
                    else:
                        fields[_local(child.tag)] = child.text
                sessions.append(fields)
    return sessions, pages


async def fetch_all(
    base: str, username: str, password: str, filter_text: str, page_size: int
) -> dict[str, int]:
    """Read every page of ``filter_text``; returns how many sessions, pages and requests it took."""
    auth = "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
    count = requests = 0
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as http:
        async with http.post(
            f"{base}/api/sessionMngr/?v=latest", headers={"Authorization": auth, "Accept": "application/xml"}
        ) as resp:
            token = resp.headers["X-RestSvcSessionId"]
            await resp.read()
        requests += 1
        headers = {"X-RestSvcSessionId": token, "Accept": "application/xml"}
        page, pages = 1, 1
        while page <= pages:
            params = [
                ("type", "BackupTaskSession"),
                ("format", "Entities"),
                ("sortAsc", "EndTime"),
                ("pageSize", str(page_size)),
                ("page", str(page)),
                ("filter", filter_text),
            ]
            query = "&".join(f"{k}={quote(v, safe='')}" for k, v in params)
            async with http.get(URL(f"{base}/api/query?{query}", encoded=True), headers=headers) as resp:
                body = await resp.read()
            requests += 1
            sessions, pages = _entities(body)
            count += len(sessions)
            page += 1
    return {"sessions": count, "pages": page - 1, "requests": requests}
