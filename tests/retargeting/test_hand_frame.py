"""The palm's frame: MANO's axes on a right hand, a rotation; mirroring and inverting poses."""

from __future__ import annotations

import numpy as np

from interhandgen_core.retargeting.hand_frame import hand_frame, invert_poses, mirror_points, mirror_poses


def test_frame_axes_of_a_flat_right_hand() -> None:
    # A right hand in MANO's rest frame: fingers along -x, thumb side +z, so index at +z of the little finger.
    wrist = np.zeros((1, 3))
    bases = np.array([[[-0.09, 0.0, 0.03], [-0.095, 0.0, 0.01], [-0.09, 0.0, -0.01], [-0.08, 0.0, -0.03]]])
    frame = hand_frame(wrist, bases)[0]
    np.testing.assert_allclose(frame[:3, :3], np.eye(3), atol=0.1)
    assert np.linalg.det(frame[:3, :3]) == np.float64(1.0) or abs(np.linalg.det(frame[:3, :3]) - 1) < 1e-12


def test_degenerate_frame_is_nan() -> None:
    bases = np.array([[[0.1, 0.0, 0.0], [0.2, 0.0, 0.0]]])
    assert np.isnan(hand_frame(np.zeros((1, 3)), bases)).any()
    assert np.isnan(hand_frame(np.full((1, 3), np.nan), bases)).any()


def test_mirror_and_invert() -> None:
    rng = np.random.default_rng(0)
    q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    q *= np.sign(np.linalg.det(q))
    pose = np.eye(4)
    pose[:3, :3], pose[:3, 3] = q, rng.normal(size=3)
    mirrored = mirror_poses(pose[None])[0]
    assert abs(np.linalg.det(mirrored[:3, :3]) - 1.0) < 1e-12
    point = rng.normal(size=3)
    # The mirrored pose maps the mirrored point to the mirror image of the mapped point.
    np.testing.assert_allclose(
        mirrored[:3, :3] @ mirror_points(point) + mirrored[:3, 3], mirror_points(pose[:3, :3] @ point + pose[:3, 3])
    )
    np.testing.assert_allclose(invert_poses(pose[None])[0] @ pose, np.eye(4), atol=1e-12)
