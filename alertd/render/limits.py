"""The documented size rules of each channel, and a checker for each native payload.

Slack Block Kit (docs.slack.dev, Block Kit reference): at most 50 blocks; a header's plain text
at most 150 characters; a section's text at most 3,000; a context block at most 10 elements; the
top-level ``text`` is what notifications show (Slack truncates past 40,000; alertd keeps it far
shorter). Microsoft Teams (Workflows): an Adaptive Card up to version 1.5 whose message stays
under about 28 KB. Gmail clips an email whose HTML is over about 102 KB; alertd keeps it under
90 KB. The layouts fit themselves inside these; ``slack_problems`` and ``teams_problems`` say
what a payload breaks (used by the tests, by ``alertd preview`` and as a last guard).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar

SLACK_MAX_BLOCKS = 50
SLACK_HEADER_CHARS = 150
SLACK_SECTION_CHARS = 3000
SLACK_CONTEXT_ELEMENTS = 10
#: The notification line: Slack allows 40,000 characters; a notification shows one line.
SLACK_TEXT_CHARS = 3000
#: All VM sections together: past this a message is a wall of text; "+N more" says the rest.
SLACK_VM_CHARS = 12_000

TEAMS_MAX_BYTES = 28 * 1024
#: What alertd aims for (the whole posted message, UTF-8): a margin under Teams' ~28 KB.
TEAMS_BUDGET_BYTES = 26_000
TEAMS_CARD_VERSION = "1.5"
#: Element types Teams renders in a 1.5 card (the ones alertd uses are a subset).
TEAMS_ELEMENTS = frozenset(
    {
        "TextBlock", "RichTextBlock", "TextRun", "FactSet", "Container", "ColumnSet", "Column",
        "Table", "TableRow", "TableCell", "Image", "ActionSet",
    }
)  # fmt: skip
TEAMS_ACTIONS = frozenset({"Action.OpenUrl"})

EMAIL_HTML_BYTES = 90_000

T = TypeVar("T")


def largest_fitting(build: Callable[[int], T], fits: Callable[[T], bool], count: int) -> tuple[T, int]:
    """The rendering with the most items (of ``count``) that ``fits``, found by binary search.

    Returns ``build(0)`` and 0 when not even that fits (the caller decides what to cut then).
    """
    full = build(count)
    if fits(full):
        return full, count
    lo, hi, best = 0, count - 1, build(0)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        candidate = build(mid)
        if fits(candidate):
            lo, best = mid, candidate
        else:
            hi = mid - 1
    return best, lo


def _texts(node: Any) -> list[str]:
    return [node["text"]] if isinstance(node, dict) and isinstance(node.get("text"), str) else []


def slack_problems(payload: dict[str, Any]) -> list[str]:
    """Every Block Kit rule ``payload`` breaks (empty when it is valid)."""
    problems = []
    text = payload.get("text")
    if not isinstance(text, str) or not text.strip():
        problems.append("no top-level text")
    elif len(text) > SLACK_TEXT_CHARS:
        problems.append(f"top-level text has {len(text)} characters")
    groups = [("blocks", payload.get("blocks", []))]
    groups += [
        (f"attachments[{i}].blocks", a.get("blocks", []))
        for i, a in enumerate(payload.get("attachments", []))
    ]
    for where, blocks in groups:
        if len(blocks) > SLACK_MAX_BLOCKS:
            problems.append(f"{where}: {len(blocks)} blocks")
        for i, block in enumerate(blocks):
            problems += [f"{where}[{i}]: {p}" for p in _block_problems(block)]
    return problems


def _block_problems(block: dict[str, Any]) -> list[str]:
    """What one block breaks."""
    kind = block.get("type")
    texts = _texts(block.get("text"))
    problems = []
    if kind == "header":
        if block["text"].get("type") != "plain_text" or len(texts[0]) > SLACK_HEADER_CHARS:
            problems.append("header must be plain_text of <= 150 characters")
    elif kind == "section":
        fields = [t for f in block.get("fields", []) for t in _texts(f)]
        if not texts and not fields:
            problems.append("section without text")
        if any(len(t) > SLACK_SECTION_CHARS for t in texts) or any(len(t) > 2000 for t in fields):
            problems.append("section text over 3,000 characters")
    elif kind == "context":
        elements = block.get("elements", [])
        if not elements or len(elements) > SLACK_CONTEXT_ELEMENTS:
            problems.append("context needs 1 to 10 elements")
        if any(len(t) > SLACK_SECTION_CHARS for e in elements for t in _texts(e)):
            problems.append("context element over 3,000 characters")
    elif kind != "divider":
        problems.append(f"unexpected block type {kind!r}")
    if any("\\" + c in t for t in texts for c in "*_~`[]<>"):
        problems.append("backslash escape (Slack shows it literally)")
    return problems


def _walk(node: Any, path: str, found: list[tuple[str, dict[str, Any]]]) -> None:
    if isinstance(node, dict):
        if "type" in node:
            found.append((path, node))
        for key, value in node.items():
            _walk(value, f"{path}.{key}", found)
    elif isinstance(node, list):
        for i, value in enumerate(node):
            _walk(value, f"{path}[{i}]", found)


def teams_problems(body: str) -> list[str]:
    """Every rule a Workflows message (the posted JSON text) breaks (empty when it is valid)."""
    problems = []
    size = len(body.encode())
    if size > TEAMS_MAX_BYTES:
        problems.append(f"message is {size} bytes (Teams refuses over ~28 KB)")
    message = json.loads(body)
    if message.get("type") != "message" or len(message.get("attachments", [])) != 1:
        return [*problems, "not a Workflows message with one attachment"]
    attachment = message["attachments"][0]
    if attachment.get("contentType") != "application/vnd.microsoft.card.adaptive":
        problems.append("attachment is not an Adaptive Card")
    card = attachment.get("content", {})
    if card.get("type") != "AdaptiveCard" or card.get("version") != TEAMS_CARD_VERSION:
        problems.append("card is not an AdaptiveCard of version 1.5")
    nodes: list[tuple[str, dict[str, Any]]] = []
    _walk(card.get("body", []), "body", nodes)
    _walk(card.get("actions", []), "actions", nodes)
    for path, node in nodes:
        kind = node["type"]
        if path.startswith("actions") and "." not in path.split("]", 1)[-1]:
            if kind not in TEAMS_ACTIONS:
                problems.append(f"{path}: unsupported action {kind!r}")
            elif not str(node.get("url", "")).startswith(("https://", "http://")):
                problems.append(f"{path}: Action.OpenUrl without an http(s) url")
        elif kind not in TEAMS_ELEMENTS and not kind.startswith("Action."):
            problems.append(f"{path}: unsupported element {kind!r}")
        if kind == "TextBlock" and not node.get("wrap"):
            problems.append(f"{path}: TextBlock without wrap (cut to one line)")
    return problems
