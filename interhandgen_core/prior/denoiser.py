"""The denoiser D_phi(x_t, x_l | null, t, O) -> x_0 of paper section 3.6 and supplementary S.4.3.

Notation (paper -> code):
    x_t        x_t           (B, 64) noisy hand vector, normalised units
    x_l        cond          (B, 64) conditioning (anchor) hand, Gamma-mirrored, normalised units
    null       null_token    learned (embed_dim,) vector used as emb_xl where cond_mask is False
    t          t             (B,) long diffusion step, 0..T-1
    emb_O      object token  object_embedding (B, object_embedding_dim) projected to embed_dim
    emb_xt, emb_xl, emb_t    the tokens, each (B, embed_dim)   [512 in the paper]
    emb_glo    global feature (B, hidden_dim)                  [2056 in the paper]
    output     predicted clean hand x_0 (B, 64), normalised units (x_0-prediction, Algorithm 1 step 9)

Depth: section 3.6 counts eight fully connected layers after the transformer; S.4.3 details
them as the flattened-tokens -> emb_glo layer plus a seven-layer decoder (decoder_layers = 7).

Parameter counts (no object token): preset "small" 3,539,776; preset "paper" 55,342,096.

Departure from the authors' code: the transformer is built with ``batch_first=True`` so that
attention runs over the 3 (or 4) tokens of one sample only; their encoder attended across
the batch, which made a sample's output depend on its batch-mates.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from interhandgen_core.prior.configuration import DenoiserConfig


def sinusoidal_time_embedding(t: Tensor, dim: int) -> Tensor:
    """DDPM / Transformer positional encoding of the diffusion step. t: (B,) -> (B, dim) float32.

    Half the channels are sin(t w_k), half cos(t w_k), with w_k = 10000^(-k / (dim/2 - 1)).
    """
    half = dim // 2
    scale = math.log(10000.0) / max(half - 1, 1)
    freqs = torch.exp(torch.arange(half, device=t.device, dtype=torch.float32) * -scale)
    angles = t.to(torch.float32)[:, None] * freqs[None, :]
    return torch.cat([angles.sin(), angles.cos()], dim=-1)


class _TokenFeedForward(nn.Module):
    """A transformer block without its attention (the "w/o SelfAtt" ablation): x + FF(x), LayerNorm; per token."""

    def __init__(self, dim: int, ff_dim: int, dropout: float) -> None:
        super().__init__()
        self.ff = nn.Sequential(nn.Linear(dim, ff_dim), nn.ReLU(), nn.Dropout(dropout), nn.Linear(ff_dim, dim))
        self.dropout = nn.Dropout(dropout)
        self.norm = nn.LayerNorm(dim)

    def forward(self, tokens: Tensor) -> Tensor:
        return self.norm(tokens + self.dropout(self.ff(tokens)))


def _embedding_mlp(in_dim: int, hidden_dim: int, out_dim: int) -> nn.Sequential:
    # S.4.3: two fully connected layers, Swish (SiLU) after the first.
    return nn.Sequential(nn.Linear(in_dim, hidden_dim), nn.SiLU(), nn.Linear(hidden_dim, out_dim))


class Denoiser(nn.Module):
    """Transformer-over-tokens + skip-connected MLP decoder that predicts x_0 (S.4.3).

    forward(x_t (B, 64), t (B,) long, cond (B, 64), cond_mask (B,) bool,
            object_embedding (B, object_embedding_dim) | None) -> x_0 (B, 64)

    All inputs are in normalised units (representation.Normalizer) and right-hand space.
    """

    def __init__(self, config: DenoiserConfig) -> None:
        super().__init__()
        self.config = config
        c = config
        x_dim = c.hand_dim * c.num_hands  # 128 for the joint (w/o Decomposition) baseline
        self.embed_x = _embedding_mlp(x_dim, c.hidden_dim, c.embed_dim)
        self.embed_cond = _embedding_mlp(c.hand_dim, c.hidden_dim, c.embed_dim)
        self.embed_time = _embedding_mlp(c.embed_dim, c.hidden_dim, c.embed_dim)
        # The null condition of classifier-free guidance (Algorithm 1 step 5) as a learned token.
        self.null_token = nn.Parameter(torch.randn(c.embed_dim) * 0.02)
        self.embed_object = nn.Linear(c.object_embedding_dim, c.embed_dim) if c.object_embedding_dim > 0 else None
        self.num_tokens = 4 if self.embed_object is not None else 3

        block = nn.TransformerEncoderLayer(
            d_model=c.embed_dim,
            nhead=c.num_heads,
            dim_feedforward=c.ff_dim,
            dropout=c.dropout,
            activation="relu",
            batch_first=True,
        )
        self.encoder: nn.Module
        if c.self_attention:
            # Nested tensors only help with padding masks; we have none, and they warn on eval.
            self.encoder = nn.TransformerEncoder(block, num_layers=c.num_layers, enable_nested_tensor=False)
        else:
            self.encoder = nn.Sequential(
                *(_TokenFeedForward(c.embed_dim, c.ff_dim, c.dropout) for _ in range(c.num_layers))
            )
        self.to_global = nn.Linear(self.num_tokens * c.embed_dim, c.hidden_dim)

        # Every decoder layer sees [h, emb_xl, emb_t, (emb_O)]; the 1st, 3rd, ... also emb_xt.
        cond_width = (self.num_tokens - 1) * c.embed_dim
        layers = []
        for i in range(c.decoder_layers):
            in_dim = c.hidden_dim + cond_width + (c.embed_dim if i % 2 == 0 else 0)
            out_dim = x_dim if i == c.decoder_layers - 1 else c.hidden_dim
            layers.append(nn.Linear(in_dim, out_dim))
        self.decoder = nn.ModuleList(layers)

    def forward(
        self,
        x_t: Tensor,
        t: Tensor,
        cond: Tensor,
        cond_mask: Tensor,
        object_embedding: Tensor | None = None,
    ) -> Tensor:
        """x_t (B, 64 num_hands), t (B,) long in [0, T), cond (B, 64), cond_mask (B,) bool (False = drop cond),
        object_embedding (B, E) or None -> predicted x_0 (B, 64 num_hands)."""
        hand_dim = self.config.hand_dim
        x_dim = hand_dim * self.config.num_hands
        if x_t.ndim != 2 or x_t.shape[-1] != x_dim or cond.ndim != 2 or cond.shape[-1] != hand_dim:
            raise ValueError(
                f"x_t must be (B, {x_dim}) and cond (B, {hand_dim}), got {tuple(x_t.shape)} and {tuple(cond.shape)}"
            )
        if (object_embedding is None) != (self.embed_object is None):
            expected = "an object_embedding" if self.embed_object is not None else "no object_embedding"
            raise ValueError(
                f"this denoiser (object_embedding_dim={self.config.object_embedding_dim}) takes {expected}"
            )

        emb_x = self.embed_x(x_t)
        keep = cond_mask[:, None]
        # Zero the dropped rows first so that NaN/Inf placeholders there cannot reach the gradients.
        cond = torch.where(keep, cond, torch.zeros_like(cond))
        emb_cond = torch.where(keep, self.embed_cond(cond), self.null_token.to(emb_x.dtype))
        emb_t = self.embed_time(sinusoidal_time_embedding(t, self.config.embed_dim).to(emb_x.dtype))
        conditions = [emb_cond, emb_t]
        if self.embed_object is not None and object_embedding is not None:
            conditions.append(self.embed_object(object_embedding))

        tokens = torch.stack([emb_x, *conditions], dim=1)  # (B, n_tokens, embed_dim)
        tokens = self.encoder(tokens)
        h = self.to_global(tokens.flatten(1))  # emb_glo

        skip = torch.cat(conditions, dim=-1)
        skip_with_x = torch.cat([skip, emb_x], dim=-1)
        last = len(self.decoder) - 1
        for i, layer in enumerate(self.decoder):
            h = layer(torch.cat([h, skip_with_x if i % 2 == 0 else skip], dim=-1))
            if i < last:
                h = torch.relu(h)
        return h

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())


class SeparateDenoisers(nn.Module):
    """The "w/o Shared Network" baseline (Table 1a): one network for p(x), another for p(x_r | x_l).

    forward has Denoiser's signature; rows whose cond_mask is False go to ``unconditional``
    (trained with p_uncond = 1), the others to ``conditional`` (p_uncond = 0). CFG's
    unconditional half thus comes from the unconditional network, as in Ho and Salimans' two-model form.
    """

    def __init__(self, unconditional: Denoiser, conditional: Denoiser) -> None:
        super().__init__()
        if unconditional.config.object_embedding_dim or conditional.config.object_embedding_dim:
            raise ValueError("separate networks are a two-hand baseline without an object")
        self.unconditional = unconditional
        self.conditional = conditional
        self.config = conditional.config

    def forward(
        self, x_t: Tensor, t: Tensor, cond: Tensor, cond_mask: Tensor, object_embedding: Tensor | None = None
    ) -> Tensor:
        out = torch.empty_like(x_t)
        keep = cond_mask.nonzero().flatten()
        drop = (~cond_mask).nonzero().flatten()
        if keep.numel():
            out[keep] = self.conditional(x_t[keep], t[keep], cond[keep], cond_mask[keep])
        if drop.numel():
            out[drop] = self.unconditional(x_t[drop], t[drop], cond[drop], cond_mask[drop])
        return out
