"""What both pipelines share: a loaded prior, its hand model and a denoiser backend on one device.

    resolve_device("auto")                    -> torch.device, refusing CUDA where there is none
    load_pretrained(path, device, mano_dir)   -> the prior, its right and left hand layers, the device
    PriorPipeline                             the base of TwoHandPipeline (pipelines/two_hand.py) and
                                              GraspPipeline (pipelines/grasp.py): loading, the backend,
                                              the sampler, and N samples drawn in memory chunks

Each batch of the cascade (prior/sampler.py) goes to the backend as one callable over tensors
(``DenoiserBackend.run_captured``): the eager and the exported backends simply call it; the
CUDA-graph backend (runtime/cuda_graph.py) captures it once per key and replays it. The
callable runs a copy of the sampler (of the same class: a JointSampler stays a JointSampler)
around ``backend.capturable_denoiser``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import replace
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import torch
from torch import Tensor

from interhandgen_core.errors import ConfigError
from interhandgen_core.hands.hand_params import HandParams
from interhandgen_core.hands.layer import HandLayer
from interhandgen_core.hands.loading import load_hand_pair
from interhandgen_core.prior.checkpoint import LoadedPrior, load_prior
from interhandgen_core.prior.configuration import SamplerConfig
from interhandgen_core.prior.sampler import CascadedSampler, JointSampler, ObjectCondition, StopHook, check_stop
from interhandgen_core.prior.schedule import DiffusionSchedule
from interhandgen_core.runtime.backend import DenoiserBackend
from interhandgen_core.runtime.configuration import BackendConfig
from interhandgen_core.runtime.factory import create_backend

PipelineT = TypeVar("PipelineT", bound="PriorPipeline")


def resolve_device(device: str | torch.device) -> torch.device:
    """'cpu', 'cuda', 'cuda:N' or 'auto' -> torch.device; refuses CUDA where there is none."""
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except RuntimeError:
        raise ConfigError(f"unknown device {str(device)!r}; use cpu, cuda, cuda:N or auto") from None
    if resolved.type == "cuda" and not torch.cuda.is_available():
        # Phrased for every caller: the command line's option, the ROS parameter and the argument are all "device".
        raise ConfigError(f"device '{device}' requested but this machine has no CUDA device; use device cpu (or auto)")
    return resolved


def load_pretrained(
    path: str | Path, device: str | torch.device = "cpu", mano_dir: str | Path | None = None
) -> tuple[LoadedPrior, HandLayer, HandLayer, torch.device]:
    """A checkpoint -> (prior on the device, right layer, left layer, the device); the hand model is the one
    the checkpoint names (metadata "hand_model": procedural, or MANO from ``mano_dir``)."""
    resolved = resolve_device(device)
    prior = load_prior(path, map_location=resolved)
    right, left = load_hand_pair(str(prior.metadata.get("hand_model", "procedural")), mano_dir)
    return prior, HandLayer(right), HandLayer(left), resolved


class PriorPipeline(ABC):
    """A loaded prior with its hand model and a runtime backend for its denoiser, ready to sample.

    Subclasses say which priors they take (``object_conditioned``), which one is shipped, and
    what to tell a user who brings the other kind.
    """

    object_conditioned: ClassVar[bool]

    def __init__(
        self,
        prior: LoadedPrior,
        right_layer: HandLayer,
        left_layer: HandLayer,
        device: torch.device,
        backend: BackendConfig | None = None,
    ) -> None:
        if prior.object_conditioned != self.object_conditioned:
            raise ConfigError(self.wrong_prior("this prior"))
        self.prior = prior
        self.device = device
        self.denoiser = prior.denoiser.to(device).eval()
        self.normalizer = prior.normalizer.to(device)
        self.schedule = DiffusionSchedule(prior.diffusion_config)
        self.right_layer = right_layer.to(device)
        self.left_layer = left_layer.to(device)
        self.sampler_config = SamplerConfig()
        self.backend: DenoiserBackend = create_backend(self.denoiser, device, backend)

    @classmethod
    @abstractmethod
    def shipped_checkpoint(cls) -> Path:
        """The checkpoint ``from_pretrained()`` loads when given no path."""

    @classmethod
    @abstractmethod
    def wrong_prior(cls, source: str) -> str:
        """The error message for a prior of the other kind; ``source`` names it (a path, or "this prior")."""

    @classmethod
    def from_pretrained(
        cls: type[PipelineT],
        path: str | Path | None = None,
        device: str | torch.device = "cpu",
        mano_dir: str | Path | None = None,
        backend: BackendConfig | None = None,
    ) -> PipelineT:
        """Load a checkpoint (the shipped one when ``path`` is None), its hand model, and the denoiser's
        runtime backend (torch eager when ``backend`` is None; runtime/backend.py).

        Raises ConfigError, naming the other pipeline, for a prior of the other kind.
        """
        source = cls.shipped_checkpoint() if path is None else Path(path)
        prior, right, left, resolved = load_pretrained(source, device, mano_dir)
        if prior.object_conditioned != cls.object_conditioned:
            raise ConfigError(cls.wrong_prior(str(source)))
        return cls(prior, right, left, resolved, backend)

    def use_backend(self, config: BackendConfig) -> DenoiserBackend:
        """Run the denoiser with another backend from now on (the previous one is closed)."""
        backend = create_backend(self.denoiser, self.device, config)
        self.backend.close()
        self.backend = backend
        return backend

    def close(self) -> None:
        """Free the backend's resources (sessions, engines, graphs)."""
        self.backend.close()

    def _denoise(
        self, x_t: Tensor, t: Tensor, cond: Tensor, cond_mask: Tensor, object_embedding: Tensor | None
    ) -> Tensor:
        return self.backend(x_t, t, cond, cond_mask, object_embedding)

    def sampler(self, config: SamplerConfig | None = None, should_stop: StopHook | None = None) -> CascadedSampler:
        """Algorithm 2's cascade, or the joint baseline's sampler for a model over both hands (num_hands 2).

        ``should_stop``: the caller's cancel hook (prior/sampler.py), asked between denoising steps.
        """
        kind = JointSampler if self.prior.model_config.num_hands == 2 else CascadedSampler
        return kind(
            self._denoise,
            self.schedule,
            self.normalizer,
            self.right_layer,
            self.left_layer,
            config or self.sampler_config,
            should_stop,
        )

    def _sampler_config(self, num: int, batch_size: int, **overrides: float | str | None) -> SamplerConfig:
        """self.sampler_config with the SamplerConfig fields given (not None) replaced; refuses num or batch_size < 1."""
        if num < 1 or batch_size < 1:
            raise ConfigError(f"num and batch_size must be >= 1, got num={num}, batch_size={batch_size}")
        given: dict[str, Any] = {name: value for name, value in overrides.items() if value is not None}
        return replace(self.sampler_config, **given)

    def _sample_hands(
        self, sampler: CascadedSampler, num: int, seed: int, batch_size: int, obj: ObjectCondition | None = None
    ) -> tuple[HandParams, HandParams]:
        """``num`` (left, right) pairs from the cascade, in batches of at most ``batch_size`` (memory chunks).

        The sampler's cancel hook (``should_stop``) is asked before each batch and, where the backend does
        not capture the cascade (every backend but cuda-graph), before each denoising step; errors.Cancelled
        when it says to stop.
        """
        generator = torch.Generator().manual_seed(seed)
        limit = self.backend.max_batch
        if limit is not None:
            # CFG doubles the denoiser batch (cond and uncond in one call).
            if limit < 2:
                raise ConfigError(
                    f"the {self.backend.name} backend's max_batch {limit} is below the 2 one CFG call needs"
                )
            batch_size = min(batch_size, limit // 2)
        lefts, rights = [], []
        for start in range(0, num, batch_size):  # memory chunks; each chunk is one batch
            check_stop(sampler.should_stop, f"before sample {start + 1} of {num}")
            left, right = self._cascade(sampler, min(batch_size, num - start), generator, obj)
            lefts.append(left)
            rights.append(right)
        return HandParams.cat(lefts), HandParams.cat(rights)

    def _cascade(
        self, sampler: CascadedSampler, num: int, generator: torch.Generator, obj: ObjectCondition | None
    ) -> tuple[HandParams, HandParams]:
        """One batch through the cascade, as one callable run by the backend (a CUDA-graph backend replays it)."""
        anchor_noise, other_noise = sampler.draw_noise(num, generator, self.device)
        # A backend that captures the cascade (cuda-graph: its capturable denoiser is another object) replays
        # it without returning to Python: the cancel hook is asked between batches only, never in a capture.
        captures = self.backend.capturable_denoiser is not self.backend
        inner = sampler.with_denoise(self.backend.capturable_denoiser, keep_stop=not captures)
        inner.timestep_pairs(self.device)  # made before a capture: it copies to the device
        inputs = [anchor_noise, other_noise]
        band = None
        distance = None
        if obj is not None:
            inputs += [obj.embedding, obj.mirrored_embedding, obj.points, obj.normals]
            band = obj.penetration_band
            distance = obj.distance  # the cloud's k-d tree, built once with the condition (CPU only)

        def cascade(*args: Tensor) -> list[Tensor]:
            condition = None if band is None else ObjectCondition(args[2], args[3], args[4], args[5], band, distance)
            left, right = inner.sample_from_noise(args[0], args[1], condition)
            return [
                tensor for hand in (left, right) for tensor in (hand.pose, hand.betas, hand.rotation, hand.translation)
            ]

        # What the cascade freezes besides its inputs' shapes (the backend adds those).
        key = ("cascade", type(sampler).__qualname__, sampler.config, id(self.right_layer), band)
        outputs = self.backend.run_captured(key, cascade, inputs)
        return HandParams(*outputs[:4]), HandParams(*outputs[4:])
