"""Training pairs of the object-conditioned prior: both Gamma views keep hands and cloud together.

The grasp set is built by hand, so that each hand touches its object at one known cloud point
and lies otherwise beyond the object's supporting plane there: if a view moved a hand or the
cloud differently (a missing mirror, a wrong frame shift), that hand would no longer touch
the returned cloud.
"""

from __future__ import annotations

import pytest
import torch

from interhandgen_core.data.grasp_pairs import GraspPairs
from interhandgen_core.data.grasp_synth import GraspSet
from interhandgen_core.data.procedural_objects import OBJECT_FAMILIES, ProceduralObjects, generate_objects
from interhandgen_core.errors import DataError
from interhandgen_core.geometry.rotations import axis_angle_to_matrix
from interhandgen_core.hands.hand_params import HandParams
from interhandgen_core.hands.layer import HandLayer
from interhandgen_core.hands.loading import load_hand_pair
from interhandgen_core.prior.representation import Normalizer

GRASPS_PER_OBJECT = 2
CLOUD = 256  # stored surface samples per object
# Drawn with replacement: 2048 draws from 256 points miss a given point with probability e^-8.
NUM_POINTS = 2048


@pytest.fixture(scope="module")
def layers() -> tuple[HandLayer, HandLayer]:
    right, left = load_hand_pair("procedural", None)
    return HandLayer(right), HandLayer(left)


def _touching_hands(
    layer: HandLayer, points: torch.Tensor, directions: torch.Tensor, gen: torch.Generator
) -> HandParams:
    """One hand per row touching the cloud ``points`` (B, P, 3) at its outermost point along ``directions`` (B, 3).

    The hand is posed at random, then shifted so that its extreme vertex towards the object sits on
    that point: every other vertex lies on the far side of the object's supporting plane.
    """
    b = directions.shape[0]
    pose = torch.randn(b, 45, generator=gen) * 0.2
    betas = torch.randn(b, 10, generator=gen)
    rotation = axis_angle_to_matrix(torch.randn(b, 3, generator=gen))
    with torch.no_grad():
        vertices = layer(HandParams(pose, betas, rotation, torch.zeros(b, 3))).vertices
    rows = torch.arange(b)
    support = points[rows, (points * directions[:, None]).sum(-1).argmax(-1)]
    extreme = vertices[rows, (vertices * directions[:, None]).sum(-1).argmin(-1)]
    return HandParams(pose, betas, rotation, support - extreme)


def _grasp_set(layers: tuple[HandLayer, HandLayer], objects: ProceduralObjects, seed: int) -> GraspSet:
    right_layer, left_layer = layers
    points, normals = objects.sample_surface(CLOUD, seed=seed)
    index = torch.arange(len(objects)).repeat_interleave(GRASPS_PER_OBJECT)
    gen = torch.Generator().manual_seed(seed)
    directions = torch.nn.functional.normalize(torch.randn(index.numel(), 3, generator=gen), dim=-1)
    right = _touching_hands(right_layer, points[index], directions, gen)
    left = _touching_hands(left_layer, points[index], -directions, gen)  # the opposite side
    n = index.numel()
    zeros = torch.zeros(n)
    return GraspSet(objects, points, normals, index, left, right, zeros.long(), zeros, zeros.clone(), n)


@pytest.fixture(scope="module")
def grasps(layers: tuple[HandLayer, HandLayer]) -> GraspSet:
    # Families whose random yaw breaks the x-flip symmetry (checked in the test below).
    objects = generate_objects(2, seed=4, families=("box_with_handle", "dumbbell"), centring_samples=256)
    return _grasp_set(layers, objects, seed=0)


def _nearest(vertices: torch.Tensor, cloud: torch.Tensor) -> torch.Tensor:
    """(B,) distance between each row's closest hand vertex and cloud point."""
    return torch.cdist(vertices, cloud).flatten(1).min(-1).values


def test_length_and_batch_shapes(grasps: GraspSet) -> None:
    pairs = GraspPairs(grasps, num_points=64, sensor_augmentation=0.5)
    n = len(grasps)
    assert len(pairs) == 2 * n
    rows = torch.tensor([0, n, 2 * n - 1, 0, 1])  # repeats and both views
    x0, cond, cloud = pairs.batch(rows, torch.Generator().manual_seed(0))
    assert x0.shape == cond.shape == (5, 64)
    assert cloud.shape == (5, 64, 3)
    assert torch.isfinite(x0).all() and torch.isfinite(cond).all() and torch.isfinite(cloud).all()


