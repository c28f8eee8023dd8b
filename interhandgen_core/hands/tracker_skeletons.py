"""Hand trackers' skeletons -> the project's 21 keypoints (hands/keypoints.py): MediaPipe's 21 hand
landmarks and OpenXR's 26 hand joints (XR_EXT_hand_tracking; XR headsets, NVIDIA Isaac Teleop).

Every function is pure and batch first (B hands of one side, or B frames of one hand); positions are
metres; a joint the tracker did not locate becomes a NaN keypoint (the refiner treats it as missing,
refinement/observation.py), never an error. A wrong shape raises DataError in one line that says what
the function takes.

MediaPipe (Hands / HandLandmarker, ``hand_world_landmarks``): 21 landmarks in this project's order, one
to one, so the map is the identity:

    =====  ==================  =====================
    index  MediaPipe landmark  project keypoint
    =====  ==================  =====================
    0      WRIST               0 wrist
    1-4    THUMB_CMC, _MCP,    1-4 thumb1, thumb2,
           _IP, _TIP           thumb3, thumb_tip
    5-8    INDEX_FINGER_MCP,   5-8 index1, index2,
           _PIP, _DIP, _TIP    index3, index_tip
    9-12   MIDDLE_FINGER_*     9-12 middle
    13-16  RING_FINGER_*       13-16 ring
    17-20  PINKY_MCP, _PIP,    17-20 pinky
           _DIP, _TIP
    =====  ==================  =====================

World landmarks are metres in the camera's axes (x right, y down, z away from the camera: a ROS
``*_optical_frame``) with their origin at the hand's approximate geometric centre, so they carry the
hand's shape but not its place: give the wrist's position in the same frame (``wrist_position``, e.g.
from a depth image at the wrist's image landmark), or place them yourself before converting. Two hands
left at their own origins would overlap; :func:`check_hands_placed` refuses that. Handedness: MediaPipe
labels each hand assuming a mirrored (selfie) image; for a camera image that is not mirrored, swap the
label (:func:`mediapipe_side`). Where they differ: MediaPipe's world landmarks
are regressed by its own network from images annotated by people, so where it puts THUMB_CMC and the
knuckles, and its bone lengths, need not match the model's joint centres and fingertip surface points;
that difference cannot be measured without MediaPipe's model (not done here).

OpenXR (``XrHandJointEXT``, left and right hands from two hand trackers): 26 joints, each a pose
(position, orientation) and a radius, in the XR reference space (metres, right-handed, +y up). The map:

    =====  =======================  ======================
    joint  OpenXR joint             project keypoint
    =====  =======================  ======================
    0      PALM                     (none)
    1      WRIST                    0 wrist
    2-5    THUMB_METACARPAL,        1-4 thumb1 (CMC),
           _PROXIMAL, _DISTAL, _TIP thumb2 (MCP), thumb3 (IP), tip
    6      INDEX_METACARPAL         (none)
    7-10   INDEX_PROXIMAL,          5-8 index1 (MCP), index2
           _INTERMEDIATE, _DISTAL,  (PIP), index3 (DIP), tip
           _TIP
    11     MIDDLE_METACARPAL        (none)
    12-15  MIDDLE_*                 9-12 middle
    16     RING_METACARPAL          (none)
    17-20  RING_*                   13-16 ring
    21     LITTLE_METACARPAL        (none)
    22-25  LITTLE_*                 17-20 pinky
    =====  =======================  ======================

An OpenXR joint is placed at the base of the bone it names: THUMB_METACARPAL is the thumb's
carpometacarpal joint (the project's thumb1, which the procedural hand designs at the CMC), PROXIMAL the
knuckle (MCP), INTERMEDIATE the PIP, DISTAL the DIP (the thumb's DISTAL: its IP). The four finger
METACARPAL joints (the bases of the metacarpals, in the carpus) and PALM (the centre of the middle
metacarpal) have no keypoint and are not read; orientations and radii are not read either (the refiner
fits positions), except that a zero quaternion marks a joint as not located. Correspondence error: the
21 shared joints name the same anatomical points, so by definition none; measured on the procedural hand
(tests/hands/test_tracker_skeletons.py), a model hand -> OpenXR joints -> keypoints gives them back to
1e-9 m. What remains is each runtime's reading of the definition: OpenXR puts a TIP at the tip of the
finger, and the model's tip keypoint is a vertex at the end of the fingertip's surface (1.5-3.0 mm from
the designed end on the procedural hand); a runtime that reports the centre of the fingertip's end
sphere instead is off by the fingertip radius, measured 6.4 (little) to 8.2 mm (thumb) between the
procedural hand's tip vertices and its fingertip sphere centres, along the finger. The synthetic
metacarpal and palm joints of :func:`keypoints_to_openxr_joints` are not measured anatomy. Handedness
comes from the hand tracker (one per hand).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch
from numpy.typing import ArrayLike
from torch import Tensor

from interhandgen_core.errors import DataError
from interhandgen_core.hands.keypoints import KEYPOINT_NAMES, NUM_KEYPOINTS

Side = Literal["left", "right"]

MEDIAPIPE_LANDMARK_NAMES: tuple[str, ...] = (
    "WRIST",
    "THUMB_CMC", "THUMB_MCP", "THUMB_IP", "THUMB_TIP",
    "INDEX_FINGER_MCP", "INDEX_FINGER_PIP", "INDEX_FINGER_DIP", "INDEX_FINGER_TIP",
    "MIDDLE_FINGER_MCP", "MIDDLE_FINGER_PIP", "MIDDLE_FINGER_DIP", "MIDDLE_FINGER_TIP",
    "RING_FINGER_MCP", "RING_FINGER_PIP", "RING_FINGER_DIP", "RING_FINGER_TIP",
    "PINKY_MCP", "PINKY_PIP", "PINKY_DIP", "PINKY_TIP",
)  # fmt: skip
NUM_MEDIAPIPE_LANDMARKS = len(MEDIAPIPE_LANDMARK_NAMES)
# MediaPipe landmark index for each project keypoint: the same order.
KEYPOINTS_FROM_MEDIAPIPE: tuple[int, ...] = tuple(range(NUM_KEYPOINTS))

OPENXR_JOINT_NAMES: tuple[str, ...] = (
    "PALM", "WRIST",
    "THUMB_METACARPAL", "THUMB_PROXIMAL", "THUMB_DISTAL", "THUMB_TIP",
    "INDEX_METACARPAL", "INDEX_PROXIMAL", "INDEX_INTERMEDIATE", "INDEX_DISTAL", "INDEX_TIP",
    "MIDDLE_METACARPAL", "MIDDLE_PROXIMAL", "MIDDLE_INTERMEDIATE", "MIDDLE_DISTAL", "MIDDLE_TIP",
    "RING_METACARPAL", "RING_PROXIMAL", "RING_INTERMEDIATE", "RING_DISTAL", "RING_TIP",
    "LITTLE_METACARPAL", "LITTLE_PROXIMAL", "LITTLE_INTERMEDIATE", "LITTLE_DISTAL", "LITTLE_TIP",
)  # fmt: skip
NUM_OPENXR_JOINTS = len(OPENXR_JOINT_NAMES)
# OpenXR joint index for each project keypoint (the table above).
KEYPOINTS_FROM_OPENXR: tuple[int, ...] = (
    1,
    2, 3, 4, 5,
    7, 8, 9, 10,
    12, 13, 14, 15,
    17, 18, 19, 20,
    22, 23, 24, 25,
)  # fmt: skip
# OpenXR joints without a keypoint: the palm and the four finger metacarpals.
OPENXR_UNUSED_JOINTS: tuple[int, ...] = (0, 6, 11, 16, 21)
# XrSpaceLocationFlags bit saying the position is valid (XR_SPACE_LOCATION_POSITION_VALID_BIT).
XR_SPACE_LOCATION_POSITION_VALID_BIT = 0x00000002
# Where keypoints_to_openxr_joints puts the finger metacarpals' bases: this fraction of the way from the
# wrist to the knuckle (MCP). An anatomical average (carpus about 2.3 cm of a 8.5-9 cm wrist-to-knuckle
# span), used only to make OpenXR-shaped joints from a model hand; the conversion never reads them.
METACARPAL_BASE_FRACTION = 0.27
# Two hands whose centroids are both this close to the origin were not placed (MediaPipe world landmarks).
UNPLACED_RADIUS_M = 0.03


def tracker_joints(joints: ArrayLike | Tensor, count: int, source: str) -> Tensor:
    """joints (B, count, 3) or (count, 3) metres -> (B, count, 3) float tensor (a float array keeps its
    precision; anything else becomes float64).

    Checks the shape only; NaN or inf entries pass through (they mark joints not located). A wrong
    count, a wrong last dimension or a non-numeric array raises DataError naming ``source``.
    """
    try:
        if isinstance(joints, Tensor):
            tensor = joints.detach()
        else:
            array = np.asarray(joints)
            tensor = torch.as_tensor(array if array.dtype.kind == "f" else array.astype(np.float64))
    except (TypeError, ValueError) as error:
        raise DataError(f"{source}: expected a numeric array of shape (B, {count}, 3) metres ({error})") from None
    if not tensor.is_floating_point():
        tensor = tensor.to(torch.float64)
    if tensor.ndim == 2:
        tensor = tensor[None]
    if tensor.ndim != 3 or tensor.shape[1] != count or tensor.shape[2] != 3:
        raise DataError(
            f"{source}: expected (B, {count}, 3) positions in metres ({count} joints per hand), "
            f"got shape {tuple(tensor.shape)}"
        )
    return tensor


def mediapipe_to_keypoints(landmarks: ArrayLike | Tensor, wrist_position: ArrayLike | Tensor | None = None) -> Tensor:
    """landmarks (B, 21, 3) metres, MediaPipe order (``hand_world_landmarks``, camera axes) -> keypoints
    (B, 21, 3) metres, project order, NaN where a landmark is not finite.

    wrist_position: (B, 3) or (3,) metres, where the WRIST landmark lies in the output frame; the
    landmarks are translated rigidly onto it (world landmarks are relative to the hand's centre). None:
    the landmarks are already placed in the output frame and are kept as they are. A NaN wrist position
    makes that hand missing (all NaN).
    """
    points = tracker_joints(landmarks, NUM_MEDIAPIPE_LANDMARKS, "MediaPipe landmarks")
    keypoints = points[:, list(KEYPOINTS_FROM_MEDIAPIPE)]
    keypoints = torch.where(torch.isfinite(keypoints).all(-1, keepdim=True), keypoints, torch.nan)
    if wrist_position is None:
        return keypoints
    wrist = torch.as_tensor(np.asarray(wrist_position, dtype=np.float64)).to(keypoints)
    if wrist.ndim == 1:
        wrist = wrist[None].expand(len(keypoints), -1)
    if tuple(wrist.shape) != (len(keypoints), 3):
        raise DataError(
            f"MediaPipe wrist_position: expected ({len(keypoints)}, 3) metres, one per hand, got {tuple(wrist.shape)}"
        )
    return keypoints - keypoints[:, :1] + wrist[:, None]


def openxr_joint_validity(
    positions: ArrayLike | Tensor,
    orientations: ArrayLike | Tensor | None = None,
    position_valid: ArrayLike | Tensor | None = None,
) -> Tensor:
    """positions (B, 26, 3) metres; orientations (B, 26, 4) quaternions (any component order) or None;
    position_valid (B, 26) bool (XR_SPACE_LOCATION_POSITION_VALID_BIT of each joint's locationFlags) or
    None -> (B, 26) bool: the joints located.

    A joint is not located when its position is not finite, its quaternion is not finite or is zero (how
    a PoseArray marks an inactive joint), or its valid bit is unset.
    """
    points = tracker_joints(positions, NUM_OPENXR_JOINTS, "OpenXR joint positions")
    valid = torch.isfinite(points).all(-1)
    if orientations is not None:
        quaternions = torch.as_tensor(np.asarray(orientations, dtype=np.float64))
        if tuple(quaternions.shape) != (len(points), NUM_OPENXR_JOINTS, 4):
            raise DataError(
                f"OpenXR joint orientations: expected ({len(points)}, {NUM_OPENXR_JOINTS}, 4) quaternions, "
                f"got shape {tuple(quaternions.shape)}"
            )
        finite = torch.isfinite(quaternions).all(-1)
        valid &= finite & (torch.where(finite[..., None], quaternions, 0.0).norm(dim=-1) > 1e-6)
    if position_valid is not None:
        flags = torch.as_tensor(np.asarray(position_valid, dtype=bool))
        if tuple(flags.shape) != (len(points), NUM_OPENXR_JOINTS):
            raise DataError(
                f"OpenXR position_valid: expected ({len(points)}, {NUM_OPENXR_JOINTS}) booleans, "
                f"got shape {tuple(flags.shape)}"
            )
        valid &= flags
    return valid


def openxr_joints_to_keypoints(
    positions: ArrayLike | Tensor,
    orientations: ArrayLike | Tensor | None = None,
    position_valid: ArrayLike | Tensor | None = None,
) -> Tensor:
    """positions (B, 26, 3) metres, XR_EXT_hand_tracking order, in the XR reference space -> keypoints
    (B, 21, 3) metres, project order, same frame, NaN where a joint was not located.

    orientations, position_valid: as :func:`openxr_joint_validity` (they only mark joints as not
    located). The palm and the four finger metacarpal joints are dropped (module docstring).
    """
    points = tracker_joints(positions, NUM_OPENXR_JOINTS, "OpenXR joint positions")
    valid = openxr_joint_validity(points, orientations, position_valid)
    located = torch.where(valid[..., None], points, torch.nan)
    return located[:, list(KEYPOINTS_FROM_OPENXR)]


def openxr_poses_to_keypoints(poses: ArrayLike | Tensor, position_valid: ArrayLike | Tensor | None = None) -> Tensor:
    """poses (B, 26, 7) as Isaac Lab's OpenXR device gives them (x, y, z metres, qw, qx, qy, qz) ->
    keypoints (B, 21, 3) metres (:func:`openxr_joints_to_keypoints`)."""
    try:
        array = poses.detach() if isinstance(poses, Tensor) else torch.as_tensor(np.asarray(poses, dtype=np.float64))
    except (TypeError, ValueError) as error:
        raise DataError(f"OpenXR joint poses: expected a numeric array (B, {NUM_OPENXR_JOINTS}, 7) ({error})") from None
    if array.ndim == 2:
        array = array[None]
    if array.ndim != 3 or tuple(array.shape[1:]) != (NUM_OPENXR_JOINTS, 7):
        raise DataError(
            f"OpenXR joint poses: expected (B, {NUM_OPENXR_JOINTS}, 7) rows of x, y, z, qw, qx, qy, qz, "
            f"got shape {tuple(array.shape)}"
        )
    return openxr_joints_to_keypoints(array[..., :3], array[..., 3:], position_valid)


def keypoints_to_openxr_joints(keypoints: ArrayLike | Tensor) -> Tensor:
    """keypoints (B, 21, 3) metres, project order -> (B, 26, 3) OpenXR-ordered joint positions, same frame.

    The inverse of :func:`openxr_joints_to_keypoints` on the 21 shared joints; the joints OpenXR has and
    the keypoints lack are made up: each finger's METACARPAL at METACARPAL_BASE_FRACTION of the way from
    the wrist to its knuckle, PALM halfway along the middle metacarpal. For tests and simulated XR input.
    """
    kp = tracker_joints(keypoints, NUM_KEYPOINTS, "keypoints")
    joints = torch.zeros(len(kp), NUM_OPENXR_JOINTS, 3, dtype=kp.dtype, device=kp.device)
    joints[:, list(KEYPOINTS_FROM_OPENXR)] = kp
    wrist = kp[:, 0]
    for finger, metacarpal in zip(("index1", "middle1", "ring1", "pinky1"), (6, 11, 16, 21), strict=True):
        knuckle = kp[:, KEYPOINT_NAMES.index(finger)]
        joints[:, metacarpal] = wrist + METACARPAL_BASE_FRACTION * (knuckle - wrist)
    joints[:, 0] = 0.5 * (joints[:, 11] + kp[:, KEYPOINT_NAMES.index("middle1")])
    return joints


def keypoints_to_mediapipe(keypoints: ArrayLike | Tensor) -> tuple[Tensor, Tensor]:
    """keypoints (B, 21, 3) metres, project order -> (world landmarks (B, 21, 3) metres relative to the
    hand's geometric centre, MediaPipe order; wrist positions (B, 3) in the keypoints' frame).

    What MediaPipe would report of a hand whose landmarks were exactly the keypoints (the centre taken as
    the landmarks' mean), and the wrist position :func:`mediapipe_to_keypoints` needs to put it back.
    """
    kp = tracker_joints(keypoints, NUM_KEYPOINTS, "keypoints")
    landmarks = torch.empty_like(kp)
    landmarks[:, list(KEYPOINTS_FROM_MEDIAPIPE)] = kp
    centred = landmarks - landmarks.mean(dim=1, keepdim=True)
    return centred, kp[:, 0].clone()


def check_hands_placed(left: Tensor | None, right: Tensor | None, source: str) -> None:
    """left, right keypoints (B, 21, 3) metres or None -> None, or DataError when in some row both hands
    sit within UNPLACED_RADIUS_M of the origin: landmarks relative to each hand's own centre (MediaPipe
    world landmarks) that nobody placed in the camera/world frame. One hand alone cannot be told."""
    if left is None or right is None:
        return
    near = []
    for keypoints in (left, right):
        finite = torch.isfinite(keypoints).all(-1, keepdim=True)
        count = finite.sum(1).clamp_min(1)
        centre = torch.where(finite, keypoints, 0.0).sum(1) / count
        near.append((centre.norm(dim=-1) < UNPLACED_RADIUS_M) & finite.any(1)[:, 0])
    if bool((near[0] & near[1]).any()):
        raise DataError(
            f"{source}: both hands are centred on the origin (within {100 * UNPLACED_RADIUS_M:.0f} cm): world "
            "landmarks are relative to each hand's centre; add each hand's position in the camera/world frame"
        )


def mediapipe_side(label: str, image_mirrored: bool = False) -> Side:
    """MediaPipe's handedness label ("Left" / "Right", category_name) -> the hand's side.

    MediaPipe labels hands assuming a mirrored (selfie) image: for a camera image that is not mirrored
    (image_mirrored False, robot cameras) the label is swapped. A robot camera should send the image
    unmirrored: a mirrored image gives mirrored world landmarks (x negated) as well.
    """
    name = str(label).strip().lower()
    if name not in ("left", "right"):
        raise DataError(f"MediaPipe handedness: expected 'Left' or 'Right', got {label!r}")
    if image_mirrored:
        return "left" if name == "left" else "right"
    return "right" if name == "left" else "left"
