"""A procedural set of graspable objects: unions of boxes, cylinders, spheres and capsules.

Families (largest extent 8 to 40 cm):
    box               one box of varied proportions (a book, a carton, a brick)
    cylinder          a can, a tube or a roll, standing or lying
    sphere            a ball
    capsule           a rounded bar or a baton
    box_with_handle   a case with a bar handle on two posts
    bottle            body, rounded shoulder and neck
    dumbbell          a bar with a disc at each end

Extra families (EXTRA_FAMILIES; drawn only when asked for, so that ``generate_objects``'s
default, and with it the held-out evaluation objects of seed 1000, stay what they were):
    pot_with_handles  a pot: a standing cylinder with a lug handle (a short bar) on each side
    plate             a thin plate: a board, a tray, a book (0.6 to 2.5 cm thick, 15 to 40 cm wide)
    disc              a thin round plate (a lid, a frisbee): a flat cylinder
    rod               an elongated bar (a plank, a pole, a tube): 30 to 50 cm long, 2 to 8 cm thick
    tumbled           one box, cylinder or capsule of random proportions in an arbitrary orientation
                      (convex, irregular in its frame; the primitives cannot make a general polytope)
    l_shape           two boxes joined at a corner (non-convex)
    cross             two bars crossing (a T or a plus; non-convex)
    lumpy             three or four overlapping spheres and boxes around a centre (non-convex)

Frame (README "Conventions"): the object frame has its origin at the centroid of the object's
surface samples and keeps the axes of the scene, gravity along -z. Each object is turned
about z by a uniform random yaw and tilted by up to ``max_tilt_deg``, so that placements
relative to "up" vary but "up" stays meaningful (a hand can support an object from below).

Shapes are stored as padded primitive arrays (geometry/primitives.py), so that the signed
distance of many hands against many different objects is one batched call.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import cast

import numpy as np
import torch
import trimesh
from numpy.typing import NDArray
from torch import Tensor

from interhandgen_core.errors import ConfigError, DataError
from interhandgen_core.geometry.primitives import (
    BOX,
    CAPSULE,
    CYLINDER,
    NONE,
    SPHERE,
    points_to_primitive_distance,
    points_to_union_distance,
    union_distance_and_normal,
)
from interhandgen_core.geometry.rotations import axis_angle_to_matrix

OBJECT_FAMILIES: tuple[str, ...] = (
    "box",
    "cylinder",
    "sphere",
    "capsule",
    "box_with_handle",
    "bottle",
    "dumbbell",
)
EXTRA_FAMILIES: tuple[str, ...] = ("pot_with_handles", "plate", "disc", "rod", "tumbled", "l_shape", "cross", "lumpy")
# Every family an object may carry (``family`` indexes this); OBJECT_FAMILIES come first, as before.
ALL_FAMILIES: tuple[str, ...] = OBJECT_FAMILIES + EXTRA_FAMILIES
MAX_PRIMITIVES = 4
# The seed of the held-out evaluation objects (evaluation/heldout_grasps.py); no training set uses it.
HELD_OUT_SEED = 1000
MIN_EXTENT_M, MAX_EXTENT_M = 0.08, 0.40
_ARRAY_KEYS = ("family", "kind", "size", "rotation", "centre")


@dataclass
class ProceduralObjects:
    """M objects as padded primitive unions (geometry/primitives.py), object frame, metres.

    family (M,) long into ALL_FAMILIES; kind (M, K) long; size (M, K, 3);
    rotation (M, K, 3, 3); centre (M, K, 3), K = MAX_PRIMITIVES.
    """

    family: Tensor
    kind: Tensor
    size: Tensor
    rotation: Tensor
    centre: Tensor

    def __post_init__(self) -> None:
        m = self.family.shape[0]
        expected = {
            "family": (m,),
            "kind": (m, MAX_PRIMITIVES),
            "size": (m, MAX_PRIMITIVES, 3),
            "rotation": (m, MAX_PRIMITIVES, 3, 3),
            "centre": (m, MAX_PRIMITIVES, 3),
        }
        for name, shape in expected.items():
            if tuple(getattr(self, name).shape) != shape:
                raise DataError(f"object field '{name}' has shape {tuple(getattr(self, name).shape)}, expected {shape}")
        if m and (int(self.family.min()) < 0 or int(self.family.max()) >= len(ALL_FAMILIES)):
            raise DataError(f"object field 'family' must index ALL_FAMILIES (0..{len(ALL_FAMILIES) - 1})")
        if m and (int(self.kind.min()) < NONE or int(self.kind.max()) > CAPSULE):
            raise DataError(f"object field 'kind' must hold primitive kinds {NONE}..{CAPSULE} (geometry/primitives.py)")

    def __len__(self) -> int:
        return int(self.family.shape[0])

    @property
    def family_names(self) -> tuple[str, ...]:
        """What ``family`` indexes: ALL_FAMILIES (shared interface with ArticulatedObjects)."""
        return ALL_FAMILIES

    def select(self, index: Tensor | slice | list[int]) -> ProceduralObjects:
        return ProceduralObjects(
            self.family[index], self.kind[index], self.size[index], self.rotation[index], self.centre[index]
        )

    @staticmethod
    def cat(items: list[ProceduralObjects]) -> ProceduralObjects:
        """M_1 + ... + M_k objects, in the order given (every field has MAX_PRIMITIVES slots, so they stack)."""
        return ProceduralObjects(*(torch.cat([getattr(o, f) for o in items]) for f in _ARRAY_KEYS))

    def signed_distance(self, points: Tensor, index: Tensor | None = None) -> Tensor:
        """points (B, N, 3) metres, object frame; index (B,) long object per row (None: B == M) -> (B, N) metres."""
        objects = self if index is None else self.select(index)
        return points_to_union_distance(points, objects.kind, objects.size, objects.rotation, objects.centre)

    def mesh(self, i: int) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
        """Object i as one triangle mesh (V, 3), (F, 3): its primitives' meshes side by side (they may overlap)."""
        meshes = [_primitive_mesh(int(k), s, r, c) for k, s, r, c in _parts(self, i)]
        mesh = cast(trimesh.Trimesh, trimesh.util.concatenate(meshes))
        return np.asarray(mesh.vertices, dtype=np.float64), np.asarray(mesh.faces, dtype=np.int64)

    def sample_surface(self, num: int, seed: int = 0) -> tuple[Tensor, Tensor]:
        """-> points (M, num, 3) on the union's surface and their outward normals (M, num, 3), area-uniform.

        Sampled on each object's primitive meshes, dropping samples inside another primitive,
        then projected onto the exact surface. One loop over objects: each has its own mesh.
        """
        rng = np.random.default_rng(seed)
        points = torch.empty(len(self), num, 3)
        normals = torch.empty(len(self), num, 3)
        for i in range(len(self)):
            points[i], normals[i] = self._sample_one(i, num, rng)
        return points, normals

    def _sample_one(self, i: int, num: int, rng: np.random.Generator) -> tuple[Tensor, Tensor]:
        parts = _parts(self, i)
        meshes = [_primitive_mesh(int(k), s, r, c) for k, s, r, c in parts]
        areas = np.array([m.area for m in meshes])
        counts = rng.multinomial(4 * num, areas / areas.sum())
        samples, owner = [], []
        for j, (mesh, count) in enumerate(zip(meshes, counts, strict=True)):
            pts, _ = trimesh.sample.sample_surface(mesh, int(count), seed=int(rng.integers(2**31)))
            samples.append(np.asarray(pts))
            owner.append(np.full(len(pts), j))
        p = torch.as_tensor(np.concatenate(samples), dtype=torch.float32)[None]
        own = torch.as_tensor(np.concatenate(owner))
        obj = self.select([i])
        per_primitive = points_to_primitive_distance(p, obj.kind, obj.size, obj.rotation, obj.centre)[0]  # (K, S)
        others = per_primitive.clone()
        others[own, torch.arange(own.numel())] = math.inf
        keep = others.min(0).values > 0  # not inside another primitive: on the union's surface
        p = p[:, keep]
        if p.shape[1] == 0:
            raise DataError(f"object {i} has no exposed surface (every primitive lies inside another)")
        choice = torch.as_tensor(rng.choice(p.shape[1], size=num, replace=p.shape[1] < num))
        p = p[:, choice]
        # Facets lie slightly inside curved primitives; one projection step lands on the surface.
        d, n = union_distance_and_normal(p, obj.kind, obj.size, obj.rotation, obj.centre)
        p = p - d[..., None] * n
        _, n = union_distance_and_normal(p, obj.kind, obj.size, obj.rotation, obj.centre)
        return p[0], n[0]

    def to_arrays(self, prefix: str = "object_") -> dict[str, NDArray[np.generic]]:
        return {prefix + key: getattr(self, key).numpy() for key in _ARRAY_KEYS}

    @staticmethod
    def from_arrays(arrays: dict[str, NDArray[np.generic]], prefix: str = "object_") -> ProceduralObjects:
        missing = [prefix + k for k in _ARRAY_KEYS if prefix + k not in arrays]
        if missing:
            raise DataError(f"object arrays missing: {', '.join(missing)}")
        return ProceduralObjects(
            torch.as_tensor(arrays[prefix + "family"]).long(),
            torch.as_tensor(arrays[prefix + "kind"]).long(),
            torch.as_tensor(arrays[prefix + "size"]).float(),
            torch.as_tensor(arrays[prefix + "rotation"]).float(),
            torch.as_tensor(arrays[prefix + "centre"]).float(),
        )


