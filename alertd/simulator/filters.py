"""The simulator's own parser of EM's ``filter=`` syntax, written from the reference only.

Grammar (FIQL-like; AND binds tighter than OR, because EM does not document the precedence and
FIQL, which EM's syntax resembles, does it this way)::

    or_expr    := and_expr ("," and_expr)*
    and_expr   := primary (";" primary)*
    primary    := "(" or_expr ")" | comparison
    comparison := field op value
    field      := [A-Za-z_][A-Za-z0-9_]*
    op         := "==" | "!=" | "<=" | ">=" | "<" | ">"

Values run to the next unquoted ``;``, ``,`` or ``)``; an unquoted ``= ! < > (`` is an error.
Outside quotes spaces are dropped (the docs: "the server will ignore spaces"); inside ``"..."``
everything is literal. A doubled quote ``""`` is a literal quote in both modes, so the docs'
``Name==""Backup""`` and the CSV-style form (the same wrapped in one more pair of quotes) both
mean the value ``"Backup"``, while a value of just ``""`` is the empty string.
This module only builds a syntax tree; ``query.py`` gives the fields their types.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NoReturn

OPERATORS = ("==", "!=", "<=", ">=", "<", ">")
_TERMINATORS = ";,)"
_SPACES = " \t\r\n"
# Unquoted, these can only be a typo such as ``===`` or a missing separator.
_OPERATOR_CHARS = "=!<>("


class FilterError(ValueError):
    """The filter text cannot be parsed, or names an unknown field or an invalid value."""


@dataclass(frozen=True, slots=True)
class Comparison:
    field: str
    op: str
    value: str


@dataclass(frozen=True, slots=True)
class And:
    terms: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Or:
    terms: tuple[Node, ...]


Node = Comparison | And | Or


def parse_filter(text: str) -> Node:
    """Parse a complete filter expression or raise FilterError."""
    return _Parser(text).parse()


class _Parser:
    __slots__ = ("pos", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def parse(self) -> Node:
        node = self.or_expr()
        self.skip_spaces()
        if self.pos != len(self.text):
            self.fail(f"unexpected {self.text[self.pos]!r}")
        return node

    def fail(self, what: str) -> NoReturn:
        raise FilterError(f"invalid filter at position {self.pos}: {what}")

    def skip_spaces(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos] in _SPACES:
            self.pos += 1

    def peek(self) -> str:
        self.skip_spaces()
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def or_expr(self) -> Node:
        terms = [self.and_expr()]
        while self.peek() == ",":
            self.pos += 1
            terms.append(self.and_expr())
        return terms[0] if len(terms) == 1 else Or(tuple(terms))

    def and_expr(self) -> Node:
        terms = [self.primary()]
        while self.peek() == ";":
            self.pos += 1
            terms.append(self.primary())
        return terms[0] if len(terms) == 1 else And(tuple(terms))

    def primary(self) -> Node:
        if self.peek() != "(":
            return self.comparison()
        self.pos += 1
        node = self.or_expr()
        if self.peek() != ")":
            self.fail("missing ')'")
        self.pos += 1
        return node

    def comparison(self) -> Comparison:
        self.skip_spaces()
        start = self.pos
        while self.pos < len(self.text) and (self.text[self.pos].isalnum() or self.text[self.pos] == "_"):
            self.pos += 1
        field = self.text[start : self.pos]
        if not field or field[0].isdigit():
            self.fail("expected a field name")
        self.skip_spaces()
        op = next((op for op in OPERATORS if self.text.startswith(op, self.pos)), "")
        if not op:
            self.fail(f"expected one of {' '.join(OPERATORS)} after {field!r}")
        self.pos += len(op)
        return Comparison(field, op, self.value())

    def value(self) -> str:
        self.skip_spaces()
        whole = self.quote_run(self.pos)
        # A value made only of an even run of quotes is a quoted string of quotes: "" is empty.
        if whole >= 2 and whole % 2 == 0 and self.at_value_end(self.pos + whole):
            self.pos += whole
            return '"' * ((whole - 2) // 2)
        out: list[str] = []
        quoted = False
        while self.pos < len(self.text):
            char = self.text[self.pos]
            if char == '"':
                run = self.quote_run(self.pos)
                out.append('"' * (run // 2))
                quoted ^= run % 2 == 1  # an odd run opens or closes a quoted section
                self.pos += run
                continue
            if not quoted and char in _TERMINATORS:
                break
            if not quoted and char in _OPERATOR_CHARS:
                self.fail(f"{char!r} in an unquoted value (quote the value)")
            if quoted or char not in _SPACES:
                out.append(char)
            self.pos += 1
        if quoted:
            self.fail("unterminated quoted value")
        return "".join(out)

    def quote_run(self, pos: int) -> int:
        end = pos
        while end < len(self.text) and self.text[end] == '"':
            end += 1
        return end - pos

    def at_value_end(self, pos: int) -> bool:
        rest = self.text[pos:].lstrip(_SPACES)
        return not rest or rest[0] in _TERMINATORS
