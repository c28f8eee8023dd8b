"""The refiner tests' shared fixtures: a tiny random two-hand prior and the procedural hand layers."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from interhandgen_core.hands.layer import HandLayer
from interhandgen_core.pipelines.interhandgen import InterHandGen

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tiny_prior import write_tiny_prior
from two_hand_scenes import procedural_layers


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> InterHandGen:
    return InterHandGen.from_pretrained(write_tiny_prior(tmp_path_factory.mktemp("prior")))


@pytest.fixture(scope="module")
def layers() -> tuple[HandLayer, HandLayer]:
    return procedural_layers()
