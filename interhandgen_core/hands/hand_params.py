"""One hand's parameters (HandParams) and their 64-number vector x = [theta, beta, omega, tau] (paper Eq. 5).

Notation (paper -> code):
    theta  (B, 45)  finger pose, axis-angle, radians, relative to the flat hand  -> pose,        x[:, POSE]
    beta   (B, 10)  shape                                                         -> betas,       x[:, BETAS]
    omega  (B, 6)   root rotation, 6D (first two matrix columns)                  -> rotation,    x[:, ROT6D]
    tau    (B, 3)   root translation = wrist position, metres                     -> translation, x[:, TRANSL]
    Gamma           mirroring (geometry/mirroring.py)                             -> mirrored()

The core hand type: the hand layer, the hands files, the prior, the refiner and the data
converters all speak HandParams. The two-hand frames and the normaliser that the prior
learns in are in prior/representation.py.
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
