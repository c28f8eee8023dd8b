"""Robot hands closed onto an object in MuJoCo (retargeting/robot_grasp_physics.py): Shadow hands posed by
construction around a box hold it; posed away they hold nothing; a hand that starts inside is backed off;
the fitted and closing joints stay within the limits; rollout agrees with the mj_step reference."""

from __future__ import annotations

import numpy as np
import pytest
import trimesh

from interhandgen_core.errors import ConfigError, DataError
from interhandgen_core.physics.configuration import GraspPhysicsConfig
from interhandgen_core.physics.object_body import ObjectBody, object_body_from_mesh
from interhandgen_core.retargeting import robot_grasp_physics as rgp
from interhandgen_core.retargeting.hand_frame import invert_poses, mirror_poses
from interhandgen_core.retargeting.retargeter import RobotHandCommands, TwoRobotHands
from interhandgen_core.retargeting.robot_hand import RobotHand, load_robot_hand

HALF = np.array([0.03, 0.05, 0.1])  # the box's half extents, metres
PHYSICS = GraspPhysicsConfig(threads=1)
NO_FIT = rgp.RobotGraspPhysicsConfig(max_back_off=0.06, surface_fit=False)


@pytest.fixture(scope="module")
def hand() -> RobotHand:
    return load_robot_hand("shadow")


@pytest.fixture(scope="module")
def box() -> ObjectBody:
    mesh = trimesh.creation.box(extents=2 * HALF)
    return object_body_from_mesh(np.asarray(mesh.vertices), np.asarray(mesh.faces), PHYSICS)


def right_palm_on_plus_x(gap: float) -> np.ndarray:
    """(4, 4) the palm's frame of a right hand whose palm (-y of the palm's frame) faces -x, the fingers up (+z),
    the wrist ``gap`` beyond the box's +x face."""
    frame = np.eye(4)
    frame[:3, 0] = (0.0, 0.0, -1.0)  # fingers along -x of the palm's frame
    frame[:3, 1] = (1.0, 0.0, 0.0)
    frame[:3, 2] = np.cross(frame[:3, 0], frame[:3, 1])
    frame[:3, 3] = (HALF[0] + gap, 0.0, -0.06)
    return frame


def clamp(hand: RobotHand, gaps: list[float]) -> TwoRobotHands:
    """Per gap one grasp: two Shadow hands at rest, palms on the box's +x and -x faces (the left the mirror image)."""
    n = len(gaps)
    right = np.stack([right_palm_on_plus_x(g) @ invert_poses(hand.rest_frame) for g in gaps])
    sides = {}
    for side, wrist in (("right", right), ("left", mirror_poses(right))):
        sides[side] = RobotHandCommands(
            joint_names=hand.joint_names,
            joint_positions=np.tile(hand.rest, (n, 1)),
            wrist_pose=wrist,
            valid=np.ones(n, dtype=bool),
            link_positions=np.zeros((n, len(hand.point_names), 3)),
            targets=np.zeros((n, len(hand.point_names), 3)),
            scale=np.ones(n),
            fingertip_error_m=np.zeros((n, len(hand.finger_names))),
        )
    return TwoRobotHands(sides["left"], sides["right"])


def test_hands_posed_around_a_box_hold_it_and_hands_posed_away_hold_nothing(hand: RobotHand, box: ObjectBody) -> None:
    result = rgp.validate_robot_commands(hand, clamp(hand, [0.03, 0.2]), box, NO_FIT, PHYSICS)
    assert result.held.shape == (2, 6) and result.success.tolist() == [True, False]
    assert result.displacement_m[0].max() < 0.005  # held firmly, not just within the 2 cm bound
    assert not result.held[1].any()  # beyond the approach's reach: nothing touches, every push moves it away
    assert result.back_off_m[0, 0] < 0 and result.back_off_m[0, 1] < 0  # both hands moved in until they touched


def test_a_hand_that_starts_inside_is_backed_off_and_one_too_deep_fails(hand: RobotHand, box: ObjectBody) -> None:
    result = rgp.validate_robot_commands(hand, clamp(hand, [0.0, -0.03]), box, NO_FIT, PHYSICS)
    assert result.started.tolist() == [True, False]
    assert 0.01 < result.initial_penetration_m[0] <= NO_FIT.max_initial_penetration
    assert (result.back_off_m[0] > 0.01).all()  # each hand moved out by about its depth
    assert result.initial_penetration_m[1] > NO_FIT.max_initial_penetration and not result.held[1].any()


