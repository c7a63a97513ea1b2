"""Reason folding for "Top reasons": per-VM parts (the VM's own name, paths, GUIDs, numbers) fold to "…"."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from alertd.render.reasons import _FOLD, _fold_name, normalise, top_reasons


@pytest.mark.parametrize(
    ("reason", "vm", "folded"),
    [
        (
            "Error: There is not enough space on the disk.",
            "db01",
            "Error: There is not enough space on the disk.",
        ),
        ("Failed to create snapshot of SQL-01 (SQL-01)", "sql-01", "Failed to create snapshot of … (…)"),
        ("Timed out after 900 seconds", "vm", "Timed out after … seconds"),
        ("Failed to write \\\\nas01\\backups\\SQL Daily\\sql-01.vbk", "sql-01", "Failed to write …"),
        ("Job {3f2a9c1b-0000-4000-8000-000000000001} failed", "x", "Job {…} failed"),
        ("", "vm01", ""),
    ],
)
def test_normalise(reason: str, vm: str, folded: str) -> None:
    """The VM's own name (any case), paths, GUIDs and numbers fold to one "…"."""
    assert normalise(reason, vm) == folded


def test_same_failure_on_many_vms_is_one_top_reason() -> None:
    """200 "not enough space" failures naming their own files count as one reason, ahead of 50 timeouts."""
    keys = [
        normalise(f"Error: not enough space on the disk. Failed to write D:\\b\\vm{i}.vbk", f"vm{i}")
        for i in range(200)
    ]
    keys += [normalise(f"Snapshot timed out after {i} s", f"vm{i}") for i in range(50)]
    [first, second] = top_reasons(keys)[:2]
    assert (first.count, second.count) == (200, 50)
    assert "not enough space" in first.reason


@given(
    text=st.text(alphabet="abcXYZ-_. 01", max_size=40),
    name=st.text(alphabet="abcXYZ-_01", min_size=3, max_size=6),
)
def test_literal_fold_matches_the_regular_expression(text: str, name: str) -> None:
    """Folding the VM name literally gives what a case-insensitive regular expression gives."""
    assert _fold_name(text, name) == re.sub(re.escape(name), _FOLD, text, flags=re.I)
