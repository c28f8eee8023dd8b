"""TwoHandPipeline: two interacting hands from a two-hand prior (Algorithm 2), without an object.

>>> model = TwoHandPipeline.from_pretrained()          # the shipped small prior
>>> samples = model.sample(16, seed=0)                 # TwoHandSamples
>>> samples.left_vertices.shape                        # (16, V, 3), metres, left hand's canonical frame

``InterHandGen.from_pretrained()`` (pipelines/interhandgen.py) returns the same for a two-hand
checkpoint. An object-conditioned checkpoint is refused here: GraspPipeline (pipelines/grasp.py)
samples it.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import torch

from interhandgen_core.errors import ConfigError
from interhandgen_core.hands.hand_params import HAND_DIM, HandParams
from interhandgen_core.hands.layer import HandLayer
from interhandgen_core.hands.loading import load_hand_pair
from interhandgen_core.io.hands_file import HandsFile, hands_file_from_params
from interhandgen_core.pipelines.prior_pipeline import PriorPipeline, resolve_device
from interhandgen_core.pipelines.samples import TwoHandSamples
from interhandgen_core.pipelines.shipped_priors import default_checkpoint
from interhandgen_core.prior.checkpoint import load_prior
from interhandgen_core.prior.denoiser import SeparateDenoisers


class TwoHandPipeline(PriorPipeline):
    """A two-hand prior (no object encoder), its hand model and denoiser backend: samples two-hand interactions."""

    object_conditioned = False

    @classmethod
    def shipped_checkpoint(cls) -> Path:
        return default_checkpoint()

    @classmethod
    def wrong_prior(cls, source: str) -> str:
        # Phrased for every caller (library, command line, ROS): no function or option names.
        return (
            f"{source} is an object-conditioned prior (it proposes grasps of an object); sampling two hands and "
            "refining them need a two-hand prior, such as the shipped one (used when no checkpoint is given)"
        )

    @classmethod
    def from_separate(
        cls,
        unconditional: str | Path,
        conditional: str | Path,
        device: str | torch.device = "cpu",
        mano_dir: str | Path | None = None,
    ) -> TwoHandPipeline:
        """The "w/o Shared Network" baseline: an unconditional and a conditional prior trained apart
        (p_uncond 1 and 0), sampled as one cascade (prior/denoiser.py, SeparateDenoisers)."""
        resolved = resolve_device(device)
        first = load_prior(unconditional, map_location=resolved)
        second = load_prior(conditional, map_location=resolved)
        if not torch.allclose(first.normalizer.mean, second.normalizer.mean) or not torch.allclose(
            first.normalizer.std, second.normalizer.std
        ):
            raise ConfigError(
                f"{unconditional} and {conditional} were trained on different data (their normalisers differ)"
            )
        if first.model_config.num_hands != 1 or second.model_config.num_hands != 1:
            raise ConfigError("separate networks are two one-hand priors (model.num_hands 1)")
        prior = replace(second, denoiser=SeparateDenoisers(first.denoiser, second.denoiser))  # type: ignore[arg-type]
        right, left = load_hand_pair(str(second.metadata.get("hand_model", "procedural")), mano_dir)
        return cls(prior, HandLayer(right), HandLayer(left), resolved)

    def sample(
        self,
        num: int,
        seed: int = 0,
        ddim_steps: int | None = None,
        cfg_weight: float | None = None,
        penetration_guidance_weight: float | None = None,
        batch_size: int = 256,
    ) -> TwoHandSamples:
        """Draw ``num`` two-hand interactions in the left hand's canonical frame; arguments left None keep
        the paper's defaults (SamplerConfig). ``batch_size``: samples per cascade run (memory)."""
        config = self._sampler_config(
            num,
            batch_size,
            ddim_steps=ddim_steps,
            cfg_weight=cfg_weight,
            penetration_guidance_weight=penetration_guidance_weight,
        )
        left, right = self._sample_hands(self.sampler(config), num, seed, batch_size)
        return self._samples_of(left, right)

    def sample_partners(
        self,
        left: HandParams,
        seed: int = 0,
        ddim_steps: int | None = None,
        cfg_weight: float | None = None,
        penetration_guidance_weight: float | None = None,
        batch_size: int = 256,
    ) -> TwoHandSamples:
        """A right hand for each given left hand (N, any frame), in the same frame: the cascade's second stage
        alone (Algorithm 2 lines 11-22), e.g. a partner for a tracked hand, or the diagnosis of which stage
        bounds fidelity (README "What bounds fidelity"). Other arguments as ``sample``."""
        config = self._sampler_config(
            left.batch_size,
            batch_size,
            ddim_steps=ddim_steps,
            cfg_weight=cfg_weight,
            penetration_guidance_weight=penetration_guidance_weight,
        )
        sampler = self.sampler(config)
        generator = torch.Generator().manual_seed(seed)
        left = left.to(self.device)
        rights = []
        for start in range(0, left.batch_size, batch_size):  # memory chunks; each chunk is one batch
            given = left.select(slice(start, start + batch_size))
            noise = torch.randn(given.batch_size, HAND_DIM, generator=generator).to(self.device)
            rights.append(sampler.sample_partners_from_noise(given, noise))
        return self._samples_of(left, HandParams.cat(rights))

    def _samples_of(self, left: HandParams, right: HandParams) -> TwoHandSamples:
        with torch.no_grad():
            lo = self.left_layer(left)
            ro = self.right_layer(right)
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
        """TwoHandSamples -> the hands-file schema (README "Conventions")."""
        return hands_file_from_params(self.left_layer, self.right_layer, samples.left, samples.right)
