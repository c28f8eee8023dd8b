"""The procedural hand: a license-free right hand, in MANO's file format, built and loaded.

Everything is designed from scratch (no scanned or MANO-derived data), so the asset can
ship with the project. Units are metres; the frame is MANO's right-hand frame (wrist joint
at the origin, fingers along -x, thumb towards +z, palm facing -y). The parts:

    design tables, rest skeleton   hands/procedural/design.py
    signed distance field          hands/procedural/sdf.py
    meshing                        hands/procedural/meshing.py
    skinning weights               hands/procedural/skinning.py
    joint regressor, tip vertices  hands/procedural/joints.py
    shape directions               hands/procedural/shape.py

Regenerate the shipped file (needs the ``assets`` extra: scikit-image, fast-simplification):

    python -m interhandgen_core.hands.procedural --out interhandgen_core/assets/procedural_hand.npz
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib import resources
from pathlib import Path

import numpy as np

from interhandgen_core.errors import AssetError
from interhandgen_core.hands.asset import HandAsset, default_parents, load_asset_npz
from interhandgen_core.hands.keypoints import NUM_JOINTS
from interhandgen_core.hands.procedural.design import CM, FINGER_DESIGNS, FingerDesign, designs_to_skeleton
from interhandgen_core.hands.procedural.joints import joint_regressor, tip_vertex_ids
from interhandgen_core.hands.procedural.meshing import sdf_to_mesh
from interhandgen_core.hands.procedural.sdf import hand_sdf_cm, sdf_gradient
from interhandgen_core.hands.procedural.shape import shape_directions
from interhandgen_core.hands.procedural.skinning import skinning_weights

ASSET_NAME = "procedural"
ASSET_FILENAME = "procedural_hand.npz"


def build_procedural_hand(designs: Sequence[FingerDesign] = FINGER_DESIGNS) -> HandAsset:
    """Generate the procedural right hand (deterministic; needs the ``assets`` extra, about 10 s)."""
    verts_cm, faces = sdf_to_mesh(lambda p: hand_sdf_cm(p, designs), designs)
    normals = sdf_gradient(lambda p: hand_sdf_cm(p, designs), verts_cm)
    normals /= np.linalg.norm(normals, axis=1, keepdims=True)
    vertices = verts_cm * CM
    skeleton = designs_to_skeleton(designs)
    weights = skinning_weights(vertices, faces, skeleton)
    num = vertices.shape[0]
    return HandAsset(
        name=ASSET_NAME,
        side="right",
        v_template=vertices,
        faces=faces,
        shapedirs=shape_directions(vertices, weights, skeleton, normals),
        posedirs=np.zeros((num, 3, (NUM_JOINTS - 1) * 9)),
        J_regressor=joint_regressor(vertices, skeleton),
        weights=weights,
        parents=default_parents(),
        tip_vertex_ids=tip_vertex_ids(vertices, skeleton),
        hands_mean=np.zeros(45),
        hands_components=np.eye(45),
    )


def shipped_asset_path() -> Path:
    """Where the package keeps the generated procedural hand."""
    return Path(str(resources.files("interhandgen_core") / "assets" / ASSET_FILENAME))


def load_procedural_hand() -> HandAsset:
    """The shipped procedural right hand (read from the package's ``assets`` folder)."""
    path = shipped_asset_path()
    if not path.is_file():
        raise AssetError(
            f"{path}: the procedural hand asset is missing from the package; regenerate it with "
            "'python -m interhandgen_core.hands.procedural --out " + str(path) + "'"
        )
    return load_asset_npz(path)
