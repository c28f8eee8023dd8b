"""The procedural hand's skinning weights (hands/procedural/skinning.py), on the shipped asset."""

from __future__ import annotations

import numpy as np
import pytest

from interhandgen_core.hands.asset import HandAsset
from interhandgen_core.hands.keypoints import NUM_JOINTS, TIP_ORDER
from interhandgen_core.hands.procedural import load_procedural_hand

DISTAL_JOINT = {"thumb": 15, "index": 3, "middle": 6, "ring": 12, "pinky": 9}


@pytest.fixture(scope="module")
def asset() -> HandAsset:
    return load_procedural_hand()


def test_skinning_weights(asset: HandAsset) -> None:
    w = asset.weights
    assert w.shape == (asset.num_vertices, NUM_JOINTS)
    assert w.min() >= 0.0
    assert np.allclose(w.sum(axis=1), 1.0, atol=1e-9)
    # Fingertips follow the distal bone; the wrist end follows the root.
    for finger, vertex in zip(TIP_ORDER, asset.tip_vertex_ids, strict=True):
        assert w[vertex, DISTAL_JOINT[finger]] > 0.9
    assert w[np.argmax(asset.v_template[:, 0]), 0] > 0.9
