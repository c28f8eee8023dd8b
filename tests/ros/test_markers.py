"""Hand meshes and inferred object points as RViz markers (interhandgen_ros/markers.py), without any node."""

from __future__ import annotations

import numpy as np
import torch
from interhandgen_ros.markers import INFERRED_COLOUR, LEFT_COLOUR, mesh_marker, points_marker, two_hand_markers
from std_msgs.msg import Header
from visualization_msgs.msg import Marker


def _mesh() -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    vertices = torch.rand(40, 3, generator=generator) * 0.1
    faces = torch.randint(0, 40, (60, 3), generator=generator)
    return vertices, faces


def test_a_mesh_marker_lists_each_face_corner_at_its_vertex() -> None:
    """TRIANGLE_LIST: three points per face, in face order, each at its vertex (the reference: vertices[faces])."""
    vertices, faces = _mesh()
    marker = mesh_marker(vertices, faces, Header(frame_id="tracker"), "hands_0", 1, LEFT_COLOUR, 0.7)
    assert marker.type == Marker.TRIANGLE_LIST and marker.ns == "hands_0" and marker.id == 1
    assert marker.header.frame_id == "tracker" and abs(marker.color.a - 0.7) < 1e-6
    points = np.array([(p.x, p.y, p.z) for p in marker.points])
    np.testing.assert_allclose(points, vertices.double().numpy()[faces.reshape(-1).numpy()], rtol=0, atol=1e-12)


def test_two_hand_markers_leave_out_a_hand_that_is_not_finite_or_not_shown() -> None:
    vertices, faces = _mesh()
    lost = torch.full_like(vertices, float("nan"))
    out = two_hand_markers(vertices[None], faces, lost[None], faces, Header(), [(1.0, 1.0)], "hands")
    assert [m.action for m in out.markers] == [Marker.DELETEALL, Marker.ADD]  # cleared, then the left only
    assert out.markers[1].id == 0
    hidden = two_hand_markers(vertices[None], faces, vertices[None], faces, Header(), [(0.0, 0.5)], "hands")
    assert [m.id for m in hidden.markers[1:]] == [1]


def test_a_points_marker_holds_each_point_in_the_header_frame() -> None:
    points = np.random.default_rng(0).normal(scale=0.05, size=(30, 3))
    marker = points_marker(points, Header(frame_id="camera"), "inferred_object", INFERRED_COLOUR, 0.004)
    assert marker.type == Marker.POINTS and marker.ns == "inferred_object" and marker.header.frame_id == "camera"
    assert abs(marker.scale.x - 0.004) < 1e-12 and abs(marker.color.g - INFERRED_COLOUR[1]) < 1e-6
    np.testing.assert_allclose(np.array([(p.x, p.y, p.z) for p in marker.points]), points, rtol=0, atol=1e-12)
