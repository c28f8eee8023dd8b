"""Optimise-and-reject synthesis of hand pairs: the scaffold both synthesizers share.

data/twohand_synth.py (two interacting hands) and data/grasp_synth.py (two hands holding an
object) differ in where their candidates start, what their objective asks and how they judge
the result; what they share is here:

    HandOffsets          learnable changes of one hand's candidates from where they start
    HandPairSynthesizer  the right and the left hand layer (the same model, mirrored), and
                         ``optimise``: Adam on the offsets through the layers, the nearest
                         neighbours between the hands refreshed every few steps
    collect_plausible    rounds of candidates until every group has its quota of accepted
                         ones (an object's grasps; the one group of two-hand samples)

Notation (code -> meaning):
    start        HandParams (B,) where a hand's candidates begin
    pose         (B, 45) radians added to the start's articulation
    rotation     (B, 3) axis-angle, left-multiplied onto the start's rotation
    translation  (B, 3) centimetres added to the start's translation (so that Adam's step,
                 a fraction of a unit, is of a millimetre or so)
    group        (B,) long: whose quota a candidate counts towards
    missing      (G,) accepted candidates each group still needs

Everything is batched over candidates; the only loops are over optimisation iterations and
rounds of candidates.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor
from tqdm import tqdm

from interhandgen_core.errors import ConfigError
from interhandgen_core.geometry.nearest import nearest_neighbors
from interhandgen_core.geometry.rotations import axis_angle_to_matrix
from interhandgen_core.hands.hand_params import HandParams
from interhandgen_core.hands.layer import HandLayer, HandOutput

_METRES_PER_CENTIMETRE = 0.01
_TRANSLATION_LR = 0.1  # centimetres
_ROTATION_LR = 0.02  # radians
_POSE_LR = 0.02  # radians

# (left output, right output, right_to_left (B, V_r), left_to_right (B, V_l) nearest-vertex indices)
# -> (B,) loss of each candidate.
PairLoss = Callable[[HandOutput, HandOutput, Tensor, Tensor], Tensor]


@dataclass
class HandOffsets:
    """Learnable changes of B candidates of one hand (module notation); all zero at the start.

    placed: False keeps the start's rotation and translation (an anchor hand whose articulation
    alone moves): its ``rotation`` and ``translation`` are then neither optimised nor applied.
    """

    start: HandParams
    pose: Tensor
    rotation: Tensor
    translation: Tensor
    placed: bool = True

    @staticmethod
    def around(start: HandParams, placed: bool = True) -> HandOffsets:
        """Zero offsets, requiring gradients, around ``start`` (B,)."""
        b = start.batch_size

        def zeros(size: int) -> Tensor:
            return torch.zeros(b, size, requires_grad=True)

        return HandOffsets(start, zeros(45), zeros(3), zeros(3), placed)

    def current(self) -> HandParams:
        """The candidates as they stand: start plus offsets."""
        s = self.start
        if not self.placed:
            return HandParams(s.pose + self.pose, s.betas, s.rotation, s.translation)
        return HandParams(
            s.pose + self.pose,
            s.betas,
            axis_angle_to_matrix(self.rotation) @ s.rotation,
            s.translation + _METRES_PER_CENTIMETRE * self.translation,
        )


def _adam(hands: tuple[HandOffsets, ...]) -> torch.optim.Adam:
    """One Adam over the hands' offsets, a learning rate per kind of offset."""
    placed = [h for h in hands if h.placed]
    return torch.optim.Adam(
        [
            {"params": [h.translation for h in placed], "lr": _TRANSLATION_LR},
            {"params": [h.rotation for h in placed], "lr": _ROTATION_LR},
            {"params": [h.pose for h in hands], "lr": _POSE_LR},
        ]
    )


