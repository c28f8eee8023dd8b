"""The procedural hand's shape directions (hands/procedural/shape.py), on the shipped asset."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from interhandgen_core.hands.asset import HandAsset
from interhandgen_core.hands.layer import HandLayer
from interhandgen_core.hands.procedural import load_procedural_hand


@pytest.fixture(scope="module")
def asset() -> HandAsset:
    return load_procedural_hand()


def test_shape_directions_are_plausible(asset: HandAsset) -> None:
    layer = HandLayer(asset, dtype=torch.float64)
    # Roughly unit-scaled: one unit moves some vertex by 0.5-20 mm, none by more.
    per_direction = np.linalg.norm(asset.shapedirs, axis=1).max(axis=0)
    assert np.all(per_direction > 5e-4) and np.all(per_direction < 0.02)
    # Direction 0 is overall size: +1 makes the hand about 7 % longer.
    beta = torch.zeros(1, 10, dtype=torch.float64)
    beta[0, 0] = 1.0
    grown = (layer.v_template + torch.einsum("bl,vkl->bvk", beta, layer.shapedirs))[0].numpy()
    assert np.ptp(grown[:, 0]) / np.ptp(asset.v_template[:, 0]) == pytest.approx(1.07, abs=0.01)
