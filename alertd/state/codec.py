"""One codec between flat frozen dataclasses and SQLite rows: a column per field, named as the field.

Rows are read as ``sqlite3.Row`` and written as tuples in field order. Converters are chosen
once per class from the field types: datetimes are ISO 8601 text in UTC (which sorts as time
does), timedeltas are seconds, booleans 0/1 (as sqlite3 binds them), enums their value, tuples of
strings JSON, tuples of datetimes space-separated text.
"""

from __future__ import annotations

import json
import types
from collections.abc import Callable, Sequence
from dataclasses import fields
from datetime import UTC, datetime, timedelta
from enum import Enum
from operator import attrgetter
from typing import Any, Generic, TypeVar, Union, get_args, get_origin, get_type_hints

T = TypeVar("T")
_Conv = Callable[[Any], Any]


def ts(value: datetime) -> str:
    """A datetime as stored: ISO 8601 in UTC."""
    # Nearly every datetime alertd holds is already in UTC; astimezone would copy it for nothing.
    return value.isoformat() if value.tzinfo is UTC else value.astimezone(UTC).isoformat()


def dt(value: str) -> datetime:
    """Inverse of `ts`."""
    return datetime.fromisoformat(value)


def _times_out(values: tuple[datetime, ...]) -> str:
    return " ".join(ts(v) for v in values)


def _times_in(text: str) -> tuple[datetime, ...]:
    return tuple(dt(v) for v in text.split())


def _strings_out(values: tuple[str, ...]) -> str:
    return json.dumps(list(values), separators=(",", ":"))


def _strings_in(text: str) -> tuple[str, ...]:
    return tuple(json.loads(text))


def _ts_or_none(value: datetime | None) -> str | None:
    # Optional datetimes are most of what a storm encodes: one call each, not a wrapper and `ts`.
    if value is None:
        return None
    return value.isoformat() if value.tzinfo is UTC else value.astimezone(UTC).isoformat()


def _dt_or_none(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def _converters(kind: Any) -> tuple[_Conv | None, _Conv | None]:
    """(to SQL, from SQL) for one field type; None means the value passes as it is."""
    if get_origin(kind) in (Union, types.UnionType):
        inner = [a for a in get_args(kind) if a is not type(None)]
        if inner == [datetime]:
            return _ts_or_none, _dt_or_none
        enc, dec = _converters(inner[0])
        return (
            (lambda v: None if v is None else enc(v)) if enc else None,
            (lambda v: None if v is None else dec(v)) if dec else None,
        )
    if kind is datetime:
        return ts, dt
    if kind is timedelta:
        return (lambda v: v.total_seconds()), (lambda v: timedelta(seconds=v))
    if kind is bool:
        # sqlite3 stores a bool as the integer 0/1 itself (bool is an int): no call to encode it.
        return None, bool
    if isinstance(kind, type) and issubclass(kind, Enum):
        return (lambda v: v.value), kind
    if get_origin(kind) is tuple:
        item = get_args(kind)[0]
        if item is datetime:
            return _times_out, _times_in
        return _strings_out, _strings_in
    return None, None


class RowCodec(Generic[T]):
    """Columns, encoder and decoder of one flat dataclass, optionally with a column-name prefix."""

    def __init__(self, cls: type[T], prefix: str = "") -> None:
        hints = get_type_hints(cls)
        names = [f.name for f in fields(cls)]  # type: ignore[arg-type]
        self.cls = cls
        self.names = tuple(names)
        self.columns = tuple(prefix + n for n in names)
        pairs = [_converters(hints[n]) for n in names]
        self._enc = [(i, enc) for i, (enc, _) in enumerate(pairs) if enc is not None]
        self._dec = [(i, dec) for i, (_, dec) in enumerate(pairs) if dec is not None]
        # One C call reads every field (a storm encodes tens of thousands of rows per poll).
        getter = attrgetter(*names)
        self._values: Callable[[T], tuple[Any, ...]] = (
            getter if len(names) > 1 else lambda obj: (getter(obj),)
        )

    def column_list(self, table: str = "") -> str:
        """The columns for SQL, optionally qualified (``m.detail_streak, ...``)."""
        qualifier = f"{table}." if table else ""
        return ", ".join(qualifier + c for c in self.columns)

    def marks(self) -> str:
        """One ``?`` per column."""
        return ",".join("?" * len(self.columns))

    def encode(self, obj: T) -> list[Any]:
        """The object's values in column order, converted for SQLite."""
        values = list(self._values(obj))
        for i, enc in self._enc:
            values[i] = enc(values[i])
        return values

    def decode(self, row: Sequence[Any], start: int = 0) -> T:
        """The object from ``row[start : start + len(columns)]``."""
        values = list(row[start : start + len(self.columns)])
        for i, dec in self._dec:
            values[i] = dec(values[i])
        return self.cls(*values)
