"""Synthetic two-hand motion: the ground truth of a hand-tracking benchmark.

A sequence strings together keyframe interactions (samples of data/twohand_synth.py): the
pair holds one keyframe for ``hold_s`` while the fingers move a little, moves to the next
over ``transition_s``, and so on, while the whole pair drifts and turns smoothly in the
world.

Notation (frame f = 0 .. F-1 at time t_f = f / fps, seconds):
    F                  config.frames
    K                  keyframes in the pool; k_0, k_1, ... the ones drawn for a sequence
                       (consecutive ones differ, so that every transition moves)
    P                  hold_s + transition_s: seconds from one keyframe to the next
    i(t), u(t)         segment floor(t / P) and progress through its transition,
                       u = clamp((t - i P - hold_s) / transition_s, 0, 1) (0 while holding)
    ease(u)            smoothstep 3u^2 - 2u^3: zero velocity at both ends of a transition
    theta_l, theta_r   (F, 45) finger pose, axis-angle radians: each joint's rotation goes
                       from keyframe k_i to k_{i+1} by quaternion slerp in ease(u), plus a
                       slow wiggle of up to finger_wiggle_rad about a random axis per joint
    R_rel, tau_rel     (F, 3, 3), (F, 3) metres: the right root (wrist) in the pair frame;
                       R_rel by quaternion slerp in ease((u - TURN_DELAY) / (1 - 2 TURN_DELAY))
    c_l                (3,) metres: the left palm centre, pair frame (PALM_CENTRE_M along +x)
    c_r                (F, 3) metres: the right palm centre, c_r = tau_rel + R_rel (-PALM_CENTRE_M, 0, 0)
    n_a, n_b, pivot    (3,) unit, pair frame: directions from c_l to c_r at keyframes k_i and
                       k_{i+1}, and the direction the path between them bends towards
    r_a, r_b           their distances |c_r - c_l|, metres
    c_r(u)             c_l + (lerp(r_a, r_b, ease) + reach separation_m sin^2(pi u)) swing(ease),
                       swing = the spherical Bezier n_a -> pivot -> n_b; reach is 1, or
                       CROSSING_REACH when the right hand changes sides of the left palm
    R_w, p_w           (F, 3, 3), (F, 3) metres: the pair frame in the world (the left root):
                       a few low-frequency sinusoids with random phases about (I, WORLD_CENTRE_M)
    beta_l, beta_r     (10,) one shape per hand for the whole sequence: keyframe k_0's

Frames:
    pair frame   the left hand's canonical frame (left wrist at the origin, identity
                 rotation: fingers +x, thumb +z, palm facing -y), the frame TwoHandSet
                 holds its samples in
    world frame  camera-like: the pair frame oscillates about WORLD_CENTRE_M, 0.5 m along
                 +z (in front of a camera at the origin looking along +z)

Why the right hand moves as it does: a straight path between two interactions, even with
a bump, runs the right hand through the left one whenever it goes from one side of the left
palm to the other (from the back of the hand to the palm), and a hand that turns about its
wrist sweeps its fingertips through whatever it held. So the right palm centre swings
around the left palm centre, stepping out radially (away from the left hand in every
direction at once), going round an edge of the left hand when it changes sides, and the
hand turns about its palm centre while it is out. Measured on the procedural hand over every
ordered pair of two 12-keyframe pools of one shape, this cut the mean penetration depth
(contact/interaction.py) during transitions from 1.9 mm (straight path, bump away from
the left palm centre) to 0.24 and 0.02 mm; the keyframes themselves have 0.4 and 0.2 mm.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from interhandgen_core.config import ConfigBase, setting
from interhandgen_core.data.twohand_synth import TwoHandSynthConfig, TwoHandSynthesizer
from interhandgen_core.errors import DataError
from interhandgen_core.geometry.rotations import axis_angle_to_matrix, matrix_to_quaternion, quaternion_to_axis_angle
from interhandgen_core.hands.hand_params import HandParams
from interhandgen_core.hands.layer import HandLayer

# Where the pair frame oscillates about, world frame, metres: an arm's length in front of a camera.
WORLD_CENTRE_M = (0.0, 0.0, 0.5)
# Wrist to palm centre along the fingers, metres (the procedural hand's is 0.068). Only the
# pivot of the right hand's swing and turn, so it need not match the hand model exactly.
PALM_CENTRE_M = 0.06
# A hand changing sides of the left palm goes round an edge of the left hand; at the plain
# separation its own 20 cm length still clips that edge.
CROSSING_REACH = 2.0
# The right hand turns during the middle 1 - 2 TURN_DELAY of a transition, once it has
# stepped out by at least sin^2(pi TURN_DELAY) = 35% of the separation: turning about its
# palm centre sweeps its fingertips about 12 cm per radian.
TURN_DELAY = 0.2
# Steering of a side change towards the left hand's pinky edge (-z): no thumb sticks out
# there and no forearm lies behind it.
_PINKY_LEAN = 0.5
# Frequency bands of the slow motions, Hz: the pair's drift and turn, and the finger wiggle.
# Their upper ends bound the speeds: travel_m 0.15 at 0.2 Hz is at most 0.19 m/s per axis.
_GLOBAL_BAND_HZ = (0.05, 0.2)
_WIGGLE_BAND_HZ = (0.1, 0.4)
_SINUSOIDS = 3


@dataclass(frozen=True)
class MotionConfig(ConfigBase):
    """Settings of :func:`synthesize_motion` (seconds, metres, degrees, radians).

    frames: frames per sequence (>= 2), at fps frames per second.
    hold_s: how long each keyframe interaction is held (>= 0); only the fingers wiggle.
    transition_s: time to move from one interaction to the next (> 0).
    separation_m: how far the right hand steps away from the left mid-transition, so that
        the hands do not pass through each other (twice that when it changes sides).
    travel_m: amplitude, per axis, of the pair's drift in the world.
    turn_deg: amplitude, per axis of a rotation vector, of the pair's turn in the world.
    finger_wiggle_rad: amplitude of the slow finger motion, per joint.
    """

    frames: int = setting(240, low=2, help="frames per sequence")
    fps: float = setting(30.0, low=0.0, high=1000.0, low_open=True, units="Hz", help="frames per second")
    hold_s: float = setting(1.0, low=0.0, high=3600.0, units="seconds", help="how long each keyframe is held")
    transition_s: float = setting(
        1.0, low=0.0, high=3600.0, low_open=True, units="seconds", help="time from one keyframe to the next"
    )
    separation_m: float = setting(
        0.06, low=0.0, high=1.0, units="metres", help="how far the right hand steps away mid-transition"
    )
    travel_m: float = setting(0.15, low=0.0, high=2.0, units="metres", help="amplitude per axis of the pair's drift")
    turn_deg: float = setting(30.0, low=0.0, high=180.0, units="degrees", help="amplitude per axis of the pair's turn")
    finger_wiggle_rad: float = setting(
        0.05, low=0.0, high=0.5, units="radians", help="amplitude of the slow finger motion per joint"
    )


def keyframe_pool(
    right_layer: HandLayer, left_layer: HandLayer, num: int, seed: int, beta_std: float = 0.0
) -> tuple[HandParams, HandParams]:
    """num keyframe interactions from the synthetic generator -> (left, right), (num, ...) each, pair frame.

    Lets a benchmark make its own keyframes instead of reading a dataset file (for that,
    data/dataset.py load_twohand_params returns the same pair). beta_std: spread of the
    hand shapes; the default 0 makes every keyframe the mean hand, so that the one shape a
    sequence keeps is the shape each keyframe was made plausible with (see
    :func:`synthesize_motion` for what mixing shapes costs).
    """
    config = TwoHandSynthConfig(num=num, seed=seed, beta_std=beta_std)
    result = TwoHandSynthesizer(right_layer, left_layer).generate(config, progress=False)
    return result.left, result.right


def _smoothstep(u: Tensor) -> Tensor:
    return u * u * (3.0 - 2.0 * u)


def _slerp(v0: Tensor, v1: Tensor, s: Tensor, double_cover: bool = False) -> Tensor:
    """v0, v1: (..., D) unit vectors, s: (...,) in [0, 1] -> (..., D) unit, along the great circle between them.

    double_cover: v and -v are one rotation (unit quaternions); go the shorter way round.
    """
    dot = (v0 * v1).sum(-1, keepdim=True)
    if double_cover:
        v1 = torch.where(dot < 0, -v1, v1)
        dot = dot.abs()
    angle = torch.acos(dot.clamp(-1.0, 1.0))
    sin_angle = torch.sin(angle)
    s = s[..., None]
    # Nearly equal vectors: sin(angle) -> 0, where lerp is exact to first order.
    near = sin_angle < 1e-6
    w0 = torch.where(near, 1.0 - s, torch.sin((1.0 - s) * angle) / sin_angle.clamp_min(1e-6))
    w1 = torch.where(near, s, torch.sin(s * angle) / sin_angle.clamp_min(1e-6))
    return torch.nn.functional.normalize(w0 * v0 + w1 * v1, dim=-1)


def _quaternion_to_matrix(quaternion: Tensor) -> Tensor:
    return axis_angle_to_matrix(quaternion_to_axis_angle(quaternion))


def _interpolate_pose(pose: Tensor, a: Tensor, b: Tensor, s: Tensor) -> Tensor:
    """pose (K, 45) axis-angle radians, keyframe indices a, b (F,), s (F,) in [0, 1] -> (F, 45), joint by joint slerp."""
    quaternions = matrix_to_quaternion(axis_angle_to_matrix(pose.reshape(-1, 15, 3)))
    q = _slerp(quaternions[a], quaternions[b], s[:, None].expand(-1, 15), double_cover=True)
    return quaternion_to_axis_angle(q).reshape(-1, 45)


def _smooth_signal(t: Tensor, dims: int, band_hz: tuple[float, float], generator: torch.Generator) -> Tensor:
    """t: (F,) seconds -> (F, dims) in [-1, 1]: per dimension a convex mix of sinusoids of random frequency and phase."""
    low, high = band_hz
    frequency = low + (high - low) * torch.rand(dims, _SINUSOIDS, generator=generator, dtype=torch.float64)
    phase = 2.0 * math.pi * torch.rand(dims, _SINUSOIDS, generator=generator, dtype=torch.float64)
    # The floor keeps any one sinusoid from vanishing, so that no dimension sits still.
    weight = torch.rand(dims, _SINUSOIDS, generator=generator, dtype=torch.float64) + 0.1
    weight = weight / weight.sum(-1, keepdim=True)
    return (weight * torch.sin(2.0 * math.pi * frequency * t[:, None, None] + phase)).sum(-1)


def _palm_offsets(dtype: torch.dtype) -> tuple[Tensor, Tensor]:
    """-> (3,) the right palm centre from its wrist, right hand frame; (3,) the left palm centre, pair frame; metres."""
    # The right hand's fingers point along its -x axis, the left hand's along +x (hands/placement.py).
    right = torch.tensor([-PALM_CENTRE_M, 0.0, 0.0], dtype=dtype)
    return right, -right


def _pivots(out_a: Tensor, out_b: Tensor) -> tuple[Tensor, Tensor]:
    """n_a, n_b: (S, 3) unit, pair frame -> pivot (S, 3) unit, crossing (S,) bool: the hand changes sides.

    On one side of the left palm plane (y = 0) the pivot is the middle of the arc from n_a
    to n_b. A hand that changes sides must go round an edge of the left hand: the pivot
    lies in the palm plane, on the side both keyframes lean towards, steered towards the
    pinky edge. Antiparallel n_a, n_b (no arc to take the middle of) count as a side change.
    """
    mean = out_a + out_b
    pinky = torch.tensor([0.0, 0.0, -1.0], dtype=mean.dtype)
    in_plane = mean * torch.tensor([1.0, 0.0, 1.0], dtype=mean.dtype) + _PINKY_LEAN * pinky
    crossing = (out_a[:, 1] * out_b[:, 1] < 0) | (mean.norm(dim=-1) < 0.2)
    pivot = torch.where(crossing[:, None], in_plane, mean)
    return torch.nn.functional.normalize(pivot, dim=-1), crossing


def _swing(out_a: Tensor, pivot: Tensor, out_b: Tensor, s: Tensor) -> Tensor:
    """Quadratic Bezier on the unit sphere (de Casteljau with slerp): (F, 3) unit each, s (F,) -> (F, 3) unit."""
    return _slerp(_slerp(out_a, pivot, s), _slerp(pivot, out_b, s), s)


def _pair_frame_motion(
    left_keys: HandParams, relative: HandParams, order: Tensor, segment: Tensor, u: Tensor, separation_m: float
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """The interpolated pair, before the wiggle, pair frame.

    left_keys, relative: (K, ...) keyframes, the right hand in the left hand's frame;
    order: (S,) keyframe indices k_0 .. k_{S-1}; segment: (F,) long; u: (F,) float64 in [0, 1]
    -> left pose (F, 45) radians, right pose (F, 45) radians, R_rel (F, 3, 3), tau_rel (F, 3) metres.
    """
    dtype = relative.translation.dtype
    a, b = order[segment], order[segment + 1]
    s = _smoothstep(u).to(dtype)
    left_pose = _interpolate_pose(left_keys.pose, a, b, s)
    right_pose = _interpolate_pose(relative.pose, a, b, s)

    turn = _smoothstep(((u - TURN_DELAY) / (1.0 - 2.0 * TURN_DELAY)).clamp(0.0, 1.0)).to(dtype)
    root_q = matrix_to_quaternion(relative.rotation)
    right_rotation = _quaternion_to_matrix(_slerp(root_q[a], root_q[b], turn, double_cover=True))

    offset_r, centre_l = _palm_offsets(dtype)
    centres = relative.translation + relative.rotation @ offset_r - centre_l
    radius = centres.norm(dim=-1)
    out = centres / radius[:, None].clamp_min(1e-6)
    pivot, crossing = _pivots(out[order[:-1]], out[order[1:]])
    reach = torch.where(crossing, CROSSING_REACH, 1.0).to(dtype)[segment]
    bump = reach * (separation_m * torch.sin(math.pi * u) ** 2).to(dtype)
    distance = (1.0 - s) * radius[a] + s * radius[b] + bump
    centre = centre_l + distance[:, None] * _swing(out[a], pivot[segment], out[b], s)
    return left_pose, right_pose, right_rotation, centre - right_rotation @ offset_r


def _check_keyframes(left_keys: HandParams, right_keys: HandParams) -> None:
    if left_keys.batch_size != right_keys.batch_size or left_keys.batch_size < 1:
        raise DataError(
            f"need at least one keyframe and as many left as right hands, got {left_keys.batch_size} left and "
            f"{right_keys.batch_size} right"
        )
    finite = torch.isfinite(left_keys.to_vector()).all() & torch.isfinite(right_keys.to_vector()).all()
    if not bool(finite):
        raise DataError("keyframe hand parameters contain NaN or inf; drop those samples from the pool")


def synthesize_motion(
    left_keys: HandParams, right_keys: HandParams, config: MotionConfig, generator: torch.Generator
) -> tuple[HandParams, HandParams]:
    """One sequence of both hands moving in the world -> (left, right), (config.frames, ...) each, world frame.

    left_keys, right_keys: (K, ...) keyframe interactions, as a TwoHandSet holds them (left
    canonical); a left hand in any other frame works too, the pair is re-expressed in its frame.
    generator: a CPU generator; draws the keyframe order, the wiggle and the world motion.
    The result lies on the keyframes' device, in their dtype.

    During a hold the right hand's root in the left hand's frame equals the keyframe's and
    the finger poses differ from it by the wiggle only.

    Shapes: each hand keeps keyframe k_0's betas throughout, since a person's hands do not
    change shape. Keyframes made with other shapes were made plausible for those shapes:
    in a pool of the generator's default spread of shapes (beta_std 0.8, procedural hand)
    giving the keyframes each other's betas raised their mean penetration depth from 0.6 to
    2.8 mm and their mean closest distance from 1.6 to 3.9 mm, and 120-frame sequences
    from two such 12-keyframe pools penetrated by 1.0 and 2.5 mm on average, against 0.4
    and 0.2 mm from pools of one shape. Hence :func:`keyframe_pool` makes pools of one
    shape by default.
    """
    _check_keyframes(left_keys, right_keys)
    # A few hundred frames of small tensors: the CPU is quicker than a round of kernel launches.
    device = right_keys.translation.device
    left_keys, right_keys = left_keys.to("cpu"), right_keys.to("cpu")
    dtype = right_keys.translation.dtype
    num_keys = left_keys.batch_size
    frames = config.frames

    t = torch.arange(frames, dtype=torch.float64) / config.fps
    period = config.hold_s + config.transition_s
    segment = torch.floor(t / period).long()
    u = ((t - segment * period - config.hold_s) / config.transition_s).clamp(0.0, 1.0)

    # k_0 anywhere, then steps of 1 .. K-1 modulo K: consecutive keyframes always differ.
    count = int(segment[-1]) + 2
    first = torch.randint(num_keys, (1,), generator=generator)
    steps = torch.randint(1, max(num_keys, 2), (count - 1,), generator=generator) % num_keys
    order = torch.cat([first, first + torch.cumsum(steps, 0)]) % num_keys

    left_pose, right_pose, right_rotation, right_translation = _pair_frame_motion(
        left_keys, right_keys.in_frame_of(left_keys), order, segment, u, config.separation_m
    )
    # Per joint, a rotation about one random axis by up to finger_wiggle_rad; adding it to the
    # axis-angle pose is the composition of the two rotations to first order.
    axes = torch.nn.functional.normalize(torch.randn(2, 15, 3, generator=generator, dtype=torch.float64), dim=-1)
    wiggle = _smooth_signal(t, 30, _WIGGLE_BAND_HZ, generator).reshape(frames, 2, 15, 1) * axes
    wiggle = (config.finger_wiggle_rad * wiggle).reshape(frames, 2, 45).to(dtype)

    eye = torch.eye(3, dtype=dtype).expand(frames, 3, 3)
    left = HandParams(
        left_pose + wiggle[:, 0],
        left_keys.betas[order[0]].expand(frames, -1).clone(),
        eye.clone(),
        torch.zeros(frames, 3, dtype=dtype),
    )
    right = HandParams(
        right_pose + wiggle[:, 1],
        right_keys.betas[order[0]].expand(frames, -1).clone(),
        right_rotation,
        right_translation,
    )

    drift = _smooth_signal(t, 3, _GLOBAL_BAND_HZ, generator)
    turn = _smooth_signal(t, 3, _GLOBAL_BAND_HZ, generator)
    world_rotation = axis_angle_to_matrix((math.radians(config.turn_deg) * turn).to(dtype))
    world_translation = (torch.tensor(WORLD_CENTRE_M, dtype=torch.float64) + config.travel_m * drift).to(dtype)
    left, right = (
        left.transformed(world_rotation, world_translation),
        right.transformed(world_rotation, world_translation),
    )
    return left.to(device), right.to(device)
