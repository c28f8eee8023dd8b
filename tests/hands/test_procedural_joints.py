"""The procedural hand's joint regressor and fingertip vertices (hands/procedural/joints.py), on the shipped asset."""

from __future__ import annotations

import numpy as np
import pytest

from interhandgen_core.hands.asset import HandAsset
from interhandgen_core.hands.procedural import load_procedural_hand
from interhandgen_core.hands.procedural.design import designs_to_skeleton


@pytest.fixture(scope="module")
def asset() -> HandAsset:
    return load_procedural_hand()


def test_joint_regressor_reproduces_designed_joints(asset: HandAsset) -> None:
    regressor = asset.J_regressor
    assert np.allclose(regressor.sum(axis=1), 1.0, atol=1e-9)
    assert regressor.min() > -1e-9
    assert np.all((regressor > 1e-12).sum(axis=1) <= 40)
    designed = designs_to_skeleton().joints
    assert np.abs(regressor @ asset.v_template - designed).max() < 1e-6


def test_tip_vertices_are_fingertip_ends(asset: HandAsset) -> None:
    designed = designs_to_skeleton().tip_ends
    tips = asset.v_template[asset.tip_vertex_ids]
    assert np.linalg.norm(tips - designed, axis=1).max() < 0.004
