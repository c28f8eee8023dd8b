"""Synthetic close two-hand interactions, made plausible through the hand model.

Each sample starts from a template of an interaction kind (how the right hand is placed
and articulated relative to the left), randomised in shape, articulation and placement,
and is then optimised through the differentiable hand layer so that the hands touch
where the kind says they touch and do not interpenetrate. Samples that still penetrate
or do not touch after optimisation are rejected and replaced.

Frames: the left hand is the anchor, canonical (identity rotation, wrist at the origin;
fingers along +x, thumb towards +z, palm facing -y). The right hand's rest pose has
fingers along -x, thumb towards +z and palm facing -y.

Everything is batched over samples; the only loops are over optimisation iterations and
over fixed-size chunks of samples.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from interhandgen_core.contact.interaction import InteractionStatistics, interaction_statistics, measure_interaction
from interhandgen_core.contact.penetration import hand_pair_depths, margin_penetration
from interhandgen_core.data.hand_pair_synthesis import (
    Candidates,
    HandOffsets,
    HandPairSynthesizer,
    Rounds,
    collect_plausible,
)
from interhandgen_core.errors import ConfigError, InterHandGenError
from interhandgen_core.geometry.nearest import nearest_neighbors
from interhandgen_core.geometry.rotations import axis_angle_to_matrix
from interhandgen_core.hands.articulation import curl_pose
from interhandgen_core.hands.hand_params import HandParams
from interhandgen_core.hands.keypoints import KEYPOINT_NAMES
from interhandgen_core.hands.layer import HandLayer, HandOutput
from interhandgen_core.hands.placement import hand_frame, palm_centre_offset

INTERACTION_KINDS: tuple[str, ...] = (
    "palm_to_palm",
    "interlaced_fingers",
    "handshake",
    "stacked",
    "fist_in_palm",
    "hold_wrist",
    "hold_fingers",
    "fingertips",
    "pinch_finger",
)

_KP = {name: i for i, name in enumerate(KEYPOINT_NAMES)}
_TIPS = [_KP[f"{f}_tip"] for f in ("thumb", "index", "middle", "ring", "pinky")]
_MARGIN_M = 0.001  # penetration counts from this far in front of the other hand's skin


class SynthesisError(InterHandGenError):
    """Too few samples passed the plausibility check."""


@dataclass(frozen=True)
class TwoHandSynthConfig:
    """Settings of the synthetic two-hand generator (lengths in metres).

    num: accepted samples to produce. kinds: interaction kinds to draw from, uniformly.
    chunk_size: candidates optimised together (memory bound). iterations: Adam steps per
    candidate; nn_refresh_every: steps between nearest-neighbour searches. beta_std,
    pose_noise_std: spread of shapes and of articulation around each template.
    max_penetration_m, max_gap_m: acceptance test (exact depth, closest approach).
    max_rounds: give up after max_rounds x num candidates. *_weight: loss weights.
    """

    num: int
    seed: int = 0
    kinds: tuple[str, ...] = INTERACTION_KINDS
    chunk_size: int = 256
    iterations: int = 30
    nn_refresh_every: int = 5
    beta_std: float = 0.8
    pose_noise_std: float = 0.08
    max_penetration_m: float = 0.003
    max_gap_m: float = 0.005
    max_rounds: int = 20
    penetration_weight: float = 1.0
    contact_weight: float = 1.0
    pose_weight: float = 0.5

    def __post_init__(self) -> None:
        if self.num < 1:
            raise ConfigError(f"num must be >= 1, got {self.num}")
        unknown = sorted(set(self.kinds) - set(INTERACTION_KINDS))
        if unknown or not self.kinds:
            raise ConfigError(f"unknown interaction kinds {unknown}; choose from {list(INTERACTION_KINDS)}")
        if self.chunk_size < 1 or self.iterations < 0 or self.nn_refresh_every < 1:
            raise ConfigError("chunk_size and nn_refresh_every must be >= 1 and iterations >= 0")


@dataclass
class TwoHandSet:
    """N accepted samples: both hands in the left hand's canonical frame, the kind of each."""

    left: HandParams
    right: HandParams
    kind: Tensor  # (N,) long into INTERACTION_KINDS
    attempts: int
    penetration_depth: Tensor  # (N,) metres, exact measurement (contact/interaction.py)
    minimum_distance: Tensor  # (N,) metres

    def kind_counts(self) -> dict[str, int]:
        """Samples per interaction kind, every kind of INTERACTION_KINDS listed in its order."""
        counts = torch.bincount(self.kind, minlength=len(INTERACTION_KINDS)).tolist()
        return dict(zip(INTERACTION_KINDS, counts, strict=True))

    def statistics(self) -> InteractionStatistics:
        """Penetration and proximity over the N samples (millimetres, ratios; contact/interaction.py)."""
        return interaction_statistics(self.penetration_depth, self.minimum_distance)

    def summary(self, config: TwoHandSynthConfig, hand_model: str) -> dict[str, Any]:
        """The .json beside a synthesised data set: what was asked for, what it took, what came out.

        config: the settings that made this set (num, seed). hand_model: the hand model's name.
        Keys, in order: num, seed, attempts, acceptance_ratio (num / attempts), kinds (samples per
        kind), statistics (``statistics().as_dict()``), hand_model.
        """
        return {
            "num": config.num,
            "seed": config.seed,
            "attempts": self.attempts,
            "acceptance_ratio": config.num / self.attempts,
            "kinds": self.kind_counts(),
            "statistics": self.statistics().as_dict(),
            "hand_model": hand_model,
        }


