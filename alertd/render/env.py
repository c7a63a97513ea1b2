"""The sandboxed Jinja2 environments: message templates (defaults plus a receiver's overrides) and link templates.

Templates are user-editable configuration, so every environment is an
``ImmutableSandboxedEnvironment``: no access to Python internals, no mutation of the objects
handed in, undefined variables are errors. ``TemplateError`` names the template that failed.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jinja2
from jinja2 import sandbox

from alertd import __version__
from alertd.render.text import file_size, md_escape, one_line, slack_escape

DEFAULT_TEMPLATES = Path(__file__).parent.parent / "templates"


class TemplateError(Exception):
    """A template failed to load or render; ``template`` names it (or the override directory)."""

    def __init__(self, template: str, message: str) -> None:
        super().__init__(f"template {template!r}: {message}")
        self.template = template


def describe(exc: jinja2.TemplateError) -> str:
    """A one-line description of a Jinja error with its line number."""
    line = getattr(exc, "lineno", None)
    where = f" (line {line})" if line else ""
    return f"{type(exc).__name__}{where}: {exc.message or exc}"


class _Sandbox(sandbox.ImmutableSandboxedEnvironment):
    """The immutable sandbox, with its verdict on each attribute remembered per type and name.

    Every ``{{ vm.name }}`` goes through ``is_safe_attribute``, which walks a chain of isinstance
    checks: a storm's 500 messages asked it about 476,000 times, most of the flush (make bench).
    Its answer depends only on the object's type and the attribute's name (jinja2 3.1's checks:
    a leading underscore, the internals of functions, methods, types, code, frames and generators,
    and the mutating methods of lists, dicts, sets and deques), so the first answer for a pair
    is the answer for every later one. Every template, alertd's and each receiver's, stays in
    this sandbox; nothing that was refused before is allowed now.
    """

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self._safe: dict[tuple[type, str], bool] = {}

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        key = (type(obj), attr)
        safe = self._safe.get(key)
        if safe is None:
            safe = self._safe[key] = super().is_safe_attribute(obj, attr, value)
        return safe


def message_env(override: Path | None, filters: dict[str, Callable[..., Any]]) -> jinja2.Environment:
    """The environment for message templates: ``override`` first, then alertd's defaults."""
    dirs = [override] if override is not None else []
    env = _Sandbox(
        loader=jinja2.FileSystemLoader([*dirs, DEFAULT_TEMPLATES]),
        autoescape=jinja2.select_autoescape(
            enabled_extensions=("html.j2",), default_for_string=False, default=False
        ),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
    )
    env.filters.update(
        {"oneline": one_line, "md": md_escape, "slack": slack_escape, "filesize": file_size, **filters}
    )
    env.globals["alertd_version"] = __version__
    return env


def _quote_value(value: object) -> str:
    # Every value interpolated into a link is percent-encoded: a job called "a&b=c" or
    # "x|<evil>" cannot add query parameters or break Slack's <url|label> syntax.
    return value if isinstance(value, _Literal) else quote(str(value), safe="")


class _Literal(str):
    """Template text itself (not an interpolated value): left as written."""


def link_env() -> jinja2.Environment:
    """The environment for ``links:`` URL templates: every interpolated value is percent-encoded."""
    env = _Sandbox(undefined=jinja2.StrictUndefined, finalize=_quote_value, autoescape=False)
    env.filters["raw"] = _Literal  # {{ path | raw }}: insert unencoded (e.g. a path with slashes)
    return env
