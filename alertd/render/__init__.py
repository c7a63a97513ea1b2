"""Rendering: alert groups and daemon events become ``RenderedMessage`` objects for each channel.

Public API: ``Renderer`` (``render(group, channel, links=...)``, ``render_test``,
``render_dead_letter``, ``render_self_alert``), ``DisplayOptions``, ``RouteLinks``,
``TemplateError``, ``TimeZoneError``, ``check_link_template``. The package owns the default
templates in ``alertd/templates``, per-receiver overrides, the native Slack and Teams layouts,
and the size rules of every channel (``alertd.render.limits``). It is pure: apart from reading
template files it does no I/O and never talks to a channel.
"""

from alertd.render.env import TemplateError
from alertd.render.links import Link, RouteLinks, check_link_template
from alertd.render.renderer import TITLE_MAX_CHARS, DisplayOptions, Renderer
from alertd.render.text import md_escape, one_line
from alertd.render.timefmt import TimeZoneError

__all__ = [
    "TITLE_MAX_CHARS",
    "DisplayOptions",
    "Link",
    "Renderer",
    "RouteLinks",
    "TemplateError",
    "TimeZoneError",
    "check_link_template",
    "md_escape",
    "one_line",
]
