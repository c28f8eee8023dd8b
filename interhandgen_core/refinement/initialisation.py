"""A first guess of a hand from its keypoints: the mean hand rigidly fitted to the palm.

The palm keypoints (wrist and four knuckles) barely move with the fingers, so a rigid
fit of the mean hand's palm to them (weighted Kabsch / Umeyama without scale) gives the
root rotation and wrist position; the fingers start at the prior's mean pose and the
optimisation (refinement/refiner.py) takes it from there.
"""

from __future__ import annotations

import torch
from torch import Tensor

from interhandgen_core.hands.hand_params import HandParams
from interhandgen_core.hands.layer import HandLayer
from interhandgen_core.refinement.observation import PALM_KEYPOINTS


def rigid_fit(source: Tensor, target: Tensor, weight: Tensor) -> tuple[Tensor, Tensor]:
    """Weighted least-squares rotation and translation with R source + t ~ target.

    source, target: (B, K, 3); weight: (B, K) >= 0 (at least three non-collinear points with
    weight > 0 per row) -> rotation (B, 3, 3) proper, translation (B, 3).
    """
    w = weight / weight.sum(-1, keepdim=True).clamp_min(1e-12)
    mu_s = (w[..., None] * source).sum(1)
    mu_t = (w[..., None] * target).sum(1)
    cov = torch.einsum("bk,bki,bkj->bij", w, target - mu_t[:, None], source - mu_s[:, None])
    u, _, vh = torch.linalg.svd(cov)
    # A reflection is never a hand's rotation: flip the weakest axis when det < 0.
    det = torch.det(u @ vh)
    fix = torch.ones_like(cov[:, 0])
    fix[:, 2] = torch.sign(det) + (det == 0).to(det.dtype)
    rotation = u @ torch.diag_embed(fix) @ vh
    return rotation, mu_t - (rotation @ mu_s[..., None])[..., 0]


def hands_from_palm_keypoints(layer: HandLayer, keypoints: Tensor, weight: Tensor, pose: Tensor) -> HandParams:
    """keypoints (B, 21, 3) metres, world; weight (B, 21); pose (45,) the starting finger pose -> HandParams (B,).

    Rows with fewer than three weighted palm keypoints get the identity rotation at the
    mean of their weighted keypoints (or the origin).
    """
    batch = keypoints.shape[0]
    palm = list(PALM_KEYPOINTS)
    zeros = keypoints.new_zeros(batch, 3)
    betas = keypoints.new_zeros(batch, 10)
    poses = pose.to(keypoints).expand(batch, -1)
    eye = torch.eye(3, dtype=keypoints.dtype, device=keypoints.device).expand(batch, 3, 3)
    with torch.no_grad():
        template = layer(HandParams(poses, betas, eye, zeros)).keypoints  # wrist at the origin
    palm_weight = weight[:, palm]
    rotation, translation = rigid_fit(template[:, palm], keypoints[:, palm], palm_weight)
    enough = (palm_weight > 0).sum(-1) >= 3
    centre = (weight[..., None] * keypoints).sum(1) / weight.sum(-1, keepdim=True).clamp_min(1e-12)
    rotation = torch.where(enough[:, None, None], rotation, eye)
    translation = torch.where(enough[:, None], translation, centre)
    return HandParams(poses.clone(), betas, rotation.contiguous(), translation)
