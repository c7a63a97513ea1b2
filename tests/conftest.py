"""Shared pytest setup."""

from __future__ import annotations

import sys
from pathlib import Path

# tests/ holds helper modules (factories, support servers) imported by name.
sys.path.insert(0, str(Path(__file__).parent))

pytest_plugins = ["support.fixtures", "support.resources"]
