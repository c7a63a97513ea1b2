"""What every part of the configuration shares: strict frozen sections, durations, matchers, secret files.

Kept apart from `alertd.config` so the source kinds (`alertd.config_sources`) and the rest of the
contract can both build on it.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from typing import Annotated

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict

from alertd.durations import parse_duration
from alertd.matchers import MatcherError, parse_matcher
from alertd.model import MATCHER_LABELS

Duration = Annotated[timedelta, BeforeValidator(parse_duration)]


def _check_matcher(text: str) -> str:
    try:
        parse_matcher(text, MATCHER_LABELS)
    except MatcherError as err:
        raise ValueError(str(err)) from None
    return text


MatcherText = Annotated[str, AfterValidator(_check_matcher)]
GROUP_BY_LABELS = (*MATCHER_LABELS, "job_session")


class ConfigError(Exception):
    """An invalid configuration; ``problems`` holds one line per problem, each naming its key."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


class Strict(BaseModel):
    """A config section: unknown keys are errors, values are frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def expand_path(path: str) -> Path:
    """Expand ``$CREDENTIALS_DIRECTORY`` and friends so systemd credentials and Docker secrets work."""
    return Path(os.path.expandvars(path)).expanduser()


def read_secret_file(path: str) -> str:
    expanded = expand_path(path)
    try:
        return expanded.read_text(encoding="utf-8").strip()
    except OSError as err:
        raise ValueError(f"cannot read {expanded}: {err.strerror or err}") from err
