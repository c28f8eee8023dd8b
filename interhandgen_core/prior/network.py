"""The trained modules of a prior as one network: the denoiser D_phi and, for an object-conditioned prior, the object encoder."""

from __future__ import annotations

from torch import Tensor, nn

from interhandgen_core.prior.denoiser import Denoiser
from interhandgen_core.prior.object_encoder import ObjectEncoder


class PriorNetwork(nn.Module):
    """The trained modules as one: denoiser, and for an object-conditioned prior the object encoder.

    forward(x_t, t, cond, cond_mask, object_points (B, P, 3) | None, object_mask (B,) bool | None) -> x_0.
    """

    def __init__(self, denoiser: Denoiser, object_encoder: ObjectEncoder | None) -> None:
        super().__init__()
        self.denoiser = denoiser
        self.object_encoder = object_encoder

    def forward(
        self,
        x_t: Tensor,
        t: Tensor,
        cond: Tensor,
        cond_mask: Tensor,
        object_points: Tensor | None = None,
        object_mask: Tensor | None = None,
    ) -> Tensor:
        embedding = None
        if self.object_encoder is not None:
            if object_points is None or object_mask is None:
                raise ValueError("an object-conditioned prior needs object_points and object_mask")
            embedding = self.object_encoder.drop(self.object_encoder(object_points), object_mask)
        return self.denoiser(x_t, t, cond, cond_mask, embedding)
