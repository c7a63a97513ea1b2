"""config/alertd.example.yaml is a valid configuration as shipped, and so is its commented VBR source."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from alertd.config import EMSourceConfig, VBRSourceConfig, load_config

EXAMPLE = Path(__file__).parent.parent / "config" / "alertd.example.yaml"


@pytest.fixture
def credentials(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A credentials directory holding the password files the example names."""
    for name in [k for k in os.environ if k.startswith("ALERTD_")]:
        monkeypatch.delenv(name)
    (tmp_path / "em-password").write_text("secret\n")
    (tmp_path / "vbr01-password").write_text("secret\n")
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(tmp_path))
    return tmp_path


def uncomment_vbr(text: str) -> str:
    """The example with its commented ``- name: vbr01`` source block turned on."""
    lines = text.splitlines()
    start = lines.index("  # - name: vbr01                       # required: unique")
    end = start + 1
    while end < len(lines) and lines[end].startswith("  #   "):
        end += 1
    block = ["  " + ln.removeprefix("  # ") for ln in lines[start:end]]
    return "\n".join([*lines[:start], *block, *lines[end:]]) + "\n"


def test_example_loads(credentials: Path) -> None:
    """The shipped example has one EM source and validates."""
    cfg = load_config(EXAMPLE)
    assert [type(s) for s in cfg.sources] == [EMSourceConfig]


def test_example_vbr_source_loads(credentials: Path, tmp_path: Path) -> None:
    """Uncommenting the VBR block gives a second, VBR source with the documented defaults."""
    path = tmp_path / "alertd.yaml"
    path.write_text(uncomment_vbr(EXAMPLE.read_text()))
    cfg = load_config(path)
    em, vbr = cfg.sources
    assert isinstance(em, EMSourceConfig) and isinstance(vbr, VBRSourceConfig)
    assert (vbr.name, vbr.url, vbr.username, vbr.api_version, vbr.tls_fingerprint) == (
        "vbr01",
        "https://vbr01.example.com:9419",
        "CORP\\svc-alertd",
        "auto",
        None,
    )
    assert vbr.secret_password() == "secret"
