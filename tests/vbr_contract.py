"""The VBR contract: every request alertd sends and every answer the simulator serves, checked
against Veeam's OpenAPI subsets (tests/data/vbr-openapi) with jsonschema.

The simulator hands each exchange to a `ContractObserver`; tests assert its ``violations`` empty.
Requests are checked against the revision they name in ``x-api-version``: the operation exists,
every query parameter is declared for it and its values fit the parameter's schema, the declared
headers are there, the bearer token is sent exactly where the operation is not ``security: []``,
and the body matches the declared request body. Answers are checked against the same revision:
the status is declared for the operation and the body fits its schema.

Schemas are made strict here (``additionalProperties: false`` wherever properties are listed), so
the simulator cannot invent a field a revision lacks. Four readings of the documents are written
down rather than guessed, each with its source:

* OpenAPI 3.0's ``nullable``, ``allOf`` and ``oneOf``/``discriminator`` become JSON Schema (a
  subtype's ``allOf`` is merged into one object; the base's discriminator picks the subtype).
* ``date-time`` accepts values without an offset: Veeam's own task-session and token examples
  carry none (reference §2.3).
* ``grant_type`` is compared case-insensitively: 1.3-rev1+ enumerate ``Password`` while the same
  documents' descriptions and examples send ``password`` (reference §1.3, open question 8).
* A 400 NotImplemented answer to an unsupported ``x-api-version`` is accepted on every operation:
  it is observed on real servers (reference §1.2) though declared only for POST.

Revisions without a subset are checked against the nearest older documented one; 1.1-rev0 (and
the 1.1-rev1..1.2-rev0 revisions the simulator answers in its shape) against 1.2-rev1 with the
differences reference §2.2, §3.1 and §6 document: ``activityId`` for ``jobId``, a ``Job`` session
type, no platform fields, and no task-session endpoints. In 1.1-rev1..1.2-rev0 no document says
whether task sessions exist (open question 4): a client may ask, and a 404 answer means "absent".
"""

from __future__ import annotations

import copy
import json
import re
import uuid
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import jsonschema

from alertd.simulator.vbr import Exchange

SPEC_DIR = Path(__file__).parent / "data" / "vbr-openapi"
_FILES = {r: SPEC_DIR / f"vbr-openapi-{r}-subset.json" for r in ("1.2-rev1", "1.3-rev0", "1.3-rev2")}
_ORDER = (
    "1.0-rev1",
    "1.0-rev2",
    "1.1-rev0",
    "1.1-rev1",
    "1.1-rev2",
    "1.2-rev0",
    "1.2-rev1",
    "1.3-rev0",
    "1.3-rev1",
    "1.3-rev2",
)
_UNKNOWN_ERA = frozenset({"1.1-rev1", "1.1-rev2", "1.2-rev0"})
_DATE_TIME = re.compile(
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,7})?(Z|[+-][0-9]{2}:[0-9]{2})?$"
)
_FORMATS = jsonschema.FormatChecker(formats=())


@_FORMATS.checks("vbr-date-time")
def _is_date_time(value: object) -> bool:
    return not isinstance(value, str) or bool(_DATE_TIME.match(value))


@_FORMATS.checks("uuid", raises=ValueError)
def _is_uuid(value: object) -> bool:
    return not isinstance(value, str) or bool(uuid.UUID(value))


def _overlay_1_1_rev0(doc: dict[str, Any]) -> dict[str, Any]:
    """1.2-rev1 as 1.1-rev0 differs from it (reference §2.2, §3.1, §6)."""
    doc = copy.deepcopy(doc)
    doc["info"]["version"] = "1.1-rev0"
    schemas = doc["components"]["schemas"]
    session = schemas["SessionModel"]
    session["properties"]["activityId"] = session["properties"].pop("jobId")  # "named activityId" (§2.2)
    session["required"] = ["activityId" if r == "jobId" else r for r in session["required"]]
    for name in ("platformName", "platformId"):  # 1.2-rev1+ only (§2.2, §6)
        session["properties"].pop(name, None)
    schemas["ESessionType"]["enum"].append("Job")  # "one Job value covers all jobs" (§2.2)
    for path in ("/api/v1/taskSessions", "/api/v1/taskSessions/{id}", "/api/v1/sessions/{id}/taskSessions"):
        doc["paths"].pop(path)  # "VBR 12.0 (1.1-rev0) has none" (§3.1)
    return doc


