"""InterHandGen: the trained two-hand prior behind one object, as users call it.

>>> from interhandgen_core import InterHandGen
>>> model = InterHandGen.from_pretrained()          # the shipped small prior
>>> samples = model.sample(16, seed=0)              # TwoHandSamples
>>> samples.left_vertices.shape                     # (16, V, 3), metres
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from interhandgen_core.errors import ConfigError
from interhandgen_core.evaluation.interaction import InteractionStatistics, interaction_statistics, measure_interaction
from interhandgen_core.hands.layer import HandLayer
from interhandgen_core.hands.loading import load_hand_pair
from interhandgen_core.io.hands_file import HandsFile, hands_file_from_params
from interhandgen_core.prior.checkpoint import LoadedPrior, load_prior
from interhandgen_core.prior.configuration import SamplerConfig
from interhandgen_core.prior.representation import HandParams
from interhandgen_core.prior.sampler import CascadedSampler
from interhandgen_core.prior.schedule import DiffusionSchedule

DEFAULT_CHECKPOINT_NAME = "twohand_small.safetensors"


def default_checkpoint() -> Path:
    """Path of the shipped two-hand prior (small preset, procedural hand)."""
    return Path(str(resources.files("interhandgen_core") / "assets" / DEFAULT_CHECKPOINT_NAME))


def resolve_device(device: str | torch.device) -> torch.device:
    """'cpu', 'cuda', 'cuda:N' or 'auto' -> torch.device; refuses CUDA where there is none."""
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except RuntimeError:
        raise ConfigError(f"unknown device {str(device)!r}; use cpu, cuda, cuda:N or auto") from None
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device '{device}' requested but this machine has no CUDA device; use --device cpu")
    return resolved


@dataclass
class TwoHandSamples:
    """N two-hand samples in the left hand's canonical frame (metres)."""

    left: HandParams
    right: HandParams
    left_vertices: Tensor  # (N, V, 3)
    right_vertices: Tensor  # (N, V, 3)
    left_keypoints: Tensor  # (N, 21, 3)
    right_keypoints: Tensor  # (N, 21, 3)
    left_faces: Tensor  # (F, 3)
    right_faces: Tensor  # (F, 3)

    def statistics(self) -> InteractionStatistics:
        depth, gap = measure_interaction(self.left_vertices, self.left_faces, self.right_vertices, self.right_faces)
        return interaction_statistics(depth, gap)


class InterHandGen:
    """A loaded two-hand prior with its hand model, ready to sample."""

    def __init__(self, prior: LoadedPrior, right_layer: HandLayer, left_layer: HandLayer, device: torch.device) -> None:
        self.prior = prior
        self.device = device
        self.denoiser = prior.denoiser.to(device).eval()
        self.normalizer = prior.normalizer.to(device)
        self.schedule = DiffusionSchedule(prior.diffusion_config)
        self.right_layer = right_layer.to(device)
        self.left_layer = left_layer.to(device)
        self.sampler_config = SamplerConfig()

    @classmethod
    def from_pretrained(
        cls, path: str | Path | None = None, device: str | torch.device = "cpu", mano_dir: str | Path | None = None
    ) -> InterHandGen:
        """Load a checkpoint (the shipped default when ``path`` is None) and its hand model."""
        resolved = resolve_device(device)
        prior = load_prior(default_checkpoint() if path is None else Path(path), map_location=resolved)
        hand_kind = str(prior.metadata.get("hand_model", "procedural"))
        right, left = load_hand_pair(hand_kind, mano_dir)
        return cls(prior, HandLayer(right), HandLayer(left), resolved)

    def _denoise(
        self, x_t: Tensor, t: Tensor, cond: Tensor, cond_mask: Tensor, object_embedding: Tensor | None
    ) -> Tensor:
        return self.denoiser(x_t, t, cond, cond_mask, object_embedding)

    def sampler(self, config: SamplerConfig | None = None) -> CascadedSampler:
        return CascadedSampler(
            self._denoise,
            self.schedule,
            self.normalizer,
            self.right_layer,
            self.left_layer,
            config or self.sampler_config,
        )

    def sample(
        self,
        num: int,
        seed: int = 0,
        ddim_steps: int | None = None,
        cfg_weight: float | None = None,
        penetration_weight: float | None = None,
        batch_size: int = 256,
    ) -> TwoHandSamples:
        """Draw ``num`` two-hand interactions; arguments left None keep the paper's defaults (SamplerConfig)."""
        if num < 1 or batch_size < 1:
            raise ConfigError(f"num and batch_size must be >= 1, got num={num}, batch_size={batch_size}")
        overrides: dict[str, Any] = {}
        if ddim_steps is not None:
            overrides["ddim_steps"] = ddim_steps
        if cfg_weight is not None:
            overrides["cfg_weight"] = cfg_weight
        if penetration_weight is not None:
            overrides["penetration_weight"] = penetration_weight
        sampler = self.sampler(replace(self.sampler_config, **overrides))
        generator = torch.Generator().manual_seed(seed)
        lefts, rights = [], []
        for start in range(0, num, batch_size):  # memory chunks; each chunk is one batch
            left, right = sampler.sample(min(batch_size, num - start), generator, self.device)
            lefts.append(left)
            rights.append(right)
        left, right = HandParams.cat(lefts), HandParams.cat(rights)
        with torch.no_grad():
            lo = self.left_layer(left.pose, left.betas, left.rotation, left.translation)
            ro = self.right_layer(right.pose, right.betas, right.rotation, right.translation)
        return TwoHandSamples(
            left,
            right,
            lo.vertices,
            ro.vertices,
            lo.keypoints,
            ro.keypoints,
            self.left_layer.faces,
            self.right_layer.faces,
        )

    def to_hands_file(self, samples: TwoHandSamples) -> HandsFile:
        """TwoHandSamples -> the hands-file schema (DESIGN section 9)."""
        return hands_file_from_params(self.left_layer, self.right_layer, samples.left, samples.right)
