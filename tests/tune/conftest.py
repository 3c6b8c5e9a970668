"""Fixtures of the Tune tests: the shipped experiment files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

TUNE_CONFIGS = Path(__file__).resolve().parents[2] / "tune_configs"


@pytest.fixture
def tiny() -> dict[str, Any]:
    """The tiny experiment as a mutable mapping."""
    data: dict[str, Any] = yaml.safe_load((TUNE_CONFIGS / "tiny.yaml").read_text())
    return data
