"""The synthesizers' shared scaffold: offsets around a start, and rounds of candidates until each quota is met."""

from __future__ import annotations

import torch

from interhandgen_core.data.hand_pair_synthesis import Attempt, Candidates, HandOffsets, Rounds, collect_plausible
from interhandgen_core.geometry.rotations import axis_angle_to_matrix
from interhandgen_core.hands.hand_params import HandParams


def _hands(b: int) -> HandParams:
    return HandParams(torch.zeros(b, 45), torch.zeros(b, 10), torch.eye(3).expand(b, 3, 3), torch.zeros(b, 3))


def test_offsets_start_at_the_start_and_an_anchor_keeps_its_placement() -> None:
    start = _hands(2)
    placed, anchor = HandOffsets.around(start), HandOffsets.around(start, placed=False)
    assert torch.equal(placed.current().to_vector(), start.to_vector())
    with torch.no_grad():
        for offsets in (placed, anchor):
            offsets.pose += 0.1
            offsets.rotation += torch.tensor([0.0, 0.0, 0.5])
            offsets.translation += 2.0  # centimetres
    moved = placed.current()
    assert torch.allclose(moved.pose, torch.full((2, 45), 0.1))
    assert torch.allclose(moved.translation, torch.full((2, 3), 0.02))
    assert torch.allclose(moved.rotation, axis_angle_to_matrix(torch.tensor([[0.0, 0.0, 0.5]] * 2)))
    kept = anchor.current()
    assert torch.allclose(kept.pose, torch.full((2, 45), 0.1))
    assert kept.rotation is start.rotation and kept.translation is start.translation


def _attempt_passing(every: int) -> tuple[list[torch.Tensor], Attempt]:
    drawn: list[torch.Tensor] = []

    def attempt(group: torch.Tensor) -> tuple[Candidates, torch.Tensor]:
        drawn.append(group)
        b = group.numel()
        accepted = torch.arange(b) % every == 0
        return Candidates(_hands(b), _hands(b), {"group": group}), accepted

    return drawn, attempt


def test_each_group_gets_at_most_its_quota() -> None:
    drawn, attempt = _attempt_passing(every=2)
    parts, attempts = collect_plausible(
        torch.tensor([3, 1, 0]), attempt, Rounds(chunk_size=100, min_draw=2), "test", "row", progress=False
    )
    kept = Candidates.cat(parts).figures["group"]
    assert torch.equal(torch.bincount(kept, minlength=3), torch.tensor([3, 1, 0]))
    # Round 1 draws twice what each open group misses (at least 2): 6 of group 0, 2 of group 1.
    assert torch.equal(drawn[0], torch.tensor([0] * 6 + [1] * 2))
    assert attempts == sum(int(g.numel()) for g in drawn)


def test_rounds_and_attempts_are_capped() -> None:
    drawn, attempt = _attempt_passing(every=10**6)  # only the first row of a round passes
    parts, _ = collect_plausible(
        torch.tensor([5, 5]), attempt, Rounds(4, 2, max_rounds=2), "test", "row", progress=False
    )
    # The chunk of 4 holds group 0 alone until it closes after 2 rounds; then group 1 has its 2.
    assert [g.tolist() for g in drawn] == [[0] * 4, [0] * 4, [1] * 4, [1] * 4]
    assert torch.equal(Candidates.cat(parts).figures["group"], torch.tensor([0, 0, 1, 1]))
    drawn, attempt = _attempt_passing(every=10**6)
    parts, attempts = collect_plausible(
        torch.tensor([50]), attempt, Rounds(8, 8, max_attempts=20), "test", "row", progress=False
    )
    assert [int(g.numel()) for g in drawn] == [8, 8, 8] and attempts == 24
