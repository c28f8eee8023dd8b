"""Both hands carried rigidly through the world: one rigid motion of the pair per frame.

On top of a sequence's own motion (data/motion_sequences.py: the pair's slow drift and the
right hand's motion relative to the left), the whole pair is moved as one rigid body, the
way an arm carries both hands quickly across a workspace: minimum-jerk segments between
random waypoints, translation and rotation sharing each segment's timing.

Notation (frame f at t_f = f / fps seconds; world frame, metres, radians):
    k                 segment, from waypoint k to k + 1, starting at T_k, lasting D_k seconds
    tau               (t - T_k) / D_k in [0, 1]
    m(tau)            minimum-jerk profile 10 tau^3 - 15 tau^4 + 6 tau^5; its slope peaks at
                      m'(1/2) = 15/8 = PEAK_SLOPE, zero slope and acceleration at both ends
    w_k               (3,) translation waypoint, uniform in the cube [-a, a]^3, a = workspace_m;
                      w_0 = 0 and w_1 a corner of the cube (so that segment 0 reaches v_max)
    d(t)              (3,) displacement, w_k + m(tau) (w_{k+1} - w_k); its speed peaks at
                      PEAK_SLOPE |w_{k+1} - w_k| / D_k mid-segment
    v_k               the peak speed asked of segment k: v_max for k = 0, else
                      v_max U(min_speed_fraction, 1); D_k = max(min_segment_s,
                      PEAK_SLOPE |w_{k+1} - w_k| / v_k), so the speed never exceeds v_max
    O_k               (3, 3) orientation waypoints: O_0 = I; the target exp(r), |r| <= max_tilt_rad,
                      approached by the rotation vector delta_k = log(O_k^T exp(r)) shortened to
                      at most omega_max D_k / PEAK_SLOPE radians
    R(t)              (3, 3) O_k exp(m(tau) delta_k): angular speed peaks at PEAK_SLOPE |delta_k| / D_k
    c                 (3,) pivot, metres: the pair turns about it (the caller's choice: its centre)
    carried           x' = R(t) (x - c) + c + d(t), for every point x of both hands at t
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from interhandgen_core.config import ConfigBase, setting
from interhandgen_core.errors import DataError
from interhandgen_core.geometry.rotations import axis_angle_to_matrix, matrix_to_axis_angle
from interhandgen_core.hands.hand_params import HandParams

PEAK_SLOPE = 15.0 / 8.0


@dataclass(frozen=True)
class WorldMotionConfig(ConfigBase):
    """Settings of :func:`world_trajectory` (metres, seconds, radians).

    max_speed_m_s: the translation's top speed, reached in the first segment, never exceeded.
    min_speed_fraction: the other segments' peak speeds are max_speed_m_s U(this, 1).
    max_angular_speed_rad_s: the rotation's top angular speed, never exceeded.
    max_tilt_rad: orientation waypoints lie within this angle of the start's.
    workspace_m: translation waypoints lie in the cube [-this, this]^3 about the start.
    min_segment_s: shortest segment (a short hop is slower rather than abrupt).
    """

    max_speed_m_s: float = setting(1.5, low=0.0, high=10.0, low_open=True, units="m/s", help="top speed")
    min_speed_fraction: float = setting(
        0.3, low=0.0, high=1.0, help="other segments peak at max_speed_m_s times U(this, 1)"
    )
    max_angular_speed_rad_s: float = setting(3.0, low=0.0, high=30.0, units="rad/s", help="top angular speed")
    max_tilt_rad: float = setting(
        0.8, low=0.0, high=math.pi, units="radians", help="orientation waypoints lie within this of the start's"
    )
    workspace_m: float = setting(
        0.3, low=0.0, high=5.0, low_open=True, units="metres", help="half-size of the cube the waypoints lie in"
    )
    min_segment_s: float = setting(
        0.3, low=0.0, high=60.0, low_open=True, units="seconds", help="shortest segment between waypoints"
    )


def minimum_jerk(tau: Tensor) -> Tensor:
    """tau (...) in [0, 1] -> (...) 10 tau^3 - 15 tau^4 + 6 tau^5."""
    return tau**3 * (10.0 - 15.0 * tau + 6.0 * tau * tau)


def world_trajectory(
    frames: int, fps: float, config: WorldMotionConfig, generator: torch.Generator
) -> tuple[Tensor, Tensor]:
    """-> rotation R (frames, 3, 3), displacement d (frames, 3) metres, float64: the pair's carry, R = I, d = 0 at t = 0.

    generator: a CPU generator; it draws the waypoints and the segments' speeds.
    """
    if frames < 1 or not fps > 0.0:
        raise DataError(f"need frames >= 1 and fps > 0, got {frames} frames at {fps} fps")
    duration = (frames - 1) / fps
    a = config.workspace_m
    starts, lengths, displacements, rotations, steps = [0.0], [], [torch.zeros(3, dtype=torch.float64)], [], []
    orientation = torch.eye(3, dtype=torch.float64)
    k = 0
    while starts[-1] <= duration:  # segments until the sequence is covered; the first reaches v_max
        if k == 0:
            corner = torch.randint(2, (3,), generator=generator).to(torch.float64) * 2.0 - 1.0
            target, peak = a * corner, config.max_speed_m_s
        else:
            target = a * (2.0 * torch.rand(3, generator=generator, dtype=torch.float64) - 1.0)
            fraction = torch.rand((), generator=generator, dtype=torch.float64)
            low = config.min_speed_fraction
            peak = config.max_speed_m_s * float(low + (1.0 - low) * fraction)
        distance = float((target - displacements[-1]).norm())
        length = max(config.min_segment_s, PEAK_SLOPE * distance / peak)
        tilt = torch.randn(3, generator=generator, dtype=torch.float64)
        tilt = tilt / tilt.norm().clamp_min(1e-12) * config.max_tilt_rad * torch.rand((), generator=generator).item()
        step = matrix_to_axis_angle(orientation.T @ axis_angle_to_matrix(tilt))
        limit = config.max_angular_speed_rad_s * length / PEAK_SLOPE
        step = step * min(1.0, limit / max(float(step.norm()), 1e-12))
        rotations.append(orientation)
        steps.append(step)
        orientation = orientation @ axis_angle_to_matrix(step)
        displacements.append(target)
        lengths.append(length)
        starts.append(starts[-1] + length)
        k += 1
    t = torch.arange(frames, dtype=torch.float64) / fps
    start = torch.tensor(starts[:-1], dtype=torch.float64)
    segment = (torch.searchsorted(start, t, right=True) - 1).clamp_min(0)
    tau = ((t - start[segment]) / torch.tensor(lengths, dtype=torch.float64)[segment]).clamp(0.0, 1.0)
    profile = minimum_jerk(tau)
    ways = torch.stack(displacements)  # (K + 1, 3)
    displacement = ways[segment] + profile[:, None] * (ways[segment + 1] - ways[segment])
    base = torch.stack(rotations)[segment]  # (F, 3, 3)
    rotation = base @ axis_angle_to_matrix(profile[:, None] * torch.stack(steps)[segment])
    return rotation, displacement


def carry_points(points: Tensor, rotation: Tensor, displacement: Tensor, pivot: Tensor) -> Tensor:
    """points (F, ..., 3), rotation (F, 3, 3), displacement (F, 3), pivot (3,) metres -> (F, ..., 3) R (x - c) + c + d."""
    if rotation.shape[0] != points.shape[0] or displacement.shape[0] != points.shape[0]:
        raise DataError(
            f"one rigid motion per frame: {points.shape[0]} frames of points, {rotation.shape[0]} rotations and "
            f"{displacement.shape[0]} displacements"
        )
    rotation, displacement, pivot = (v.to(points) for v in (rotation, displacement, pivot))
    flat = points.reshape(points.shape[0], -1, 3) - pivot
    moved = flat @ rotation.transpose(-1, -2) + (pivot + displacement)[:, None]
    return moved.reshape(points.shape)


def carry_hand(hand: HandParams, rotation: Tensor, displacement: Tensor, pivot: Tensor) -> HandParams:
    """HandParams (F,), rotation (F, 3, 3), displacement (F, 3), pivot (3,) -> the hand carried like :func:`carry_points`."""
    like = hand.translation
    rotation, displacement, pivot = (v.to(like) for v in (rotation, displacement, pivot))
    return hand.transformed(rotation, pivot + displacement - (rotation @ pivot[:, None])[..., 0])