def _parts(
    objects: ProceduralObjects, i: int
) -> list[tuple[int, NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]]:
    return [
        (
            int(k),
            objects.size[i, j].double().numpy(),
            objects.rotation[i, j].double().numpy(),
            objects.centre[i, j].double().numpy(),
        )
        for j, k in enumerate(objects.kind[i].tolist())
        if k != NONE
    ]


def _primitive_mesh(
    kind: int, size: NDArray[np.float64], rotation: NDArray[np.float64], centre: NDArray[np.float64]
) -> trimesh.Trimesh:
    if kind == BOX:
        mesh = trimesh.creation.box(extents=2 * size)
    elif kind == CYLINDER:
        mesh = trimesh.creation.cylinder(radius=size[0], height=2 * size[1], sections=48)
    elif kind == SPHERE:
        mesh = trimesh.creation.icosphere(subdivisions=3, radius=size[0])
    elif kind == CAPSULE:
        mesh = trimesh.creation.capsule(height=2 * size[1], radius=size[0], count=[32, 32])
    else:
        raise DataError(f"unknown primitive kind {kind}")
    transform = np.eye(4)
    transform[:3, :3] = rotation
    transform[:3, 3] = centre
    mesh.apply_transform(transform)
    return mesh


class _Builder:
    """Accumulates the primitives of one batch of objects of one family (numpy, shape frame)."""

    def __init__(self, num: int) -> None:
        self.kind = np.zeros((num, MAX_PRIMITIVES), dtype=np.int64)
        self.size = np.zeros((num, MAX_PRIMITIVES, 3))
        self.rotation = np.tile(np.eye(3), (num, MAX_PRIMITIVES, 1, 1))
        self.centre = np.zeros((num, MAX_PRIMITIVES, 3))

    def add(self, j: int, kind: int, size: NDArray[np.float64], centre: NDArray[np.float64], axis: str = "z") -> None:
        """Primitive slot j of every object: size (n, 3), centre (n, 3); axis: the local z goes along 'x' or 'z'."""
        self.kind[:, j] = kind
        self.size[:, j] = size
        self.centre[:, j] = centre
        if axis == "x":
            self.rotation[:, j] = np.array([[0.0, 0.0, 1.0], [0.0, 1.0, 0.0], [-1.0, 0.0, 0.0]])


