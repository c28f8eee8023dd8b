"""Completing an object cloud seen from one side by its point reflection (central symmetry).

A depth camera sees the side of an object that faces it; the grasp prior's guidance, settling
and physics need the back too. Many graspable objects are symmetric about their centre c
(boxes, cylinders, spheres, capsules, dumbbells, the body of a bottle), so the back is
estimated as the reflection x -> 2c - x of the seen side, after Bohg et al., "Mind the gap -
robotic grasping under incomplete observation" (ICRA 2011), who mirror a partial cloud and keep
the mirrored points that agree with what the camera saw. Here the symmetry is the point
reflection, whose centre has a closed form under the visibility constraints, instead of their
search over mirror planes.

Notation (code -> meaning), lengths in metres:
    d            view_direction (3,): unit, the direction the camera looks along
    (e1, e2)     an orthonormal basis of the image plane (perpendicular to d)
    u_i, z_i     a seen point's image coordinates (e1, e2) and depth along d
    S            silhouette: the image cells (``cell_size`` squares) that hold a seen point,
                 holes of one cell closed
    Z(q)         the depth of the seen surface at image cell q (mean depth of its points)
    c = (c_u, c_z)  the centre of the reflection, image coordinates and depth

The camera is taken as orthographic along d (a cloud spans centimetres at a distance of tens of
centimetres, so the rays through it are nearly parallel).

    c_u   the area centroid of S. A centrally symmetric object's silhouette is symmetric about the
          image of its centre, and so is its area centroid (point centroids of the seen surface
          are not: oblique faces are sampled more densely than their image).
    c_z   a reflected point 2c - x lies at depth 2 c_z - z_i. Where its image falls inside S it
          must lie behind the seen surface there (the camera saw free space in front of it):
              2 c_z - z_i >= Z(2 c_u - u_i)   <=>   c_z >= (Z(2 c_u - u_i) + z_i) / 2.
          The smallest c_z that meets these bounds makes the object no thicker than what is seen
          requires; the seen rim (the points where the surface turns away) sets it, and for a
          convex symmetric object the rim lies at the centre's depth, so the bound is tight. A
          high quantile (``depth_quantile``) instead of the maximum keeps noise and stray points
          from inflating it.
    kept  the reflected points whose image falls inside S and that lie behind the seen surface
          (within ``cell_size``): what contradicts the view (a bottle's neck reflected beside
          its base, a handle reflected into free space) is left out, and so is a reflected point
          that lands within two cells of a seen one whose normal it opposes (more than 120
          degrees apart: a plate seen face-on). Their normals are the reflected points' own
          normals negated (the point reflection maps an outward normal n at x to -n at 2c - x).

What it cannot know: the depth of an object seen exactly face-on (no rim is seen; c_z then sits
on the face, whose reflection is dropped, so nothing is added), and asymmetric backs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage
from scipy.spatial import cKDTree

from interhandgen_core.errors import DataError


@dataclass(frozen=True)
class SymmetricCompletion:
    """The seen cloud and its kept reflection, and the reflection's centre.

    points: (M + K, 3) float64 metres, the input frame: the M seen points first, then the K kept
        reflected ones.
    normals: (M + K, 3) float64 unit, outward.
    centre: (3,) float64 metres, c in the input frame.
    added: K, the number of reflected points kept.
    """

    points: NDArray[np.float64]
    normals: NDArray[np.float64]
    centre: NDArray[np.float64]
    added: int


def image_basis(view_direction: NDArray[np.float64]) -> NDArray[np.float64]:
    """view_direction (3,) unit -> (3, 3) rows e1, e2, d: a right-handed orthonormal frame whose third axis is d."""
    d = view_direction
    helper = np.array([1.0, 0.0, 0.0]) if abs(d[0]) < 0.9 else np.array([0.0, 1.0, 0.0])
    e1 = np.cross(helper, d)
    e1 /= np.linalg.norm(e1)
    return np.stack([e1, np.cross(d, e1), d])


def complete_by_point_symmetry(
    points: NDArray[np.floating],
    normals: NDArray[np.floating],
    view_direction: NDArray[np.floating],
    cell_size: float = 0.005,
    depth_quantile: float = 0.94,
) -> SymmetricCompletion:
    """points (M, 3) metres, the seen side of an object, normals (M, 3) outward, view_direction (3,)
    the camera's viewing direction, all in one frame -> SymmetricCompletion (module docstring).

    cell_size: edge of the image cells, metres; about the cloud's point spacing or a little more,
        so that the seen surface covers its silhouette without gaps.
    depth_quantile: which quantile of the per-point bounds on c_z is taken, in (0, 1].

    Raises DataError for shapes that do not match, a zero view direction or an empty cloud.
    """
    p = np.asarray(points, dtype=np.float64)
    n = np.asarray(normals, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] != 3 or len(p) == 0:
        raise DataError(f"points must be (M, 3) with M >= 1, got shape {p.shape}")
    if n.shape != p.shape:
        raise DataError(f"normals must be (M, 3) like points {p.shape}, got shape {n.shape}")
    direction = np.asarray(view_direction, dtype=np.float64)
    length = float(np.linalg.norm(direction)) if direction.shape == (3,) else 0.0
    if not (np.isfinite(length) and length > 1e-12):
        raise DataError(f"the view direction must be a finite, non-zero (3,) vector, got {direction!r}")
    if not (cell_size > 0.0 and 0.0 < depth_quantile <= 1.0):
        raise DataError(f"cell_size must be > 0 and depth_quantile in (0, 1], got {cell_size}, {depth_quantile}")
    basis = image_basis(direction / length)
    local = p @ basis.T  # (M, 3): u (2), z
    u, z = local[:, :2], local[:, 2]

    # Image cells, one cell of margin on every side for the reflections that land just outside.
    low = u.min(axis=0) - cell_size
    cells = np.floor((u - low) / cell_size).astype(np.int64)
    shape = tuple(int(s) for s in cells.max(axis=0) + 2)
    depth_sum = np.zeros(shape)
    count = np.zeros(shape)
    np.add.at(depth_sum, (cells[:, 0], cells[:, 1]), z)
    np.add.at(count, (cells[:, 0], cells[:, 1]), 1.0)
    seen = count > 0
    silhouette = ndimage.binary_closing(seen, structure=np.ones((3, 3), dtype=bool), border_value=0) | seen
    surface = np.full(shape, np.inf)
    surface[seen] = depth_sum[seen] / count[seen]
    # Cells the closing filled have no depth of their own: the nearest seen cell's.
    nearest = ndimage.distance_transform_edt(~seen, return_distances=False, return_indices=True)
    surface = surface[nearest[0], nearest[1]]

    cell_centres = np.argwhere(silhouette) + 0.5
    centre_u = low + cell_centres.mean(axis=0) * cell_size  # area centroid of S
    mirrored_u = 2.0 * centre_u - u
    mirrored_cells = np.floor((mirrored_u - low) / cell_size).astype(np.int64)
    in_image = ((mirrored_cells >= 0) & (mirrored_cells < np.array(shape))).all(axis=1)
    inside = np.zeros(len(p), dtype=bool)
    inside[in_image] = silhouette[mirrored_cells[in_image, 0], mirrored_cells[in_image, 1]]
    if not inside.any():  # nothing of the reflection lands on what was seen: nothing to add
        return SymmetricCompletion(p, n, p.mean(axis=0), 0)
    behind = surface[mirrored_cells[inside, 0], mirrored_cells[inside, 1]]
    centre_z = float(np.quantile((behind + z[inside]) / 2.0, depth_quantile))

    mirrored_z = 2.0 * centre_z - z
    keep = inside.copy()
    keep[inside] = mirrored_z[inside] >= behind - cell_size
    centre = np.concatenate([centre_u, [centre_z]]) @ basis
    added_points = 2.0 * centre - p[keep]
    added_normals = -n[keep]
    # A reflection that lands on the seen surface facing the other way (a plate seen face-on: no rim, so the
    # centre sits on the face) would give one place two opposite normals, inside and outside at once: dropped.
    # Within two cells (the seen points' spacing), normals more than 120 degrees apart.
    distance, nearest_seen = cKDTree(p).query(added_points)
    agrees = (distance > 2.0 * cell_size) | (np.einsum("ij,ij->i", added_normals, n[nearest_seen]) > -0.5)
    added_points, added_normals = added_points[agrees], added_normals[agrees]
    return SymmetricCompletion(
        np.concatenate([p, added_points]), np.concatenate([n, added_normals]), centre, len(added_points)
    )
