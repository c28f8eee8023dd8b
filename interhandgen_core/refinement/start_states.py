"""Where the optimisation of a hand starts: its observed parameters, a palm fit, or a parked placeholder.

A hand's first guess per row is, in order of preference, its observed parameters (where
finite), the prior's mean hand rigidly fitted to its palm keypoints
(refinement/initialisation.py), or, for a hand that has never been seen, a placeholder
parked far from the other hand, so that it takes part in nothing, with finite numbers
everywhere. World frame, metres.
"""

from __future__ import annotations

import torch
from torch import Tensor

from interhandgen_core.hands.hand_params import HandParams
from interhandgen_core.hands.layer import HandLayer
from interhandgen_core.refinement.initialisation import hands_from_palm_keypoints
from interhandgen_core.refinement.side_targets import SideTargets

# Where a hand that has never been seen is parked: 10 m along +x (right) or -x (left).
PARKED_TRANSLATION_M = 10.0


class StartStates:
    """First guesses of the left and right hand from the prior's mean hand.

    mean: HandParams (1,), the prior's mean state in right-hand space (Gamma mirrors it for
    the left hand); its finger pose is the first guess of a new hand.
    """

    def __init__(self, left_layer: HandLayer, right_layer: HandLayer, mean: HandParams, device: torch.device) -> None:
        self.layers = {"left": left_layer, "right": right_layer}
        self.mean_pose = {"right": mean.pose[0], "left": mean.mirrored().pose[0]}
        self.device = device

    def parked(self, side: str, batch: int) -> HandParams:
        """B placeholders of a hand that has never been seen: the mean finger pose, far from the other hand."""
        translation = torch.zeros(batch, 3, device=self.device)
        translation[:, 0] = PARKED_TRANSLATION_M if side == "right" else -PARKED_TRANSLATION_M
        return HandParams(
            self.mean_pose[side].expand(batch, -1).clone(),
            torch.zeros(batch, 10, device=self.device),
            torch.eye(3, device=self.device).expand(batch, 3, 3).clone(),
            translation,
        )

    def initial(self, side: str, targets: SideTargets) -> HandParams:
        """A first guess per row: the observed parameters where finite, else the palm fit, else parked."""
        batch = targets.keypoints.shape[0]
        fitted = hands_from_palm_keypoints(self.layers[side], targets.keypoints, targets.weight, self.mean_pose[side])
        guess = _where(targets.observed, fitted, self.parked(side, batch))
        if targets.init is not None:
            guess = _where(targets.init_ok, targets.init, guess)
        return guess


def _where(condition: Tensor, a: HandParams, b: HandParams) -> HandParams:
    """Row-wise choice between two HandParams batches. condition (B,) bool."""
    return HandParams.from_vector(torch.where(condition[:, None], a.to_vector(), b.to_vector()))
