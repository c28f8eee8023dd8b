"""A hand model in MANO's file format, independent of where it came from.

Both assets the project knows, the license-free procedural hand and the official MANO
files, end up as a :class:`HandAsset`: the same arrays, under the same names, that a
MANO pickle holds. The procedural asset ships as an ``.npz`` (no pickle); MANO pickles
are read by :mod:`interhandgen_core.hands.mano_pickle`.

Arrays (V vertices, F faces, J = 16 joints):
    v_template       (V, 3)       metres, rest pose (flat hand), right-hand MANO axes:
                                  fingers along -x from the wrist, thumb towards +z,
                                  palm facing -y
    faces            (F, 3)       int, counter-clockwise seen from outside
    shapedirs        (V, 3, 10)   metres per unit beta
    posedirs         (V, 3, 135)  pose-corrective offsets per entry of (R - I) of joints 1..15
    J_regressor      (J, V)       joints = J_regressor @ vertices
    weights          (V, J)       skinning weights, rows sum to 1
    parents          (J,)         kinematic tree (-1 for the root)
    tip_vertex_ids   (5,)         fingertip vertices in TIP_ORDER
    hands_mean       (45,)        MANO's mean finger pose (zeros for the procedural hand)
    hands_components (45, 45)     MANO's pose PCA basis (identity for the procedural hand)
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from interhandgen_core.array_files import read_npz
from interhandgen_core.errors import AssetError
from interhandgen_core.hands.keypoints import NUM_BETAS, NUM_JOINTS, PARENTS

Side = Literal["right", "left"]

_ARRAY_FIELDS = (
    "v_template",
    "faces",
    "shapedirs",
    "posedirs",
    "J_regressor",
    "weights",
    "parents",
    "tip_vertex_ids",
    "hands_mean",
    "hands_components",
)


@dataclasses.dataclass(frozen=True)
class HandAsset:
    """One side of a MANO-format hand model (see the module docstring for shapes)."""

    name: str
    side: Side
    v_template: NDArray[np.float64]
    faces: NDArray[np.int64]
    shapedirs: NDArray[np.float64]
    posedirs: NDArray[np.float64]
    J_regressor: NDArray[np.float64]
    weights: NDArray[np.float64]
    parents: NDArray[np.int64]
    tip_vertex_ids: NDArray[np.int64]
    hands_mean: NDArray[np.float64]
    hands_components: NDArray[np.float64]

    def __post_init__(self) -> None:
        v = self.v_template.shape[0]
        expected = {
            "v_template": (v, 3),
            "shapedirs": (v, 3, NUM_BETAS),
            "posedirs": (v, 3, (NUM_JOINTS - 1) * 9),
            "J_regressor": (NUM_JOINTS, v),
            "weights": (v, NUM_JOINTS),
            "parents": (NUM_JOINTS,),
            "tip_vertex_ids": (5,),
            "hands_mean": (45,),
            "hands_components": (45, 45),
        }
        for field, shape in expected.items():
            actual = getattr(self, field).shape
            if actual != shape:
                raise AssetError(f"hand asset '{self.name}': {field} has shape {actual}, expected {shape}")
        if self.faces.ndim != 2 or self.faces.shape[1] != 3:
            raise AssetError(f"hand asset '{self.name}': faces has shape {self.faces.shape}, expected (F, 3)")
        if self.faces.min() < 0 or self.faces.max() >= v:
            raise AssetError(f"hand asset '{self.name}': faces index vertices outside 0..{v - 1}")
        if self.side not in ("right", "left"):
            raise AssetError(f"hand asset '{self.name}': side must be 'right' or 'left', got {self.side!r}")
        if not np.all(np.isfinite(self.v_template)):
            raise AssetError(f"hand asset '{self.name}': v_template holds NaN or Inf")

    @property
    def num_vertices(self) -> int:
        return int(self.v_template.shape[0])

    def mirrored(self) -> HandAsset:
        """The other side's hand: every position mirrored by Gamma, faces re-wound.

        Reflection turns the mesh inside out, so the triangle winding is reversed to keep
        normals pointing outwards. posedirs rows follow (R - I) of mirrored rotations:
        entry (a, b) of T R T is t_a t_b R_ab, so its column scales by t_a t_b, and the
        resulting offsets are mirrored in x.
        """
        t = np.array([-1.0, 1.0, 1.0])
        entry_sign = np.tile((t[:, None] * t[None, :]).reshape(9), NUM_JOINTS - 1)
        return dataclasses.replace(
            self,
            side="left" if self.side == "right" else "right",
            v_template=self.v_template * t,
            faces=self.faces[:, ::-1].copy(),
            shapedirs=self.shapedirs * t[None, :, None],
            posedirs=self.posedirs * t[None, :, None] * entry_sign[None, None, :],
        )

    def to_mano_dict(self) -> dict[str, object]:
        """The arrays under MANO pickle key names, as smplx's MANO reads them."""
        return {
            "v_template": self.v_template,
            "f": self.faces.astype(np.uint32),
            "shapedirs": self.shapedirs,
            "posedirs": self.posedirs,
            "J_regressor": self.J_regressor,
            "weights": self.weights,
            "kintree_table": np.stack(
                [np.where(self.parents < 0, 2**32 - 1, self.parents), np.arange(NUM_JOINTS)]
            ).astype(np.int64),
            "hands_mean": self.hands_mean,
            "hands_components": self.hands_components,
            "hands_coeffs": np.zeros((1, 45)),
            "bs_style": "lbs",
            "bs_type": "lrotmin",
        }

    def save_npz(self, path: str | Path) -> None:
        """Write the asset as an uncompressed-pickle-free ``.npz``."""
        arrays = {field: getattr(self, field) for field in _ARRAY_FIELDS}
        np.savez_compressed(path, name=np.array(self.name), side=np.array(self.side), **arrays)


def load_asset_npz(path: str | Path) -> HandAsset:
    """Read a HandAsset written by :meth:`HandAsset.save_npz` (never unpickles)."""
    path = Path(path)
    if not path.is_file():
        raise AssetError(f"{path}: hand asset file not found")
    needed = (*_ARRAY_FIELDS, "name", "side")
    arrays = read_npz(path, "hand asset", needed, AssetError)
    missing = [f for f in needed if f not in arrays]
    if missing:
        raise AssetError(f"{path}: not a hand asset, missing arrays {missing}")
    name, side = str(arrays["name"]), str(arrays["side"])
    if side not in ("right", "left"):
        raise AssetError(f"{path}: side must be 'right' or 'left', got {side!r}")
    return HandAsset(
        name=name,
        side="right" if side == "right" else "left",
        v_template=arrays["v_template"].astype(np.float64),
        faces=arrays["faces"].astype(np.int64),
        shapedirs=arrays["shapedirs"].astype(np.float64),
        posedirs=arrays["posedirs"].astype(np.float64),
        J_regressor=arrays["J_regressor"].astype(np.float64),
        weights=arrays["weights"].astype(np.float64),
        parents=arrays["parents"].astype(np.int64),
        tip_vertex_ids=arrays["tip_vertex_ids"].astype(np.int64),
        hands_mean=arrays["hands_mean"].astype(np.float64),
        hands_components=arrays["hands_components"].astype(np.float64),
    )


def default_parents() -> NDArray[np.int64]:
    """MANO's kinematic tree, (16,)."""
    return np.array(PARENTS, dtype=np.int64)
