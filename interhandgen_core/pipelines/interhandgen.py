"""InterHandGen: the trained two-hand prior behind one object, as users call it.

>>> from interhandgen_core import InterHandGen
>>> model = InterHandGen.from_pretrained()          # the shipped small prior
>>> samples = model.sample(16, seed=0)              # TwoHandSamples
>>> samples.left_vertices.shape                     # (16, V, 3), metres

With an object (paper 3.6), from the object-conditioned prior:

>>> model = InterHandGen.from_pretrained(default_object_checkpoint())
>>> grasps = model.sample(32, object_points=cloud)  # cloud: (P, 3) metres, any frame with z up
>>> grasps.ranked().scores                          # best first; hands in the cloud's frame
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import torch
from numpy.typing import ArrayLike
from torch import Tensor

from interhandgen_core.contact.grasp_measures import GraspFigures, cloud_signed_distance, measure_grasps
from interhandgen_core.contact.interaction import InteractionStatistics, interaction_statistics, measure_interaction
from interhandgen_core.contact.settling import settle_translations
from interhandgen_core.errors import ConfigError, DataError
from interhandgen_core.geometry.mirroring import mirror_points
from interhandgen_core.geometry.normals import normal_imbalance
from interhandgen_core.hands.hand_params import HandParams
from interhandgen_core.hands.layer import HandLayer
from interhandgen_core.hands.loading import load_hand_pair
from interhandgen_core.io.hands_file import HandsFile, hands_file_from_params
from interhandgen_core.pipelines.sensor_cloud import (
    CloudPreprocessConfig,
    PreparedCloud,
    preprocess_cloud,
    resample_points,
)
from interhandgen_core.prior.checkpoint import LoadedPrior, load_prior
from interhandgen_core.prior.configuration import SamplerConfig
from interhandgen_core.prior.denoiser import SeparateDenoisers
from interhandgen_core.prior.sampler import CascadedSampler, JointSampler, ObjectCondition
from interhandgen_core.prior.schedule import DiffusionSchedule
from interhandgen_core.runtime.backend import DenoiserBackend
from interhandgen_core.runtime.configuration import BackendConfig
from interhandgen_core.runtime.cuda_graph import CudaGraphBackend
from interhandgen_core.runtime.factory import create_backend

DEFAULT_CHECKPOINT_NAME = "twohand_small.safetensors"
DEFAULT_OBJECT_CHECKPOINT_NAME = "twohand_object_small.safetensors"


def default_checkpoint() -> Path:
    """Path of the shipped two-hand prior (small preset, procedural hand)."""
    return Path(str(resources.files("interhandgen_core") / "assets" / DEFAULT_CHECKPOINT_NAME))


def default_object_checkpoint() -> Path:
    """Path of the shipped object-conditioned two-hand prior (small preset, procedural hand)."""
    return Path(str(resources.files("interhandgen_core") / "assets" / DEFAULT_OBJECT_CHECKPOINT_NAME))


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


@dataclass
class GraspSamples(TwoHandSamples):
    """N bimanual grasps of one object, in the frame of the input cloud (metres).

    ``object_points`` / ``object_normals`` (P, 3) are the preprocessed cloud the hands were
    guided against and measured on, input frame; ``figures`` holds per-grasp estimates
    against that cloud (contact/grasp_measures.py); ``cloud`` says what preprocessing did.
    """

    object_points: Tensor
    object_normals: Tensor
    figures: GraspFigures
    cloud: PreparedCloud

    @property
    def scores(self) -> Tensor:
        """(N,) in [0, 1], higher is better (contact/grasp_measures.py)."""
        return self.figures.score

    def ranked(self) -> GraspSamples:
        """The same grasps, best score first."""
        order = torch.argsort(self.scores, descending=True, stable=True)
        per_grasp = {
            f.name: getattr(self, f.name)[order]
            for f in fields(TwoHandSamples)
            if f.name not in ("left", "right", "left_faces", "right_faces")
        }
        return replace(
            self,
            left=self.left.select(order),
            right=self.right.select(order),
            figures=self.figures.select(order),
            **per_grasp,
        )


class InterHandGen:
    """A loaded two-hand prior with its hand model and a runtime backend for its denoiser, ready to sample."""

    def __init__(
        self,
        prior: LoadedPrior,
        right_layer: HandLayer,
        left_layer: HandLayer,
        device: torch.device,
        backend: BackendConfig | None = None,
    ) -> None:
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
    def from_pretrained(
        cls,
        path: str | Path | None = None,
        device: str | torch.device = "cpu",
        mano_dir: str | Path | None = None,
        backend: BackendConfig | None = None,
    ) -> InterHandGen:
        """Load a checkpoint (the shipped default when ``path`` is None), its hand model, and the
        denoiser's runtime backend (torch eager when ``backend`` is None; runtime/backend.py)."""
        resolved = resolve_device(device)
        prior = load_prior(default_checkpoint() if path is None else Path(path), map_location=resolved)
        hand_kind = str(prior.metadata.get("hand_model", "procedural"))
        right, left = load_hand_pair(hand_kind, mano_dir)
        return cls(prior, HandLayer(right), HandLayer(left), resolved, backend)

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

    def _cascade(
        self, sampler: CascadedSampler, num: int, generator: torch.Generator, obj: ObjectCondition | None
    ) -> tuple[HandParams, HandParams]:
        """One batch through the cascade; a CUDA-graph backend replays the whole loop as one graph."""
        anchor_noise, other_noise = sampler.draw_noise(num, generator, self.device)
        if isinstance(self.backend, CudaGraphBackend):
            return self.backend.run_cascade(sampler, anchor_noise, other_noise, obj)
        return sampler.sample_from_noise(anchor_noise, other_noise, obj)

    @classmethod
    def from_separate(
        cls,
        unconditional: str | Path,
        conditional: str | Path,
        device: str | torch.device = "cpu",
        mano_dir: str | Path | None = None,
    ) -> InterHandGen:
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

    def sampler(self, config: SamplerConfig | None = None) -> CascadedSampler:
        """Algorithm 2's cascade, or the joint baseline's sampler for a model over both hands (num_hands 2)."""
        kind = JointSampler if self.prior.model_config.num_hands == 2 else CascadedSampler
        return kind(
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
        object_points: ArrayLike | Tensor | None = None,
        object_normals: ArrayLike | Tensor | None = None,
        preprocess: CloudPreprocessConfig | None = None,
        contact_weight: float | None = None,
        settle_iterations: int | None = None,
    ) -> TwoHandSamples:
        """Draw ``num`` two-hand interactions; arguments left None keep the paper's defaults (SamplerConfig).

        With ``object_points`` (P, 3) metres (an object-conditioned prior only): ``num`` grasps of
        that object, returned as GraspSamples in the cloud's frame. The frame's z axis should
        point up (the prior learned "below" and "on top"); the cloud is cleaned and centred by
        ``preprocess`` (pipelines/sensor_cloud.py; its defaults when None). ``object_normals`` (P, 3),
        outward, are used where given, else estimated. ``contact_weight`` overrides
        SamplerConfig.object_contact_weight (the pull of floating hands onto the object) and
        ``settle_iterations`` SamplerConfig.settle_iterations (contact/settling.py).
        """
        if num < 1 or batch_size < 1:
            raise ConfigError(f"num and batch_size must be >= 1, got num={num}, batch_size={batch_size}")
        encoder = self.prior.object_encoder
        if object_points is not None and encoder is None:
            raise ConfigError(
                "this prior has no object encoder; load the object-conditioned prior "
                "(InterHandGen.from_pretrained(default_object_checkpoint())) to sample grasps"
            )
        if object_points is None and encoder is not None:
            raise ConfigError("this prior is object-conditioned; pass object_points (P, 3) to sample grasps")
        overrides: dict[str, Any] = {}
        if ddim_steps is not None:
            overrides["ddim_steps"] = ddim_steps
        if cfg_weight is not None:
            overrides["cfg_weight"] = cfg_weight
        if penetration_weight is not None:
            overrides["penetration_weight"] = penetration_weight
        if contact_weight is not None:
            overrides["object_contact_weight"] = contact_weight
        if settle_iterations is not None:
            overrides["settle_iterations"] = settle_iterations
        config = replace(self.sampler_config, **overrides)
        sampler = self.sampler(config)
        generator = torch.Generator().manual_seed(seed)
        obj: ObjectCondition | None = None
        cloud: PreparedCloud | None = None
        if object_points is not None and encoder is not None:
            cloud = preprocess_cloud(object_points, preprocess, object_normals)
            obj = self._object_condition(cloud, seed, config)
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
            left, right = self._cascade(sampler, min(batch_size, num - start), generator, obj)
            lefts.append(left)
            rights.append(right)
        left, right = HandParams.cat(lefts), HandParams.cat(rights)
        if obj is not None and cloud is not None:
            return self._grasps(left, right, obj, cloud, config)
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

    def _object_condition(self, cloud: PreparedCloud, seed: int, config: SamplerConfig) -> ObjectCondition:
        """Encode the cleaned cloud and its mirror image; keep a resampled copy for guidance."""
        encoder = self.prior.object_encoder
        if encoder is None:
            raise ConfigError("this prior has no object encoder")
        if len(cloud.points) < encoder.config.min_points:
            raise DataError(
                f"the object cloud has {len(cloud.points)} points after cleaning; the object encoder needs at least "
                f"{encoder.config.min_points} (move the sensor closer, or use a smaller voxel size)"
            )
        points, _ = resample_points(cloud.points, cloud.normals, encoder.config.num_points, seed)
        guide_points, guide_normals = resample_points(
            cloud.points, cloud.normals, config.object_guidance_points, seed + 1
        )

        def as_tensor(array: np.ndarray) -> Tensor:
            return torch.as_tensor(np.ascontiguousarray(array), dtype=torch.float32, device=self.device)

        encoder_input = as_tensor(points)[None]
        with torch.no_grad():
            embedding = encoder(encoder_input)
            mirrored = encoder(mirror_points(encoder_input))
        normals = as_tensor(cloud.normals)
        closed = normal_imbalance(normals) < config.closed_cloud_imbalance
        band = math.inf if closed else config.object_penetration_band
        return ObjectCondition(embedding, mirrored, as_tensor(guide_points), as_tensor(guide_normals), band)

    def _grasps(
        self, left: HandParams, right: HandParams, obj: ObjectCondition, cloud: PreparedCloud, config: SamplerConfig
    ) -> GraspSamples:
        """Object-frame hands -> settled onto the object -> GraspSamples in the input frame, with per-grasp figures."""
        with torch.no_grad():
            lo = self.left_layer(left)
            ro = self.right_layer(right)
        left_offset, right_offset = settle_translations(
            lo.vertices,
            self.left_layer.faces,
            ro.vertices,
            self.right_layer.faces,
            obj.points,
            obj.normals,
            obj.penetration_band,
            config.settle_iterations,
            config.settle_step_m,
        )
        # Settling and the return to the input frame are translations: the meshes move with the wrists.
        left_vertices, right_vertices = lo.vertices + left_offset[:, None], ro.vertices + right_offset[:, None]
        figures = measure_grasps(
            left_vertices,
            self.left_layer.faces,
            right_vertices,
            self.right_layer.faces,
            lambda p, rows: cloud_signed_distance(p, obj.points, obj.normals),
        )
        centroid = torch.as_tensor(cloud.centroid, dtype=left.translation.dtype, device=left.translation.device)
        eye = torch.eye(3, dtype=centroid.dtype, device=centroid.device)[None]
        left_shift, right_shift = left_offset + centroid, right_offset + centroid
        return GraspSamples(
            left.transformed(eye, left_shift),
            right.transformed(eye, right_shift),
            left_vertices + centroid,
            right_vertices + centroid,
            lo.keypoints + left_shift[:, None],
            ro.keypoints + right_shift[:, None],
            self.left_layer.faces,
            self.right_layer.faces,
            obj.points + centroid,
            obj.normals,
            figures,
            cloud,
        )

    def to_hands_file(self, samples: TwoHandSamples) -> HandsFile:
        """TwoHandSamples (or GraspSamples, with object_points and scores) -> the hands-file schema (README "Conventions")."""
        if isinstance(samples, GraspSamples):
            return hands_file_from_params(
                self.left_layer,
                self.right_layer,
                samples.left,
                samples.right,
                object_points=samples.object_points,
                scores=samples.scores,
            )
        return hands_file_from_params(self.left_layer, self.right_layer, samples.left, samples.right)
