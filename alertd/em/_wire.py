"""Read EM's two wire formats into one neutral shape, so `alertd.em.decode` never sees XML or JSON.

This module owns safe parsing (defusedxml only, DTDs forbidden; JSON with an optional UTF-8
BOM) and the structural walk of a QueryResult: where the entity list and PagingInfo live in
each format, including JSON's double-wrapped, singular or null entity lists. Names are
lower-cased local names, so namespaces and key casing (EM 13 camelCase) never matter. XML query
pages, the poll's hot path, are read in one pass by `alertd.em._xml_stream`; the shape they are
read into is `alertd.em._raw`'s.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from typing import Any

import defusedxml.ElementTree as DET

from alertd.em._raw import DecodeError, Fields, RawEntity, RawPage, list_label, xml_errors
from alertd.em._xml_stream import QueryReader

_UTF8_BOM = b"\xef\xbb\xbf"
_XSI_NIL = "{http://www.w3.org/2001/XMLSchema-instance}nil"
#: The entity types a query page may hold, by lower-cased type name: (list name, item name).
_ENTITY_LISTS = {
    "backuptasksession": ("backuptasksessions", "backuptasksession"),
    "backupjobsession": ("backupjobsessions", "backupjobsession"),
}
_LINK_LIST_NAMES = frozenset({"links", "link"})
_VERSION_LIST_NAMES = frozenset({"supportedversions", "supportedversion"})
# How many wrapper objects may sit around a JSON entity list; EM uses two at most.
_MAX_WRAP_DEPTH = 4


def read_query(body: bytes, entity_type: str = "BackupTaskSession") -> RawPage:
    """Take a QueryResult body of ``entity_type`` entities apart; raise DecodeError if its structure
    is broken or it holds entities of another type."""
    names = _ENTITY_LISTS[entity_type.lower()]
    if isinstance(body, bytes) and body.removeprefix(_UTF8_BOM).lstrip(b" \t\r\n").startswith(b"<"):
        # The hot path of every poll: parsed in one pass, straight into field dicts.
        return QueryReader(names).read(body)
    doc = _parse(body)
    if isinstance(doc, ET.Element):
        return _xml_query(doc, names)
    return _json_query(doc, names)


def read_entity(body: bytes) -> tuple[str, RawEntity]:
    """A single-entity document (``GET /api/backupSessions/{id}?format=Entity``): its root name
    ("" for JSON) and the entity's fields and Links."""
    doc = _parse(body)
    if isinstance(doc, ET.Element):
        return _local(doc.tag), RawEntity(_xml_fields(doc), _xml_links(doc))
    fields = _lower(doc)
    if fields is None:
        raise DecodeError("expected a JSON object at the top level")
    return "", RawEntity(fields, _json_links(fields.get("links")))


def read_versions(body: bytes) -> list[str]:
    """The ``Name`` of every SupportedVersion in ``GET /api/``'s EnterpriseManager document.

    XML: ``EnterpriseManager/SupportedVersions/SupportedVersion@Name`` (reference §1.1); JSON:
    the list is double-wrapped, ``{"SupportedVersions":{"SupportedVersions":[...]}}`` [obs].
    """
    doc = _parse(body)
    if isinstance(doc, ET.Element):
        if _local(doc.tag) != "enterprisemanager":
            raise DecodeError(f"expected an EnterpriseManager document, got <{_local(doc.tag)}>")
        items = [v for vs in _children(doc, "supportedversions") for v in _children(vs, "supportedversion")]
        names = [_attrs(v).get("name") for v in items]
    else:
        root = _lower(doc)
        if root is None:
            raise DecodeError("expected a JSON object at the top level")
        raw = _unwrap(root.get("supportedversions"), _VERSION_LIST_NAMES)
        names = [(_lower(item) or {}).get("name") for item in raw]
    return [n.strip() for n in names if isinstance(n, str) and n.strip()]


def read_root(body: bytes) -> tuple[str, Fields]:
    """The root's name ("" for JSON, which has none) and its flat fields: for Error and LogonSession."""
    doc = _parse(body)
    if isinstance(doc, ET.Element):
        return _local(doc.tag), _xml_fields(doc)
    fields = _lower(doc)
    if fields is None:
        raise DecodeError("expected a JSON object at the top level")
    return "", fields


def _parse(body: bytes) -> ET.Element | object:
    if not isinstance(body, bytes | bytearray | memoryview):
        raise DecodeError(f"expected a bytes body, got {type(body).__name__}")
    data = bytes(body)
    head = data.removeprefix(_UTF8_BOM).lstrip(b" \t\r\n")
    if head.startswith(b"<"):
        return _parse_xml(data)
    if head.startswith((b"{", b"[")):
        return _parse_json(data)
    if not head:
        raise DecodeError("empty body")
    raise DecodeError(f"body of {len(data)} bytes is neither XML nor JSON")


def _parse_xml(data: bytes) -> ET.Element:
    with xml_errors():
        # forbid_dtd: EM never sends a DTD, and refusing all of them also refuses entity bombs
        # and external entities before expat expands anything.
        root: ET.Element = DET.fromstring(data, forbid_dtd=True)
    return root


