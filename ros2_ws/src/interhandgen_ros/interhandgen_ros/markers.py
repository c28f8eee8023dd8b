"""Hand meshes and inferred object points as RViz markers (pure: no rclpy).

Each hand is one ``visualization_msgs/Marker`` of type TRIANGLE_LIST (three points per face, in
the header's frame, metres): RViz draws it as a shaded mesh. Grasp proposals show the best
``top_k`` grasps, each in its own namespace ("grasp_0" is the best), fading with rank; refined
hands show both hands, with the alpha of each hand's confidence. The back of an object inferred
from a one-sided cloud (pipelines/sensor_cloud.complete_one_sided) is one POINTS marker in
INFERRED_COLOUR, namespace "inferred_object", so that what was not seen shows as such.
"""

from __future__ import annotations

import numpy as np
import torch
from builtin_interfaces.msg import Duration
from geometry_msgs.msg import Point
from std_msgs.msg import ColorRGBA, Header
from visualization_msgs.msg import Marker, MarkerArray

LEFT_COLOUR = (0.25, 0.55, 0.95)
RIGHT_COLOUR = (0.95, 0.45, 0.25)
# The previews' colour of inferred object points (interhandgen_core/visualization/preview.INFERRED_COLOR).
INFERRED_COLOUR = (0.35, 0.7, 0.45)
INFERRED_POINT_SIZE_M = 0.004


def mesh_marker(
    vertices: torch.Tensor,
    faces: torch.Tensor,
    header: Header,
    namespace: str,
    marker_id: int,
    colour: tuple[float, float, float],
    alpha: float,
) -> Marker:
    """vertices (V, 3) metres, faces (F, 3) -> a TRIANGLE_LIST marker in ``header``'s frame."""
    marker = Marker(header=header, ns=namespace, id=marker_id, type=Marker.TRIANGLE_LIST, action=Marker.ADD)
    marker.pose.orientation.w = 1.0
    marker.scale.x = marker.scale.y = marker.scale.z = 1.0
    marker.color = ColorRGBA(r=colour[0], g=colour[1], b=colour[2], a=float(alpha))
    marker.lifetime = Duration(sec=0)  # until replaced
    # One Point per vertex, shared by the faces around it: a sixth of the messages of one per corner
    # (building them in Python is what a mesh marker costs; a corner is a reference to its vertex's).
    points = [Point(x=x, y=y, z=z) for x, y, z in vertices.detach().double().cpu().tolist()]
    marker.points = [points[v] for v in faces.detach().cpu().reshape(-1).tolist()]
    return marker


def points_marker(
    points: np.ndarray, header: Header, namespace: str, colour: tuple[float, float, float], size_m: float
) -> Marker:
    """points (N, 3) metres, in ``header``'s frame -> a POINTS marker of squares ``size_m`` wide, id 0."""
    marker = Marker(header=header, ns=namespace, id=0, type=Marker.POINTS, action=Marker.ADD)
    marker.pose.orientation.w = 1.0
    marker.scale.x = marker.scale.y = float(size_m)
    marker.color = ColorRGBA(r=colour[0], g=colour[1], b=colour[2], a=1.0)
    marker.lifetime = Duration(sec=0)  # until replaced
    marker.points = [Point(x=x, y=y, z=z) for x, y, z in np.asarray(points, dtype=np.float64).tolist()]
    return marker


def clear_markers(header: Header) -> Marker:
    """A DELETEALL marker: sent first, so that fewer proposals than last time leave no stale meshes."""
    return Marker(header=header, action=Marker.DELETEALL)


def two_hand_markers(
    left_vertices: torch.Tensor,
    left_faces: torch.Tensor,
    right_vertices: torch.Tensor,
    right_faces: torch.Tensor,
    header: Header,
    alphas: list[tuple[float, float]],
    namespace: str,
) -> MarkerArray:
    """B two-hand scenes (vertices (B, V, 3)) -> markers: per scene b, namespace f"{namespace}_{b}",
    id 0 the left hand and id 1 the right, with alphas[b] = (left alpha, right alpha)."""
    out = MarkerArray(markers=[clear_markers(header)])
    for b, (left_alpha, right_alpha) in enumerate(alphas):
        ns = f"{namespace}_{b}"
        if left_alpha > 0 and bool(torch.isfinite(left_vertices[b]).all()):
            out.markers.append(mesh_marker(left_vertices[b], left_faces, header, ns, 0, LEFT_COLOUR, left_alpha))
        if right_alpha > 0 and bool(torch.isfinite(right_vertices[b]).all()):
            out.markers.append(mesh_marker(right_vertices[b], right_faces, header, ns, 1, RIGHT_COLOUR, right_alpha))
    return out


def rank_alphas(count: int, top_k: int) -> list[tuple[float, float]]:
    """Alpha per shown grasp: 0.9 for the best, fading to 0.3 for the k-th."""
    shown = min(count, top_k)
    return [(a, a) for a in np.linspace(0.9, 0.3, shown).tolist()] if shown > 1 else [(0.9, 0.9)] * shown


def robot_hand_markers(
    links: np.ndarray, link_keypoints: np.ndarray, wrist: np.ndarray, header: Header, namespace: str, alpha: float
) -> list[Marker]:
    """One robot hand as a skeleton: links (K, 3) metres, header's frame (RobotHandCommands.link_positions,
    a row), link_keypoints (K,) the human keypoint each link maps to (0 the wrist, 1-4 the thumb, 5-8 the
    index, ... knuckle to tip), wrist (4, 4) the root body's pose -> [SPHERE_LIST of the links, LINE_LIST
    from the wrist along each finger], ids 0 and 1 in ``namespace``; [] for a hand with no finite links."""
    if not (np.isfinite(links).all() and np.isfinite(wrist).all()):
        return []
    colour = ColorRGBA(r=0.6, g=0.6, b=0.65, a=float(alpha))
    joints = Marker(header=header, ns=namespace, id=0, type=Marker.SPHERE_LIST, action=Marker.ADD)
    joints.scale.x = joints.scale.y = joints.scale.z = 0.012
    bones = Marker(header=header, ns=namespace, id=1, type=Marker.LINE_LIST, action=Marker.ADD)
    bones.scale.x = 0.006
    for marker in (joints, bones):
        marker.pose.orientation.w = 1.0
        marker.color = colour
        marker.lifetime = Duration(sec=0)

    def point(xyz: np.ndarray) -> Point:
        return Point(x=float(xyz[0]), y=float(xyz[1]), z=float(xyz[2]))

    joints.points = [point(wrist[:3, 3])] + [point(p) for p in links]
    for finger in range(5):
        chain = [k for k in np.argsort(link_keypoints) if (int(link_keypoints[k]) - 1) // 4 == finger]
        previous = wrist[:3, 3]
        for k in chain:
            if int(link_keypoints[k]) == 0:
                continue
            bones.points += [point(previous), point(links[k])]
            previous = links[k]
    return [joints, bones]