class HandPairSynthesizer:
    """A synthesizer's right and left hand layers, checked to be of those sides."""

    def __init__(self, right_layer: HandLayer, left_layer: HandLayer) -> None:
        if right_layer.side != "right" or left_layer.side != "left":
            raise ConfigError(f"{type(self).__name__} needs a right-hand layer and a left-hand layer")
        self.right_layer = right_layer
        self.left_layer = left_layer

    def optimise(
        self, left: HandOffsets, right: HandOffsets, loss: PairLoss, iterations: int, nn_refresh_every: int
    ) -> tuple[HandParams, HandParams]:
        """``iterations`` Adam steps on the offsets of both hands, minimising the sum over candidates of
        ``loss`` -> (left, right) HandParams (B,), detached.

        Nearest neighbours move little between steps; searching them every ``nn_refresh_every``
        steps only removes most of the cost of the distance matrices.
        """
        optimiser = _adam((right, left))
        right_to_left = left_to_right = torch.zeros(0, dtype=torch.long)
        for it in range(iterations):  # optimisation iterations, each batched over the candidates
            lo = self.left_layer(left.current())
            ro = self.right_layer(right.current())
            if it % nn_refresh_every == 0:
                with torch.no_grad():
                    _, right_to_left = nearest_neighbors(ro.vertices, lo.vertices)
                    _, left_to_right = nearest_neighbors(lo.vertices, ro.vertices)
            total = loss(lo, ro, right_to_left, left_to_right).sum()
            optimiser.zero_grad(set_to_none=True)
            total.backward()
            optimiser.step()
        with torch.no_grad():
            return left.current(), right.current()


@dataclass
class Candidates:
    """B hand pairs and what is kept of each: ``figures`` maps a name to a (B,) tensor (kind, measured depths...)."""

    left: HandParams
    right: HandParams
    figures: dict[str, Tensor]

    def __len__(self) -> int:
        return self.left.batch_size

    def select(self, index: Tensor) -> Candidates:
        return Candidates(
            self.left.select(index), self.right.select(index), {k: v[index] for k, v in self.figures.items()}
        )

    @staticmethod
    def cat(parts: list[Candidates]) -> Candidates:
        return Candidates(
            HandParams.cat([p.left for p in parts]),
            HandParams.cat([p.right for p in parts]),
            {k: torch.cat([p.figures[k] for p in parts]) for k in parts[0].figures},
        )


# group (B,) long -> (the candidates, optimised, accepted (B,) bool).
Attempt = Callable[[Tensor], tuple[Candidates, Tensor]]


@dataclass(frozen=True)
class Rounds:
    """How collect_plausible draws: at most ``chunk_size`` candidates a round; an open group draws
    ``draw_factor`` times what it misses, at least ``min_draw``; a group closes after ``max_rounds``
    rounds (None: never) and the whole search after ``max_attempts`` candidates (None: never)."""

    chunk_size: int
    min_draw: int
    max_rounds: int | None = None
    max_attempts: int | None = None
    draw_factor: int = 2


def _keep_within_quota(accepted: Tensor, group: Tensor, missing: Tensor) -> Tensor:
    """accepted (B,) bool, group (B,) long, missing (G,) -> (K,) long: the accepted rows, the first
    ``missing[g]`` of each group g in row order."""
    take = accepted.nonzero()[:, 0]
    owner, perm = torch.sort(group[take], stable=True)
    rank = torch.empty_like(take)
    rank[perm] = torch.arange(take.numel()) - torch.searchsorted(owner, owner)  # rank within its group
    return take[rank < missing[group[take]]]


def collect_plausible(
    quota: Tensor, attempt: Attempt, rounds: Rounds, desc: str, unit: str, progress: bool = True
) -> tuple[list[Candidates], int]:
    """quota (G,) long: accepted candidates wanted per group -> (accepted candidates, one part per round, at
    most the quota per group; the number of candidates tried).

    Each round asks ``attempt`` for candidates of the open groups (Rounds), about half of which
    pass, and keeps the passing ones that a group still misses. Stops when every group has its
    quota or is closed; the caller judges a shortfall.
    """
    missing = quota.clone()
    tried = torch.zeros(quota.shape[0], dtype=torch.long)
    parts: list[Candidates] = []
    attempts = 0
    bar = tqdm(total=int(missing.sum()), desc=desc, unit=unit, disable=not progress)
    while rounds.max_attempts is None or attempts < rounds.max_attempts:  # rounds of candidates
        open_groups = missing > 0
        if rounds.max_rounds is not None:
            open_groups &= tried < rounds.max_rounds
        open_index = open_groups.nonzero()[:, 0]
        if open_index.numel() == 0:
            break
        want = (rounds.draw_factor * missing[open_index]).clamp(min=rounds.min_draw)
        group = torch.repeat_interleave(open_index, want)[: rounds.chunk_size]
        tried[group.unique()] += 1
        candidates, accepted = attempt(group)
        attempts += int(group.numel())
        take = _keep_within_quota(accepted, group, missing)
        missing -= torch.bincount(group[take], minlength=missing.shape[0])
        parts.append(candidates.select(take))
        bar.update(int(take.numel()))
    bar.close()
    return parts, attempts
