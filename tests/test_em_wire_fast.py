"""The one-pass XML reader of query pages agrees with the ElementTree reader on every document."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alertd.em import _wire
from alertd.em._raw import DecodeError, RawPage
from alertd.em._wire import read_query

NS = "http://www.veeam.com/ent/v1.0"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
_NAMES = st.sampled_from(
    [
        "QueryResult",
        "Entities",
        "BackupTaskSessions",
        "BackupTaskSession",
        "BackupJobSessions",
        "BackupJobSession",
        "PagingInfo",
        "PageNum",
        "Refs",
        "Ref",
        "Links",
        "Link",
        "UID",
        "Name",
        "Reason",
        "x",
    ]
)
_TEXT = st.text(st.characters(exclude_categories=("Cs", "Cc"), exclude_characters="\ufffe\uffff"), max_size=8)


def _tree(depth: int = 0) -> st.SearchStrategy[ET.Element]:
    def build(
        tag: str, attrs: dict[str, str], text: str | None, nil: bool, kids: list[ET.Element]
    ) -> ET.Element:
        el = ET.Element(f"{{{NS}}}{tag}", attrs)
        if nil:
            el.set(f"{{{XSI}}}nil", "true")
        el.text = text
        el.extend(kids)
        return el

    kids = st.lists(st.deferred(lambda: _tree(depth + 1)), max_size=3) if depth < 6 else st.just([])
    return st.builds(
        build, _NAMES, st.dictionaries(_NAMES, _TEXT, max_size=2), st.none() | _TEXT, st.booleans(), kids
    )


def _by_tree(body: bytes, entity_type: str) -> RawPage | str:
    names = _wire._ENTITY_LISTS[entity_type.lower()]
    try:
        return _wire._xml_query(_wire._parse_xml(body), names)
    except DecodeError:
        return "error"


def _fast(body: bytes, entity_type: str) -> RawPage | str:
    try:
        return read_query(body, entity_type)
    except DecodeError:
        return "error"


@settings(suppress_health_check=[HealthCheck.too_slow], max_examples=300)
@given(_tree(), st.sampled_from(["BackupTaskSession", "BackupJobSession"]))
def test_fast_reader_matches_the_tree_reader(root: ET.Element, entity_type: str) -> None:
    """Same RawPage (or DecodeError) for arbitrary documents built from EM's names."""
    root.tag = f"{{{NS}}}QueryResult"
    body = ET.tostring(root)
    assert _fast(body, entity_type) == _by_tree(body, entity_type)


def test_fast_reader_reads_a_page() -> None:
    """Attributes, leaf children, nil, Links and PagingInfo of a realistic page."""
    body = (
        f'<QueryResult xmlns="{NS}" xmlns:xsi="{XSI}"><Entities><BackupTaskSessions>'
        '<BackupTaskSession UID="u1" VmDisplayName="vm1"><Links><Link Type="BackupServerReference" Name="vbr"/>'
        '</Links><Reason /><EndTimeUTC xsi:nil="true"/><State>Completed</State><State>Other</State>'
        "</BackupTaskSession></BackupTaskSessions></Entities>"
        '<PagingInfo PageNum="1" PageSize="1" PagesCount="1"/></QueryResult>'
    ).encode()
    page = read_query(body)
    assert page == _by_tree(body, "BackupTaskSession")
    assert page.paging == {"pagenum": "1", "pagesize": "1", "pagescount": "1"}
    (entity,) = page.entities
    assert not isinstance(entity, str)
    assert entity.fields == {
        "uid": "u1",
        "vmdisplayname": "vm1",
        "reason": "",
        "endtimeutc": None,
        "state": "Completed",
    }
    assert entity.links == [{"type": "BackupServerReference", "name": "vbr"}]
