"""A toy two-hand set for tests that train or evaluate on a hands file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from interhandgen_core.geometry.rotations import axis_angle_to_matrix


def write_hands(path: Path, n: int, seed: int) -> Path:
    """A toy two-hand set: the right hand sits at a fixed offset from the left, with a little noise."""
    g = torch.Generator().manual_seed(seed)
    left_rot = axis_angle_to_matrix(0.5 * torch.randn(n, 3, generator=g))
    left_t = 0.05 * torch.randn(n, 3, generator=g)
    offset = torch.tensor([0.08, 0.02, 0.0]) + 0.005 * torch.randn(n, 3, generator=g)
    arrays = {
        "left_pose": 0.2 * torch.randn(n, 45, generator=g),
        "left_betas": torch.randn(n, 10, generator=g),
        "left_rotation": left_rot,
        "left_translation": left_t,
        "right_pose": 0.2 * torch.randn(n, 45, generator=g),
        "right_betas": torch.randn(n, 10, generator=g),
        "right_rotation": left_rot @ axis_angle_to_matrix(0.1 * torch.randn(n, 3, generator=g)),
        "right_translation": left_t + (left_rot @ offset[..., None])[..., 0],
    }
    np.savez(path, **{k: v.numpy() for k, v in arrays.items()})
    return path


def write_grasps(path: Path, n: int, num_objects: int = 3, seed: int = 0) -> Path:
    """A small grasp set: real procedural objects, hands placed near them (not optimised: a set of numbers)."""
    from interhandgen_core.data.grasp_synth import GraspSet
    from interhandgen_core.data.procedural_objects import generate_objects
    from interhandgen_core.hands.hand_params import HandParams

    objects = generate_objects(num_objects, seed=seed)
    points, normals = objects.sample_surface(256, seed=seed)
    gen = torch.Generator().manual_seed(seed)
    index = torch.arange(n) % num_objects

    def hands() -> HandParams:
        rotation = axis_angle_to_matrix(torch.randn(n, 3, generator=gen))
        translation = points[index, torch.randint(256, (n,), generator=gen)] + 0.03 * torch.randn(n, 3, generator=gen)
        return HandParams(
            0.2 * torch.randn(n, 45, generator=gen), torch.randn(n, 10, generator=gen), rotation, translation
        )

    grasps = GraspSet(objects, points, normals, index, hands(), hands(), torch.zeros(n, dtype=torch.long),
                      torch.zeros(n), torch.zeros(n), n)  # fmt: skip
    grasps.save(path)
    return path
