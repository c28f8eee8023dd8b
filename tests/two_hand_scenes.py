"""Two procedural hands for the refiner's tests: scenes, their noisy keypoints, the keypoint error."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from interhandgen_core.contact.interaction import penetration_depth
from interhandgen_core.geometry.rotations import axis_angle_to_matrix
from interhandgen_core.hands.hand_params import HandParams
from interhandgen_core.hands.layer import HandLayer
from interhandgen_core.hands.loading import load_hand_pair


def procedural_layers() -> tuple[HandLayer, HandLayer]:
    """(left, right) procedural layers, built apart from the model's so the truth does not lean on it."""
    right, left = load_hand_pair("procedural")
    return HandLayer(left), HandLayer(right)


@dataclass
class Scene:
    left: HandParams
    right: HandParams
    left_keypoints: Tensor  # (N, 21, 3)
    right_keypoints: Tensor
    left_vertices: Tensor  # (N, V, 3)
    right_vertices: Tensor


def scene_of(layers: tuple[HandLayer, HandLayer], params: tuple[HandParams, HandParams]) -> Scene:
    left_layer, right_layer = layers
    left, right = params
    with torch.no_grad():
        lo = left_layer(left)
        ro = right_layer(right)
    return Scene(left, right, lo.keypoints, ro.keypoints, lo.vertices, ro.vertices)


def apart(layers: tuple[HandLayer, HandLayer], batch: int, seed: int, drift_m: float = 0.0) -> Scene:
    """Two mildly posed hands 10 cm apart (not touching), one per row; rows drift along x when ``drift_m``."""
    generator = torch.Generator().manual_seed(seed)
    moving = torch.linspace(0.0, drift_m, batch)[:, None] * torch.tensor([1.0, 0.0, 0.0])

    def hand(y: float, fixed: bool) -> HandParams:
        rows = 1 if fixed else batch
        pose = 0.2 * torch.randn(rows, 45, generator=generator)
        rotation = axis_angle_to_matrix(0.3 * torch.randn(rows, 3, generator=generator))
        return HandParams(
            pose.expand(batch, -1),
            torch.zeros(batch, 10),
            rotation.expand(batch, 3, 3),
            torch.tensor([0.0, y, 0.4]) + moving,
        )

    fixed = drift_m > 0  # a stream keeps its articulation and moves
    scene = scene_of(layers, (hand(-0.05, fixed), hand(0.05, fixed)))
    depth = penetration_depth(scene.left_vertices, layers[0].faces, scene.right_vertices, layers[1].faces)
    assert torch.equal(depth, torch.zeros(batch))  # the premise: these hands do not touch
    return scene


def overlapping(layers: tuple[HandLayer, HandLayer], batch: int = 2) -> Scene:
    """The right hand turned to lie along the left one, 1 cm from it: the palms go through each other."""
    generator = torch.Generator().manual_seed(4)
    left = HandParams(
        0.1 * torch.randn(batch, 45, generator=generator),
        torch.zeros(batch, 10),
        torch.eye(3).expand(batch, 3, 3),
        torch.zeros(batch, 3),
    )
    flipped = axis_angle_to_matrix(torch.tensor([[0.0, 0.0, torch.pi]])).expand(batch, 3, 3)
    right = HandParams(
        0.1 * torch.randn(batch, 45, generator=generator),
        torch.zeros(batch, 10),
        flipped,
        torch.tensor([[0.0, 0.01, 0.0]]).expand(batch, 3),
    )
    return scene_of(layers, (left, right))


def with_noise(keypoints: Tensor, sigma_m: float, seed: int) -> Tensor:
    return keypoints + sigma_m * torch.randn(keypoints.shape, generator=torch.Generator().manual_seed(seed))


def mpjpe_mm(estimate: Tensor, truth: Tensor) -> float:
    return float((estimate - truth).norm(dim=-1).mean()) * 1000.0
