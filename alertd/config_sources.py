"""The ``sources`` section: one Enterprise Manager (``kind: em``, the default) or one VBR server (``kind: vbr``)."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any, Literal, Self

from pydantic import Discriminator, Field, SecretStr, Tag, field_validator, model_validator

from alertd.config_base import Duration, Strict, expand_path, read_secret_file


class _SourceBase(Strict):
    """What every source kind has: where, who, how often, and how far back to read."""

    name: str = Field(min_length=1)
    url: str
    username: str
    password: SecretStr | None = None
    password_file: str | None = None
    verify_tls: bool = True
    ca_file: str | None = None
    page_size: int = Field(default=200, ge=1, le=10_000)
    poll_interval: Duration = timedelta(seconds=60)
    overlap: Duration = timedelta(minutes=30)
    initial_lookback: Duration = timedelta(hours=1)
    reconcile_every: Duration = timedelta(minutes=15)
    reconcile_window: Duration = timedelta(hours=24)
    results: tuple[Literal["Failed", "Warning"], ...] = ("Failed", "Warning")
    connect_timeout: Duration = timedelta(seconds=10)
    read_timeout: Duration = timedelta(seconds=60)
    max_response_mb: int = Field(default=32, ge=1, le=1024)

    @field_validator("url")
    @classmethod
    def _url_has_scheme(cls, value: str) -> str:
        if not value.startswith(("https://", "http://")):
            raise ValueError("must start with https://")
        if "@" in value.split("://", 1)[1].split("/", 1)[0]:
            raise ValueError("must not contain credentials; use username and password or password_file")
        return value.rstrip("/")

    @field_validator("poll_interval")
    @classmethod
    def _positive_interval(cls, value: timedelta) -> timedelta:
        if value < timedelta(seconds=1):
            raise ValueError("must be at least 1s")
        return value

    @field_validator("results")
    @classmethod
    def _some_results(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ValueError("must name at least one of Failed, Warning")
        return value

    @field_validator("reconcile_every")
    @classmethod
    def _positive_sweep(cls, value: timedelta) -> timedelta:
        if value < timedelta(seconds=1):
            raise ValueError("must be at least 1s")
        return value

    @model_validator(mode="after")
    def _sweep_reaches_past_overlap(self) -> Self:
        if self.reconcile_window < self.overlap:
            raise ValueError(
                f"reconcile_window ({self.reconcile_window}) must be at least overlap ({self.overlap}): "
                "the sweep exists to read further back than the normal window"
            )
        return self

    @model_validator(mode="after")
    def _one_password(self) -> Self:
        if (self.password is None) == (self.password_file is None):
            raise ValueError("set exactly one of password or password_file")
        if self.ca_file is not None and not expand_path(self.ca_file).is_file():
            raise ValueError(f"ca_file: no such file {str(expand_path(self.ca_file))!r}")
        return self

    def secret_password(self) -> str:
        """The password, read from ``password_file`` when that is how it is given."""
        if self.password is not None:
            return self.password.get_secret_value()
        assert self.password_file is not None
        return read_secret_file(self.password_file)


class EMSourceConfig(_SourceBase):
    """One Enterprise Manager (``kind: em``, the default): every backup server it collects."""

    kind: Literal["em"] = "em"
    format: Literal["xml", "json"] = "xml"


_HEX64 = re.compile(r"[0-9A-Fa-f]{64}")


class VBRSourceConfig(_SourceBase):
    """One Veeam Backup & Replication server's own REST API (``kind: vbr``, port 9419)."""

    kind: Literal["vbr"]
    tls_fingerprint: str | None = None
    api_version: str = "auto"
    backup_server: str | None = None

    @field_validator("url")
    @classmethod
    def _https_only(cls, value: str) -> str:
        if not value.startswith("https://"):
            raise ValueError("must start with https:// (the VBR REST API serves HTTPS only)")
        return value

    @field_validator("tls_fingerprint")
    @classmethod
    def _sha256_pin(cls, value: str | None) -> str | None:
        if value is None:
            return None
        digits = value.replace(":", "").strip()
        if len(digits) == 40:
            raise ValueError(
                "looks like a SHA-1 thumbprint; pin the SHA-256 fingerprint: openssl s_client -connect "
                "HOST:9419 </dev/null 2>/dev/null | openssl x509 -noout -fingerprint -sha256"
            )
        if not _HEX64.fullmatch(digits):
            raise ValueError("must be the certificate's SHA-256 fingerprint: 64 hex digits, ':' optional")
        return digits.lower()

    @model_validator(mode="after")
    def _pin_or_ca(self) -> Self:
        if self.tls_fingerprint is not None and self.ca_file is not None:
            raise ValueError("set tls_fingerprint or ca_file, not both (a pin replaces CA verification)")
        return self


def _source_kind(value: Any) -> str:
    kind = value.get("kind", "em") if isinstance(value, dict) else getattr(value, "kind", "em")
    return str(kind)


#: A configured source: EM unless ``kind: vbr`` says otherwise.
SourceConfig = Annotated[
    Annotated[EMSourceConfig, Tag("em")] | Annotated[VBRSourceConfig, Tag("vbr")],
    Discriminator(_source_kind),
]
