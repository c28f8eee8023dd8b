"""Cascaded reverse diffusion with classifier-free and anti-penetration guidance (Algorithm 2).

Notation (paper -> code):
    D_phi(x_t, x_l | empty, t)  ``denoise(x_t, t, cond, cond_mask, object_embedding)``: the x_0
                                prediction of any runtime backend, normalised units
    E(.)                        ``schedule.eps_from_x0``
    w_cfg                       ``config.cfg_weight``               (Eq. 4, Algorithm 2 line 18)
    w_pen                       ``config.penetration_guidance_weight`` at t = 0, multiplied by
                                ``config.penetration_decay`` per DDIM step away from t = 0;
                                each step's change is bounded by
                                ``config.penetration_max_step`` (not in the paper); steps where it is
                                below ``config.penetration_min_weight`` are skipped, and
                                ``config.final_guidance_steps`` more are taken on the finished
                                sample at t = 0 (not in the paper)
    L_pen                       ``penetration.capsule_penetration_loss`` (Eq. 7-8 against the other
                                hand's capsule proxy, ``config.hand_guidance`` "capsules") or
                                ``penetration.penetration_loss`` (Eq. 7-8 against its mesh); with an object also
                                ``penetration.object_guidance_terms``: Eq. 7 against the cloud and,
                                weighted by ``config.object_contact_weight``, the hand's gap to
                                the object (a pull onto it, not in the paper)
    x_l                         the anchor: sampled unconditionally in right-hand space, made
                                canonical, and mirrored by Gamma into a left hand (line 11)
    c = emb_O                   ``ObjectCondition``: with an object (paper 3.6) both hands live in
                                the object frame; the anchor is a right hand for Gamma(O) (so that
                                Gamma of it is a left hand for O), drawn from p(x | O') and
                                guided away from the mirrored cloud; the other hand is drawn from
                                p(x_r | x_l, O) and guided away from the anchor and the cloud

Everything is batched over samples: the conditional and unconditional passes of CFG are
one call on a doubled batch, and the guidance gradient of all samples is one backward
pass (samples are independent, so the gradient of the summed loss is each sample's own).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import torch
from torch import Tensor

from interhandgen_core.contact.penetration import (
    SignedDistance,
    capsule_penetration_loss,
    hand_pair_indices,
    object_guidance_terms,
    penetration_loss,
)
from interhandgen_core.errors import Cancelled, ConfigError
from interhandgen_core.geometry.distance_grid import GridSignedDistance, ScreenedSignedDistance
from interhandgen_core.geometry.mirroring import mirror_points
from interhandgen_core.geometry.normals import vertex_normals
from interhandgen_core.geometry.tree_nearest import SampleTrees, TreeSignedDistance, use_trees
from interhandgen_core.hands.capsule_proxy import CapsuleProxy, HandCapsules
from interhandgen_core.hands.hand_params import HAND_DIM, HandParams
from interhandgen_core.hands.layer import HandLayer
from interhandgen_core.prior.configuration import SamplerConfig
from interhandgen_core.prior.representation import Normalizer, pair_from_vectors
from interhandgen_core.prior.schedule import DiffusionSchedule

DenoiseFn = Callable[[Tensor, Tensor, Tensor, Tensor, "Tensor | None"], Tensor]
# A caller's cancel hook: () -> True to stop (checked between denoising steps; raises errors.Cancelled).
StopHook = Callable[[], bool]
SamplerT = TypeVar("SamplerT", bound="CascadedSampler")

# Guidance reads the cloud's k-d tree for hand vertices whose grid distance is below this (metres), the grid
# beyond: four grid cells of a 20 cm object, more than the grid's error in front of the surface.
GUIDANCE_REACH_M = 0.02

# Cloud points count as behind the hand's skin only within this of a hand vertex (metres,
# penetration.object_guidance_terms' reach): a point inside a finger lies within about 1 cm of a vertex.
SKIN_REACH_M = 0.02


@dataclass
class ObjectCondition:
    """The object a sample is conditioned on, object frame (origin at the cloud's centroid), metres.

    embedding, mirrored_embedding: (1, E) emb_O of the cloud and of its mirror image Gamma(O).
    points, normals: (P, 3) the cloud and its unit outward normals, for hand-object guidance.
    penetration_band: the deepest penetration into the cloud (metres) that guidance acts on:
        inf for a cloud that covers its object all round, SamplerConfig.object_penetration_band
        for one camera's view (penetration.object_penetration_loss).
    distance: the cloud's signed distance through a k-d tree built once per cloud on the CPU
        (geometry/tree_nearest.TreeSignedDistance, cloud_distance), read by the hand-object terms
        of guidance and settling in place of an all-pairs search at every step; None on other
        devices, where that search stays (fast there; a CUDA graph may not read to the host).
        The reference, read by the per-grasp figures.
    field: that distance sampled once on a grid around the cloud (geometry/distance_grid.py), read by
        guidance and settling in place of the tree (one interpolation per step instead of a search);
        None where ``distance`` is None. ``guidance_distance`` picks what the hand-object terms read.
    """

    embedding: Tensor
    mirrored_embedding: Tensor
    points: Tensor
    normals: Tensor
    penetration_band: float
    distance: TreeSignedDistance | None = None
    field: GridSignedDistance | None = None

    def __post_init__(self) -> None:
        if self.distance is None:
            self.distance = cloud_distance(self.points, self.normals)
        if self.field is None and self.distance is not None:
            self.field = self.distance.grid()

    def guidance_distance(self) -> SignedDistance | None:
        """The signed distance that guidance reads: the tree's near the object, the grid's elsewhere
        (geometry/distance_grid.ScreenedSignedDistance); None off the CPU (all pairs)."""
        if self.field is None or self.distance is None:
            return self.distance
        return ScreenedSignedDistance(self.field, self.distance, GUIDANCE_REACH_M)

    def settling_distance(self) -> SignedDistance | None:
        """The signed distance that settling reads: the grid (the hands only translate there by millimetres,
        and settle as well on it as on the tree), else None off the CPU (all pairs)."""
        return self.field

    def mirrored(self) -> ObjectCondition:
        """Gamma(O): the cloud mirrored, the two embeddings swapped."""
        return ObjectCondition(
            self.mirrored_embedding,
            self.embedding,
            mirror_points(self.points),
            mirror_points(self.normals),
            self.penetration_band,
            None if self.distance is None else self.distance.mirrored(),
            None if self.field is None else self.field.mirrored(),
        )


def cloud_distance(points: Tensor, normals: Tensor) -> TreeSignedDistance | None:
    """points, normals (P, 3) object frame -> the cloud's TreeSignedDistance (a k-d tree built now), or None
    where the all-pairs search is taken (off the CPU, geometry/tree_nearest.use_trees)."""
    if not use_trees(points) or points.ndim != 2:
        return None
    return TreeSignedDistance(points, normals)


@dataclass
class AnchorHand:
    """The anchor hand that guidance keeps the other hand out of, as it stands for a whole chain, object or
    hand frame, metres: vertices (N, V, 3) and either its capsule proxy (``capsules``, hands/capsule_proxy.py;
    SamplerConfig.hand_guidance "capsules") or its vertex normals (N, V, 3) and, on the CPU, one k-d tree per
    sample (geometry/tree_nearest.SampleTrees) for Eq. 7-8 against its mesh ("mesh"); each computed once
    instead of at every guidance step."""

    vertices: Tensor
    normals: Tensor | None
    trees: SampleTrees | None
    capsules: HandCapsules | None = None

    @classmethod
    def of(cls, vertices: Tensor, faces: Tensor, with_trees: bool = True) -> AnchorHand:
        """vertices (N, V, 3), faces (F, 3) -> AnchorHand for the mesh term; trees only where ``with_trees`` and on
        the CPU."""
        vertices = vertices.detach()
        trees = SampleTrees(vertices) if with_trees and use_trees(vertices) else None
        return cls(vertices, vertex_normals(vertices, faces), trees)

    @classmethod
    def of_capsules(cls, vertices: Tensor, capsules: HandCapsules) -> AnchorHand:
        """vertices (N, V, 3) and their HandCapsules (N, 20) -> AnchorHand for the capsule term."""
        detached = HandCapsules(capsules.start.detach(), capsules.end.detach(), capsules.radius.detach())
        return cls(vertices.detach(), None, None, detached)


def check_stop(should_stop: StopHook | None, where: str) -> None:
    """Raise errors.Cancelled when the caller's hook ``should_stop`` (None: none) says to stop; ``where``
    names the point reached, for the message."""
    if should_stop is not None and should_stop():
        raise Cancelled(f"stopped by the caller (should_stop) {where}")


class CascadedSampler:
    """Samples two-hand interactions: left anchor first, then the right hand given it.

    ``should_stop``: a cancel hook, () -> bool, asked before every DDIM step (of either hand); when it
    returns True the sampling raises errors.Cancelled. It runs on the host: a CUDA-graph capture of
    the cascade must be made without it (pipelines/prior_pipeline.py checks between batches there).
    """

    def __init__(
        self,
        denoise: DenoiseFn,
        schedule: DiffusionSchedule,
        normalizer: Normalizer,
        right_layer: HandLayer,
        left_layer: HandLayer,
        config: SamplerConfig,
        should_stop: StopHook | None = None,
    ) -> None:
        if config.ddim_steps > schedule.num_timesteps:
            raise ConfigError(
                f"{config.ddim_steps} DDIM steps exceed the model's {schedule.num_timesteps} diffusion steps (T): "
                f"use at most {schedule.num_timesteps}"
            )
        self.denoise = denoise
        self.schedule = schedule
        self.normalizer = normalizer
        self.right_layer = right_layer
        self.left_layer = left_layer
        self.config = config
        self.should_stop = should_stop
        self._timesteps: dict[torch.device, tuple[Tensor, Tensor]] = {}
        # Made now, not during sampling: making them reads back to the host (runtime/cuda_graph.py captures a chain).
        self._proxies = (
            (CapsuleProxy.of_layer(right_layer), CapsuleProxy.of_layer(left_layer))
            if config.hand_guidance == "capsules"
            else None
        )

    def capsule_proxies(self) -> tuple[CapsuleProxy, CapsuleProxy]:
        """(right, left) CapsuleProxy of the two hand layers, made with the sampler (made now where it was not)."""
        if self._proxies is None:
            self._proxies = (CapsuleProxy.of_layer(self.right_layer), CapsuleProxy.of_layer(self.left_layer))
        return self._proxies

    def anchor_hand(self, left: HandParams, with_trees: bool = True) -> AnchorHand:
        """The left anchor hands (N) -> AnchorHand for the hand-hand term that ``config.hand_guidance`` names."""
        with torch.no_grad():
            out = self.left_layer(left)
            if self.config.hand_guidance == "capsules":
                return AnchorHand.of_capsules(out.vertices, self.capsule_proxies()[1](out.keypoints, out.vertices))
            return AnchorHand.of(out.vertices, self.left_layer.faces, with_trees)

    def with_denoise(self: SamplerT, denoise: DenoiseFn, keep_stop: bool = True) -> SamplerT:
        """This sampler (its class, schedule, normaliser, hand layers, configuration and, with ``keep_stop``,
        its cancel hook) around another D_phi."""
        return type(self)(
            denoise,
            self.schedule,
            self.normalizer,
            self.right_layer,
            self.left_layer,
            self.config,
            self.should_stop if keep_stop else None,
        )

    def _check_stop(self, step: int) -> None:
        check_stop(self.should_stop, f"before denoising step {step + 1} of {self.config.ddim_steps}")

    def draw_noise(self, num: int, generator: torch.Generator, device: torch.device) -> tuple[Tensor, Tensor]:
        """x_T of the anchor and of the other hand, (num, 64) each, on ``device``.

        Drawn on the CPU so that a seed gives the same samples on every device.
        """
        anchor = torch.randn(num, HAND_DIM, generator=generator)
        other = torch.randn(num, HAND_DIM, generator=generator)
        return anchor.to(device), other.to(device)

    def timestep_pairs(self, device: torch.device) -> tuple[Tensor, Tensor]:
        """(t, t_prev) of the DDIM chain on ``device``, made once: a CUDA graph capture may not copy to the GPU."""
        pairs = self._timesteps.get(device)
        if pairs is None:
            pairs = self.schedule.ddim_timestep_pairs(self.config.ddim_steps, device)
            self._timesteps[device] = pairs
        return pairs

    def penetration_weights(self) -> list[float]:
        """w_pen per DDIM step, first (noisiest) to last (t = 0); 0 (no guidance step) where below
        ``config.penetration_min_weight``."""
        steps = self.config.ddim_steps
        weights = [
            self.config.penetration_guidance_weight * self.config.penetration_decay ** (steps - 1 - k)
            for k in range(steps)
        ]
        return [w if w >= self.config.penetration_min_weight else 0.0 for w in weights]

    def sample_anchor(self, noise: Tensor, obj: ObjectCondition | None = None) -> Tensor:
        """Algorithm 2 lines 5-10: x_T (num, 64) -> (num, 64) normalised right-hand-space anchors.

        With an object: right hands for the mirrored object Gamma(O), guided out of its cloud.
        """
        x = noise
        num, device = x.shape[0], x.device
        cond = torch.zeros_like(x)
        mask = torch.zeros(num, dtype=torch.bool, device=device)
        mirrored = None if obj is None else obj.mirrored()
        embedding = None if mirrored is None else mirrored.embedding.expand(num, -1)
        steps = zip(*self.timestep_pairs(device), self.penetration_weights(), strict=True)
        for k, (t, t_prev, w_pen) in enumerate(steps):
            self._check_stop(k)
            tt = t.expand(num)
            with torch.no_grad():
                x0 = self.denoise(x, tt, cond, mask, embedding)
                eps = self.schedule.eps_from_x0(x, tt, x0)  # line 7
                x = self.schedule.ddim_step(x, tt, t_prev, eps)  # line 9
            if mirrored is not None and w_pen > 0:
                x = self._guide(x, t_prev, eps, None, mirrored, w_pen)
        if mirrored is not None:
            x = self._guide_finished(x, None, mirrored)
        return x

    def anchor_to_condition(self, anchor: Tensor, with_object: bool = False) -> tuple[Tensor, HandParams]:
        """Normalised anchor (N, 64) -> (normalised condition (N, 64), left hand).

        Without an object the anchor's root is not supervised in training (S.4.2); it is
        replaced by the canonical frame, and its mirror image Gamma(x_0) is the left hand
        (line 11). With an object the root is the anchor's place on Gamma(O) and is kept.
        """
        right_space = HandParams.from_vector(self.normalizer.denormalize(anchor))
        if not with_object:
            right_space = right_space.canonical()
        return self.normalizer.normalize(right_space.to_vector()), right_space.mirrored()

    def sample_other(self, noise: Tensor, cond: Tensor, left: HandParams, obj: ObjectCondition | None = None) -> Tensor:
        """Algorithm 2 lines 13-22: the right hand given the left anchor. x_T, cond (N, 64) -> (N, 64) normalised."""
        num, device = cond.shape[0], cond.device
        w_cfg = self.config.cfg_weight
        anchor = self.anchor_hand(left)
        embedding = None if obj is None else obj.embedding.expand(num, -1)
        embedding2 = None if embedding is None else torch.cat([embedding, embedding])
        x = noise
        weights = self.penetration_weights()
        cond2 = torch.cat([cond, cond])
        mask2 = torch.cat(
            [torch.ones(num, dtype=torch.bool, device=device), torch.zeros(num, dtype=torch.bool, device=device)]
        )
        steps = zip(*self.timestep_pairs(device), weights, strict=True)
        for k, (t, t_prev, w_pen) in enumerate(steps):
            self._check_stop(k)
            tt = t.expand(num)
            with torch.no_grad():
                if w_cfg > 0:
                    x0_both = self.denoise(torch.cat([x, x]), t.expand(2 * num), cond2, mask2, embedding2)
                    eps_cond = self.schedule.eps_from_x0(x, tt, x0_both[:num])  # line 16
                    eps_uncond = self.schedule.eps_from_x0(x, tt, x0_both[num:])  # line 15
                    eps = (1.0 + w_cfg) * eps_cond - w_cfg * eps_uncond  # line 18, Eq. 4
                else:
                    eps = self.schedule.eps_from_x0(x, tt, self.denoise(x, tt, cond, mask2[:num], embedding))
                x = self.schedule.ddim_step(x, tt, t_prev, eps)  # line 20
            if w_pen > 0:
                x = self._guide(x, t_prev, eps, anchor, obj, w_pen)
        return self._guide_finished(x, anchor, obj)

    def _guide_finished(self, x: Tensor, anchor: AnchorHand | None, obj: ObjectCondition | None) -> Tensor:
        """``config.final_guidance_steps`` guidance steps on finished samples x (N, 64), at w_pen (t = 0); none
        without guidance (w_pen 0)."""
        weight = self.config.penetration_guidance_weight
        if weight <= 0:
            return x
        clean = torch.full((), -1, dtype=torch.long, device=x.device)  # t_prev = -1: alpha 1, x_0 = x
        for _ in range(self.config.final_guidance_steps):
            x = self._guide(x, clean, torch.zeros_like(x), anchor, obj, weight)
        return x

    def _guide(
        self,
        x_prev: Tensor,
        t_prev: Tensor,
        eps: Tensor,
        anchor: AnchorHand | None,
        obj: ObjectCondition | None,
        weight: float,
    ) -> Tensor:
        """Anti-penetration guidance: x_{t-1} <- x_{t-1} - w_pen grad L_pen(x_{t-1}, x_l [, O]).

        The vertices come from the clean estimate (x_{t-1} - sqrt(1 - alpha_{t-1}) eps) / sqrt(alpha_{t-1})
        (paper 3.4), so the loss sees hands, not noise. ``anchor`` (made once per chain, ``anchor_hand``) adds the
        hand-hand term, against its capsules or its mesh; ``obj`` the hand-object terms (its cloud, in the frame
        of the hand being made).
        """
        with torch.enable_grad():
            x_var = x_prev.detach().requires_grad_(True)
            x0 = self.schedule.x0_from_eps(x_var, t_prev, eps)
            hand = HandParams.from_vector(self.normalizer.denormalize(x0))
            out = self.right_layer(hand)
            vertices = out.vertices
            normals = None  # read by the mesh and object terms, computed once for both
            loss = torch.zeros((), device=x_prev.device)
            if anchor is not None and anchor.capsules is not None:
                capsules = self.capsule_proxies()[0](out.keypoints, vertices)
                loss = loss + capsule_penetration_loss(vertices, capsules, anchor.vertices, anchor.capsules).sum()
            elif anchor is not None:
                normals = vertex_normals(vertices, self.right_layer.faces)
                indices = (
                    None if anchor.trees is None else hand_pair_indices(vertices, anchor.vertices, 0.0, anchor.trees)
                )
                loss = (
                    loss
                    + penetration_loss(
                        vertices,
                        self.right_layer.faces,
                        anchor.vertices,
                        self.left_layer.faces,
                        normals=normals,
                        other_normals=anchor.normals,
                        indices=indices,
                    ).sum()
                )
            if obj is not None:
                if normals is None:
                    normals = vertex_normals(vertices, self.right_layer.faces)
                num = vertices.shape[0]
                points, point_normals = (c.expand(num, *c.shape) for c in (obj.points, obj.normals))
                penetration, gap = object_guidance_terms(
                    vertices,
                    self.right_layer.faces,
                    points,
                    point_normals,
                    obj.penetration_band,
                    obj.guidance_distance(),
                    normals=normals,
                    reach=SKIN_REACH_M,
                )
                loss = loss + penetration.sum() + self.config.object_contact_weight * gap.sum()
        (grad,) = torch.autograd.grad(loss, x_var)
        step = weight * grad
        # Trust region per sample (SamplerConfig.penetration_max_step): a deep penetration
        # is separated over several steps instead of in one jump that overshoots contact.
        norm = step.norm(dim=-1, keepdim=True).clamp_min(1e-12)
        step = step * (self.config.penetration_max_step / norm).clamp(max=1.0)
        return (x_prev - step).detach()

    def sample(
        self, num: int, generator: torch.Generator, device: torch.device, obj: ObjectCondition | None = None
    ) -> tuple[HandParams, HandParams]:
        """num two-hand samples -> (left, right) in the left hand's canonical frame, or in the object frame."""
        return self.sample_from_noise(*self.draw_noise(num, generator, device), obj)

    def sample_from_noise(
        self, anchor_noise: Tensor, other_noise: Tensor, obj: ObjectCondition | None = None
    ) -> tuple[HandParams, HandParams]:
        """x_T of both hands (N, 64) each -> (left, right): the whole cascade, device work only.

        Nothing here reads a value back to the host or copies to the device once
        ``timestep_pairs`` has run, so runtime/cuda_graph.py can capture it as one CUDA graph.
        """
        anchor = self.sample_anchor(anchor_noise, obj)
        cond, left = self.anchor_to_condition(anchor, with_object=obj is not None)
        right_norm = self.sample_other(other_noise, cond, left, obj)
        right = HandParams.from_vector(self.normalizer.denormalize(right_norm.detach()))
        return left, right

    def sample_partners_from_noise(self, left: HandParams, other_noise: Tensor) -> HandParams:
        """Given left hands (N, any frame) and x_T (N, 64) -> right hands (N) in the same frame: Algorithm 2
        lines 11-22 with the anchors given instead of sampled (lines 5-10), no object.

        The given hand is made canonical and mirrored into right-hand space as the condition (as in
        training, representation.scene_to_pair); the right hand is sampled in its frame and moved back.
        """
        canonical = left.canonical()
        cond = self.normalizer.normalize(canonical.mirrored().to_vector())
        right_norm = self.sample_other(other_noise, cond, canonical)
        right = HandParams.from_vector(self.normalizer.denormalize(right_norm.detach()))
        return right.transformed(left.rotation, left.translation)


class JointSampler(CascadedSampler):
    """The "w/o Decomposition" baseline (Table 1a): both hands denoised together as one (N, 128) vector.

    The denoiser predicts [anchor, other] with the hand condition null; DDIM runs on the pair,
    and anti-penetration guidance moves the other hand away from the anchor as it stands at
    each step (the same Eq. 7-8 and schedule as the cascade). CFG has no condition to act on.
    """

    def sample_from_noise(
        self, anchor_noise: Tensor, other_noise: Tensor, obj: ObjectCondition | None = None
    ) -> tuple[HandParams, HandParams]:
        if obj is not None:
            raise ConfigError("the joint two-hand baseline takes no object")
        x = torch.cat([anchor_noise, other_noise], dim=-1)
        num, device = x.shape[0], x.device
        cond = torch.zeros_like(anchor_noise)
        mask = torch.zeros(num, dtype=torch.bool, device=device)
        steps = zip(*self.timestep_pairs(device), self.penetration_weights(), strict=True)
        for k, (t, t_prev, w_pen) in enumerate(steps):
            self._check_stop(k)
            tt = t.expand(num)
            with torch.no_grad():
                eps = self.schedule.eps_from_x0(x, tt, self.denoise(x, tt, cond, mask, None))
                x = self.schedule.ddim_step(x, tt, t_prev, eps)
            if w_pen > 0:
                with torch.no_grad():
                    anchor = self.schedule.x0_from_eps(x[:, :HAND_DIM], t_prev, eps[:, :HAND_DIM])
                    _, left = self.anchor_to_condition(anchor)
                anchor_hand = self.anchor_hand(left, with_trees=False)
                other = self._guide(x[:, HAND_DIM:], t_prev, eps[:, HAND_DIM:], anchor_hand, None, w_pen)
                x = torch.cat([x[:, :HAND_DIM], other], dim=-1)
        if self.config.final_guidance_steps > 0 and self.config.penetration_guidance_weight > 0:
            with torch.no_grad():
                _, left = self.anchor_to_condition(x[:, :HAND_DIM])
            other = self._guide_finished(x[:, HAND_DIM:], self.anchor_hand(left, with_trees=False), None)
            x = torch.cat([x[:, :HAND_DIM], other], dim=-1)
        return pair_from_vectors(self.normalizer, x[:, :HAND_DIM].detach(), x[:, HAND_DIM:].detach())

    def sample_partners_from_noise(self, left: HandParams, other_noise: Tensor) -> HandParams:
        raise ConfigError("the joint two-hand baseline has no hand condition: it cannot sample a hand for a given one")
