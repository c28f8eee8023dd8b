"""GraspPipeline: bimanual grasps of one object cloud from an object-conditioned prior (paper 3.6).

>>> grasper = GraspPipeline.from_pretrained()                    # the shipped object-conditioned prior
>>> grasps = grasper.sample(32, seed=0, object_points=cloud)      # cloud: (P, 3) metres, any frame with z up
>>> grasps.ranked().scores                                       # GraspSamples, best first, in the cloud's frame

``InterHandGen.from_pretrained(default_object_checkpoint())`` (pipelines/interhandgen.py) returns
the same. A two-hand checkpoint is refused here: TwoHandPipeline (pipelines/two_hand.py) samples it.

Per call: the cloud is cleaned and centred (pipelines/sensor_cloud.py), a cloud seen from one side
completed by its point reflection (sensor_cloud.complete_one_sided; SamplerConfig.one_sided_completion),
its seen points encoded with their mirror image (ObjectCondition, prior/sampler.py), the guided
cascade runs in the object frame against the whole (completed) cloud, each
hand is settled onto the object (contact/settling.py), measured (contact/grasp_measures.py) and
moved back to the cloud's frame.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
from numpy.typing import ArrayLike
from torch import Tensor

from interhandgen_core.config import ConfigBase, setting
from interhandgen_core.contact.grasp_measures import (
    GraspFigures,
    ObjectDistance,
    ObjectNormal,
    cloud_signed_distance,
    measure_grasps,
)
from interhandgen_core.contact.settling import settle_translations
from interhandgen_core.errors import ConfigError, DataError
from interhandgen_core.geometry.mirroring import mirror_points
from interhandgen_core.geometry.nearest import k_nearest_indices
from interhandgen_core.geometry.normals import normal_imbalance
from interhandgen_core.hands.hand_params import HandParams
from interhandgen_core.io.hands_file import HandsFile, hands_file_from_params
from interhandgen_core.physics.configuration import GraspPhysicsConfig
from interhandgen_core.physics.grasp_validation import GraspPhysicsResult, PosedHands, validate_grasps
from interhandgen_core.physics.hand_bodies import HandParts
from interhandgen_core.physics.object_body import object_body_from_points
from interhandgen_core.pipelines.prior_pipeline import PriorPipeline
from interhandgen_core.pipelines.samples import GraspSamples
from interhandgen_core.pipelines.sensor_cloud import (
    CloudPreprocessConfig,
    PreparedCloud,
    complete_one_sided,
    preprocess_cloud,
    resample_points,
    robust_span,
)
from interhandgen_core.pipelines.shipped_priors import default_object_checkpoint
from interhandgen_core.prior.configuration import SamplerConfig
from interhandgen_core.prior.object_encoder import ObjectEncoder
from interhandgen_core.prior.sampler import ObjectCondition, StopHook, check_stop

# torch's intra-op threads while proposing grasps on the CPU. The work is thousands of small tensor
# operations (a hand's 800 vertices, a 1,024-point cloud), which gain little from a second thread
# and lose much when other processes share the cores: 32 proposals took 28-34 s with 2 threads and
# 3.2 s with 1 on this 2-core machine at a load average of 4.5 (one revision of the code, side by side;
# the wait of the second thread at every operation's barrier dominates under load).
_CPU_THREADS = 1

log = logging.getLogger(__name__)


@contextmanager
def _cpu_threads(device: torch.device) -> Iterator[None]:
    """On the CPU, torch.set_num_threads(_CPU_THREADS) for the block, the former count restored after."""
    if device.type != "cpu":
        yield
        return
    former = torch.get_num_threads()
    torch.set_num_threads(min(former, _CPU_THREADS))
    try:
        yield
    finally:
        torch.set_num_threads(former)


# With a cancel hook, settling and the per-grasp figures run in chunks of this many grasps, the hook asked
# between them: each chunk takes a fraction of a second on a 2-core CPU (512 grasps: 3.9 s of settling and
# 2.8 s of figures in one piece). Each grasp's settling and figures are its own, so chunks change no result.
STOP_CHECK_GRASPS = 64


@dataclass(frozen=True)
class GraspRequestConfig(ConfigBase):
    """What one request for grasp proposals may ask for (a cloud on grasp_proposal_node's topic, a goal of
    its action; interhandgen_ros/parameters.py mirrors it).

    num_grasps: proposals per cloud, 1..512: time and memory grow with it (512 take about 20 s on a 2-core
        CPU with 32 DDIM steps), and a request beyond the bound is refused rather than left to run for minutes.
    """

    num_grasps: int = setting(32, low=1, high=512, help="grasp hypotheses per cloud")


# How proposals are ranked: by GraspFigures.score, or by the pushes held in physics on the cloud's
# reconstruction first (GraspPipeline.sample's physics_rank).
RANKINGS = ("score", "physics")

# The objects the shipped object prior learned from span 8 to 48 cm (robust span of the training
# families, training/README.md); two hands crowd anything smaller and cannot reach around much larger.
BIMANUAL_MIN_SPAN_M = 0.08
BIMANUAL_MAX_SPAN_M = 0.5


def note_object_size(cloud: PreparedCloud) -> None:
    """Log a warning, kept in ``cloud.notes``, when the cleaned cloud's robust span (metres) is outside
    [BIMANUAL_MIN_SPAN_M, BIMANUAL_MAX_SPAN_M]; proposals are still made."""
    span = robust_span(cloud.points)
    if BIMANUAL_MIN_SPAN_M <= span <= BIMANUAL_MAX_SPAN_M:
        return
    which = "small" if span < BIMANUAL_MIN_SPAN_M else "large"
    cloud.notes.append(
        f"the object spans {100 * span:.1f} cm, too {which} for two hands (the prior learned objects of "
        f"{100 * BIMANUAL_MIN_SPAN_M:.0f}-{100 * BIMANUAL_MAX_SPAN_M:.0f} cm); proposals are made anyway, expect few "
        "that hold"
    )
    log.warning(cloud.notes[-1])


class GraspPipeline(PriorPipeline):
    """An object-conditioned prior, its hand model and denoiser backend: proposes bimanual grasps of a cloud."""

    object_conditioned = True

    @classmethod
    def shipped_checkpoint(cls) -> Path:
        return default_object_checkpoint()

    @classmethod
    def wrong_prior(cls, source: str) -> str:
        # Phrased for every caller (library, command line, ROS): no function or option names.
        return (
            f"{source} is a two-hand prior (no object encoder; it samples two hands without an object); grasp "
            "proposals need an object-conditioned prior, such as the shipped one (used when no checkpoint is given)"
        )

    @property
    def encoder(self) -> ObjectEncoder:
        """E: cloud (1, P, 3) -> emb_O (1, E)."""
        encoder = self.prior.object_encoder
        if encoder is None:  # refused at construction; this narrows the type
            raise ConfigError(self.wrong_prior("this prior"))
        return encoder

    def sample(
        self,
        num: int,
        seed: int = 0,
        ddim_steps: int | None = None,
        cfg_weight: float | None = None,
        penetration_guidance_weight: float | None = None,
        batch_size: int = 256,
        *,
        object_points: ArrayLike | Tensor,
        object_normals: ArrayLike | Tensor | None = None,
        object_viewpoint: ArrayLike | Tensor | None = None,
        preprocess: CloudPreprocessConfig | None = None,
        contact_weight: float | None = None,
        settle_iterations: int | None = None,
        physics_rank: GraspPhysicsConfig | None = None,
        should_stop: StopHook | None = None,
        one_sided_completion: str | None = None,
    ) -> GraspSamples:
        """``num`` grasps of the object ``object_points`` (P, 3) metres, in the cloud's frame; arguments left
        None keep the paper's defaults (SamplerConfig).

        The frame's z axis should point up (the prior learned "below" and "on top"); the cloud is
        cleaned and centred by ``preprocess`` (pipelines/sensor_cloud.py; its defaults when None).
        ``object_normals`` (P, 3), outward, are used where given, else estimated, their signs checked against
        ``object_viewpoint`` (3,) metres, the cloud's frame, the position of the depth camera that saw it, where
        given (the origin for a cloud in the camera's own frame; sensor_cloud.preprocess_cloud). ``contact_weight``
        overrides SamplerConfig.object_contact_weight (the pull of floating hands onto the object)
        and ``settle_iterations`` SamplerConfig.settle_iterations (contact/settling.py);
        ``one_sided_completion`` SamplerConfig.one_sided_completion ("symmetry": a cloud seen from one side
        gets its back by point reflection, sensor_cloud.complete_one_sided; "off": kept as seen).
        ``physics_rank``: also try every grasp in physics (physics/, with this configuration) on the
        solid reconstructed from the cleaned (and completed) cloud, and rank by the pushes held first
        (GraspSamples.scores); where the cloud cannot be closed into a solid (one seen from one side
        with the completion off), a warning in ``cloud.notes`` and the figures' score alone. Seconds
        more: README "Physics validation".
        ``should_stop``: a cancel hook, () -> bool, asked between the stages, before every denoising step
        and between chunks of STOP_CHECK_GRASPS grasps of settling and figures (not within the cloud's
        preprocessing nor the physics ranking); errors.Cancelled when it returns True.
        """
        config = self._sampler_config(
            num,
            batch_size,
            ddim_steps=ddim_steps,
            cfg_weight=cfg_weight,
            penetration_guidance_weight=penetration_guidance_weight,
            object_contact_weight=contact_weight,
            settle_iterations=settle_iterations,
            one_sided_completion=one_sided_completion,
        )
        sampler = self.sampler(config, should_stop)
        with _cpu_threads(self.device):
            cloud = preprocess_cloud(object_points, preprocess, object_normals, object_viewpoint)
            note_object_size(cloud)
            if config.one_sided_completion == "symmetry":
                cloud = complete_one_sided(cloud, config.closed_cloud_imbalance)
            check_stop(should_stop, "after the cloud's preprocessing")
            obj = self.object_condition(cloud, seed, config)
            left, right = self._sample_hands(sampler, num, seed, batch_size, obj)
            if should_stop is None:
                grasps = self._grasps(left, right, obj, cloud, config)
            else:
                grasps = self._grasps_in_chunks(left, right, obj, cloud, config, should_stop)
        if physics_rank is None:
            return grasps
        check_stop(should_stop, "before the physics ranking")
        return replace(grasps, physics=self._physics(grasps, cloud, physics_rank))

    def _physics(
        self, grasps: GraspSamples, cloud: PreparedCloud, config: GraspPhysicsConfig
    ) -> GraspPhysicsResult | None:
        """Every grasp, or the ``config.rank_candidates`` best by the score, tried on the cleaned cloud's Poisson
        solid (object frame) -> the result (PushOutcome.scattered where not all were tried), or None (with a
        warning in ``cloud.notes``) where the cloud does not close into a solid."""
        try:
            body = object_body_from_points(cloud.points, cloud.normals, config)
        except DataError as err:
            cloud.notes.append(f"physics ranking skipped, ranked by the score alone: {err}")
            log.warning(cloud.notes[-1])
            return None
        num = grasps.left_vertices.shape[0]
        tried = torch.arange(num)
        if 0 < config.rank_candidates < num:
            tried = torch.argsort(grasps.figures.score.cpu(), descending=True, stable=True)[: config.rank_candidates]
        centroid = torch.as_tensor(cloud.centroid, dtype=grasps.left_vertices.dtype)
        hands = [
            PosedHands(vertices.detach().cpu()[tried] - centroid, HandParts.from_layer(layer))
            for vertices, layer in ((grasps.left_vertices, self.left_layer), (grasps.right_vertices, self.right_layer))
        ]
        result = validate_grasps(body, hands, config)
        return result if len(tried) == num else result.scattered(tried.numpy(), num)

    def object_condition(self, cloud: PreparedCloud, seed: int, config: SamplerConfig) -> ObjectCondition:
        """Encode the cleaned cloud's seen points and their mirror image; keep a resampled copy of the whole cloud,
        its completion included (sensor_cloud.complete_one_sided), for guidance and settling (object frame).

        The encoder learned from whole clouds and from one camera's side of them (data/grasp_pairs.py), not from
        completed ones, so it is given what was seen."""
        encoder = self.encoder
        if len(cloud.points) < encoder.config.min_points:
            raise DataError(
                f"the object cloud has {len(cloud.points)} points after cleaning; the object encoder needs at least "
                f"{encoder.config.min_points} (move the sensor closer, or use a smaller voxel size)"
            )
        seen = len(cloud.points) - cloud.num_completed
        points, _ = resample_points(cloud.points[:seen], cloud.normals[:seen], encoder.config.num_points, seed)
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

    def _grasps_in_chunks(
        self,
        left: HandParams,
        right: HandParams,
        obj: ObjectCondition,
        cloud: PreparedCloud,
        config: SamplerConfig,
        should_stop: StopHook,
    ) -> GraspSamples:
        """_grasps over chunks of STOP_CHECK_GRASPS grasps, ``should_stop`` asked before each (errors.Cancelled)."""
        chunks = []
        for start in range(0, left.batch_size, STOP_CHECK_GRASPS):
            check_stop(should_stop, f"before settling grasp {start + 1} of {left.batch_size}")
            rows = slice(start, start + STOP_CHECK_GRASPS)
            chunks.append(self._grasps(left.select(rows), right.select(rows), obj, cloud, config))

        def joined(name: str) -> Tensor:
            return torch.cat([getattr(chunk, name) for chunk in chunks])

        return replace(
            chunks[0],
            left=HandParams.cat([chunk.left for chunk in chunks]),
            right=HandParams.cat([chunk.right for chunk in chunks]),
            left_vertices=joined("left_vertices"),
            right_vertices=joined("right_vertices"),
            left_keypoints=joined("left_keypoints"),
            right_keypoints=joined("right_keypoints"),
            figures=GraspFigures.cat([chunk.figures for chunk in chunks]),
        )

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
            obj.settling_distance(),
        )
        # Settling and the return to the input frame are translations: the meshes move with the wrists.
        left_vertices, right_vertices = lo.vertices + left_offset[:, None], ro.vertices + right_offset[:, None]
        figures = measure_grasps(
            left_vertices,
            self.left_layer.faces,
            right_vertices,
            self.right_layer.faces,
            self._object_distance(obj),
            object_normal=self._object_normal(obj),
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

    @staticmethod
    def _object_distance(obj: ObjectCondition) -> ObjectDistance:
        """The reported figures' signed distance: the reference estimate (grasp_measures.cloud_signed_distance),
        its nearest cloud points found by the cloud's k-d tree on the CPU (the same points, found faster)."""
        distance = obj.distance
        if distance is None:
            return lambda p, rows: cloud_signed_distance(p, obj.points, obj.normals)
        return lambda p, rows: distance(p)

    @staticmethod
    def _object_normal(obj: ObjectCondition) -> ObjectNormal:
        """The normal of the cloud point nearest each query (found by the cloud's k-d tree on the CPU)."""
        distance = obj.distance
        if distance is None:
            return lambda p, rows: obj.normals[k_nearest_indices(p, obj.points.expand(p.shape[0], -1, -1), 1)[..., 0]]
        return lambda p, rows: obj.normals[distance.tree.k_nearest(p, 1)[..., 0]]

    def to_hands_file(self, grasps: GraspSamples) -> HandsFile:
        """GraspSamples -> the hands-file schema (README "Conventions"), with object_points and scores."""
        return hands_file_from_params(
            self.left_layer,
            self.right_layer,
            grasps.left,
            grasps.right,
            object_points=grasps.object_points,
            scores=grasps.scores,
        )
