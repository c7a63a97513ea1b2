"""structlog setup: JSON lines when stderr is not a terminal, readable console output when it is.

Standard-library loggers (aiohttp, apprise, asyncio) are routed through the same renderer. Target
URLs are secrets, so third-party loggers that print request lines or URLs at DEBUG/INFO (apprise,
urllib3, requests, aiohttp's client and access logs) are held at WARNING whatever ``log.level``
says, and any URL left in a third-party record is cut to scheme and host.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any, TextIO

import structlog

_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}
# Scrub anything that looks like credentials in a URL (scheme://user:pass@ or token paths) that
# slipped into a third-party log message; our own events only ever carry privacy URLs.
_URL_SECRET = re.compile(r"(\b[a-z][a-z0-9+.-]*://)([^/@\s:]+):([^@\s/]+)@", re.IGNORECASE)
# In third-party records, everything after a URL's host (path, query: where tokens live).
_URL_REST = re.compile(r"(\b[a-z][a-z0-9+.-]*://[^/\s'\"?#@]*@?[^/\s'\"?#]*)[/?#][^\s'\"]*", re.IGNORECASE)
# Request lines as urllib3 and aiohttp print them: "POST /hook-TOKEN?x=y HTTP/1.1".
_REQUEST_LINE = re.compile(r"\b(GET|POST|PUT|PATCH|DELETE|HEAD) /\S*", re.IGNORECASE)
#: Third-party loggers that print request lines or URLs below WARNING.
QUIET_LOGGERS = (
    "apprise", "urllib3", "requests", "charset_normalizer",
    "aiohttp.access", "aiohttp.client", "aiohttp.internal",
)  # fmt: skip


def _scrub(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key, value in event.items():
        if isinstance(value, str) and "://" in value:
            event[key] = _URL_SECRET.sub(r"\1\2:****@", value)
    return event


def _scrub_foreign(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    # Only records from other libraries: alertd's own events carry privacy URLs already.
    for key, value in event.items():
        if isinstance(value, str):
            value = _URL_REST.sub(r"\1/***", value)
            event[key] = _REQUEST_LINE.sub(r"\1 /***", value)
    return event


def configure(level: str = "info", fmt: str = "auto", stream: TextIO | None = None) -> None:
    """Configure structlog and the standard library logging once for the process."""
    out = stream or sys.stderr
    use_console = fmt == "console" or (fmt == "auto" and out.isatty())
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _scrub,
    ]
    final: list[Any] = (
        [structlog.dev.ConsoleRenderer(colors=out.isatty())]
        if use_console
        else [structlog.processors.dict_tracebacks, structlog.processors.JSONRenderer()]
    )
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *shared,
            structlog.stdlib.PositionalArgumentsFormatter(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(out)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[*shared, _scrub_foreign],
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *final],
        )
    )
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(_LEVELS.get(level, logging.INFO))
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
