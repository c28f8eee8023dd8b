"""Tracker skeletons (hands/tracker_skeletons.py): MediaPipe's 21 landmarks and OpenXR's 26 joints made from
model hands and read back as the project's keypoints; joints not located become NaN; bad shapes say what to fix."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from interhandgen_core.errors import DataError
from interhandgen_core.geometry.rotations import axis_angle_to_matrix
from interhandgen_core.hands.hand_params import HandParams
from interhandgen_core.hands.keypoints import KEYPOINT_NAMES
from interhandgen_core.hands.layer import HandLayer
from interhandgen_core.hands.loading import load_hand_pair
from interhandgen_core.hands.procedural import load_procedural_hand
from interhandgen_core.hands.procedural.design import designs_to_skeleton
from interhandgen_core.hands.tracker_skeletons import (
    KEYPOINTS_FROM_OPENXR,
    MEDIAPIPE_LANDMARK_NAMES,
    OPENXR_JOINT_NAMES,
    OPENXR_UNUSED_JOINTS,
    check_hands_placed,
    keypoints_to_mediapipe,
    keypoints_to_openxr_joints,
    mediapipe_side,
    mediapipe_to_keypoints,
    openxr_joint_validity,
    openxr_joints_to_keypoints,
    openxr_poses_to_keypoints,
)


@pytest.fixture(scope="module")
def model_hands() -> tuple[torch.Tensor, torch.Tensor]:
    """Keypoints (6, 21, 3) of posed, shaped, placed right and left procedural hands, float64."""
    right, left = load_hand_pair("procedural")
    gen = torch.Generator().manual_seed(3)
    params = HandParams(
        0.4 * torch.randn(6, 45, generator=gen, dtype=torch.float64),
        torch.randn(6, 10, generator=gen, dtype=torch.float64),
        axis_angle_to_matrix(2.0 * torch.randn(6, 3, generator=gen, dtype=torch.float64)),
        0.3 * torch.randn(6, 3, generator=gen, dtype=torch.float64),
    )
    with torch.no_grad():
        return HandLayer(right).double()(params).keypoints, HandLayer(left).double()(params).keypoints


def test_the_tables_name_each_source_joint_once() -> None:
    assert len(MEDIAPIPE_LANDMARK_NAMES) == 21 and len(set(MEDIAPIPE_LANDMARK_NAMES)) == 21
    assert len(OPENXR_JOINT_NAMES) == 26 and len(set(OPENXR_JOINT_NAMES)) == 26
    assert sorted(KEYPOINTS_FROM_OPENXR + OPENXR_UNUSED_JOINTS) == list(range(26))
    # The same anatomical point on both sides of each map.
    for keypoint, landmark in zip(KEYPOINT_NAMES, MEDIAPIPE_LANDMARK_NAMES, strict=True):
        finger = {"WRIST": "wrist", "THUMB": "thumb", "INDEX": "index", "MIDDLE": "middle", "RING": "ring"}
        assert keypoint.startswith(finger.get(landmark.split("_")[0], "pinky"))
    names = [OPENXR_JOINT_NAMES[j] for j in KEYPOINTS_FROM_OPENXR]
    assert names[:5] == ["WRIST", "THUMB_METACARPAL", "THUMB_PROXIMAL", "THUMB_DISTAL", "THUMB_TIP"]
    assert names[5:9] == ["INDEX_PROXIMAL", "INDEX_INTERMEDIATE", "INDEX_DISTAL", "INDEX_TIP"]
    assert names[17:] == ["LITTLE_PROXIMAL", "LITTLE_INTERMEDIATE", "LITTLE_DISTAL", "LITTLE_TIP"]


def test_model_hands_through_openxr_joints_come_back(model_hands) -> None:  # type: ignore[no-untyped-def]
    for keypoints in model_hands:
        joints = keypoints_to_openxr_joints(keypoints)
        assert joints.shape == (6, 26, 3)
        assert (openxr_joints_to_keypoints(joints) - keypoints).abs().max() < 1e-9
        # The made-up joints sit on the palm: the metacarpal bases between the wrist and their knuckles.
        wrist, middle_knuckle = keypoints[:, 0], keypoints[:, KEYPOINT_NAMES.index("middle1")]
        span = (middle_knuckle - wrist).norm(dim=-1)
        assert ((joints[:, 11] - wrist).norm(dim=-1) < 0.5 * span).all()
        assert ((joints[:, 0] - 0.5 * (wrist + middle_knuckle)).norm(dim=-1) < 0.25 * span).all()


def test_isaac_poses_and_float32_give_the_same_keypoints(model_hands) -> None:  # type: ignore[no-untyped-def]
    joints = keypoints_to_openxr_joints(model_hands[0])
    poses = torch.cat([joints, torch.tensor([1.0, 0.0, 0.0, 0.0], dtype=torch.float64).expand(6, 26, 4)], dim=-1)
    assert (openxr_poses_to_keypoints(poses) - model_hands[0]).abs().max() < 1e-9
    single = openxr_joints_to_keypoints(joints[0].float().numpy())
    assert single.shape == (1, 21, 3) and single.dtype == torch.float32
    assert (single[0].double() - model_hands[0][0]).abs().max() < 1e-6


def test_model_hands_through_mediapipe_landmarks_come_back(model_hands) -> None:  # type: ignore[no-untyped-def]
    for keypoints in model_hands:
        landmarks, wrist = keypoints_to_mediapipe(keypoints)
        assert landmarks.mean(dim=1).abs().max() < 1e-12  # relative to the hand's centre
        assert (mediapipe_to_keypoints(landmarks, wrist) - keypoints).abs().max() < 1e-12
        assert (mediapipe_to_keypoints(keypoints) - keypoints).abs().max() == 0  # placed already: kept
    landmarks, wrist = keypoints_to_mediapipe(model_hands[0])
    wrist[2] = float("nan")
    back = mediapipe_to_keypoints(landmarks, wrist)
    assert torch.isnan(back[2]).all() and torch.isfinite(back[[0, 1, 3]]).all()


def test_the_tip_convention_is_the_correspondence_error_left() -> None:
    """The figures of the module docstring: the model's tip keypoint is the fingertip's surface end (within
    1.5-3.0 mm of the designed end), 6.4-8.2 mm beyond the fingertip sphere's centre."""
    asset, skeleton = load_procedural_hand(), designs_to_skeleton()
    tips = asset.v_template[asset.tip_vertex_ids]
    to_end = np.linalg.norm(tips - skeleton.tip_ends, axis=1)
    to_centre = np.linalg.norm(tips - skeleton.tip_centres, axis=1)
    assert 0.0014 < to_end.min() and to_end.max() < 0.0030
    assert np.allclose(np.sort(to_centre), [0.0064, 0.0072, 0.0074, 0.0076, 0.0082], atol=5e-5)