def _uniform(generator: torch.Generator, shape: tuple[int, ...], low: float, high: float) -> Tensor:
    return low + (high - low) * torch.rand(shape, generator=generator)


@dataclass
class _Template:
    """Initial state of a chunk: right root, both articulations, contact terms."""

    right_rotation: Tensor  # (B, 3, 3)
    right_palm: Tensor  # (B, 3) desired palm centre, left frame
    right_curl: Tensor  # (B, 5)
    right_spread: Tensor  # (B,)
    left_curl: Tensor  # (B, 5)
    left_spread: Tensor  # (B,)
    # Right keypoints that should touch the left surface: (B, 21) weight.
    right_touch: Tensor
    # Pairs (right keypoint, left keypoint) that should meet: (B, 21, 21) weight.
    keypoint_pairs: Tensor


def _random_unit_perpendicular(generator: torch.Generator, axis: Tensor) -> Tensor:
    """(B, 3) random unit vectors perpendicular to the unit vectors ``axis`` (B, 3)."""
    v = torch.randn(axis.shape, generator=generator)
    v = v - (v * axis).sum(-1, keepdim=True) * axis
    return torch.nn.functional.normalize(v, dim=-1)


def _templates(kind: Tensor, generator: torch.Generator, left_anchor: dict[str, Tensor]) -> _Template:
    """kind (B,) long -> the randomised starting placement of every sample (left frame, metres).

    ``left_anchor`` holds left-hand landmarks of the rest pose: 'palm' (B, 3) palm centre,
    'index_tip' (B, 3), 'middle1' (B, 3).
    """
    b = kind.shape[0]
    ex, ey, ez = torch.eye(3).unbind(0)
    ones = torch.ones(b, 1)

    def u(low: float, high: float, *shape: int) -> Tensor:
        return _uniform(generator, (b, *shape), low, high)

    def sign() -> Tensor:
        return torch.where(torch.rand(b, 1, generator=generator) < 0.5, -1.0, 1.0)

    fingers = ex.expand(b, 3).clone()
    normal = ey.expand(b, 3).clone()
    palm = left_anchor["palm"].clone()
    right_curl, left_curl = u(0.0, 0.3, 5), u(0.0, 0.3, 5)
    right_spread, left_spread = u(-0.3, 0.5), u(-0.3, 0.5)
    right_touch = torch.zeros(b, 21)
    pairs = torch.zeros(b, 21, 21)
    tilt = u(-0.35, 0.35, 1)  # radians, about the palm normal

    k = {name: kind == i for i, name in enumerate(INTERACTION_KINDS)}

    # Palms facing each other, fingers the same way (right palm up, under the left palm).
    m = k["palm_to_palm"] | k["interlaced_fingers"]
    fingers[m] = torch.cat([torch.cos(tilt), torch.zeros(b, 1), torch.sin(tilt)], 1)[m]
    normal[m] = ey
    palm[m] = (left_anchor["palm"] + torch.cat([u(-0.015, 0.015, 1), -0.033 * ones, u(-0.01, 0.01, 1)], 1))[m]
    m = k["interlaced_fingers"]
    palm[m] += (torch.cat([torch.zeros(b, 2), 0.009 * sign()], 1))[m]
    right_curl[m] = torch.cat([u(0.1, 0.3, 1), u(0.15, 0.4, 4)], 1)[m]
    left_curl[m] = torch.cat([u(0.1, 0.3, 1), u(0.15, 0.4, 4)], 1)[m]
    right_spread[m], left_spread[m] = u(0.6, 1.0)[m], u(0.6, 1.0)[m]

    # Handshake: palms facing, fingers opposite, both wrapping.
    m = k["handshake"]
    fingers[m] = torch.cat([-torch.cos(tilt), torch.zeros(b, 1), torch.sin(tilt)], 1)[m]
    normal[m] = ey
    palm[m] = (left_anchor["palm"] + torch.cat([u(-0.02, 0.0, 1), -0.033 * ones, u(-0.01, 0.01, 1)], 1))[m]
    right_curl[m] = torch.cat([u(0.2, 0.5, 1), u(0.35, 0.65, 4)], 1)[m]
    left_curl[m] = torch.cat([u(0.2, 0.5, 1), u(0.35, 0.65, 4)], 1)[m]

    # Right palm resting on the back of the left hand, any yaw.
    m = k["stacked"]
    yaw = u(-math.pi, math.pi, 1)
    fingers[m] = torch.cat([torch.cos(yaw), torch.zeros(b, 1), torch.sin(yaw)], 1)[m]
    normal[m] = -ey
    palm[m] = (left_anchor["palm"] + torch.cat([u(-0.02, 0.02, 1), 0.028 * ones, u(-0.015, 0.015, 1)], 1))[m]
    right_curl[m] = u(0.0, 0.35, 5)[m]

    # A right fist pressed into the cupped left palm, knuckles up.
    m = k["fist_in_palm"]
    fingers[m] = ey
    normal[m] = _random_unit_perpendicular(generator, ey.expand(b, 3))[m]
    palm[m] = (left_anchor["palm"] + torch.cat([u(-0.01, 0.01, 1), -0.063 * ones, u(-0.01, 0.01, 1)], 1))[m]
    right_curl[m] = u(0.85, 1.0, 5)[m]
    left_curl[m] = torch.cat([u(0.1, 0.4, 1), u(0.2, 0.45, 4)], 1)[m]

    # Right hand wrapped around the left wrist, from above or below.
    m = k["hold_wrist"]
    above = sign()
    fingers[m] = (ez.expand(b, 3) * sign())[m]
    normal[m] = (-ey.expand(b, 3) * above)[m]
    palm[m] = torch.cat([u(-0.025, -0.005, 1), 0.026 * above, u(-0.01, 0.01, 1)], 1)[m]
    right_curl[m] = torch.cat([u(0.5, 0.8, 1), u(0.6, 0.9, 4)], 1)[m]
    left_curl[m] = u(0.0, 0.6, 5)[m]
    right_touch[m] = torch.zeros(21).index_fill(0, torch.tensor(_TIPS[1:]), 1.0)

    # Right hand holding the extended left fingers, from above or below.
    m = k["hold_fingers"]
    above = sign()
    fingers[m] = (ez.expand(b, 3) * sign())[m]
    normal[m] = (-ey.expand(b, 3) * above)[m]
    palm[m] = (left_anchor["middle1"] + torch.cat([u(0.02, 0.045, 1), 0.027 * above, u(-0.01, 0.01, 1)], 1))[m]
    right_curl[m] = torch.cat([u(0.3, 0.6, 1), u(0.45, 0.75, 4)], 1)[m]
    left_curl[m] = u(0.0, 0.2, 5)[m]
    right_touch[m] = torch.zeros(21).index_fill(0, torch.tensor(_TIPS[1:]), 1.0)

    # Steeple: palms facing each other apart, matching fingertips touching.
    m = k["fingertips"]
    lean = u(0.15, 0.6, 1)
    fingers[m] = torch.cat([torch.cos(lean), torch.sin(lean), torch.zeros(b, 1)], 1)[m]
    normal[m] = ey
    palm[m] = (left_anchor["palm"] + torch.cat([u(-0.01, 0.01, 1), u(-0.1, -0.07, 1), u(-0.01, 0.01, 1)], 1))[m]
    right_curl[m], left_curl[m] = u(0.1, 0.4, 5)[m], u(0.1, 0.4, 5)[m]
    tips = torch.zeros(21, 21)
    for t in _TIPS:  # five fixed fingertip pairs, not a batch loop
        tips[t, t] = 1.0
    pairs[m] = tips

    # Right thumb and index pinching the tip of the left index finger.
    m = k["pinch_finger"]
    fingers[m] = torch.nn.functional.normalize(ey + 0.5 * ex, dim=-1).expand(b, 3)[m]
    normal[m] = (-ex).expand(b, 3)[m]
    palm[m] = (left_anchor["index_tip"] + torch.cat([u(0.04, 0.06, 1), u(-0.07, -0.05, 1), u(-0.01, 0.01, 1)], 1))[m]
    right_curl[m] = torch.cat([u(0.3, 0.5, 2), u(0.6, 0.95, 3)], 1)[m]
    pinch = torch.zeros(21, 21)
    pinch[_KP["thumb_tip"], _KP["index_tip"]] = 1.0
    pinch[_KP["index_tip"], _KP["index_tip"]] = 1.0
    pairs[m] = pinch

    # A random tilt of the whole right hand keeps every kind from being one pose.
    wobble = axis_angle_to_matrix(torch.randn(b, 3, generator=generator) * 0.15)
    rotation = wobble @ hand_frame("right", fingers, normal)
    return _Template(rotation, palm, right_curl, right_spread, left_curl, left_spread, right_touch, pairs)