def _family(name: str, n: int, rng: np.random.Generator) -> _Builder:
    """n objects of one family, upright, in a frame with the base at z = 0 or the centre at 0."""
    b = _Builder(n)

    def u(low: float, high: float, *shape: int) -> NDArray[np.float64]:
        return rng.uniform(low, high, size=(n, *shape))

    zeros = np.zeros((n, 3))
    if name == "box":
        longest = u(MIN_EXTENT_M, MAX_EXTENT_M)
        extents = np.concatenate([longest[:, None], np.maximum(longest[:, None] * u(0.2, 1.0, 2), 0.03)], 1)
        b.add(0, BOX, rng.permuted(extents, axis=1) / 2, zeros)
    elif name == "cylinder":
        height = u(MIN_EXTENT_M, MAX_EXTENT_M)
        radius = np.minimum(u(0.02, 0.10), np.maximum(height / 2, 0.02))
        lying = rng.random(n) < 0.4
        size = np.stack([radius, height / 2, np.zeros(n)], 1)
        b.add(0, CYLINDER, size, zeros)
        b.rotation[lying, 0] = np.array([[0.0, 0.0, 1.0], [0.0, 1.0, 0.0], [-1.0, 0.0, 0.0]])
    elif name == "sphere":
        b.add(0, SPHERE, np.stack([u(0.04, 0.15), np.zeros(n), np.zeros(n)], 1), zeros)
    elif name == "capsule":
        radius = u(0.015, 0.06)
        length = np.maximum(u(MIN_EXTENT_M, MAX_EXTENT_M), 2 * radius + 0.02)
        b.add(0, CAPSULE, np.stack([radius, length / 2 - radius, np.zeros(n)], 1), zeros, axis="x")
    elif name == "box_with_handle":
        length, width, height = u(0.15, 0.38), u(0.07, 0.22), u(0.05, 0.18)
        b.add(0, BOX, np.stack([length, width, height], 1) / 2, np.stack([zeros[:, 0], zeros[:, 0], height / 2], 1))
        bar_r, post_h, span = u(0.008, 0.015), u(0.03, 0.05), length * u(0.35, 0.6)
        top = height + post_h
        b.add(1, CAPSULE, np.stack([bar_r, span / 2, np.zeros(n)], 1), np.stack([0 * top, 0 * top, top], 1), axis="x")
        for j, side in ((2, -1.0), (3, 1.0)):
            post = np.stack([bar_r, post_h / 2 + bar_r / 2, np.zeros(n)], 1)
            b.add(j, CYLINDER, post, np.stack([side * span / 2, 0 * top, height + post_h / 2], 1))
    elif name == "bottle":
        radius, body = u(0.03, 0.06), u(0.10, 0.24)
        neck_r, neck_h = u(0.012, 0.02), u(0.04, 0.09)
        b.add(0, CYLINDER, np.stack([radius, body / 2, np.zeros(n)], 1), np.stack([0 * body, 0 * body, body / 2], 1))
        b.add(1, SPHERE, np.stack([radius, np.zeros(n), np.zeros(n)], 1), np.stack([0 * body, 0 * body, body], 1))
        neck = np.stack([neck_r, (radius + neck_h) / 2, np.zeros(n)], 1)
        b.add(2, CYLINDER, neck, np.stack([0 * body, 0 * body, body + (radius + neck_h) / 2], 1))
    elif name == "dumbbell":
        bar_r, half = u(0.012, 0.02), u(0.05, 0.12)
        disc_r, disc_h = u(0.03, 0.06), u(0.015, 0.04)
        b.add(0, CAPSULE, np.stack([bar_r, half, np.zeros(n)], 1), zeros, axis="x")
        for j, side in ((1, -1.0), (2, 1.0)):
            centre = np.stack([side * (half + disc_h), 0 * half, 0 * half], 1)
            b.add(j, CYLINDER, np.stack([disc_r, disc_h, np.zeros(n)], 1), centre, axis="x")
    elif name in EXTRA_FAMILIES:
        _extra_family(name, b, n, rng)
    else:
        raise ConfigError(f"unknown object family {name!r}; choose from {', '.join(ALL_FAMILIES)}")
    return b


