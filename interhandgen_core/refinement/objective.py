"""The refinement objective: data, prior (Eq. 9), penetration (Eq. 7) and smoothness terms.

Notation (code -> meaning; world frame, metres in, the units below out):
    left, right        HandParams (B,) the state being refined
    targets            FrameTargets: what each row is fitted to
    data               sum_k w_k rho(|J_k - K_k|) / 21, cm^2: J the model's keypoints, K the observed
                       ones, w the confidence (0 for a missing keypoint) and rho the
                       Geman-McClure error rho(r) = r^2 s^2 / (r^2 + s^2), s = robust_scale_m in cm
    prior              L_reg of Eq. 9 (refinement/prior_term.py)
    penetration        Eq. 7 between the hands, symmetric, cm per vertex (contact/penetration.py)
    smoothness         mean_k |J_k - P_k|^2, cm^2, P the constant-velocity prediction of the keypoints
    pose, betas        mean squared finger angle (rad^2) and shape coefficient

Every term is per row, so that independent rows (a batch of estimates) do not mix.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import Tensor

from interhandgen_core.contact.penetration import (
    HAND_SEARCH_RADIUS_M,
    hand_pair_depths,
    hand_pair_indices,
    one_way_penetration,
    penetration_loss,
)
from interhandgen_core.geometry.nearest import nearest_neighbors_both_ways
from interhandgen_core.geometry.normals import vertex_normals
from interhandgen_core.hands.hand_params import HandParams
from interhandgen_core.hands.keypoints import NUM_KEYPOINTS, bone_segments
from interhandgen_core.hands.layer import HandLayer
from interhandgen_core.prior.representation import Normalizer
from interhandgen_core.prior.sampler import DenoiseFn
from interhandgen_core.prior.schedule import DiffusionSchedule
from interhandgen_core.refinement.configuration import RefinerConfig
from interhandgen_core.refinement.prior_term import (
    forward_reverse_estimate,
    pair_states,
    regularizer_from_estimate,
    regularizer_residuals,
)

_CM = 100.0
# Smallest pair depth of Eq. 7's least-squares form (PenetrationPairs), cm: its factor 1 / d0 stays finite.
_PAIR_DEPTH_FLOOR_CM = 1e-4
TERMS = ("data", "prior", "penetration", "smoothness", "pose", "betas")


@dataclass
class FrameTargets:
    """What B rows are fitted to, per side (``left_*``, ``right_*``), world frame.

    keypoints: (B, 21, 3) metres (any value where the weight is 0).
    weight: (B, 21) in [0, 1], the hand's confidence, 0 where a keypoint is not observed.
    present: (B,) bool, the hand is part of the state (observed, or held while briefly lost);
        an absent hand takes part in no term.
    prediction: (B, 21, 3) constant-velocity prediction of the keypoints, metres.
    smooth: (B,) bool, rows whose hand has a prediction.
    judged: (B,) bool, rows whose hand the prior judges: observed ones; a hand held while it is
        lost is kept as it was, not moved towards what the prior expects.
    prior_estimate, placement: the detached target of Eq. 9 (2B, 64) and the rows whose placement it
        judges (B,), from RefinementObjective.prior_estimate; None: recomputed at every evaluation.
    near: (B,) bool, rows whose hands may touch (``hands_near``), the only ones the penetration term
        is evaluated on; None: all rows. Without a near row the meshes are not made at all: the
        keypoints come from HandLayer.keypoints, about 5x cheaper.
    """

    left_keypoints: Tensor
    right_keypoints: Tensor
    left_weight: Tensor
    right_weight: Tensor
    left_present: Tensor
    right_present: Tensor
    left_prediction: Tensor
    right_prediction: Tensor
    left_smooth: Tensor
    right_smooth: Tensor
    left_judged: Tensor
    right_judged: Tensor
    prior_estimate: Tensor | None = None
    placement: Tensor | None = None
    near: Tensor | None = None


@dataclass
class PenetrationPairs:
    """The interpenetrating vertex pairs of B rows at one state u0: Eq. 7 as least-squares residuals.

    left_ids (K_l,), right_ids (K_r,) long: the vertices of each hand that take part (in any row);
    left_pos, right_pos (P,) long: each pair's vertices, as positions in left_ids / right_ids;
    normal (B, P, 3): the normal n_j of the pair's other-hand vertex at u0, signed so that the depth
        d_i = -normal . (V_r - V_l) (Eq. 8's test is d_i > 0);
    factor (B, P): sqrt(w_pen / (2 V d0)) per row and pair, d0 the pair's depth at u0 (cm), V the
        penetrating hand's vertex count; 0 where the pair is not one of the row's.

    The residual factor * d_i (cm) squares to w_pen d_i^2 / (2 V d0): iteratively reweighted least
    squares of w_pen d_i / V, whose gradient at u0 it shares. Its measure is the depth behind the other
    hand's tangent plane, which is zero where the vertex has come out, and where Eq. 7 drops to zero;
    Eq. 7's own measure, the distance to the nearest vertex, held as a residual pulls a vertex sideways
    along the surface as well, and left hands through each other stuck in a Gauss-Newton solve (tests).
    The solver accepts a step on Eq. 7 itself (refinement/levenberg_marquardt.py).
    """

    left_ids: Tensor
    right_ids: Tensor
    left_pos: Tensor
    right_pos: Tensor
    normal: Tensor
    factor: Tensor


class HandPoints(NamedTuple):
    """The points of B two-hand states the residuals read, metres, world frame: keypoints (B, 21, 3) per hand,
    and the vertices of a PenetrationPairs (B, K_l, 3), (B, K_r, 3) (its left_ids, right_ids), None without."""

    left_keypoints: Tensor
    right_keypoints: Tensor
    left_vertices: Tensor | None = None
    right_vertices: Tensor | None = None


def hands_near(left_keypoints: Tensor, right_keypoints: Tensor, gate_m: float) -> Tensor:
    """left_keypoints, right_keypoints (B, 21, 3) metres -> (B,) bool: the two skeletons come closer than
    ``gate_m`` (closest pair of keypoints, bones sampled at their ends and middles), so that their meshes
    may touch within a frame's motion. NaN keypoints count as far."""
    left, right = (_bone_points(k) for k in (left_keypoints, right_keypoints))
    distance = torch.cdist(left.nan_to_num(1e6), right.nan_to_num(-1e6)).amin(dim=(-1, -2))
    return distance < gate_m


def _bone_points(keypoints: Tensor) -> Tensor:
    """(B, 21, 3) -> (B, 41, 3): the keypoints and the middle of each of the 20 bones."""
    start, end = bone_segments(keypoints)
    middles = 0.5 * (end + start)
    return torch.cat([keypoints, middles], dim=1)


def robust_keypoint_error(keypoints: Tensor, target: Tensor, weight: Tensor, scale_m: float) -> Tensor:
    """keypoints, target (B, 21, 3) metres, weight (B, 21) -> (B,) weighted Geman-McClure error, cm^2 per keypoint."""
    r2 = ((keypoints - target) * _CM).pow(2).sum(-1)
    s2 = (scale_m * _CM) ** 2
    return (weight * r2 * s2 / (r2 + s2)).sum(-1) / NUM_KEYPOINTS


def robust_keypoint_residual(keypoints: Tensor, target: Tensor, weight: Tensor, scale_m: float) -> Tensor:
    """keypoints, target (B, 21, 3) metres, weight (B, 21) -> (B, 63) cm: the residual whose squares sum to
    ``robust_keypoint_error``, (J - K) s sqrt(w / 21) / sqrt(r^2 + s^2) per keypoint."""
    difference = (keypoints - target) * _CM
    s2 = (scale_m * _CM) ** 2
    factor = (weight * s2 / NUM_KEYPOINTS).sqrt() / (difference.pow(2).sum(-1) + s2).sqrt()
    return (difference * factor[..., None]).flatten(1)


class RefinementObjective:
    """Per-row terms of the objective for a two-hand state; the frozen prior and the hand layers inside."""

    def __init__(
        self,
        denoise: DenoiseFn,
        schedule: DiffusionSchedule,
        normalizer: Normalizer,
        left_layer: HandLayer,
        right_layer: HandLayer,
        config: RefinerConfig,
        noise: Tensor,
    ) -> None:
        self.denoise = denoise
        self.schedule = schedule
        self.normalizer = normalizer
        self.left_layer = left_layer
        self.right_layer = right_layer
        self.config = config
        self.noise = noise

    def keypoints(self, left: HandParams, right: HandParams) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """-> left keypoints, right keypoints (B, 21, 3), left vertices, right vertices (B, V, 3), metres."""
        lo = self.left_layer(left)
        ro = self.right_layer(right)
        return lo.keypoints, ro.keypoints, lo.vertices, ro.vertices

    def terms(self, left: HandParams, right: HandParams, targets: FrameTargets) -> dict[str, Tensor]:
        """-> {term: (B,)} unweighted terms (see the module docstring)."""
        c = self.config
        both = targets.left_present & targets.right_present
        near = both if targets.near is None else both & targets.near
        penetrating = c.penetration_weight > 0 and bool(near.any())
        estimated = targets.prior_estimate is not None and targets.placement is not None
        left_v: Tensor | None = None
        right_v: Tensor | None = None
        if penetrating or (c.prior_weight > 0 and not estimated):
            left_kp, right_kp, left_v, right_v = self.keypoints(left, right)
        else:  # no term needs a mesh
            left_kp, right_kp = self.left_layer.keypoints(left), self.right_layer.keypoints(right)
        zero = left_kp.new_zeros(left_kp.shape[0])
        lp, rp = targets.left_present.to(zero.dtype), targets.right_present.to(zero.dtype)
        data = robust_keypoint_error(left_kp, targets.left_keypoints, targets.left_weight, c.robust_scale_m)
        data = data + robust_keypoint_error(right_kp, targets.right_keypoints, targets.right_weight, c.robust_scale_m)
        prior = zero
        if c.prior_weight > 0:
            judged_left, judged_right = targets.left_judged, targets.right_judged
            states = pair_states(self.normalizer, left, right, judged_left)
            estimate, placement = targets.prior_estimate, targets.placement
            if estimate is None or placement is None:
                estimate, placement = self.prior_estimate(left, right, targets, left_v, right_v)
            prior = regularizer_from_estimate(
                states, estimate, judged_left, judged_right, judged_left & judged_right & placement
            )
        penetration = zero
        if penetrating and left_v is not None and right_v is not None:
            depth = penetration_loss(right_v, self.right_layer.faces, left_v, self.left_layer.faces)
            penetration = depth * near.to(zero.dtype)
        smoothness = ((left_kp - targets.left_prediction) * _CM).pow(2).sum(-1).mean(-1) * targets.left_smooth.to(
            zero.dtype
        ) + ((right_kp - targets.right_prediction) * _CM).pow(2).sum(-1).mean(-1) * targets.right_smooth.to(zero.dtype)
        pose = left.pose.pow(2).mean(-1) * lp + right.pose.pow(2).mean(-1) * rp
        betas = left.betas.pow(2).mean(-1) * lp + right.betas.pow(2).mean(-1) * rp
        return {
            "data": data,
            "prior": prior,
            "penetration": penetration,
            "smoothness": smoothness,
            "pose": pose,
            "betas": betas,
        }

    def residuals(
        self, left: HandParams, right: HandParams, targets: FrameTargets, pairs: PenetrationPairs | None = None
    ) -> Tensor:
        """-> (B, R) the least-squares form of every term but penetration: the sum of their squares per row is
        ``__call__`` without the penetration term (tests/refinement/test_objective.py compares them).

        The keypoints come from HandLayer.keypoints (no mesh); Eq. 9's target must be fixed
        (targets.prior_estimate and targets.placement set) when prior_weight > 0. The Geman-McClure error
        becomes the residual (J - K) s / sqrt(r^2 + s^2), whose square is rho(r). Row order: left data,
        right data (63 each), smoothness (63 each), pose (45 each), betas (10 each), then the prior's
        anchor (55) and other hand (64) when prior_weight > 0, then with ``pairs`` one per pair of Eq. 7's
        least-squares form (PenetrationPairs).
        """
        return self.residuals_at(left, right, self.hand_points(left, right, pairs), targets, pairs)

    def hand_points(self, left: HandParams, right: HandParams, pairs: PenetrationPairs | None = None) -> HandPoints:
        """left, right (B,) -> HandPoints: the keypoints, and the vertices of ``pairs`` where given (no mesh)."""
        if pairs is None:
            return HandPoints(self.left_layer.keypoints(left), self.right_layer.keypoints(right))
        left_kp, left_v = self.left_layer.keypoints_and_vertices(left, pairs.left_ids)
        right_kp, right_v = self.right_layer.keypoints_and_vertices(right, pairs.right_ids)
        return HandPoints(left_kp, right_kp, left_v, right_v)

    def residuals_at(
        self,
        left: HandParams,
        right: HandParams,
        points: HandPoints,
        targets: FrameTargets,
        pairs: PenetrationPairs | None = None,
    ) -> Tensor:
        """``residuals`` with the hands' points given: points = hand_points(left, right, pairs), or the same
        points gathered from fewer evaluations (levenberg_marquardt.py evaluates each hand only on the
        states that move it)."""
        c = self.config
        left_kp, right_kp = points.left_keypoints, points.right_keypoints
        dtype = left_kp.dtype
        lp, rp = targets.left_present.to(dtype)[:, None], targets.right_present.to(dtype)[:, None]
        parts = [
            robust_keypoint_residual(left_kp, targets.left_keypoints, targets.left_weight, c.robust_scale_m),
            robust_keypoint_residual(right_kp, targets.right_keypoints, targets.right_weight, c.robust_scale_m),
        ]
        parts = [c.keypoint_weight**0.5 * part for part in parts]
        for keypoints, prediction, smooth in (
            (left_kp, targets.left_prediction, targets.left_smooth),
            (right_kp, targets.right_prediction, targets.right_smooth),
        ):
            scale = (c.smoothness_weight / NUM_KEYPOINTS) ** 0.5 * smooth.to(dtype)[:, None]
            parts.append(((keypoints - prediction) * _CM).flatten(1) * scale)
        pose_scale, betas_scale = (
            (c.pose_weight / left.pose.shape[-1]) ** 0.5,
            (c.betas_weight / left.betas.shape[-1]) ** 0.5,
        )
        parts += [left.pose * pose_scale * lp, right.pose * pose_scale * rp]
        parts += [left.betas * betas_scale * lp, right.betas * betas_scale * rp]
        if c.prior_weight > 0:
            estimate, placement = targets.prior_estimate, targets.placement
            if estimate is None or placement is None:
                raise ValueError("residuals need Eq. 9's target fixed: set targets.prior_estimate and placement")
            judged_left, judged_right = targets.left_judged, targets.right_judged
            states = pair_states(self.normalizer, left, right, judged_left)
            parts += [
                c.prior_weight**0.5 * part
                for part in regularizer_residuals(
                    states, estimate.to(dtype), judged_left, judged_right, judged_left & judged_right & placement
                )
            ]
        if pairs is not None:
            if points.left_vertices is None or points.right_vertices is None:
                raise ValueError("residuals with penetration pairs need the pairs' vertices in points")
            offsets = (points.right_vertices[:, pairs.right_pos] - points.left_vertices[:, pairs.left_pos]) * _CM
            parts.append(-(offsets * pairs.normal).sum(-1) * pairs.factor)
        return torch.cat(parts, dim=-1)

    @torch.no_grad()
    def penetration_pairs(
        self, left: HandParams, right: HandParams, near: Tensor
    ) -> tuple[PenetrationPairs | None, Tensor, Tensor]:
        """The rows' interpenetrating vertex pairs (Eq. 8, both ways; ``near`` (B,) bool rows only) ->
        (PenetrationPairs, None where no pair), the weighted penetration term (B,) at this state
        (``terms``' penetration times penetration_weight) and the deepest vertex's depth behind the other
        surface along its normal (B,) metres, 0 where none (``deepest_penetration`` reports the distance to
        the nearest vertex instead, Eq. 7's measure, which is never smaller)."""
        return self.vertex_penetration_pairs(self.left_layer(left).vertices, self.right_layer(right).vertices, near)

    @torch.no_grad()
    def vertex_penetration_pairs(
        self, left_v: Tensor, right_v: Tensor, near: Tensor
    ) -> tuple[PenetrationPairs | None, Tensor, Tensor]:
        """left_v (B, V_l, 3), right_v (B, V_r, 3) metres, the hands' meshes (a caller that has them from the
        same forward as its keypoints), near (B,) bool -> ``penetration_pairs``'s answer."""
        # k-d trees on the CPU, cut off at HAND_SEARCH_RADIUS_M (contact/penetration.py says what it may miss);
        # elsewhere all pairs
        indices = hand_pair_indices(right_v, left_v, radius=HAND_SEARCH_RADIUS_M)
        right_to_left, left_to_right = indices if indices is not None else nearest_neighbors_both_ways(right_v, left_v)
        depths = hand_pair_depths(
            left_v,
            self.left_layer.faces,
            right_v,
            self.right_layer.faces,
            right_to_left.clamp_min(0),
            left_to_right.clamp_min(0),
        )
        weight = self.config.penetration_weight
        found = []  # per direction: (row, penetrating vertex, its nearest other vertex, D0, d0 (cm), normal, V)
        total = left_v.new_zeros(left_v.shape[0])
        deepest = left_v.new_zeros(left_v.shape[0])
        for sign, vertices, other_normals, index, depth, distance in (
            (1.0, right_v, depths.left_normals, right_to_left, depths.right_depth, depths.right_distance),
            (-1.0, left_v, depths.right_normals, left_to_right, depths.left_depth, depths.left_distance),
        ):
            searched = (index >= 0) & near[:, None]
            nearest = index.clamp_min(0)
            inside = searched & (depth > 0)
            total = total + weight * _CM * torch.where(inside, distance, 0.0).sum(-1) / vertices.shape[1]
            deepest = torch.maximum(deepest, torch.where(inside, depth, 0.0).amax(-1))
            rows, ids = inside.nonzero(as_tuple=True)
            partner = nearest[rows, ids]
            normal = sign * other_normals[rows, partner]
            found.append(
                (rows, ids, partner, distance[rows, ids] * _CM, depth[rows, ids] * _CM, normal, vertices.shape[1])
            )
        if sum(item[0].numel() for item in found) == 0:
            return None, total, deepest
        (r_rows, r_ids, l_of_r, r_dist, r_depth, r_normal, r_count) = found[0]
        (l_rows, l_ids, r_of_l, l_dist, l_depth, l_normal, l_count) = found[1]
        pair_rows = torch.cat([r_rows, l_rows])
        pairs = torch.arange(pair_rows.numel(), device=pair_rows.device)
        pair_left = torch.cat([l_of_r, l_ids])
        pair_right = torch.cat([r_ids, r_of_l])
        counts = torch.cat([torch.full_like(r_dist, r_count), torch.full_like(l_dist, l_count)])
        depth0 = torch.cat([r_depth, l_depth]).clamp_min(_PAIR_DEPTH_FLOOR_CM)
        left_ids, left_pos = torch.unique(pair_left, return_inverse=True)
        right_ids, right_pos = torch.unique(pair_right, return_inverse=True)
        factor = left_v.new_zeros(left_v.shape[0], pair_rows.numel())
        factor[pair_rows, pairs] = (weight / (2.0 * counts * depth0)).sqrt()
        normal = left_v.new_zeros(left_v.shape[0], pair_rows.numel(), 3)
        normal[pair_rows, pairs] = torch.cat([r_normal, l_normal])
        return PenetrationPairs(left_ids, right_ids, left_pos, right_pos, normal, factor), total, deepest

    @torch.no_grad()
    def prior_estimate(
        self,
        left: HandParams,
        right: HandParams,
        targets: FrameTargets,
        left_v: Tensor | None = None,
        right_v: Tensor | None = None,
    ) -> tuple[Tensor, Tensor]:
        """The detached target of Eq. 9 at this state and the rows whose placement it judges ->
        (estimate (2B, 64), placement (B,) bool); pass them as FrameTargets.prior_estimate / placement to
        keep the target fixed over a frame's iterations."""
        if left_v is None or right_v is None:
            _, _, left_v, right_v = self.keypoints(left, right)
        # A gate, not a term: the prior's knowledge of placement is of interacting hands.
        placement = torch.cdist(left_v, right_v).amin(dim=(-1, -2)) < self.config.prior_placement_distance_m
        states = pair_states(self.normalizer, left, right, targets.left_judged)
        estimate = forward_reverse_estimate(self.denoise, self.schedule, states, self.config.prior_timestep, self.noise)
        return estimate, placement

    @torch.no_grad()
    def deepest_penetration(self, left: HandParams, right: HandParams) -> Tensor:
        """(B,) metres: the deepest vertex of either hand behind the other's surface (Eq. 8), without gradients."""
        _, _, left_v, right_v = self.keypoints(left, right)
        left_n = vertex_normals(left_v, self.left_layer.faces)
        right_n = vertex_normals(right_v, self.right_layer.faces)
        right_in = one_way_penetration(right_v, left_v, left_n).amax(dim=-1)
        return torch.maximum(right_in, one_way_penetration(left_v, right_v, right_n).amax(dim=-1))

    def weights(self) -> dict[str, float]:
        c = self.config
        return {
            "data": c.keypoint_weight,
            "prior": c.prior_weight,
            "penetration": c.penetration_weight,
            "smoothness": c.smoothness_weight,
            "pose": c.pose_weight,
            "betas": c.betas_weight,
        }

    def __call__(self, left: HandParams, right: HandParams, targets: FrameTargets) -> Tensor:
        """-> (B,) the weighted sum of the terms."""
        terms = self.terms(left, right, targets)
        return sum((w * terms[name] for name, w in self.weights().items()), torch.zeros_like(terms["data"]))