class Spec:
    """One revision's document, its operations and its schemas as strict JSON Schema."""

    def __init__(self, doc: dict[str, Any]) -> None:
        self.doc = doc
        self.revision = doc["info"]["version"]
        self.defs: dict[str, Any] = {}
        self.ops: list[tuple[str, re.Pattern[str], dict[str, Any]]] = []
        for template, item in doc["paths"].items():
            pattern = re.compile("^" + re.sub(r"\{[^}]+\}", "[^/]+", template) + "$")
            for method, op in item.items():
                self.ops.append((method.upper(), pattern, op))

    def operation(self, method: str, path: str) -> dict[str, Any] | None:
        # Literal segments first, so /sessions/{id} does not swallow a longer literal path.
        matches = [op for m, p, op in self.ops if m == method and p.match(path)]
        return matches[0] if matches else None

    def resolve(self, node: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in node:
            parts = node["$ref"].removeprefix("#/").split("/")
            node = self.doc
            for part in parts:
                node = node[part]
        return node

    def validate(self, schema: dict[str, Any], instance: object) -> list[str]:
        converted = {**self.convert(schema), "definitions": self.defs}
        validator = jsonschema.Draft7Validator(converted, format_checker=_FORMATS)
        return [
            f"{'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}"
            for e in validator.iter_errors(instance)
        ]

    def convert(self, node: dict[str, Any]) -> dict[str, Any]:
        """OpenAPI 3.0 schema -> strict draft-7 JSON Schema (refs into ``self.defs``)."""
        if "$ref" in node:
            name = node["$ref"].rsplit("/", 1)[-1]
            if name not in self.defs:
                self.defs[name] = {}  # placeholder: a schema may refer to itself
                self.defs[name] = self.convert(self.resolve(node))
            return {"$ref": f"#/definitions/{name}"}
        if "allOf" in node:
            return self.convert(self._merge(node))
        if "oneOf" in node and "discriminator" in node:
            prop = node["discriminator"]["propertyName"]
            mapping = node["discriminator"]["mapping"]
            return {
                "type": "object",
                "required": [prop],
                "properties": {prop: {"enum": list(mapping)}},
                "allOf": [
                    {"if": {"properties": {prop: {"const": k}}}, "then": self.convert({"$ref": v})}
                    for k, v in mapping.items()
                ],
            }
        out: dict[str, Any] = {}
        nullable = node.get("nullable") is True
        if "type" in node:
            out["type"] = [node["type"], "null"] if nullable else node["type"]
        if "enum" in node:
            out["enum"] = [*node["enum"], None] if nullable else list(node["enum"])
        if "properties" in node:
            out["properties"] = {k: self.convert(v) for k, v in node["properties"].items()}
            out["additionalProperties"] = False
        if node.get("required"):
            out["required"] = list(node["required"])
        if "items" in node:
            out["items"] = self.convert(node["items"])
        return _with_format(node, out)

    def _merge(self, node: dict[str, Any]) -> dict[str, Any]:
        merged: dict[str, Any] = {"type": "object", "properties": {}, "required": []}
        for part in node["allOf"]:
            part = self.resolve(part)
            if "allOf" in part:
                part = self._merge(part)
            merged["properties"].update(part.get("properties", {}))
            merged["required"] += [r for r in part.get("required", []) if r not in merged["required"]]
        return merged


def _with_format(node: dict[str, Any], out: dict[str, Any]) -> dict[str, Any]:
    fmt = node.get("format")
    if fmt == "date-time":
        out["format"] = "vbr-date-time"
    elif fmt == "uuid":
        out["format"] = "uuid"
    elif fmt in ("int32", "int64"):
        bits = 31 if fmt == "int32" else 63
        out["minimum"], out["maximum"] = -(2**bits), 2**bits - 1
    for key in ("minimum", "maximum"):
        if key in node:
            out[key] = node[key]
    return out


@cache
def spec_for(revision: str) -> Spec:
    """The document a request naming ``revision`` is checked against."""
    index = _ORDER.index(revision)
    for older in reversed(_ORDER[: index + 1]):
        if older in _FILES:
            return Spec(json.loads(_FILES[older].read_text(encoding="utf-8")))
    return Spec(_overlay_1_1_rev0(json.loads(_FILES["1.2-rev1"].read_text(encoding="utf-8"))))


def _coerce(text: str, schema: dict[str, Any]) -> object:
    """A query value typed as its schema says (OpenAPI's ``form`` style sends text)."""
    kind = schema.get("type")
    if kind == "integer" and re.fullmatch(r"-?[0-9]+", text):
        return int(text)
    if kind == "boolean" and text in ("true", "false"):
        return text == "true"
    return text


def _task_probe(ex: Exchange) -> bool:
    """A task-session request in a revision where no document says whether they exist (§3.1, Q4):
    checked against 1.2-rev1, the first revision known to have them; "absent" is a 404 (§8.1)."""
    return ex.header("x-api-version") in _UNKNOWN_ERA and "taskSessions" in ex.path


def check_request(ex: Exchange) -> list[str]:
    """What is wrong with a request, per the revision it names."""
    revision = ex.header("x-api-version")
    if revision is None:
        return ["no x-api-version header (required on every operation)"]
    if revision not in _ORDER:
        return [f"x-api-version {revision!r} is no documented revision"]
    spec = spec_for("1.2-rev1" if _task_probe(ex) else revision)
    op = spec.operation(ex.method, ex.path)
    if op is None:
        return [f"no {ex.method} {ex.path} in {spec.revision}"]
    params = [spec.resolve(p) for p in op.get("parameters", [])]
    problems = _check_query(spec, params, ex)
    for p in params:
        if p["in"] == "header" and p.get("required") and ex.header(p["name"]) is None:
            problems.append(f"required header {p['name']} missing")
    auth = ex.header("Authorization")
    if op.get("security") == []:
        if auth is not None:
            problems.append("Authorization sent to an operation declared security: []")
    elif auth is None or not auth.startswith("Bearer ") or len(auth) <= len("Bearer "):
        problems.append("no Authorization: Bearer token (the Bearer scheme is the only one declared)")
    if ex.header("Accept") != "application/json":
        problems.append("Accept must be application/json, the only media type (reference §1.3)")
    problems += _check_body(spec, op, ex)
    return problems


def _check_query(spec: Spec, params: list[dict[str, Any]], ex: Exchange) -> list[str]:
    problems: list[str] = []
    query_params = {p["name"]: p for p in params if p["in"] == "query"}
    for name in dict.fromkeys(k for k, _ in ex.query):
        values = [v for k, v in ex.query if k == name]
        declared = query_params.get(name)
        if declared is None:
            problems.append(f"query parameter {name!r} is not declared (names are case-sensitive)")
            continue
        schema = spec.resolve(declared["schema"])
        if schema.get("type") == "array":
            item = spec.resolve(schema["items"])
            for value in values:
                problems += [f"{name}={value!r}: {e}" for e in spec.validate(item, _coerce(value, item))]
        elif len(values) != 1:
            problems.append(f"{name} is single-valued but sent {len(values)} times")
        else:
            problems += [
                f"{name}={values[0]!r}: {e}" for e in spec.validate(schema, _coerce(values[0], schema))
            ]
    return problems


def _check_body(spec: Spec, op: dict[str, Any], ex: Exchange) -> list[str]:
    declared = op.get("requestBody")
    if declared is None:
        return ["a body on an operation that declares none"] if ex.body else []
    content_type = (ex.header("Content-Type") or "").split(";")[0].strip()
    content = spec.resolve(declared)["content"]
    if content_type not in content:
        return [f"request Content-Type {content_type!r}, declared: {', '.join(content)}"]
    schema = spec.resolve(content[content_type]["schema"])
    form: dict[str, object] = dict(parse_qsl(ex.body.decode("ascii"), keep_blank_values=True))
    grant = spec.resolve(schema["properties"]["grant_type"])
    for choice in grant.get("enum", []):
        if str(form.get("grant_type", "")).lower() == choice.lower():
            form["grant_type"] = choice  # open question 8: the enum's spelling is contradicted
    for key, prop in schema.get("properties", {}).items():
        if key in form:
            form[key] = _coerce(str(form[key]), spec.resolve(prop))
    return [f"body: {e}" for e in spec.validate(schema, form)]


def check_response(ex: Exchange) -> list[str]:
    """What is wrong with an answer, per the revision its request named."""
    if ex.fault is not None or ex.status is None:
        return []  # an injected fault is off-document on purpose
    spec = (
        spec_for(ex.header("x-api-version") or "1.3-rev2")
        if ex.header("x-api-version") in _ORDER
        else spec_for("1.3-rev2")
    )
    content_type = next((v for k, v in ex.response_headers if k.lower() == "content-type"), "")
    if not content_type.startswith("application/json"):
        return [f"answer Content-Type {content_type!r}, not application/json"]
    try:
        body = json.loads(ex.response_body)
    except ValueError as e:
        return [f"answer is not JSON: {e}"]
    error_schema = spec.doc["components"]["schemas"]["Error"]
    op = spec.operation(ex.method, ex.path)
    unsupported = ex.status == 400 and isinstance(body, dict) and body.get("errorCode") == "NotImplemented"
    if op is None or unsupported or (_task_probe(ex) and ex.status == 404):
        if ex.status < 400:
            return [f"{ex.status} for an operation {spec.revision} does not have"]
        return [f"error body: {e}" for e in spec.validate(error_schema, body)]
    declared = op["responses"].get(str(ex.status))
    if declared is None:
        return [f"status {ex.status} is not declared (declared: {', '.join(op['responses'])})"]
    media = spec.resolve(declared).get("content", {}).get("application/json")
    if media is None:
        return [] if not ex.response_body else ["a body where the status declares none"]
    return [f"body: {e}" for e in spec.validate(media["schema"], body)]


class ContractObserver:
    """Collects violations of every exchange the simulator sees; plug into ``SimulatedVBR(observer=)``."""

    def __init__(self) -> None:
        self.violations: list[str] = []
        self.exchanges: list[Exchange] = []

    def __call__(self, ex: Exchange) -> None:
        self.exchanges.append(ex)
        rev = ex.header("x-api-version")
        for problem in check_request(ex):
            self.violations.append(f"request {ex.method} {ex.path} ({rev}): {problem}")
        for problem in check_response(ex):
            self.violations.append(f"answer {ex.status} to {ex.method} {ex.path} ({rev}): {problem}")