def test_joints_not_located_become_missing_keypoints(model_hands) -> None:  # type: ignore[no-untyped-def]
    joints = keypoints_to_openxr_joints(model_hands[0])
    orientations = torch.tensor([0.0, 0.0, 0.0, 1.0], dtype=torch.float64).repeat(6, 26, 1)
    valid = torch.ones(6, 26, dtype=torch.bool)
    joints[0, 3] = float("nan")  # THUMB_PROXIMAL -> thumb2
    orientations[1, 8] = 0.0  # INDEX_INTERMEDIATE, a zero quaternion -> index2
    orientations[2, 10, 1] = float("inf")  # INDEX_TIP -> index_tip
    valid[3, 1] = False  # WRIST, its valid bit unset -> wrist
    joints[4, 0] = float("nan")  # PALM: not read
    validity = openxr_joint_validity(joints, orientations, valid)
    assert int((~validity).sum()) == 5
    keypoints = openxr_joints_to_keypoints(joints, orientations, valid)
    missing = {(int(b), int(k)) for b, k in zip(*torch.isnan(keypoints).any(-1).nonzero(as_tuple=True), strict=True)}
    names = {(b, KEYPOINT_NAMES[k]) for b, k in missing}
    assert names == {(0, "thumb2"), (1, "index2"), (2, "index_tip"), (3, "wrist")}
    assert torch.isnan(keypoints[[0, 1, 2, 3]]).any(-1).sum(-1).tolist() == [1, 1, 1, 1]
    landmarks = model_hands[0].clone()
    landmarks[5, 7] = float("nan")
    assert torch.isnan(mediapipe_to_keypoints(landmarks)).any(-1).sum().item() == 1


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda: mediapipe_to_keypoints(np.zeros((2, 20, 3))),
            r"MediaPipe landmarks: expected \(B, 21, 3\).*\(2, 20, 3\)",
        ),
        (lambda: mediapipe_to_keypoints(np.zeros((2, 21, 2))), r"\(B, 21, 3\).*got shape \(2, 21, 2\)"),
        (lambda: mediapipe_to_keypoints(np.zeros((2, 21, 3)), np.zeros((3, 3))), r"wrist_position: expected \(2, 3\)"),
        (lambda: mediapipe_to_keypoints([["a"] * 3] * 21), "expected a numeric array"),
        (lambda: openxr_joints_to_keypoints(np.zeros((1, 21, 3))), r"OpenXR joint positions: expected \(B, 26, 3\)"),
        (lambda: openxr_joints_to_keypoints(np.zeros((1, 26, 3)), np.zeros((1, 26, 3))), r"\(1, 26, 4\) quaternions"),
        (lambda: openxr_joints_to_keypoints(np.zeros((1, 26, 3)), None, np.ones(26)), r"position_valid: expected"),
        (lambda: openxr_poses_to_keypoints(np.zeros((1, 26, 3))), r"x, y, z, qw, qx, qy, qz"),
        (lambda: mediapipe_side("Both"), "expected 'Left' or 'Right'"),
    ],
)
def test_bad_input_says_what_to_fix_in_one_line(call, message: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(DataError, match=message) as error:
        call()
    assert "\n" not in str(error.value)


def test_unplaced_mediapipe_hands_are_refused(model_hands) -> None:  # type: ignore[no-untyped-def]
    left_landmarks, left_wrist = keypoints_to_mediapipe(model_hands[1])
    right_landmarks, right_wrist = keypoints_to_mediapipe(model_hands[0])
    with pytest.raises(DataError, match="both hands are centred on the origin"):
        check_hands_placed(mediapipe_to_keypoints(left_landmarks), mediapipe_to_keypoints(right_landmarks), "x")
    check_hands_placed(
        mediapipe_to_keypoints(left_landmarks, left_wrist), mediapipe_to_keypoints(right_landmarks, right_wrist), "x"
    )
    check_hands_placed(mediapipe_to_keypoints(left_landmarks), None, "x")  # one hand alone cannot be told


def test_mediapipe_labels_assume_a_mirrored_image() -> None:
    assert mediapipe_side("Left", image_mirrored=True) == "left"
    assert mediapipe_side("Left") == "right" and mediapipe_side(" right ") == "left"
