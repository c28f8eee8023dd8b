from __future__ import annotations

import numpy as np
import pytest
import torch

from interhandgen_core.errors import DataError
from interhandgen_core.hands.hand_params import HandParams
from interhandgen_core.hands.keypoints import KEYPOINT_PARENTS
from interhandgen_core.hands.layer import HandLayer
from interhandgen_core.hands.loading import load_hand_pair
from interhandgen_core.physics.hand_bodies import HandParts


@pytest.fixture(scope="module")
def layer() -> HandLayer:
    return HandLayer(load_hand_pair("procedural")[0])


def test_skinning_weights_give_one_part_per_bone_segment(layer: HandLayer) -> None:
    parts = HandParts.from_layer(layer)
    assert parts.num_parts == 16 and parts.num_vertices == layer.num_vertices
    np.testing.assert_array_equal(parts.labels, layer.lbs_weights.argmax(1).numpy())
    pieces = parts.split(layer.v_template.double().numpy())
    assert len(pieces) == 16 and sum(len(p) for p in pieces) == layer.num_vertices


def test_keypoints_give_the_nearest_of_twenty_bones(layer: HandLayer) -> None:
    out = layer(HandParams(torch.zeros(1, 45), torch.zeros(1, 10), torch.eye(3)[None], torch.zeros(1, 3)))
    parts = HandParts.from_keypoints(out.vertices[0], out.keypoints[0])
    assert 15 <= parts.num_parts <= 20
    assert KEYPOINT_PARENTS[:6] == (-1, 0, 1, 2, 3, 0)  # wrist; thumb from the wrist; index from the wrist
    tip = out.keypoints[0, 8].numpy()  # index tip: its nearest vertices belong to one bone
    near = np.argsort(np.linalg.norm(out.vertices[0].numpy() - tip, axis=1))[:5]
    assert len(set(parts.labels[near].tolist())) == 1


def test_parts_too_small_for_a_volume_are_left_out() -> None:
    parts = HandParts(np.array([0, 0, 0, 0, 1, 1, 1]), 2)
    assert [len(p) for p in parts.split(np.random.default_rng(0).normal(size=(7, 3)))] == [4]


def test_labels_outside_the_parts_are_refused() -> None:
    with pytest.raises(DataError, match=r"labels must lie in \[0, 2\)"):
        HandParts(np.array([0, 2]), 2)
    with pytest.raises(DataError, match=r"hand vertices must be \(2, 3\)"):
        HandParts(np.array([0, 1]), 2).split(np.zeros((3, 3)))
