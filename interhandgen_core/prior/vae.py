"""The VAE baseline of Table 1 (a two-hand prior after Zuo et al., supplementary S.4.4): both hands as one vector.

Notation:
    x         (B, 128)  [anchor, other]: the normalised hand vectors of prior/representation.py
                        (the anchor Gamma-mirrored and canonical, the other hand in its frame)
    z         (B, latent_dim) latent, prior N(0, I)
    q(z | x)  encoder MLP -> (mu, log sigma^2); decoder MLP z -> x_hat
    loss      |x_hat - x|^2 (mean over the numbers that carry information: the anchor's root is
              canonical, so its 9 numbers are left out as in the diffusion loss) + kl_weight KL(q || N(0, I))

S.4.4: the VAE's feature width was raised from 128 to 256 and its encoder from 4 to 5 layers;
those are the defaults. Sampling decodes z ~ N(0, I); no guidance (the baseline has none).
Checkpoints: NAME.safetensors (weights, normaliser) + NAME.json (VaeConfig, training figures).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file
from torch import Tensor, nn

from interhandgen_core.config import ConfigBase, setting
from interhandgen_core.errors import CheckpointError, ConfigError
from interhandgen_core.hands.hand_params import HAND_DIM, ROOT, HandParams
from interhandgen_core.prior.representation import Normalizer, pair_from_vectors

FORMAT_NAME = "interhandgen-vae"
FORMAT_VERSION = 1


@dataclass(frozen=True)
class VaeConfig(ConfigBase):
    """latent_dim; hidden_dim: width of every hidden layer; encoder_layers, decoder_layers: hidden layers each."""

    latent_dim: int = setting(32, low=1, help="size of the latent z")
    hidden_dim: int = setting(256, low=1, help="width of every hidden layer")
    encoder_layers: int = setting(5, low=1, help="hidden layers of the encoder")
    decoder_layers: int = setting(5, low=1, help="hidden layers of the decoder")
    kl_weight: float = setting(1e-3, low=0.0, high=1e3, help="weight of the KL term of the loss")


def _mlp(in_dim: int, hidden: int, layers: int, out_dim: int) -> nn.Sequential:
    modules: list[nn.Module] = []
    for _ in range(layers):
        modules += [nn.Linear(in_dim, hidden), nn.SiLU()]
        in_dim = hidden
    modules.append(nn.Linear(in_dim, out_dim))
    return nn.Sequential(*modules)


class TwoHandVae(nn.Module):
    """forward(x (B, 128)) -> (x_hat (B, 128), mu (B, L), logvar (B, L)); decode(z (B, L)) -> (B, 128)."""

    def __init__(self, config: VaeConfig, normalizer: Normalizer | None = None) -> None:
        super().__init__()
        self.config = config
        self.normalizer = normalizer or Normalizer()
        self.encoder = _mlp(2 * HAND_DIM, config.hidden_dim, config.encoder_layers, 2 * config.latent_dim)
        self.decoder = _mlp(config.latent_dim, config.hidden_dim, config.decoder_layers, 2 * HAND_DIM)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        mu, logvar = self.encoder(x).chunk(2, dim=-1)
        z = mu + torch.randn_like(mu) * (0.5 * logvar).exp()  # reparameterisation
        return self.decoder(z), mu, logvar

    def decode(self, z: Tensor) -> Tensor:
        return self.decoder(z)

    @torch.no_grad()
    def sample(self, num: int, generator: torch.Generator) -> tuple[HandParams, HandParams]:
        """num two-hand samples -> (left, right) in the left hand's canonical frame."""
        z = torch.randn(num, self.config.latent_dim, generator=generator)
        x = self.decode(z)
        return pair_from_vectors(self.normalizer, x[:, :HAND_DIM], x[:, HAND_DIM:])


def vae_loss(vae: TwoHandVae, x: Tensor) -> Tensor:
    """x (B, 128) normalised -> scalar loss (module docstring)."""
    x_hat, mu, logvar = vae(x)
    weight = torch.ones_like(x)
    weight[:, ROOT] = 0.0  # the anchor's canonical root carries nothing
    reconstruction = ((x_hat - x).square() * weight).sum() / weight.sum()
    kl = -0.5 * (1 + logvar - mu.square() - logvar.exp()).sum(-1).mean() / x.shape[1]
    return reconstruction + vae.config.kl_weight * kl


def save_vae(path: str | Path, vae: TwoHandVae, extra: dict[str, Any] | None = None) -> Path:
    stem = Path(path).with_suffix("")
    stem.parent.mkdir(parents=True, exist_ok=True)
    weights = stem.with_suffix(".safetensors")
    save_file({k: v.detach().cpu().contiguous() for k, v in vae.state_dict().items()}, str(weights))
    meta = {"format": FORMAT_NAME, "format_version": FORMAT_VERSION, "vae": vae.config.to_dict(), **(extra or {})}
    stem.with_suffix(".json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    return weights


def is_vae_checkpoint(path: str | Path) -> bool:
    """True when NAME.json beside ``path`` says it is a VAE of this format."""
    meta_path = Path(path).with_suffix(".json")
    try:
        return json.loads(meta_path.read_text(encoding="utf-8")).get("format") == FORMAT_NAME
    except (OSError, ValueError, AttributeError):
        return False


def load_vae(path: str | Path) -> TwoHandVae:
    """Read save_vae's files; CheckpointError naming the file for anything missing or wrong."""
    stem = Path(path).with_suffix("")
    weights, meta_path = stem.with_suffix(".safetensors"), stem.with_suffix(".json")
    if not weights.is_file() or not meta_path.is_file():
        raise CheckpointError(f"{stem}: a VAE checkpoint is NAME.safetensors plus NAME.json; one is missing")
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        if meta.get("format") != FORMAT_NAME:
            raise CheckpointError(f'{meta_path}: not a VAE checkpoint (no "format": "{FORMAT_NAME}")')
        config = VaeConfig.from_dict(meta["vae"])
        with safe_open(str(weights), framework="pt", device="cpu") as handle:
            tensors = {key: handle.get_tensor(key) for key in handle.keys()}
        vae = TwoHandVae(config)
        vae.load_state_dict(tensors, strict=True)
    except (OSError, ValueError, KeyError, RuntimeError, SafetensorError, ConfigError) as exc:
        if isinstance(exc, CheckpointError):
            raise
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(f"{weights}: unreadable VAE checkpoint ({first})") from None
    return vae.eval()