def _random_rotations(n: int, rng: np.random.Generator) -> NDArray[np.float64]:
    """(n, 3, 3) uniformly random rotations (QR of Gaussian matrices, signs fixed)."""
    q, r = np.linalg.qr(rng.normal(size=(n, 3, 3)))
    q = q * np.sign(np.diagonal(r, axis1=1, axis2=2))[:, None, :]
    q[np.linalg.det(q) < 0, :, 0] *= -1.0
    return q


def _extra_family(name: str, b: _Builder, n: int, rng: np.random.Generator) -> None:
    """Fill ``b`` with n objects of one of EXTRA_FAMILIES (module docstring), metres."""

    def u(low: float, high: float, *shape: int) -> NDArray[np.float64]:
        return rng.uniform(low, high, size=(n, *shape))

    zeros = np.zeros((n, 3))
    zero = np.zeros(n)
    if name == "pot_with_handles":
        radius, height = u(0.06, 0.14), u(0.08, 0.22)
        b.add(0, CYLINDER, np.stack([radius, height / 2, zero], 1), zeros)
        lug_r, lug_len = u(0.008, 0.015), u(0.03, 0.05)
        for j, side in ((1, -1.0), (2, 1.0)):
            centre = np.stack([side * (radius + lug_len / 2), zero, height * u(0.1, 0.35)], 1)
            b.add(j, CAPSULE, np.stack([lug_r, lug_len / 2, zero], 1), centre, axis="x")
    elif name == "plate":
        sides = np.sort(u(0.15, 0.40, 2), axis=1)
        thick = u(0.006, 0.025)
        b.add(0, BOX, np.stack([sides[:, 1], sides[:, 0], thick], 1) / 2, zeros)
    elif name == "disc":
        b.add(0, CYLINDER, np.stack([u(0.08, 0.18), u(0.005, 0.0125), zero], 1), zeros)
    elif name == "rod":
        length, thick = u(0.30, 0.50), u(0.02, 0.08)
        shape = rng.integers(0, 3, n)
        b.add(0, BOX, np.stack([length / 2, thick / 2, thick * u(0.3, 1.0) / 2], 1), zeros)
        b.kind[shape == 1, 0] = CYLINDER
        b.kind[shape == 2, 0] = CAPSULE
        # Cylinders and capsules: radius, half length along their local z, laid along x.
        round_size = np.stack([thick / 2, length / 2, zero], 1)
        round_size[:, 1] -= np.where(shape == 2, thick / 2, 0.0)
        b.size[shape > 0, 0] = round_size[shape > 0]
        b.rotation[shape > 0, 0] = np.array([[0.0, 0.0, 1.0], [0.0, 1.0, 0.0], [-1.0, 0.0, 0.0]])
    elif name == "tumbled":
        shape = rng.integers(0, 3, n)
        extents = np.concatenate([u(0.10, 0.35, 1), u(0.04, 0.15, 2)], 1)
        b.add(0, BOX, extents / 2, zeros)
        b.kind[shape == 1, 0] = CYLINDER
        b.kind[shape == 2, 0] = CAPSULE
        radius = extents[:, 1] / 2
        round_size = np.stack(
            [radius, np.maximum(extents[:, 0] / 2 - np.where(shape == 2, radius, 0.0), 0.01), zero], 1
        )
        b.size[shape > 0, 0] = round_size[shape > 0]
        b.rotation[:, 0] = _random_rotations(n, rng)
    elif name == "l_shape":
        long_a, long_b, thick = u(0.15, 0.32), u(0.10, 0.25), u(0.03, 0.08)
        depth = u(0.04, 0.12)
        b.add(0, BOX, np.stack([long_a, depth, thick], 1) / 2, np.stack([long_a / 2, zero, thick / 2], 1))
        # The upright is a little shallower than the base, so that no edges of the two boxes coincide
        # (coinciding edges make the concatenated mesh non-manifold for the physics body).
        upright = np.stack([thick, depth * u(0.7, 0.95), long_b], 1) / 2
        b.add(1, BOX, upright, np.stack([thick / 2, zero, long_b / 2], 1))
    elif name == "cross":
        len_a, len_b, r = u(0.18, 0.38), u(0.10, 0.30), u(0.012, 0.035)
        b.add(0, CAPSULE, np.stack([r, len_a / 2, zero], 1), zeros, axis="x")
        offset = np.where(rng.random(n) < 0.5, 0.0, len_a / 2 - r)  # a plus, or a T
        b.add(1, CAPSULE, np.stack([r * u(0.8, 1.2), len_b / 2, zero], 1), np.stack([offset, zero, zero], 1))
        b.rotation[:, 1] = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])  # local z along y
    elif name == "lumpy":
        count = rng.integers(3, 5, n)
        for j in range(MAX_PRIMITIVES):  # primitive slots, few
            radius = u(0.03, 0.07)
            centre = rng.normal(size=(n, 3)) * 0.04
            is_box = rng.random(n) < 0.5
            size = np.where(is_box[:, None], u(0.025, 0.06, 3), np.stack([radius, zero, zero], 1))
            b.add(j, SPHERE, size, centre)
            b.kind[is_box, j] = BOX
            b.rotation[:, j] = _random_rotations(n, rng)
            b.kind[j >= count, j] = NONE
            b.size[j >= count, j] = 0.0


