"""RetargetConfig: its declarations are the README's table, ranges refuse bad values."""

from __future__ import annotations

from pathlib import Path

import pytest

from interhandgen_core.config import markdown_table
from interhandgen_core.errors import ConfigError
from interhandgen_core.retargeting import RetargetConfig


def test_readme_documents_every_parameter() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    assert markdown_table(RetargetConfig) in readme


def test_ranges() -> None:
    with pytest.raises(ConfigError, match="scale"):
        RetargetConfig(scale=-1.0)
    with pytest.raises(ConfigError, match="rate_hz"):
        RetargetConfig(rate_hz=0.0)
    assert RetargetConfig.from_dict({"robot": "shadow", "filter_cutoff_hz": 0}).filter_cutoff_hz == 0.0
