"""EM's XML query pages read in one expat pass, straight into field dicts (the poll's hot path).

`alertd.em._wire.read_query` hands XML query bodies here; every other body, and JSON, goes
through its tree-based readers, which give the same `RawPage`.
"""

from __future__ import annotations

from xml.parsers import expat

from defusedxml.common import DTDForbidden, EntitiesForbidden, ExternalReferenceForbidden

from alertd.em._raw import NIL, DecodeError, Fields, RawEntity, RawPage, list_label, xml_errors


class QueryReader:
    """A QueryResult page in one expat pass, into the same RawPage `alertd.em._wire` builds from a tree.

    Building an ElementTree and walking it again cost about as much as the parse itself (see the
    profile in bench/results.md); this reads each entity's attributes, leaf children and Links as
    the parser reports them. Safety is defusedxml's, set up the same way: any DTD is refused (so no
    entity can be declared, and none expanded), and so are entity declarations and external
    references. Levels: 1 QueryResult, 2 PagingInfo/Entities/Refs, 3 the entity list, 4 an entity,
    5 its children (fields, Links), 6 their children (each Link).
    """

    def __init__(self, names: tuple[str, str]) -> None:
        self._list_name, self._item_name = names
        self._level = 0
        self._top = ""  # the level-2 element being read
        self._paging: Fields | None = None
        self._has_entities = False
        self._refs_used = False
        self._items: list[RawEntity | str] = []
        self._fields: Fields = {}
        self._links: list[Fields] = []
        # The entity's child being read (level 5): its name, nil flag, where its text starts in
        # `_chunks`, and whether it has children (then it is no field, as in `_xml_fields`).
        self._child = ""
        self._nil = False
        self._mark = 0
        self._nested = False
        # Every text event lands here through the list's own (C) append: no Python call per
        # event. Only a leaf child's chunks are read; the list is emptied at each entity.
        self._chunks: list[str] = []
        # Tag and attribute names as read -> lower-cased local names, cached per document (both
        # map the same way): a page repeats the same few dozen names thousands of times.
        self._names: dict[str, str] = {}

    def read(self, data: bytes) -> RawPage:
        parser = expat.ParserCreate(namespace_separator="}")
        parser.buffer_text = True
        parser.StartDoctypeDeclHandler = _refuse_dtd
        parser.EntityDeclHandler = _refuse_entity
        parser.UnparsedEntityDeclHandler = _refuse_unparsed
        parser.ExternalEntityRefHandler = _refuse_external
        parser.StartElementHandler = self._start
        parser.EndElementHandler = self._end
        parser.CharacterDataHandler = self._chunks.append
        with xml_errors():
            parser.Parse(data, True)
        if not self._has_entities and self._refs_used:
            raise DecodeError("body holds References, not Entities: query with format=Entities")
        return RawPage(self._paging, self._items)

    def _name(self, tag: str) -> str:
        name = self._names.get(tag)
        if name is None:
            name = self._names[tag] = tag.rpartition("}")[2].lower()
        return name

    def _attrs(self, attrs: dict[str, str]) -> Fields:
        names = self._names
        return {names.get(k) or self._name(k): v for k, v in attrs.items()}

    def _start(self, tag: str, attrs: dict[str, str]) -> None:
        level = self._level = self._level + 1
        if self._top != "entities":
            if level == 2:
                self._enter_top(self._name(tag), attrs)
            elif level == 3 and self._top == "refs":
                self._refs_used = True
            elif level == 1 and (name := self._name(tag)) != "queryresult":
                raise DecodeError(f"expected a QueryResult, got <{name}>")
        elif level == 5:
            self._child = self._names.get(tag) or self._name(tag)
            self._nil = attrs.get(NIL) == "true"
            self._mark = len(self._chunks)
            self._nested = False
        elif level == 6:
            self._nested = True
            if self._child == "links" and self._name(tag) == "link":
                self._links.append(self._attrs(attrs))
        elif level == 4:
            name = self._name(tag)
            if name != self._item_name:
                raise DecodeError(f"unexpected <{name}> in {list_label(self._list_name)}")
            self._fields = self._attrs(attrs)
            self._links = []
            self._chunks.clear()  # the same list object: the parser's handler stays bound to it
        elif level == 3 and (name := self._name(tag)) != self._list_name:
            raise DecodeError(f"expected {list_label(self._list_name)} entities, got <{name}>")

    def _enter_top(self, name: str, attrs: dict[str, str]) -> None:
        self._top = name
        if name == "paginginfo" and self._paging is None:
            self._paging = self._attrs(attrs)
        elif name == "entities":
            self._has_entities = True

    def _end(self, tag: str) -> None:
        level = self._level
        self._level = level - 1
        if level == 5:
            name = self._child
            if name and not self._nested and name not in self._fields:
                # A leaf's chunks are its text (ET's ``.text``); buffer_text makes it one chunk.
                self._fields[name] = None if self._nil else "".join(self._chunks[self._mark :])
        elif level == 4 and self._top == "entities":
            self._items.append(RawEntity(self._fields, self._links))
        elif level == 2:
            self._top = ""


def _refuse_dtd(name: str, sysid: str | None, pubid: str | None, has_internal_subset: bool) -> None:
    raise DTDForbidden(name, sysid, pubid)


def _refuse_entity(
    name: str,
    is_parameter_entity: bool,
    value: str | None,
    base: str | None,
    sysid: str | None,
    pubid: str | None,
    notation_name: str | None,
) -> None:
    raise EntitiesForbidden(name, value, base, sysid, pubid, notation_name)


def _refuse_unparsed(
    name: str, base: str | None, sysid: str | None, pubid: str | None, notation: str | None
) -> None:
    raise EntitiesForbidden(name, None, base, sysid, pubid, notation)


def _refuse_external(context: str, base: str | None, sysid: str | None, pubid: str | None) -> int:
    raise ExternalReferenceForbidden(context, base, sysid, pubid)
