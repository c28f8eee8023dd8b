"""The 64-number hand vector x = [theta, beta, omega, tau] (paper Eq. 5) and its frames.

Notation (paper -> code):
    theta  (B, 45)  finger pose, axis-angle, radians, relative to the flat hand  -> x[:, POSE]
    beta   (B, 10)  shape                                                         -> x[:, BETAS]
    omega  (B, 6)   root rotation, 6D (first two matrix columns)                  -> x[:, ROT6D]
    tau    (B, 3)   root translation = wrist position, metres                     -> x[:, TRANSL]
    Gamma           mirroring, geometry/mirroring.py
    x_l, x_r        anchor (conditioning) hand and generated hand

Frames (DESIGN section 4). The network works in right-hand space. For a two-hand
scene (left, right) the left hand is the anchor: it is made canonical (identity rotation,
wrist at the origin) and the right hand is expressed in its frame. The conditioning
input is the canonical anchor mirrored into right-hand space, Gamma(x_l), so that the
anchor and the generated hand share one parameter space and one normaliser (paper 3.3).
The left/right-swapped view of Algorithm 1, (Gamma(x_l), Gamma(x_r)), is the same
construction applied to the mirrored scene (Gamma(right) as the left hand, Gamma(left) as
the right hand).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

import torch
from numpy.typing import NDArray
from torch import Tensor

from interhandgen_core.errors import DataError
from interhandgen_core.geometry.mirroring import mirror_hand_params
from interhandgen_core.geometry.rotations import matrix_to_rotation_6d, rotation_6d_to_matrix

HAND_DIM = 64
POSE = slice(0, 45)
BETAS = slice(45, 55)
ROT6D = slice(55, 61)
TRANSL = slice(61, 64)
ROOT = slice(55, 64)


@dataclass
class HandParams:
    """One hand per row. pose (B, 45), betas (B, 10), rotation (B, 3, 3), translation (B, 3) metres."""

    pose: Tensor
    betas: Tensor
    rotation: Tensor
    translation: Tensor

    def __post_init__(self) -> None:
        b = self.pose.shape[0]
        shapes = {
            "pose": (self.pose.shape, (b, 45)),
            "betas": (self.betas.shape, (b, 10)),
            "rotation": (self.rotation.shape, (b, 3, 3)),
            "translation": (self.translation.shape, (b, 3)),
        }
        for name, (actual, expected) in shapes.items():
            if tuple(actual) != expected:
                raise DataError(f"hand parameter '{name}' has shape {tuple(actual)}, expected {expected}")

    @property
    def batch_size(self) -> int:
        return int(self.pose.shape[0])

    def mirrored(self) -> HandParams:
        """Gamma: the mirror-image hand of the other side."""
        return HandParams(*mirror_hand_params(self.pose, self.betas, self.rotation, self.translation))

    def canonical(self) -> HandParams:
        """Same articulation and shape, identity rotation, wrist at the origin."""
        eye = torch.eye(3, dtype=self.rotation.dtype, device=self.rotation.device).expand_as(self.rotation)
        return HandParams(self.pose, self.betas, eye.clone(), torch.zeros_like(self.translation))

    def in_frame_of(self, anchor: HandParams) -> HandParams:
        """This hand expressed in the anchor's frame: R_a^T R, R_a^T (tau - tau_a)."""
        rot_t = anchor.rotation.transpose(-1, -2)
        return HandParams(
            self.pose,
            self.betas,
            rot_t @ self.rotation,
            (rot_t @ (self.translation - anchor.translation)[..., None])[..., 0],
        )

    def transformed(self, rotation: Tensor, translation: Tensor) -> HandParams:
        """Apply a rigid transform (R (B or 1, 3, 3), t (B or 1, 3)) to the hand: the inverse of in_frame_of."""
        return HandParams(
            self.pose,
            self.betas,
            rotation @ self.rotation,
            (rotation @ self.translation[..., None])[..., 0] + translation,
        )

    def to_vector(self) -> Tensor:
        """-> (B, 64)."""
        return torch.cat(
            [self.pose, self.betas, matrix_to_rotation_6d(self.rotation), self.translation],
            dim=-1,
        )

    @staticmethod
    def from_vector(x: Tensor) -> HandParams:
        """x: (B, 64) -> HandParams (the 6D rotation is orthonormalised)."""
        if x.ndim != 2 or x.shape[-1] != HAND_DIM:
            raise DataError(f"hand vector must be (B, {HAND_DIM}), got {tuple(x.shape)}")
        return HandParams(x[:, POSE], x[:, BETAS], rotation_6d_to_matrix(x[:, ROT6D]), x[:, TRANSL])

    def select(self, index: Tensor | slice) -> HandParams:
        return HandParams(self.pose[index], self.betas[index], self.rotation[index], self.translation[index])

    @staticmethod
    def cat(items: list[HandParams]) -> HandParams:
        return HandParams(
            torch.cat([h.pose for h in items]),
            torch.cat([h.betas for h in items]),
            torch.cat([h.rotation for h in items]),
            torch.cat([h.translation for h in items]),
        )

    def to_arrays(self, prefix: str) -> dict[str, NDArray[Any]]:
        """-> numpy arrays under the hands-file keys of one side: ``{prefix}_pose`` (B, 45), ..."""
        return {f"{prefix}_{f.name}": getattr(self, f.name).detach().cpu().numpy() for f in fields(self)}

    @staticmethod
    def from_arrays(arrays: Mapping[str, Any], prefix: str, dtype: torch.dtype = torch.float32) -> HandParams:
        """Inverse of :meth:`to_arrays`: the four ``{prefix}_*`` arrays -> HandParams of ``dtype``."""
        return HandParams(*(torch.as_tensor(arrays[f"{prefix}_{f.name}"]).to(dtype) for f in fields(HandParams)))

    def to(self, device: torch.device | str, dtype: torch.dtype | None = None) -> HandParams:
        return HandParams(
            self.pose.to(device, dtype),
            self.betas.to(device, dtype),
            self.rotation.to(device, dtype),
            self.translation.to(device, dtype),
        )


def scene_to_pair(left: HandParams, right: HandParams) -> tuple[Tensor, Tensor]:
    """A two-hand scene -> (target, condition) vectors, both (B, 64), right-hand space.

    target    = the right hand in the left (anchor) hand's frame
    condition = Gamma(canonical left hand)
    """
    anchor = left.canonical()
    return right.in_frame_of(left).to_vector(), anchor.mirrored().to_vector()


def scene_to_training_pairs(left: HandParams, right: HandParams) -> tuple[Tensor, Tensor]:
    """Both views of Algorithm 1 step 4: (x_r | x_l) and (Gamma(x_l) | Gamma(x_r)) -> (2B, 64) each."""
    target_a, cond_a = scene_to_pair(left, right)
    target_b, cond_b = scene_to_pair(right.mirrored(), left.mirrored())
    return torch.cat([target_a, target_b]), torch.cat([cond_a, cond_b])


def pair_to_scene(target: Tensor, condition: Tensor) -> tuple[HandParams, HandParams]:
    """Inverse of scene_to_pair: (B, 64) each -> (left, right) in the left hand's canonical frame."""
    left = HandParams.from_vector(condition).mirrored().canonical()
    return left, HandParams.from_vector(target)


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
