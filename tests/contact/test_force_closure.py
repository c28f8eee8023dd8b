"""Force-closure energies (DexGraspNet / BimanGrasp terms): the fast net wrench equals the explicit
grasp matrix times the normals, opposing contacts close and one-sided ones do not, the bimanual
term sees what neither hand alone does, and the simple terms count what they say."""

from __future__ import annotations

import math

import pytest
import torch

from interhandgen_core.contact.force_closure import (
    bimanual_force_closure_energy,
    contact_distance_energy,
    force_closure_energy,
    grasp_matrix,
    joint_limit_energy,
    net_wrench,
    penetration_energy,
)
from interhandgen_core.errors import DataError


def test_net_wrench_equals_the_explicit_grasp_matrix_times_the_normals() -> None:
    g = torch.Generator().manual_seed(0)
    points = torch.randn(5, 7, 3, generator=g, dtype=torch.float64) * 0.1
    normals = torch.nn.functional.normalize(torch.randn(5, 7, 3, generator=g, dtype=torch.float64), dim=-1)
    centre = torch.randn(5, 3, generator=g, dtype=torch.float64) * 0.02
    slow = (grasp_matrix(points, centre, 0.07) @ normals.reshape(5, 21, 1))[..., 0]
    torch.testing.assert_close(net_wrench(points, normals, centre, 0.07), slow)


def _sphere_contacts(angles: list[float], radius: float = 0.05) -> tuple[torch.Tensor, torch.Tensor]:
    """Contacts on a sphere's equator at these azimuths: points (1, n, 3), inward normals (1, n, 3)."""
    a = torch.tensor(angles, dtype=torch.float64)
    outward = torch.stack([a.cos(), a.sin(), torch.zeros_like(a)], -1)[None]
    return radius * outward, -outward


def test_antipodal_and_evenly_spread_contacts_close_one_sided_contacts_do_not() -> None:
    assert force_closure_energy(*_sphere_contacts([0.0, math.pi])).item() == pytest.approx(0.0, abs=1e-12)
    three = _sphere_contacts([0.0, 2 * math.pi / 3, 4 * math.pi / 3])
    assert force_closure_energy(*three).item() == pytest.approx(0.0, abs=1e-12)
    # Two contacts pressing from the same side: their forces add up to 2 cos(15 deg) each way.
    same_side = force_closure_energy(*_sphere_contacts([-math.pi / 12, math.pi / 12])).item()
    assert same_side == pytest.approx(2 * math.cos(math.pi / 12), rel=1e-9)


def test_an_off_centre_pair_leaves_a_torque() -> None:
    # Two opposing forces along x, offset along y by 4 cm: no net force, a torque of 0.04 / 0.1 per unit.
    points = torch.tensor([[[0.05, 0.02, 0.0], [-0.05, -0.02, 0.0]]], dtype=torch.float64)
    normals = torch.tensor([[[-1.0, 0.0, 0.0], [1.0, 0.0, 0.0]]], dtype=torch.float64)
    wrench = net_wrench(points, normals)
    torch.testing.assert_close(wrench[0, :3], torch.zeros(3, dtype=torch.float64))
    assert wrench[0, 5].item() == pytest.approx(0.4)


def test_bimanual_energy_closes_where_each_hand_alone_does_not() -> None:
    left = _sphere_contacts([math.pi - 0.2, math.pi + 0.2])
    right = _sphere_contacts([-0.2, 0.2])
    assert force_closure_energy(*left).item() > 1.9 and force_closure_energy(*right).item() > 1.9
    assert bimanual_force_closure_energy(*left, *right).item() == pytest.approx(0.0, abs=1e-12)
    # Weights drop contacts: the left hand's contacts off, only the right's one-sided push is left.
    off = torch.zeros(1, 2, dtype=torch.float64)
    alone = bimanual_force_closure_energy(*left, *right, left_weights=off)
    assert alone.item() == pytest.approx(force_closure_energy(*right).item())


def test_descending_the_energy_moves_a_contact_to_oppose_the_other() -> None:
    # One contact fixed at azimuth 0, the other free on the sphere: gradient descent on E_fc with the
    # sphere's normal (differentiable in the point) brings the free one to the antipode.
    azimuth = torch.tensor([1.0], dtype=torch.float64, requires_grad=True)
    optimiser = torch.optim.Adam([azimuth], lr=0.05)
    for _ in range(300):  # optimisation steps
        angles = torch.cat([torch.zeros(1, dtype=torch.float64), azimuth])
        outward = torch.stack([angles.cos(), angles.sin(), torch.zeros_like(angles)], -1)[None]
        energy = force_closure_energy(0.05 * outward, -outward).sum()
        optimiser.zero_grad()
        energy.backward()
        optimiser.step()
    assert abs(azimuth.item() - math.pi) < 0.05


def test_distance_penetration_and_joint_terms_count_what_they_say() -> None:
    d = torch.tensor([[0.01, -0.02, 0.0]])
    assert contact_distance_energy(d).item() == pytest.approx(0.03)
    assert contact_distance_energy(d, torch.tensor([[1.0, 0.0, 1.0]])).item() == pytest.approx(0.01)
    assert penetration_energy(torch.tensor([[0.01, -0.02, 0.001]]), margin=0.002).item() == pytest.approx(0.023)
    pose = torch.tensor([[0.5, -0.5, 0.0]])
    low, high = torch.tensor([-0.1, -0.1, -0.1]), torch.tensor([0.2, 0.2, 0.2])
    assert joint_limit_energy(pose, low, high).item() == pytest.approx(0.3 + 0.4)
    with pytest.raises(DataError, match="low <= high"):
        joint_limit_energy(pose, high, low)
    with pytest.raises(DataError, match=r"\(B, n, 3\)"):
        net_wrench(torch.zeros(2, 3), torch.zeros(2, 3))