def test_fitted_and_closing_joints_stay_within_the_limits(hand: RobotHand, box: ObjectBody) -> None:
    rng = np.random.default_rng(0)
    n = 8
    commands = clamp(hand, list(rng.uniform(-0.02, 0.03, n)))
    joints = rng.uniform(np.maximum(hand.lower, -1.0), np.minimum(hand.upper, 1.0), (n, hand.num_joints))
    config = rgp.RobotGraspPhysicsConfig()
    for side in ("left", "right"):
        wrist = commands.side(side).wrist_pose
        fitted = rgp.fit_to_surface(hand, side, joints, wrist, box, config)
        closed = rgp.closing_targets(hand, side, fitted, wrist, box, config)
        for q in (fitted, closed):
            assert ((q >= hand.lower - 1e-12) & (q <= hand.upper + 1e-12)).all()
        # The fit brings the fingertips near the surface out to the tip radius, not deeper.
        links, _ = rgp.link_positions(hand, side, fitted, wrist)
        tips = links[:, hand.tip_points].reshape(-1, 3)
        distance, _ = box.signed_distance(tips)
        assert distance.min() > -0.01


def test_the_simulated_joint_ranges_are_the_models_in_radians(hand: RobotHand, box: ObjectBody) -> None:
    model = rgp.robot_grasp_model(hand, box, PHYSICS)
    for side in ("left", "right"):
        for name, low, high in zip(hand.joint_names, hand.lower, hand.upper, strict=True):
            np.testing.assert_allclose(model.joint(f"{side}/{name}").range, [low, high])


def test_rollout_agrees_with_the_mj_step_reference(hand: RobotHand, box: ObjectBody, monkeypatch) -> None:
    physics = GraspPhysicsConfig(threads=1, push_time=0.1, settle_time=0.05)
    config = rgp.RobotGraspPhysicsConfig(max_back_off=0.06, surface_fit=False, close_time=0.1)
    captured = {}
    original = rgp._simulate

    def spy(model, states, controls, physics_config, robot_config):  # type: ignore[no-untyped-def]
        captured.update(model=model, states=states, controls=controls)
        return original(model, states, controls, physics_config, robot_config)

    monkeypatch.setattr(rgp, "_simulate", spy)
    fast = rgp.validate_robot_commands(hand, clamp(hand, [0.03, 0.0]), box, config, physics)
    for row in range(2):
        settle, _, disp, rot = rgp.simulate_reference(
            captured["model"], captured["states"][row], captured["controls"][row], physics, config
        )
        assert settle == pytest.approx(fast.settle_displacement_m[row], abs=1e-6)
        np.testing.assert_allclose(disp, fast.displacement_m[row], atol=1e-6)
        np.testing.assert_allclose(rot, fast.rotation_deg[row], atol=1e-3)  # arccos near 1: sensitive


def test_keypoints_of_the_wrong_shape_and_no_grasps_are_refused(hand: RobotHand, box: ObjectBody) -> None:
    with pytest.raises(DataError, match="21, 3"):
        rgp.validate_robot_grasps(np.zeros((2, 20, 3)), np.zeros((2, 21, 3)), box, hand=hand)
    with pytest.raises(DataError, match="at least one grasp"):
        rgp.validate_robot_grasps(np.zeros((0, 21, 3)), np.zeros((0, 21, 3)), box, hand=hand)
    with pytest.raises(ConfigError):
        rgp.RobotGraspPhysicsConfig(tip_radius=-1.0)


def test_a_grasps_result_does_not_depend_on_its_batch_mates(hand: RobotHand, box: ObjectBody, monkeypatch) -> None:
    physics = GraspPhysicsConfig(threads=2, push_time=0.2)
    alone = rgp.validate_robot_commands(hand, clamp(hand, [0.03]), box, NO_FIT, physics)
    monkeypatch.setattr(rgp, "_GRASP_CHUNK", 2)  # three rollout chunks
    batch = rgp.validate_robot_commands(hand, clamp(hand, [0.2, 0.0, 0.01, 0.03, -0.03]), box, NO_FIT, physics)
    # Batch mates reach a grasp only through the closing solve's shared stopping rule (joints within 1e-4 rad),
    # which contact dynamics amplify to fractions of a millimetre, far below the 2 cm bound.
    np.testing.assert_allclose(batch.displacement_m[3], alone.displacement_m[0], atol=1e-3)
    assert batch.held[3].all() and batch.started.tolist() == [True, True, True, True, False]
