"""The neutral shape EM's two wire formats are read into (`alertd.em._wire`, `alertd.em._xml_stream`)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from xml.parsers import expat

from defusedxml import DefusedXmlException

#: A flat view of one XML element or JSON object: lower-cased name → scalar value.
Fields = dict[str, object]

#: ``xsi:nil`` as expat names it with ``namespace_separator="}"``.
NIL = "http://www.w3.org/2001/XMLSchema-instance}nil"


class DecodeError(ValueError):
    """A response body that is not a well-formed EM document of the expected kind."""


@dataclass(frozen=True, slots=True)
class RawEntity:
    """One entity's own fields and its Links, still as wire strings and numbers."""

    fields: Fields
    links: list[Fields]


@dataclass(frozen=True, slots=True)
class RawPage:
    """A QueryResult taken apart: PagingInfo fields and each entity (or why an item is no entity)."""

    paging: Fields | None
    entities: list[RawEntity | str]


def list_label(list_name: str) -> str:
    """``backuptasksessions`` -> ``BackupTaskSessions`` (for messages)."""
    return {"backuptasksessions": "BackupTaskSessions", "backupjobsessions": "BackupJobSessions"}[list_name]


@contextmanager
def xml_errors() -> Iterator[None]:
    """Any failure of the XML parsers in the block as a DecodeError saying what kind it was."""
    try:
        yield
    except DefusedXmlException as e:
        raise DecodeError(f"XML refused as unsafe ({type(e).__name__})") from e
    except (expat.ExpatError, ET.ParseError) as e:
        raise DecodeError(f"malformed XML: {e}") from e
    except (ValueError, LookupError) as e:
        # LookupError: an unknown encoding in the XML declaration; ValueError: bad decoding.
        raise DecodeError(f"unreadable XML: {e}") from e