class TwoHandSynthesizer(HandPairSynthesizer):
    """Generates interaction samples with the given right and left hand layers (same model, mirrored)."""

    def __init__(self, right_layer: HandLayer, left_layer: HandLayer) -> None:
        super().__init__(right_layer, left_layer)
        self.right_faces = right_layer.faces
        self.left_faces = left_layer.faces

    def _chunk(
        self, kind: Tensor, generator: torch.Generator, config: TwoHandSynthConfig
    ) -> tuple[HandParams, HandParams]:
        b = kind.shape[0]
        left_betas = (torch.randn(b, 10, generator=generator) * config.beta_std).clamp(-2, 2)
        right_betas = (torch.randn(b, 10, generator=generator) * config.beta_std).clamp(-2, 2)
        eye = torch.eye(3).expand(b, 3, 3)
        with torch.no_grad():
            flat = HandParams(torch.zeros(b, 45), left_betas, eye, torch.zeros(b, 3))
            rest = self.left_layer(flat).keypoints
        anchor = {
            "palm": palm_centre_offset(self.left_layer, left_betas),
            "index_tip": rest[:, _KP["index_tip"]],
            "middle1": rest[:, _KP["middle1"]],
        }
        tpl = _templates(kind, generator, anchor)
        right_pose0 = (
            curl_pose(tpl.right_curl, tpl.right_spread)
            + torch.randn(b, 45, generator=generator) * config.pose_noise_std
        )
        left_pose0 = (
            curl_pose(tpl.left_curl, tpl.left_spread) + torch.randn(b, 45, generator=generator) * config.pose_noise_std
        )
        # The left articulation is mirrored from the right-hand convention of curl_pose.
        left_pose0 = HandParams(left_pose0, left_betas, eye, torch.zeros(b, 3)).mirrored().pose
        right_palm_offset = palm_centre_offset(self.right_layer, right_betas)
        right_transl0 = tpl.right_palm - (tpl.right_rotation @ right_palm_offset[..., None])[..., 0]

        # The left hand is the anchor: only its articulation moves.
        right = HandOffsets.around(HandParams(right_pose0, right_betas, tpl.right_rotation, right_transl0))
        left = HandOffsets.around(HandParams(left_pose0, left_betas, eye, torch.zeros(b, 3)), placed=False)

        def loss(lo: HandOutput, ro: HandOutput, right_to_left: Tensor, left_to_right: Tensor) -> Tensor:
            return self._loss(lo, ro, right_to_left, left_to_right, tpl, left, right, config)

        return self.optimise(left, right, loss, config.iterations, config.nn_refresh_every)

    def _loss(
        self,
        lo: HandOutput,
        ro: HandOutput,
        right_to_left: Tensor,
        left_to_right: Tensor,
        tpl: _Template,
        left: HandOffsets,
        right: HandOffsets,
        config: TwoHandSynthConfig,
    ) -> Tensor:
        """-> (B,) loss of each candidate."""
        lv, rv = lo.vertices, ro.vertices
        lk, rk = lo.keypoints, ro.keypoints
        depths = hand_pair_depths(lv, self.left_faces, rv, self.right_faces, right_to_left, left_to_right)
        # Penetration (Eq. 8's depth, squared, cm^2); a 1 mm margin keeps touching surfaces from sinking in.
        pen = margin_penetration(depths.right_depth, _MARGIN_M) + margin_penetration(depths.left_depth, _MARGIN_M)
        # Touch: the closest approach of the two hands should be about zero.
        gap = torch.minimum(depths.right_distance.min(-1).values, depths.left_distance.min(-1).values)
        contact = (gap * 100).pow(2)
        # Designated right keypoints on the left surface (tips are surface points).
        d_touch, _ = nearest_neighbors(rk, lv)
        contact = contact + (tpl.right_touch * (d_touch * 100).pow(2)).sum(-1)
        # Designated keypoint pairs meeting.
        d_pairs = torch.cdist(rk, lk)
        contact = contact + (tpl.keypoint_pairs * (d_pairs * 100).pow(2)).sum((-1, -2))
        reg = right.pose.pow(2).sum(-1) + left.pose.pow(2).sum(-1) + 4 * right.rotation.pow(2).sum(-1)
        return config.penetration_weight * pen + config.contact_weight * contact + config.pose_weight * reg

    def generate(self, config: TwoHandSynthConfig, progress: bool = True) -> TwoHandSet:
        """Generate config.num accepted samples (left canonical, right relative to it)."""
        generator = torch.Generator().manual_seed(config.seed)
        kinds = torch.tensor([INTERACTION_KINDS.index(k) for k in config.kinds])

        def attempt(group: Tensor) -> tuple[Candidates, Tensor]:
            kind = kinds[torch.randint(len(kinds), (group.numel(),), generator=generator)]
            left, right = self._chunk(kind, generator, config)
            with torch.no_grad():
                lv = self.left_layer(left).vertices
                rv = self.right_layer(right).vertices
                depth, gap = measure_interaction(lv, self.left_faces, rv, self.right_faces)
            ok = (depth <= config.max_penetration_m) & (gap <= config.max_gap_m)
            ok &= torch.isfinite(left.pose).all(-1) & torch.isfinite(right.to_vector()).all(-1)
            return Candidates(left, right, {"kind": kind, "depth": depth, "gap": gap}), ok

        # One group, all samples; about 60% pass, so each round draws twice what is missing (at least 8).
        rounds = Rounds(config.chunk_size, 8, max_attempts=config.max_rounds * max(config.num, config.chunk_size))
        parts, attempts = collect_plausible(
            torch.tensor([config.num]), attempt, rounds, "synth twohand", "sample", progress
        )
        count = sum(len(p) for p in parts)
        if count < config.num:
            raise SynthesisError(
                f"only {count} of {config.num} samples passed the plausibility check after {attempts} attempts; "
                "loosen max_penetration_m / max_gap_m or raise iterations"
            )
        accepted = Candidates.cat(parts)
        return TwoHandSet(
            accepted.left,
            accepted.right,
            accepted.figures["kind"],
            attempts,
            accepted.figures["depth"],
            accepted.figures["gap"],
        )
