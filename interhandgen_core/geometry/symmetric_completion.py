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
    h            spacing: the median distance from a seen point to its nearest seen neighbour
    a            the image cells' edge: max(``cell_size``, 1.5 h), so that the seen surface covers its
                 silhouette without holes however sparsely the object was sampled
    S            silhouette: the image cells that hold a seen point, holes of one cell closed
    Z(q)         the depth of the seen surface at image cell q (mean depth of its points)
    R            the outer rim: the cells on the boundary of S's largest component with its holes
                 filled, that hold a seen point (the image of the contour generator, where the
                 surface turns away from the camera)
    c = (c_u, c_z)  the centre of the reflection, image coordinates and depth

The camera is taken as orthographic along d (a cloud spans centimetres at a distance of tens of
centimetres, so the rays through it are nearly parallel).

    c_u   the area centroid of S. A centrally symmetric object's silhouette is symmetric about the
          image of its centre, and so is its area centroid (point centroids of the seen surface
          are not: oblique faces are sampled more densely than their image).
    c_z   the mean over R of the deepest seen point in each rim cell, plus ``rim_gap`` h. The
          contour generator of a centrally symmetric object is symmetric about c, and its image,
          the silhouette's boundary, about c_u: the mean depth along it is c_z. At the contour
          generator the surface runs along d, so a stretch of surface the sampling missed costs
          its full length in depth: the deepest point seen in a rim cell lies short of the
          contour generator by up to about one spacing h, which ``rim_gap`` adds back.
          (Before: the smallest c_z for which every reflection lands behind the seen surface.
          Only the rim makes that bound tight, a quantile of it was taken for robustness, and
          with the rim's sparse sampling that put the centre too near the camera: a sphere's
          inferred back lay 6-13 mm inside it on the development objects.)
    kept  the reflected points whose image falls inside S and that lie behind the seen surface
          (within a): what contradicts the view (a bottle's neck reflected beside its base, a
          handle reflected into free space) is left out, and so is a reflected point that lands
          within two cells of a seen one whose normal it opposes (more than 120 degrees apart:
          a plate seen face-on). Their normals are the reflected points' own normals negated
          (the point reflection maps an outward normal n at x to -n at 2c - x).

What it cannot know: the depth of an object seen exactly face-on (its rim is the face's edge, so
c_z sits just behind the face, whose reflection is then dropped and nothing is added), and
asymmetric backs: on the development objects (seeds 7-10) the inferred points of bottles and handled
boxes lie 8.5 mm from the true surface on average (3-17 mm per object), those of boxes, cylinders,
spheres, capsules and dumbbells 3.1 mm.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage
from scipy.spatial import cKDTree

from interhandgen_core.errors import DataError

CELLS_PER_SPACING = 1.5  # the image cells' edge in point spacings at least (notation: a)


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


def outer_rim(silhouette: NDArray[np.bool_]) -> NDArray[np.bool_]:
    """silhouette (H, W) bool image cells -> (H, W) bool: the boundary cells of its largest connected
    component with its holes filled (a cell of it with a 4-neighbour outside it)."""
    labels, count = ndimage.label(silhouette)
    if count == 0:
        return silhouette.copy()
    largest = labels == 1 + int(np.argmax(np.bincount(labels.ravel())[1:]))
    filled = ndimage.binary_fill_holes(largest)
    return filled & ~ndimage.binary_erosion(filled, structure=ndimage.generate_binary_structure(2, 1))