def _parse_json(data: bytes) -> object:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise DecodeError(f"JSON body is not UTF-8: {e.reason} at byte {e.start}") from e
    try:
        doc: object = json.loads(text)
    except RecursionError as e:
        raise DecodeError("JSON nested too deeply") from e
    except ValueError as e:
        raise DecodeError(f"malformed JSON: {e}") from e
    return doc


# --- XML -------------------------------------------------------------------------------------


def _local(tag: object) -> str:
    # Comments and processing instructions have non-str tags; they name nothing here.
    return tag.rpartition("}")[2].lower() if isinstance(tag, str) else ""


def _children(el: ET.Element, name: str) -> list[ET.Element]:
    return [c for c in el if _local(c.tag) == name]


def _attrs(el: ET.Element) -> Fields:
    return {_local(k): v for k, v in el.attrib.items()}


def _xml_fields(el: ET.Element) -> Fields:
    """Attributes plus leaf child elements' text: VmDisplayName is an attribute, Reason a child."""
    fields = _attrs(el)
    for child in el:
        name = _local(child.tag)
        if not name or len(child) or name in fields:
            continue
        fields[name] = None if child.get(_XSI_NIL) == "true" else (child.text or "")
    return fields


def _xml_links(el: ET.Element) -> list[Fields]:
    return [_attrs(link) for ls in _children(el, "links") for link in _children(ls, "link")]


def _xml_query(root: ET.Element, names: tuple[str, str]) -> RawPage:
    if _local(root.tag) != "queryresult":
        raise DecodeError(f"expected a QueryResult, got <{_local(root.tag)}>")
    paging = _children(root, "paginginfo")
    entities = _children(root, "entities")
    if not entities and any(len(r) for r in _children(root, "refs")):
        raise DecodeError("body holds References, not Entities: query with format=Entities")
    list_name, item_name = names
    items: list[RawEntity | str] = []
    for ent in entities:
        for lst in ent:
            if _local(lst.tag) != list_name:
                raise DecodeError(f"expected {list_label(list_name)} entities, got <{_local(lst.tag)}>")
            for item in lst:
                if _local(item.tag) != item_name:
                    raise DecodeError(f"unexpected <{_local(item.tag)}> in {list_label(list_name)}")
                items.append(RawEntity(_xml_fields(item), _xml_links(item)))
    return RawPage(_attrs(paging[0]) if paging else None, items)


# --- JSON ------------------------------------------------------------------------------------


def _lower(obj: object) -> Fields | None:
    if not isinstance(obj, dict):
        return None
    return {str(k).lower(): v for k, v in obj.items()}


def _present(value: object) -> bool:
    return value is not None and value != [] and value != {}


def _unwrap(value: object, names: frozenset[str], depth: int = 0) -> list[Any]:
    """The items of a possibly wrapped JSON list.

    Seen and rumoured shapes: ``[...]``, ``{"X": [...]}``, ``{"X": {"X": [...]}}``, a singular
    ``{"XItem": {...}}``, and null. An object whose keys are all list names is a wrapper; any
    other object is one lone item.
    """
    if value is None:
        return []
    if isinstance(value, list):
        return value
    d = _lower(value)
    if d is None:
        raise DecodeError(f"expected a list or object, got {type(value).__name__}")
    if not d:
        return []
    if not all(k in names for k in d):
        return [value]
    if depth >= _MAX_WRAP_DEPTH:
        raise DecodeError("entity list wrapped too deeply")
    out: list[Any] = []
    for v in d.values():
        out.extend(_unwrap(v, names, depth + 1))
    return out


def _json_query(doc: object, names: tuple[str, str]) -> RawPage:
    root = _lower(doc)
    if root is None:
        raise DecodeError("expected a JSON object at the top level")
    entities = root.get("entities")
    if entities is None and _present(root.get("refs")):
        raise DecodeError("body holds References, not Entities: query with format=Entities")
    if entities is not None and _lower(entities) is None:
        raise DecodeError(f"Entities is a {type(entities).__name__}, expected an object")
    list_names = frozenset(names)
    raw: list[Any] = []
    for key, val in (_lower(entities) or {}).items():
        if key in list_names:
            raw.extend(_unwrap(val, list_names))
        elif _present(val):
            raise DecodeError(f"expected {list_label(names[0])} entities, got {key!r}")
    items: list[RawEntity | str] = []
    for item in raw:
        fields = _lower(item)
        if fields is None:
            items.append(f"entity is a JSON {type(item).__name__}, not an object")
        else:
            items.append(RawEntity(fields, _json_links(fields.get("links"))))
    paging = root.get("paginginfo")
    return RawPage(_lower(paging), items)


def _json_links(value: object) -> list[Fields]:
    # A malformed Links value costs only the job and server names, never the entity.
    try:
        links = _unwrap(value, _LINK_LIST_NAMES)
    except DecodeError:
        return []
    return [f for f in map(_lower, links) if f is not None]
