"""MANO's own parameters <-> the project's hand parameters (README "Conventions"), through the hand layer.

Datasets (InterHand2.6M, ARCTIC) publish hands as the arguments of a MANO layer. Per hand,
batch first:

    MANO (dataset)                                   project (HandParams, hands/layer.py)
    global_orient  (B, 3)   axis-angle about J_0(beta)   rotation     (B, 3, 3)  the same rotation
    hand_pose      (B, 45)  axis-angle, relative to      pose         (B, 45)    relative to the flat hand
                            the mean pose when
                            flat_hand_mean is False
    betas          (B, 10)                               betas        (B, 10)    the same
    transl         (B, 3)   metres, added after          translation  (B, 3)     wrist position, metres
                            posing

MANO rotates the shaped hand about its rest wrist joint J_0(beta) and then adds ``transl``, so
the wrist ends at J_0(beta) + transl; the project stores that wrist position instead, which is
shape-independent. ``flat_hand_mean=False`` (smplx's default, used by both datasets) means the
finger rotations are ``hand_pose + hands_mean``, with the mean of the side's own model file.
Both functions use the side's layer: J_0 and the mean pose differ between left and right.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from numpy.typing import NDArray
from torch import Tensor

from interhandgen_core.errors import DataError
from interhandgen_core.geometry.rotations import axis_angle_to_matrix, matrix_to_axis_angle
from interhandgen_core.hands.hand_params import HandParams
from interhandgen_core.hands.layer import HandLayer


@dataclass
class ManoParams:
    """One hand per row, as a MANO layer takes them (see the module docstring): metres, radians."""

    global_orient: Tensor  # (B, 3)
    hand_pose: Tensor  # (B, 45)
    betas: Tensor  # (B, 10)
    transl: Tensor  # (B, 3)

    def __post_init__(self) -> None:
        b = self.global_orient.shape[0]
        expected = {"global_orient": (b, 3), "hand_pose": (b, 45), "betas": (b, 10), "transl": (b, 3)}
        for name, shape in expected.items():
            actual = tuple(getattr(self, name).shape)
            if actual != shape:
                raise DataError(f"MANO parameter '{name}' has shape {actual}, expected {shape}")

    @staticmethod
    def from_numbers(numbers: NDArray[np.floating] | Tensor) -> ManoParams:
        """(B, 61) [global_orient 3, hand_pose 45, betas 10, transl 3], the datasets' order -> float32 ManoParams."""
        x = torch.as_tensor(numbers, dtype=torch.float32)
        return ManoParams(x[:, 0:3], x[:, 3:48], x[:, 48:58], x[:, 58:61])


def mano_to_hand_params(layer: HandLayer, mano: ManoParams, flat_hand_mean: bool = False) -> HandParams:
    """MANO parameters of ``layer``'s side -> HandParams (B rows) in the same frame, same mesh."""
    mean = 0.0 if flat_hand_mean else layer.hands_mean.to(mano.hand_pose)
    with torch.no_grad():
        wrist = layer.rest_joints(mano.betas.to(layer.v_template))[:, 0].to(mano.transl)
    return HandParams(
        mano.hand_pose + mean,
        mano.betas,
        axis_angle_to_matrix(mano.global_orient),
        wrist + mano.transl,
    )


def hand_params_to_mano(layer: HandLayer, hand: HandParams, flat_hand_mean: bool = False) -> ManoParams:
    """HandParams (B rows) -> the MANO parameters of ``layer``'s side that give the same mesh."""
    mean = 0.0 if flat_hand_mean else layer.hands_mean.to(hand.pose)
    with torch.no_grad():
        wrist = layer.rest_joints(hand.betas.to(layer.v_template))[:, 0].to(hand.translation)
    return ManoParams(
        matrix_to_axis_angle(hand.rotation),
        hand.pose - mean,
        hand.betas,
        hand.translation - wrist,
    )