def test_empty_grasp_set_is_rejected(grasps: GraspSet) -> None:
    empty = torch.zeros(0, dtype=torch.long)
    none = grasps.left.select(empty)
    with pytest.raises(DataError, match="empty"):
        GraspPairs(
            GraspSet(
                grasps.objects,
                grasps.object_points,
                grasps.object_normals,
                empty,
                none,
                none,
                empty,
                torch.zeros(0),
                torch.zeros(0),
                0,
            ),
            num_points=8,
            sensor_augmentation=0.0,
        )


def test_both_views_keep_each_hand_on_the_cloud(grasps: GraspSet, layers: tuple[HandLayer, HandLayer]) -> None:
    right_layer, left_layer = layers
    # Precondition: the objects are not mirror-symmetric, so a view that flipped the hands but not
    # the cloud (or the reverse) would show. Each flipped cloud point is far from every cloud point
    # on average.
    flipped = grasps.object_points * torch.tensor([-1.0, 1.0, 1.0])
    assert float(torch.cdist(flipped, grasps.object_points).min(-1).values.mean()) > 0.005

    pairs = GraspPairs(grasps, num_points=NUM_POINTS, sensor_augmentation=0.0)
    n = len(grasps)
    rows = torch.arange(2 * n)
    x0, cond, cloud = pairs.batch(rows, torch.Generator().manual_seed(1))
    # No sensor augmentation: no outliers, so the cloud is centred on its mean.
    assert float(cloud.mean(1).abs().max()) < 1e-5

    with torch.no_grad():
        right = HandParams.from_vector(pairs.normalizer.denormalize(x0))
        right_vertices = right_layer(right).vertices
        # The condition is Gamma(left): mirrored back, it is a left hand.
        left = HandParams.from_vector(pairs.normalizer.denormalize(cond)).mirrored()
        left_vertices = left_layer(left).vertices
    # Rows 0..N-1 are the stored grasps, N..2N-1 the mirrored scenes: every hand still touches
    # (its contact point is in the cloud: well under a millimetre, far below the cloud's spacing).
    assert float(_nearest(right_vertices, cloud).max()) < 1e-3
    assert float(_nearest(left_vertices, cloud).max()) < 1e-3

    # The mirrored rows really are the mirrored scene, not a copy: their right hand is the stored
    # left hand, mirrored, and its cloud is the mirror image (up to the recentring shift).
    stored_left_vertices = left_layer(grasps.left).vertices.detach()
    shift = right_vertices[n:] - stored_left_vertices * torch.tensor([-1.0, 1.0, 1.0])
    assert torch.allclose(shift, shift[:, :1].expand_as(shift), atol=1e-4)  # a pure translation


def test_given_normalizer_is_used(grasps: GraspSet) -> None:
    identity = Normalizer()
    pairs = GraspPairs(grasps, num_points=32, sensor_augmentation=0.0, normalizer=identity)
    assert pairs.normalizer is identity
    x0, _, _ = pairs.batch(torch.tensor([0]), torch.Generator().manual_seed(0))
    # With the identity normaliser x0 is the raw vector: the stored right hand's articulation.
    assert torch.allclose(x0[0, :55], torch.cat([grasps.right.pose[0], grasps.right.betas[0]]))


def test_batches_are_deterministic_for_a_generator_seed(grasps: GraspSet) -> None:
    pairs = GraspPairs(grasps, num_points=128, sensor_augmentation=0.7)
    rows = torch.arange(len(pairs))
    a = pairs.batch(rows, torch.Generator().manual_seed(5))
    b = pairs.batch(rows, torch.Generator().manual_seed(5))
    c = pairs.batch(rows, torch.Generator().manual_seed(6))
    for x, y in zip(a, b, strict=True):
        assert torch.equal(x, y)
    assert not torch.equal(a[2], c[2])


def test_sensor_augmentation_keeps_one_side_of_a_ball(layers: tuple[HandLayer, HandLayer]) -> None:
    # A ball seen by one camera is a cap: its spread along the viewing direction falls to about a
    # quarter of the full ball's (hemisphere: r^2/12 against r^2/3), while the full ball's cloud
    # spreads equally in all directions.
    ball = generate_objects(1, seed=0, families=("sphere",), centring_samples=256)
    assert OBJECT_FAMILIES[int(ball.family[0])] == "sphere"
    grasps = _grasp_set(layers, ball, seed=1)

    def spread_ratio(sensor: float) -> torch.Tensor:
        pairs = GraspPairs(grasps, num_points=512, sensor_augmentation=sensor)
        rows = torch.zeros(16, dtype=torch.long)
        _, _, cloud = pairs.batch(rows, torch.Generator().manual_seed(2))
        centred = cloud - cloud.mean(1, keepdim=True)
        eig = torch.linalg.eigvalsh(centred.transpose(1, 2) @ centred)  # ascending
        return eig[:, 0] / eig[:, -1]

    assert float(spread_ratio(0.0).min()) > 0.7
    assert float(spread_ratio(1.0).max()) < 0.5
