"""The 64-number hand vector x = [theta, beta, omega, tau] (paper Eq. 5) and its frames.

Notation (paper -> code):
    theta  (B, 45)  finger pose, axis-angle, radians, relative to the flat hand  -> x[:, POSE]
    beta   (B, 10)  shape                                                         -> x[:, BETAS]
    omega  (B, 6)   root rotation, 6D (first two matrix columns)                  -> x[:, ROT6D]
    tau    (B, 3)   root translation = wrist position, metres                     -> x[:, TRANSL]
    Gamma           mirroring, geometry/mirroring.py
    x_l, x_r        anchor (conditioning) hand and generated hand

Frames (README "Conventions"). The network works in right-hand space. For a two-hand
scene (left, right) the left hand is the anchor: it is made canonical (identity rotation,
wrist at the origin) and the right hand is expressed in its frame. The conditioning
input is the canonical anchor mirrored into right-hand space, Gamma(x_l), so that the
anchor and the generated hand share one parameter space and one normaliser (paper 3.3).
The left/right-swapped view of Algorithm 1, (Gamma(x_l), Gamma(x_r)), is the same
construction applied to the mirrored scene (Gamma(right) as the left hand, Gamma(left) as
the right hand).
"""

from __future__ import annotations

import torch
from torch import Tensor

from interhandgen_core.errors import DataError
from interhandgen_core.hands.hand_params import HAND_DIM, HandParams


def scene_to_pair(left: HandParams, right: HandParams) -> tuple[Tensor, Tensor]:
    """A two-hand scene -> (target, condition) vectors, both (B, 64), right-hand space.

    target    = the right hand in the left (anchor) hand's frame
    condition = Gamma(canonical left hand)
    """
    anchor = left.canonical()
    return right.in_frame_of(left).to_vector(), anchor.mirrored().to_vector()


def scene_to_training_pairs(left: HandParams, right: HandParams, views: str = "both") -> tuple[Tensor, Tensor]:
    """Algorithm 1 step 4's training pairs of B scenes: views "both", (x_r | x_l) and (Gamma(x_l) | Gamma(x_r)),
    -> (2B, 64) each; views "given", (x_r | x_l) alone -> (B, 64) each (TrainConfig.scene_views)."""
    target_a, cond_a = scene_to_pair(left, right)
    if views == "given":
        return target_a, cond_a
    if views != "both":
        raise ValueError(f"views must be 'both' or 'given', got {views!r}")
    target_b, cond_b = scene_to_pair(right.mirrored(), left.mirrored())
    return torch.cat([target_a, target_b]), torch.cat([cond_a, cond_b])


def pair_to_scene(target: Tensor, condition: Tensor) -> tuple[HandParams, HandParams]:
    """Inverse of scene_to_pair: (B, 64) each -> (left, right) in the left hand's canonical frame."""
    left = HandParams.from_vector(condition).mirrored().canonical()
    return left, HandParams.from_vector(target)


def swapped_scene(left: HandParams, right: HandParams) -> tuple[HandParams, HandParams]:
    """B two-hand scenes -> their left-right swapped views as scenes, (left, right) B each: Gamma(right) is the
    left hand and Gamma(left) the right one, in that left hand's canonical frame (the view Algorithm 1 step 4
    trains on beside each scene)."""
    return pair_to_scene(*scene_to_pair(right.mirrored(), left.mirrored()))


def symmetrised_scenes(left: HandParams, right: HandParams) -> tuple[HandParams, HandParams]:
    """B two-hand scenes -> B scenes, those at odd indices replaced by their swapped views (swapped_scene), in
    the left hand's canonical frame: a sample of the left-right symmetrised distribution that training on both
    views (TrainConfig.scene_views "both") teaches the prior."""
    keep = (torch.arange(left.batch_size, device=left.pose.device) % 2 == 0)[:, None]
    # A swapped view is the scene (Gamma(right), Gamma(left)) made canonical: pick the hands, then one pass.
    return pair_to_scene(
        *scene_to_pair(_where_params(keep, left, right.mirrored()), _where_params(keep, right, left.mirrored()))
    )


def _where_params(pick: Tensor, a: HandParams, b: HandParams) -> HandParams:
    """pick (B, 1) bool -> rows of ``a`` where True, of ``b`` elsewhere."""
    return HandParams(
        torch.where(pick, a.pose, b.pose),
        torch.where(pick, a.betas, b.betas),
        torch.where(pick[:, :, None], a.rotation, b.rotation),
        torch.where(pick, a.translation, b.translation),
    )


def pair_from_vectors(normalizer: Normalizer, anchor: Tensor, other: Tensor) -> tuple[HandParams, HandParams]:
    """Normalised anchor and other hand (N, 64) each, no object -> (left, right) in the left hand's canonical frame.

    The anchor's root is not learned without an object (S.4.2), so it is replaced by the
    canonical frame; its mirror image Gamma is the left hand (Algorithm 2 line 11).
    """
    left = HandParams.from_vector(normalizer.denormalize(anchor)).canonical().mirrored()
    return left, HandParams.from_vector(normalizer.denormalize(other))


class Normalizer(torch.nn.Module):
    """Per-dimension standardisation of hand vectors with training-set statistics.

    mean, std: (64,). Dimensions that are constant in the data (std below ``min_std``)
    keep std = 1 so that they pass through unscaled instead of exploding.
    """

    mean: Tensor
    std: Tensor

    def __init__(self, mean: Tensor | None = None, std: Tensor | None = None) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(HAND_DIM) if mean is None else mean.detach().clone().float())
        self.register_buffer("std", torch.ones(HAND_DIM) if std is None else std.detach().clone().float())

    @staticmethod
    def fit(vectors: Tensor, min_std: float = 1e-4) -> Normalizer:
        """vectors: (N, 64) -> Normalizer."""
        if vectors.ndim != 2 or vectors.shape[-1] != HAND_DIM or vectors.shape[0] < 2:
            raise DataError(
                f"need at least 2 hand vectors of size {HAND_DIM} to fit a normaliser, got {tuple(vectors.shape)}"
            )
        mean = vectors.mean(0)
        std = vectors.std(0)
        std = torch.where(std < min_std, torch.ones_like(std), std)
        return Normalizer(mean, std)

    def normalize(self, x: Tensor) -> Tensor:
        return (x - self.mean) / self.std

    def denormalize(self, z: Tensor) -> Tensor:
        return z * self.std + self.mean
