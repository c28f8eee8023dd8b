"""Articulated mesh objects (ARCTIC's): M instances of T template meshes, each at one articulation angle.

Frame (README "Conventions"): every instance lives in its own object frame, whose axes are its
template's (canonical) axes and whose origin is ``offset`` in template coordinates (the
converter puts it at the centroid of the instance's surface cloud). A template is split in
a static part and a moving part; articulating an instance by ``angle`` rotates the moving
vertices about the unit axis through the template origin:

    v_object = (R(axis * angle) v if moving[v] else v) - offset

with R Rodrigues' rotation (geometry/rotations.py). ARCTIC's converter sets the axis to
(0, 0, -1) for every object and marks the "top" part as moving; its quaternion of
``axis * angle`` is the same rotation.

Notation (T templates, M instances, all lengths in metres, angles in radians):
    template_names          (T,)           str, unique: the families of the instances
    template_vertices       (T, Vmax, 3)   float32, template frame, rows past num_vertices are 0
    template_num_vertices   (T,)           long, 3..Vmax
    template_faces          (T, Fmax, 3)   long into the template's vertices, outward winding
                                           (counter-clockwise seen from outside), padded rows 0
    template_num_faces      (T,)           long, 1..Fmax
    template_moving         (T, Vmax)      bool: the vertices the articulation rotates
    template_axis           (T, 3)         float32, unit articulation axis through the origin
    family                  (M,)           long into the templates
    articulation            (M,)           float32 angle about the axis
    offset                  (M, 3)         float32, the object frame's origin in template coordinates

Signed distance: the magnitude is the exact distance to the nearest triangle
(geometry/distance.py), the sign that of the generalised winding number (geometry/winding.py,
> 1/2 inside), which tolerates meshes that are not perfectly watertight. Both run through a
bounding hierarchy over each template's faces, articulated per instance: branch and bound
keeps the distance exact, and groups of faces far from a point add their dipole to the
winding number instead of every triangle's solid angle (Barill et al., "Fast Winding Numbers
for Soups and Clouds", SIGGRAPH 2018, to first order). Everything is chunked, so memory stays
bounded for any batch; the loops are over templates (distinct meshes), hierarchy levels and
memory chunks, never over the instances or points of a batch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch
from numpy.typing import NDArray
from torch import Tensor

from interhandgen_core.errors import ConfigError, DataError
from interhandgen_core.geometry.distance import point_segment_distance, point_triangle_distance
from interhandgen_core.geometry.rotations import axis_angle_to_matrix
from interhandgen_core.geometry.winding import winding_of_triangles

_ARRAY_KEYS = (
    "template_names",
    "template_vertices",
    "template_num_vertices",
    "template_faces",
    "template_num_faces",
    "template_moving",
    "template_axis",
    "family",
    "articulation",
    "offset",
)
# Sampled corners (instance x sample x corner x xyz floats) articulated at once in sample_surface.
_MAX_SAMPLE_FLOATS = 16 * 1024 * 1024
_AXIS_TOLERANCE = 1e-4
# Bounding hierarchy over each template's faces (signed_distance): every node groups _BRANCH
# nodes of the level below, leaves group _BRANCH faces, and the top has at most _TOP nodes.
_BRANCH, _TOP = 4, 64
# A node farther than this many of its radii counts by its dipole in the winding number; the
# dipole's error falls with the square of radius / distance. At 2.5 the winding numbers of
# spheres, tori, capsules, rings and boxes of 200 to 20k faces were within 0.04 of the exact sum
# (the sign flips at 0.5); on 20k faces the whole signed distance took a twentieth of the time.
_FAR_FIELD = 2.5
# A triangle whose area is below this fraction of its longest edge squared has no usable plane.
_FLAT = 1e-6
# Upper bounds on what is held at once: triangles of a chunk of instances, point-node pairs
# of a traversal, point-triangle pairs at the leaves.
_MAX_INSTANCE_TRIANGLES = 2 * 1024 * 1024
_MAX_TRAVERSAL_PAIRS = 4 * 1024 * 1024
_MAX_POINT_TRIANGLES = 512 * 1024


@dataclass
class ArticulatedObjects:
    """M instances of T articulated template meshes, each in its own object frame (module docstring).

    Instance i is template ``family[i]`` articulated by ``articulation[i]`` radians about
    ``template_axis``, moved by ``-offset[i]`` metres. Fields and shapes: module docstring.
    """

    template_names: tuple[str, ...]
    template_vertices: Tensor
    template_num_vertices: Tensor
    template_faces: Tensor
    template_num_faces: Tensor
    template_moving: Tensor
    template_axis: Tensor
    family: Tensor
    articulation: Tensor
    offset: Tensor
    # Per template: its faces in hierarchy order (_face_order), made on first use from the
    # template fields alone (instances may change without invalidating it).
    _face_orders: dict[int, tuple[Tensor, Tensor]] = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.template_names = tuple(self.template_names)
        if self.family.ndim != 1:
            raise DataError(f"object field 'family' must be (M,), got shape {tuple(self.family.shape)}")
        t, m = len(self.template_names), int(self.family.shape[0])
        if t == 0:
            raise DataError("articulated objects need at least one template (template_names is empty)")
        if len(set(self.template_names)) != t or not all(self.template_names):
            raise DataError(f"template_names must be unique and non-empty, got {list(self.template_names)}")
        if self.template_vertices.ndim != 3 or self.template_faces.ndim != 3:
            raise DataError(
                f"template_vertices must be (T, Vmax, 3) and template_faces (T, Fmax, 3), got "
                f"{tuple(self.template_vertices.shape)} and {tuple(self.template_faces.shape)}"
            )
        v_max, f_max = int(self.template_vertices.shape[1]), int(self.template_faces.shape[1])
        expected = {
            "template_vertices": ((t, v_max, 3), "float"),
            "template_num_vertices": ((t,), "long"),
            "template_faces": ((t, f_max, 3), "long"),
            "template_num_faces": ((t,), "long"),
            "template_moving": ((t, v_max), "bool"),
            "template_axis": ((t, 3), "float"),
            "family": ((m,), "long"),
            "articulation": ((m,), "float"),
            "offset": ((m, 3), "float"),
        }
        for name, (shape, kind) in expected.items():
            value: Tensor = getattr(self, name)
            if tuple(value.shape) != shape:
                raise DataError(f"object field '{name}' has shape {tuple(value.shape)}, expected {shape}")
            if _dtype_kind(value) != kind:
                raise DataError(f"object field '{name}' has dtype {value.dtype}, expected {kind}")
            if kind == "float" and not bool(torch.isfinite(value).all()):
                raise DataError(f"object field '{name}' holds NaN or infinite values")
        nv, nf = self.template_num_vertices, self.template_num_faces
        if int(nv.min()) < 3 or int(nv.max()) > v_max:
            raise DataError(f"template_num_vertices must lie in 3..{v_max} (Vmax), got {nv.tolist()}")
        if int(nf.min()) < 1 or int(nf.max()) > f_max:
            raise DataError(f"template_num_faces must lie in 1..{f_max} (Fmax), got {nf.tolist()}")
        used = torch.arange(f_max) < nf[:, None]  # (T, Fmax): the faces that are not padding
        bad = used[..., None] & ((self.template_faces < 0) | (self.template_faces >= nv[:, None, None]))
        if bool(bad.any()):
            template = int(bad.any(-1).any(-1).nonzero()[0, 0])
            raise DataError(
                f"template '{self.template_names[template]}' has faces indexing outside its "
                f"{int(nv[template])} vertices"
            )
        norms = self.template_axis.double().norm(dim=-1)
        if bool(((norms - 1).abs() > _AXIS_TOLERANCE).any()):
            raise DataError(f"template_axis must hold unit vectors, got norms {norms.tolist()}")
        if m and (int(self.family.min()) < 0 or int(self.family.max()) >= t):
            raise DataError(f"object field 'family' must index the {t} templates (0..{t - 1})")

    def __len__(self) -> int:
        return int(self.family.shape[0])

    @property
    def family_names(self) -> tuple[str, ...]:
        """What ``family`` indexes: the template names (shared interface with ProceduralObjects)."""
        return self.template_names

    def select(self, index: Tensor | slice | list[int]) -> ArticulatedObjects:
        """The instances ``index`` (templates kept whole, so ``family`` keeps its meaning)."""
        return ArticulatedObjects(
            self.template_names,
            self.template_vertices,
            self.template_num_vertices,
            self.template_faces,
            self.template_num_faces,
            self.template_moving,
            self.template_axis,
            self.family[index],
            self.articulation[index],
            self.offset[index],
        )

    def instance_vertices(self, index: Tensor | None = None) -> Tensor:
        """index (B,) long instances (None: all M) -> (B, Vmax, 3) metres, each in its object frame.

        Rows past the template's num_vertices are zero.
        """
        rows = torch.arange(len(self)) if index is None else index.long()
        family = self.family[rows]
        rotation = axis_angle_to_matrix(self.template_axis[family] * self.articulation[rows, None])  # (B, 3, 3)
        vertices = self.template_vertices[family]
        moved = vertices @ rotation.transpose(-1, -2)
        vertices = torch.where(self.template_moving[family][..., None], moved, vertices) - self.offset[rows, None]
        real = torch.arange(vertices.shape[1]) < self.template_num_vertices[family][:, None]
        return vertices * real[..., None]

    def mesh(self, i: int) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
        """Instance i as a triangle mesh: vertices (V, 3) metres, object frame, and faces (F, 3), unpadded."""
        if not 0 <= i < len(self):
            raise IndexError(f"object {i} is out of range 0..{len(self) - 1}")
        t = int(self.family[i])
        vertices = self.instance_vertices(torch.tensor([i]))[0, : int(self.template_num_vertices[t])]
        faces = self.template_faces[t, : int(self.template_num_faces[t])]
        return vertices.double().numpy(), faces.numpy().astype(np.int64)

    def sample_surface(self, num: int, seed: int = 0) -> tuple[Tensor, Tensor]:
        """-> points (M, num, 3) metres on each instance's mesh and unit outward face normals (M, num, 3), object frame.

        Faces and barycentric coordinates are drawn once per template, area-uniform on the
        template, and shared by its instances: each sample is then the same barycentric
        combination of its face's articulated corners, so it lies on the articulated mesh.
        Area-uniform exactly where no face has both moving and static corners (ARCTIC's parts
        are separate), since rigid parts keep their areas.
        """
        if num < 1:
            raise ConfigError(f"num must be >= 1 surface samples, got {num}")
        rng = np.random.default_rng(seed)
        corners, corner_moving, bary = [], [], []
        for t in range(len(self.template_names)):  # one draw per template mesh
            vertices = self.template_vertices[t, : int(self.template_num_vertices[t])].double().numpy()
            faces = self.template_faces[t, : int(self.template_num_faces[t])].numpy()
            tri = vertices[faces]  # (F, 3, 3)
            area = 0.5 * np.linalg.norm(np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]), axis=-1)
            if not area.sum() > 0:
                raise DataError(f"template '{self.template_names[t]}' has no surface (every face has zero area)")
            face = rng.choice(len(faces), size=num, p=area / area.sum())
            # Uniform barycentrics: sqrt of one uniform for the first corner's share (Osada et al. 2002).
            r1, r2 = np.sqrt(rng.random(num)), rng.random(num)
            bary.append(np.stack([1 - r1, r1 * (1 - r2), r1 * r2], -1))
            corners.append(tri[face])
            corner_moving.append(self.template_moving[t].numpy()[faces[face]])
        corner_t = torch.as_tensor(np.stack(corners), dtype=torch.float32)  # (T, num, 3, 3)
        moving_t = torch.as_tensor(np.stack(corner_moving))  # (T, num, 3)
        bary_t = torch.as_tensor(np.stack(bary), dtype=torch.float32)  # (T, num, 3)

        points = torch.empty(len(self), num, 3)
        normals = torch.empty(len(self), num, 3)
        per_chunk = max(1, _MAX_SAMPLE_FLOATS // (num * 9))
        for start in range(0, len(self), per_chunk):  # memory chunks of instances, batched inside
            rows = torch.arange(start, min(start + per_chunk, len(self)))
            family = self.family[rows]
            rotation = axis_angle_to_matrix(self.template_axis[family] * self.articulation[rows, None])
            template_c, moving = corner_t[family], moving_t[family]  # (k, num, 3, 3), (k, num, 3)
            moved = torch.einsum("kij,knej->knei", rotation, template_c)
            c = torch.where(moving[..., None], moved, template_c) - self.offset[rows, None, None]
            points[rows] = (bary_t[family][..., None] * c).sum(-2)
            normal = torch.cross(c[:, :, 1] - c[:, :, 0], c[:, :, 2] - c[:, :, 0], dim=-1)
            # A straddling face could collapse at some angle; its template normal, turned with the
            # moving part when most of its corners move, is then the best available direction.
            template_normal = torch.cross(
                template_c[:, :, 1] - template_c[:, :, 0], template_c[:, :, 2] - template_c[:, :, 0], dim=-1
            )
            turned = (rotation[:, None] @ template_normal[..., None])[..., 0]
            mostly_moving = moving.sum(-1, keepdim=True) >= 2
            fallback = torch.where(mostly_moving, turned, template_normal)
            degenerate = normal.norm(dim=-1, keepdim=True) < 1e-12
            normals[rows] = torch.nn.functional.normalize(torch.where(degenerate, fallback, normal), dim=-1)
        return points, normals

    def signed_distance(self, points: Tensor, index: Tensor | None = None) -> Tensor:
        """points (B, N, 3) metres, object frame; index (B,) long instance per row (None: B == M) -> (B, N) metres.

        Negative inside. The magnitude is the exact distance to the nearest triangle; inside
        means a generalised winding number above 1/2, in which far groups of faces count by
        their dipole (_Hierarchy). Not differentiable: computed without a graph.
        """
        if points.ndim != 3 or points.shape[-1] != 3:
            raise DataError(f"points must be (B, N, 3), got {tuple(points.shape)}")
        rows = torch.arange(len(self)) if index is None else index.long().cpu()
        if rows.ndim != 1 or rows.shape[0] != points.shape[0]:
            raise DataError(
                f"points hold {points.shape[0]} rows but index selects {tuple(rows.shape)} instances; "
                "pass one instance index per row (or None with one row per instance)"
            )
        if rows.numel() and (int(rows.min()) < 0 or int(rows.max()) >= len(self)):
            raise DataError(f"index must select instances 0..{len(self) - 1}, got {int(rows.min())}..{int(rows.max())}")
        n = points.shape[1]
        out = points.new_empty(points.shape[:2])
        # Rows often repeat an instance (many grasps of one object): articulate each instance once.
        instances, inverse = rows.unique(return_inverse=True)
        family = self.family[instances]
        with torch.no_grad():
            for t in family.unique().tolist():  # one mesh per template; its instances are batched inside
                corners, real = (x.to(points.device) for x in self._face_order(t))  # (F', 3), (F',)
                mine = (family == t).nonzero()[:, 0]
                per_chunk = max(1, _MAX_INSTANCE_TRIANGLES // corners.shape[0])
                for start in range(0, mine.numel(), per_chunk):  # memory chunks of instances
                    chunk = mine[start : start + per_chunk]
                    local = torch.full((instances.numel(),), -1, dtype=torch.long)
                    local[chunk] = torch.arange(chunk.numel())
                    row_ids = (local[inverse] >= 0).nonzero()[:, 0]
                    vertices = self.instance_vertices(instances[chunk]).to(points)
                    hierarchy = _Hierarchy.of(vertices, corners, real)
                    owner = local[inverse[row_ids]].to(points.device).repeat_interleave(n)
                    row_ids = row_ids.to(points.device)
                    distance, winding = hierarchy.distance_and_winding(points[row_ids].reshape(-1, 3), owner)
                    out[row_ids] = torch.where(winding > 0.5, -distance, distance).reshape(-1, n)
        return out

    def _face_order(self, t: int) -> tuple[Tensor, Tensor]:
        """Template t's faces in hierarchy order: corners (F', 3) long vertex indices and real (F',) bool
        (False: padding), F' the power of 2 from F up.

        Median splits along the longest axis of the face centroids, all nodes of a level at
        once, halve every node down to single faces; the hierarchy's nodes are then runs of
        consecutive faces, each spatially compact. A fourth coordinate, the part (all corners
        moving, all static, mixed) times 10 m, makes the first splits separate the parts, so
        that nodes stay compact at every angle. Padding repeats one vertex: a triangle without
        area, which adds nothing to the winding number and, measured by its edges, lies on the mesh.
        """
        if t not in self._face_orders:
            faces = self.template_faces[t, : int(self.template_num_faces[t])].numpy()
            vertices = self.template_vertices[t].double().numpy()
            moving = self.template_moving[t].numpy()[faces].sum(-1)  # corners that move, per face
            part = np.where(moving == 3, 0.0, np.where(moving == 0, 10.0, 20.0))
            total = 1 << max(len(faces) - 1, _BRANCH - 1).bit_length()
            key = np.full((total, 4), np.inf)  # padding sorts last
            key[: len(faces)] = np.concatenate([vertices[faces].mean(1), part[:, None]], 1)
            real = np.arange(total) < len(faces)
            order = np.arange(total)
            size = total
            while size > 1:  # one median split of every node per pass
                nodes, ok = key[order].reshape(-1, size, 4), real[order].reshape(-1, size, 1)
                extent = np.where(ok, nodes, -np.inf).max(1) - np.where(ok, nodes, np.inf).min(1)
                values = np.take_along_axis(nodes, extent.argmax(1)[:, None, None], 2)[..., 0]  # (nodes, size)
                within = np.argsort(values, axis=1, kind="stable")
                order = np.take_along_axis(order.reshape(-1, size), within, 1).reshape(-1)
                size //= 2
            padded = np.where(real[order, None], faces[np.minimum(order, len(faces) - 1)], faces[0, 0])
            self._face_orders[t] = (torch.as_tensor(padded, dtype=torch.long), torch.as_tensor(real[order]))
        return self._face_orders[t]

    def to_arrays(self, prefix: str = "object_") -> dict[str, NDArray[np.generic]]:
        """Arrays for an .npz without pickles: the names as a numpy unicode array, the rest as they are."""
        arrays: dict[str, NDArray[np.generic]] = {prefix + "template_names": np.array(self.template_names)}
        for key in _ARRAY_KEYS[1:]:
            arrays[prefix + key] = getattr(self, key).numpy()
        return arrays

    @staticmethod
    def from_arrays(arrays: dict[str, NDArray[np.generic]], prefix: str = "object_") -> ArticulatedObjects:
        """The inverse of :meth:`to_arrays`; DataError naming the missing or malformed arrays."""
        missing = [prefix + k for k in _ARRAY_KEYS if prefix + k not in arrays]
        if missing:
            raise DataError(f"object arrays missing: {', '.join(missing)}")
        names = arrays[prefix + "template_names"]
        if names.ndim != 1 or names.dtype.kind != "U":
            raise DataError(
                f"{prefix}template_names must be a 1-D unicode array (np.array of names), got "
                f"dtype {names.dtype} shape {names.shape}"
            )

        def tensor(key: str, dtype: torch.dtype) -> Tensor:
            return torch.as_tensor(np.asarray(arrays[prefix + key])).to(dtype)

        return ArticulatedObjects(
            tuple(str(name) for name in names.tolist()),
            tensor("template_vertices", torch.float32),
            tensor("template_num_vertices", torch.long),
            tensor("template_faces", torch.long),
            tensor("template_num_faces", torch.long),
            tensor("template_moving", torch.bool),
            tensor("template_axis", torch.float32),
            tensor("family", torch.long),
            tensor("articulation", torch.float32),
            tensor("offset", torch.float32),
        )


def _dtype_kind(value: Tensor) -> str:
    if value.dtype == torch.bool:
        return "bool"
    if value.dtype.is_floating_point:
        return "float"
    return "long" if value.dtype == torch.int64 else str(value.dtype)


def _edge_distance(points: Tensor, triangles: Tensor) -> Tensor:
    """points (K, 3), triangles (K, 3, 3) -> (K,) distance to the nearest edge: exact for a triangle without a plane."""
    a, b, c = triangles.unbind(-2)
    return torch.minimum(
        torch.minimum(point_segment_distance(points, a, b), point_segment_distance(points, b, c)),
        point_segment_distance(points, c, a),
    )


def _levels(num_faces: int) -> int:
    """Levels of the hierarchy over num_faces faces: leaves of _BRANCH faces, at most _TOP nodes on top."""
    levels, nodes = 1, -(-num_faces // _BRANCH)
    while nodes > _TOP:
        levels, nodes = levels + 1, -(-nodes // _BRANCH)
    return levels


@dataclass
class _Hierarchy:
    """b articulated instances of one template, in a bounding hierarchy over its ordered faces.

    triangles (b, F', 3, 3) metres; flat (b, F') bool: triangles without a plane (padding
    among them), measured by their edges. Per level l (0: leaves of _BRANCH faces; each level
    up groups _BRANCH nodes), with L_l nodes: centre (b, L_l, 3) area-weighted centroid, radius
    (b, L_l) largest distance from it to a real corner, area (b, L_l, 3) sum of the area
    vectors (outward normal times area).
    """

    triangles: Tensor
    flat: Tensor
    centre: list[Tensor]
    radius: list[Tensor]
    area: list[Tensor]

    @staticmethod
    def of(vertices: Tensor, corners: Tensor, real: Tensor) -> _Hierarchy:
        """vertices (b, V, 3); corners (F', 3) long, real (F',) bool in hierarchy order (ArticulatedObjects._face_order)."""
        triangles = vertices[:, corners]  # (b, F', 3, 3)
        a, b, c = triangles.unbind(-2)
        area = 0.5 * torch.cross(b - a, c - a, dim=-1)  # (b, F', 3)
        longest = torch.stack([(b - a).norm(dim=-1), (c - b).norm(dim=-1), (a - c).norm(dim=-1)]).amax(0)
        # point_triangle_distance reports 0 for a triangle without a plane; its edges are exact.
        flat = area.norm(dim=-1) <= _FLAT * longest.square()
        weight = area.norm(dim=-1, keepdim=True) + 1e-30  # a node without area: the plain mean
        centres, radii, areas = [], [], []
        num = corners.shape[0]
        for level in range(_levels(num)):  # a few levels, each batched
            size = _BRANCH ** (level + 1)
            group = (vertices.shape[0], num // size, size)
            centre = (weight * triangles.mean(-2)).reshape(*group, 3).sum(-2) / weight.reshape(*group, 1).sum(-2)
            reach = (triangles.reshape(*group, 3, 3) - centre[:, :, None, None]).norm(dim=-1).amax(-1)
            radii.append(torch.where(real.reshape(group[1:]), reach, torch.zeros_like(reach)).amax(-1))
            centres.append(centre)
            areas.append(area.reshape(*group, 3).sum(-2))
        return _Hierarchy(triangles, flat, centres, radii, areas)

    def _leaf(self, instance: Tensor, leaf: Tensor) -> tuple[Tensor, Tensor]:
        """instance (P,), leaf (P,) long -> the leaves' triangles (P, _BRANCH, 3, 3) and flat (P, _BRANCH)."""
        faces = (leaf[:, None] * _BRANCH + torch.arange(_BRANCH, device=leaf.device)).reshape(-1)
        instance = instance.repeat_interleave(_BRANCH)
        return (
            self.triangles[instance, faces].reshape(-1, _BRANCH, 3, 3),
            self.flat[instance, faces].reshape(-1, _BRANCH),
        )

    def distance_and_winding(self, points: Tensor, owner: Tensor) -> tuple[Tensor, Tensor]:
        """points (K, 3), owner (K,) long instance of each -> distance (K,) metres, winding number (K,).

        One batched traversal per chunk of points, top level down, over (point, node) pairs.
        Distance, branch and bound: every point of a node lies within its radius of its
        centre, so |p - centre| + radius bounds the distance from above and |p - centre| -
        radius from below; a node whose lower bound exceeds the best upper bound cannot hold
        the nearest triangle and is dropped. Winding number: a node farther than _FAR_FIELD
        radii adds its dipole area . (centre - p) / |centre - p|^3 / 4 pi; nearer ones open,
        and at the leaves every triangle adds its exact solid angle (geometry/winding.py).
        """
        top = len(self.centre) - 1
        distance = points.new_empty(points.shape[0])
        winding = points.new_empty(points.shape[0])
        per_chunk = max(1, _MAX_TRAVERSAL_PAIRS // self.centre[0].shape[1])  # pairs never exceed chunk x leaves
        pair_chunk = max(1, _MAX_POINT_TRIANGLES // _BRANCH)
        branch = torch.arange(_BRANCH, device=points.device)
        for start in range(0, points.shape[0], per_chunk):  # memory chunks of points, batched inside
            p, o = points[start : start + per_chunk], owner[start : start + per_chunk]
            k, num_top = p.shape[0], self.centre[top].shape[1]
            row = torch.arange(k, device=p.device).repeat_interleave(num_top)
            node = torch.arange(num_top, device=p.device).repeat(k)
            opened = torch.ones_like(row, dtype=torch.bool)  # the pair's winding still needs its children
            best = torch.full((k,), math.inf, dtype=p.dtype, device=p.device)
            w = torch.zeros_like(best)
            for level in range(top, -1, -1):  # levels of the hierarchy, top first
                rel = self.centre[level][o[row], node] - p[row]
                gap, radius = rel.norm(dim=-1), self.radius[level][o[row], node]
                best = best.scatter_reduce(0, row, gap + radius, reduce="amin")
                far = opened & (gap > _FAR_FIELD * radius)
                dipole = (self.area[level][o[row[far]], node[far]] * rel[far]).sum(-1) / gap[far] ** 3
                w = w.index_add(0, row[far], dipole / (4 * math.pi))
                opened = opened & ~far
                measure = gap - radius <= best[row]  # may hold the nearest triangle
                keep = opened | measure
                row, node, opened, measure = row[keep], node[keep], opened[keep], measure[keep]
                if level:  # open the kept nodes into their children
                    row = row.repeat_interleave(_BRANCH)
                    node = (node[:, None] * _BRANCH + branch).reshape(-1)
                    opened = opened.repeat_interleave(_BRANCH)
            # At the leaves, distances where a leaf may hold the nearest triangle, solid angles where
            # it is too near for its dipole: usually far fewer of the former.
            d = best.clone()
            rows, leaves = row[measure], node[measure]
            for s in range(0, rows.numel(), pair_chunk):  # memory chunks of point-leaf pairs
                r, leaf = rows[s : s + pair_chunk], leaves[s : s + pair_chunk]
                triangles, flat = self._leaf(o[r], leaf)
                nearest = point_triangle_distance(p[r, None], triangles)  # (P, _BRANCH)
                flat_pair, flat_slot = flat.nonzero(as_tuple=True)
                nearest[flat_pair, flat_slot] = _edge_distance(p[r[flat_pair]], triangles[flat_pair, flat_slot])
                d = d.scatter_reduce(0, r, nearest.amin(-1), reduce="amin")
            rows, leaves = row[opened], node[opened]
            for s in range(0, rows.numel(), pair_chunk):  # memory chunks of point-leaf pairs
                r, leaf = rows[s : s + pair_chunk], leaves[s : s + pair_chunk]
                w = w.index_add(0, r, winding_of_triangles(p[r], self._leaf(o[r], leaf)[0]))
            distance[start : start + per_chunk] = d
            winding[start : start + per_chunk] = w
        return distance, winding