def generate_objects(
    num: int,
    seed: int = 0,
    families: tuple[str, ...] = OBJECT_FAMILIES,
    max_tilt_deg: float = 10.0,
    centring_samples: int = 2048,
) -> ProceduralObjects:
    """``num`` random objects, families drawn uniformly, each centred on its surface centroid (object frame).

    families: names from ALL_FAMILIES; the default, OBJECT_FAMILIES, draws exactly what it drew
    before the extra families existed (the held-out evaluation objects of seed 1000).
    """
    if num < 1:
        raise ConfigError(f"num must be >= 1, got {num}")
    unknown = sorted(set(families) - set(ALL_FAMILIES))
    if unknown or not families:
        raise ConfigError(f"unknown object families {unknown}; choose from {', '.join(ALL_FAMILIES)}")
    rng = np.random.default_rng(seed)
    family = rng.choice([ALL_FAMILIES.index(f) for f in families], size=num)
    kind = np.zeros((num, MAX_PRIMITIVES), dtype=np.int64)
    size = np.zeros((num, MAX_PRIMITIVES, 3))
    rotation = np.tile(np.eye(3), (num, MAX_PRIMITIVES, 1, 1))
    centre = np.zeros((num, MAX_PRIMITIVES, 3))
    for f in np.unique(family):  # one vectorised draw per family
        rows = family == f
        built = _family(ALL_FAMILIES[f], int(rows.sum()), rng)
        kind[rows], size[rows], rotation[rows], centre[rows] = built.kind, built.size, built.rotation, built.centre

    # Yaw about z, then a small tilt about a horizontal axis.
    yaw = rng.uniform(-math.pi, math.pi, num)
    tilt_axis = rng.uniform(-math.pi, math.pi, num)
    tilt = np.radians(rng.uniform(0.0, max_tilt_deg, num))
    yaw_aa = np.stack([np.zeros(num), np.zeros(num), yaw], 1)
    tilt_aa = np.stack([np.cos(tilt_axis) * tilt, np.sin(tilt_axis) * tilt, np.zeros(num)], 1)
    turn = (
        axis_angle_to_matrix(torch.as_tensor(tilt_aa, dtype=torch.float64))
        @ axis_angle_to_matrix(torch.as_tensor(yaw_aa, dtype=torch.float64))
    ).numpy()
    rotation = np.einsum("mij,mkjl->mkil", turn, rotation)
    centre = np.einsum("mij,mkj->mki", turn, centre)
    objects = ProceduralObjects(
        torch.as_tensor(family, dtype=torch.long),
        torch.as_tensor(kind),
        torch.as_tensor(size, dtype=torch.float32),
        torch.as_tensor(rotation, dtype=torch.float32),
        torch.as_tensor(centre, dtype=torch.float32),
    )
    points, _ = objects.sample_surface(centring_samples, seed=seed + 1)
    objects.centre = objects.centre - points.mean(1, keepdim=True)
    return objects
