"""The preview PNGs written beside data sets, samples, grasps and refined sequences: which scenes, titled how.

Every function draws through visualization/preview.py and writes exactly ``path`` (its
folder must exist). Hands come either as HandParams through a HandLayer, for data sets
(only the drawn scenes are meshed), or as vertex batches (N, V, 3) metres with faces
(F, 3), numpy arrays or tensors on any device; each scene is in its own frame, shared by
its two hands and its object. What is drawn:

    data sets         a seeded random pick of scenes (pick_scenes), titled by the caller
    samples           the first GRID_SCENES, titled with their penetration depth
    grasps            the first GRASP_ROWS in the order given (best first), titled with their score
    sequences         SEQUENCE_FRAMES frames spread evenly, titled with the hands' confidences
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from numpy.typing import ArrayLike, NDArray
from torch import Tensor

from interhandgen_core.hands.hand_params import HandParams
from interhandgen_core.hands.layer import HandLayer
from interhandgen_core.visualization.preview import render_grasp_sheet, render_twohand_grid

GRID_SCENES = 16  # panels of a grid preview
GRASP_ROWS = 4  # rows of a grasp sheet
SEQUENCE_FRAMES = 8  # frames of a sequence preview
_CLOUD_STRIDE = 2  # every other object point on a grid panel, so that the cloud does not hide the hands


def pick_scenes(num: int, seed: int, count: int = GRID_SCENES) -> Tensor:
    """(min(num, count),) long: a random subset of ``num`` scene indices in random order, the same for the same seed."""
    return torch.randperm(num, generator=torch.Generator().manual_seed(seed))[:count]


def render_hand_scenes(
    path: str | Path,
    layers: tuple[HandLayer, HandLayer],
    scenes: tuple[HandParams, HandParams],
    pick: Tensor,
    titles: Sequence[str],
    object_clouds: Tensor | None = None,
) -> None:
    """The picked scenes of a data set as a grid; only their meshes are computed.

    layers and scenes are (left, right); the scenes hold N hands each, pick (M,) indexes them,
    titles has M entries. object_clouds (M, P, 3) metres, one cloud per picked scene, is thinned
    to every other point.
    """
    (left_layer, right_layer), (left, right) = layers, scenes
    with torch.no_grad():
        left_vertices = left_layer(left.select(pick)).vertices
        right_vertices = right_layer(right.select(pick)).vertices
    render_vertex_scenes(
        path,
        (left_vertices, left_layer.faces),
        (right_vertices, right_layer.faces),
        torch.arange(len(pick)),
        titles,
        object_clouds,
    )


def render_vertex_scenes(
    path: str | Path,
    left: tuple[Tensor, Tensor],
    right: tuple[Tensor, Tensor],
    pick: Tensor,
    titles: Sequence[str],
    object_clouds: Tensor | None = None,
) -> None:
    """The picked scenes of N already meshed ones as a grid.

    left and right are (vertices (N, V, 3) metres, faces (F, 3)); pick (M,) indexes the scenes,
    titles has M entries. object_clouds (M, P, 3) metres, one cloud per picked scene, is thinned
    to every other point.
    """
    (left_vertices, left_faces), (right_vertices, right_faces) = left, right
    render_twohand_grid(
        path,
        _numpy(left_vertices[pick]),
        _numpy(left_faces),
        _numpy(right_vertices[pick]),
        _numpy(right_faces),
        titles=titles,
        object_points=None if object_clouds is None else _numpy(object_clouds[:, ::_CLOUD_STRIDE]),
    )


def render_penetration_grid(
    path: str | Path,
    left_vertices: Tensor | ArrayLike,
    left_faces: Tensor | ArrayLike,
    right_vertices: Tensor | ArrayLike,
    right_faces: Tensor | ArrayLike,
    depth: Tensor | ArrayLike,
) -> None:
    """The first GRID_SCENES of N two-hand samples as a grid, each titled with its penetration depth.

    vertices (N, V, 3) metres, faces (F, 3), depth (N,) metres (contact/interaction.py's
    measure_interaction), one frame per sample.
    """
    lv, rv, depth_np = _numpy(left_vertices), _numpy(right_vertices), _numpy(depth)
    shown = min(len(lv), GRID_SCENES)
    titles = [f"penetration {1000 * float(depth_np[i]):.1f} mm" for i in range(shown)]
    render_twohand_grid(path, lv[:shown], _numpy(left_faces), rv[:shown], _numpy(right_faces), titles=titles)


def render_grasp_rows(
    path: str | Path,
    left_vertices: Tensor | ArrayLike,
    left_faces: Tensor | ArrayLike,
    right_vertices: Tensor | ArrayLike,
    right_faces: Tensor | ArrayLike,
    object_points: Tensor | ArrayLike,
    scores: Tensor | ArrayLike,
    hand_object_depth: Tensor | ArrayLike | None = None,
    inferred_points: Tensor | ArrayLike | None = None,
) -> None:
    """The first GRASP_ROWS of N grasps of one object, in the order given, one row of views each.

    vertices (N, V, 3) metres, faces (F, 3), object_points (P, 3) metres, one frame; scores (N,)
    in [0, 1] title the rows, with hand_object_depth (N,) metres (contact/grasp_measures.py) when given.
    inferred_points (Q, 3), the same frame: object points inferred, not seen, drawn in their own colour.
    """
    lv, rv, score_np = _numpy(left_vertices), _numpy(right_vertices), _numpy(scores)
    shown = min(len(lv), GRASP_ROWS)
    if hand_object_depth is None:
        titles = [f"score {float(score_np[i]):.2f}" for i in range(shown)]
    else:
        depth_np = _numpy(hand_object_depth)
        titles = [f"score {float(score_np[i]):.2f}, H-O {1000 * float(depth_np[i]):.1f} mm" for i in range(shown)]
    render_grasp_sheet(
        path,
        lv[:shown],
        _numpy(left_faces),
        rv[:shown],
        _numpy(right_faces),
        _numpy(object_points),
        titles=titles,
        inferred_points=None if inferred_points is None else _numpy(inferred_points),
    )


def render_sequence_frames(
    path: str | Path,
    left_vertices: Tensor | ArrayLike,
    left_faces: Tensor | ArrayLike,
    right_vertices: Tensor | ArrayLike,
    right_faces: Tensor | ArrayLike,
    left_confidence: Tensor | ArrayLike,
    right_confidence: Tensor | ArrayLike,
) -> None:
    """SEQUENCE_FRAMES frames of an N-frame sequence, first and last included, each titled with both hands' confidence.

    vertices (N, V, 3) metres, faces (F, 3), confidences (N,) in [0, 1], one frame.
    """
    lv, rv = _numpy(left_vertices), _numpy(right_vertices)
    left_conf, right_conf = _numpy(left_confidence), _numpy(right_confidence)
    num = len(lv)
    shown = [int(i) for i in np.linspace(0, num - 1, min(num, SEQUENCE_FRAMES)).round()]
    titles = [f"frame {i}: conf {float(left_conf[i]):.2f} / {float(right_conf[i]):.2f}" for i in shown]
    render_twohand_grid(path, lv[shown], _numpy(left_faces), rv[shown], _numpy(right_faces), titles=titles)


def _numpy(values: Tensor | ArrayLike) -> NDArray[np.generic]:
    """A tensor on any device, or an array, -> a numpy array (no copy where none is needed)."""
    if isinstance(values, Tensor):
        return values.detach().cpu().numpy()
    return np.asarray(values)
