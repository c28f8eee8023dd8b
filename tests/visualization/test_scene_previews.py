"""Preview sheets of command outputs: which scenes are drawn, and that they match drawing the same meshes directly."""

from __future__ import annotations

from pathlib import Path

import matplotlib.image
import numpy as np
import torch
import trimesh

from interhandgen_core.hands.hand_params import HandParams
from interhandgen_core.hands.layer import HandLayer
from interhandgen_core.hands.loading import load_hand_pair
from interhandgen_core.visualization.preview import LEGEND_PX, render_twohand_grid
from interhandgen_core.visualization.scene_previews import (
    GRASP_ROWS,
    pick_scenes,
    render_grasp_rows,
    render_hand_scenes,
    render_penetration_grid,
    render_sequence_frames,
)


def _pair(num: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Two flat crossed ellipsoids per sample, (num, V, 3) tensors, shifted apart a little more in each."""
    mesh = trimesh.creation.icosphere(subdivisions=1)
    left = torch.as_tensor(np.asarray(mesh.vertices) * [0.09, 0.045, 0.015])
    right = left[:, [1, 0, 2]] + torch.tensor([0.0, 0.0, 0.02], dtype=torch.float64)
    faces = torch.as_tensor(np.asarray(mesh.faces))
    shift = torch.linspace(0.0, 0.01, num, dtype=torch.float64)[:, None, None] * torch.tensor([0.0, 0.0, 1.0])
    return left.expand(num, -1, -1), faces, right[None] + shift, faces


def _size(path: Path) -> tuple[int, int]:
    height, width = matplotlib.image.imread(path).shape[:2]
    return height, width


def test_pick_scenes_is_seeded_and_at_most_count() -> None:
    assert torch.equal(pick_scenes(40, seed=3), pick_scenes(40, seed=3))
    assert not torch.equal(pick_scenes(40, seed=3), pick_scenes(40, seed=4))
    assert len(pick_scenes(40, seed=0)) == 16 and len(pick_scenes(5, seed=0)) == 5
    assert sorted(pick_scenes(5, seed=0).tolist()) == [0, 1, 2, 3, 4]


def test_hand_scenes_draw_the_picked_meshes(tmp_path: Path) -> None:
    right_asset, left_asset = load_hand_pair("procedural", None)
    left_layer, right_layer = HandLayer(left_asset), HandLayer(right_asset)
    g = torch.Generator().manual_seed(0)

    def hands(n: int, x: float) -> HandParams:
        return HandParams(
            0.2 * torch.randn(n, 45, generator=g),
            torch.zeros(n, 10),
            torch.eye(3).expand(n, 3, 3).clone(),
            torch.tensor([x, 0.0, 0.0]).expand(n, 3).clone(),
        )

    left, right = hands(10, 0.0), hands(10, 0.1)
    pick = pick_scenes(10, seed=1, count=3)
    render_hand_scenes(tmp_path / "a.png", (left_layer, right_layer), (left, right), pick, ["x", "y", "z"])
    with torch.no_grad():
        lv, rv = left_layer(left.select(pick)).vertices, right_layer(right.select(pick)).vertices
    render_twohand_grid(
        tmp_path / "b.png",
        lv.numpy(),
        left_layer.faces.numpy(),
        rv.numpy(),
        right_layer.faces.numpy(),
        titles=["x", "y", "z"],
    )
    assert (tmp_path / "a.png").read_bytes() == (tmp_path / "b.png").read_bytes()


def test_penetration_grid_shows_at_most_sixteen(tmp_path: Path) -> None:
    lv, lf, rv, rf = _pair(20)
    render_penetration_grid(tmp_path / "p.png", lv, lf, rv, rf, torch.zeros(20))
    assert _size(tmp_path / "p.png") == (4 * 320 + LEGEND_PX, 4 * 320)


def test_grasp_rows_show_the_first_grasps(tmp_path: Path) -> None:
    lv, lf, rv, rf = _pair(6)
    cloud = torch.randn(50, 3, generator=torch.Generator().manual_seed(0)) * 0.05
    render_grasp_rows(tmp_path / "g.png", lv, lf, rv, rf, cloud, torch.linspace(1, 0, 6), torch.zeros(6))
    assert _size(tmp_path / "g.png") == (GRASP_ROWS * 280 + LEGEND_PX, 4 * 280)


def test_sequence_frames_spread_over_the_sequence(tmp_path: Path) -> None:
    lv, lf, rv, rf = _pair(30)
    render_sequence_frames(tmp_path / "s.png", lv, lf, rv, rf, torch.ones(30), torch.ones(30))
    assert _size(tmp_path / "s.png") == (2 * 320 + LEGEND_PX, 4 * 320)
    render_sequence_frames(tmp_path / "t.png", lv[:3], lf, rv[:3], rf, torch.ones(3), torch.ones(3))
    assert _size(tmp_path / "t.png") == (320 + LEGEND_PX, 3 * 320)