def complete_by_point_symmetry(
    points: NDArray[np.floating],
    normals: NDArray[np.floating],
    view_direction: NDArray[np.floating],
    cell_size: float = 0.005,
    rim_gap: float = 1.0,
) -> SymmetricCompletion:
    """points (M, 3) metres, the seen side of an object, normals (M, 3) outward, view_direction (3,)
    the camera's viewing direction, all in one frame -> SymmetricCompletion (module docstring).

    cell_size: the smallest edge of the image cells, metres; 1.5 point spacings where that is more.
    rim_gap: how far, in point spacings h, the contour generator lies beyond the deepest point seen
        in a rim cell, >= 0. 1.0 was chosen on development objects (procedural seeds 7-10, sensor
        clouds: 0.5 left the inferred backs of boxes, cylinders, spheres, capsules and dumbbells
        2.3 mm inside the objects on average, 1.0 about 0.5 mm inside).

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
    if not (cell_size > 0.0 and rim_gap >= 0.0):
        raise DataError(f"cell_size must be > 0 and rim_gap >= 0, got {cell_size}, {rim_gap}")
    tree = cKDTree(p)
    spacing = float(np.median(tree.query(p, k=2)[0][:, 1])) if len(p) > 1 else 0.0
    cell = max(cell_size, CELLS_PER_SPACING * spacing)  # a
    basis = image_basis(direction / length)
    local = p @ basis.T  # (M, 3): u (2), z
    u, z = local[:, :2], local[:, 2]

    # Image cells, one cell of margin on every side for the reflections that land just outside.
    low = u.min(axis=0) - cell
    cells = np.floor((u - low) / cell).astype(np.int64)
    shape = tuple(int(s) for s in cells.max(axis=0) + 2)
    depth_sum = np.zeros(shape)
    count = np.zeros(shape)
    deepest = np.full(shape, -np.inf)
    np.add.at(depth_sum, (cells[:, 0], cells[:, 1]), z)
    np.add.at(count, (cells[:, 0], cells[:, 1]), 1.0)
    np.maximum.at(deepest, (cells[:, 0], cells[:, 1]), z)
    seen = count > 0
    silhouette = ndimage.binary_closing(seen, structure=np.ones((3, 3), dtype=bool), border_value=0) | seen
    surface = np.full(shape, np.inf)
    surface[seen] = depth_sum[seen] / count[seen]
    # Cells the closing filled have no depth of their own: the nearest seen cell's.
    nearest = ndimage.distance_transform_edt(~seen, return_distances=False, return_indices=True)
    surface = surface[nearest[0], nearest[1]]

    cell_centres = np.argwhere(silhouette) + 0.5
    centre_u = low + cell_centres.mean(axis=0) * cell  # area centroid of S
    mirrored_u = 2.0 * centre_u - u
    mirrored_cells = np.floor((mirrored_u - low) / cell).astype(np.int64)
    in_image = ((mirrored_cells >= 0) & (mirrored_cells < np.array(shape))).all(axis=1)
    inside = np.zeros(len(p), dtype=bool)
    inside[in_image] = silhouette[mirrored_cells[in_image, 0], mirrored_cells[in_image, 1]]
    if not inside.any():  # nothing of the reflection lands on what was seen: nothing to add
        return SymmetricCompletion(p, n, p.mean(axis=0), 0)
    behind = surface[mirrored_cells[inside, 0], mirrored_cells[inside, 1]]
    rim = outer_rim(silhouette) & seen
    rim_depth = float(deepest[rim].mean()) if rim.any() else float(z.max())
    centre_z = rim_depth + rim_gap * spacing

    mirrored_z = 2.0 * centre_z - z
    keep = inside.copy()
    keep[inside] = mirrored_z[inside] >= behind - cell
    centre = np.concatenate([centre_u, [centre_z]]) @ basis
    added_points = 2.0 * centre - p[keep]
    added_normals = -n[keep]
    # A reflection that lands on the seen surface facing the other way (a plate seen face-on: its rim is the face's
    # edge, so the centre sits just behind the face) would give one place two opposite normals, inside and outside
    # at once: dropped.
    # Within two cells (the seen points' spacing), normals more than 120 degrees apart.
    distance, nearest_seen = tree.query(added_points)
    agrees = (distance > 2.0 * cell) | (np.einsum("ij,ij->i", added_normals, n[nearest_seen]) > -0.5)
    added_points, added_normals = added_points[agrees], added_normals[agrees]
    return SymmetricCompletion(
        np.concatenate([p, added_points]), np.concatenate([n, added_normals]), centre, len(added_points)
    )
