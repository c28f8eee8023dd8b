"""The solver: L-BFGS on both hands' 64-number vectors, batched over independent rows (paper 3.5).

Notation (code -> meaning; world frame, metres):
    x0      base       (2, B, 64)  the hand vectors (left, right) the solve starts from
    u       u          (2, B, 64)  the variable, in scaled units; starts at 0
    s       scale      (64,)       VARIABLE_SCALE: the size of one unit of u per dimension
    m       free       (2, B)      1 for the hands that move, 0 for the ones kept as they are
    x(u)    vectors()              x0 + m * u * s
    E_b     objective              RefinementObjective (refinement/objective.py): the weighted
                                   data, prior (Eq. 9), penetration (Eq. 7) and smoothness terms
                                   of row b

    u* = argmin_u sum_b E_b(x(u)),  solved by L-BFGS (strong Wolfe line search, at most
    ``iterations`` iterations). Rows share no term, so the sum's minimiser is each row's.

Staged (``solve_staged``, the refiner's path): the penetration term (Eq. 7) is zero, with a zero
gradient, wherever the hands do not interpenetrate. So the rows are first solved without it (no
meshes: keypoints only, about 5x cheaper per evaluation); a row whose result interpenetrates (its
deepest vertex more than penetration_tolerance_m behind the other hand's surface) is
solved again with it, from the same start (from the first stage's result, a deep interpenetration
was a local minimum the term could not undo). A minimiser of the first stage that does not
interpenetrate is a minimiser of the whole objective, which ``solve`` with the term on throughout
(the reference) finds too, and a row solved again is the reference's solve of that row;
tests/refinement/test_solver.py compares the two.
"""

from __future__ import annotations

from dataclasses import replace

import torch
from torch import Tensor

from interhandgen_core.hands.hand_params import BETAS, HAND_DIM, POSE, ROT6D, TRANSL, HandParams
from interhandgen_core.refinement.objective import FrameTargets, RefinementObjective

# One unit of the optimisation variable per dimension of the hand vector: 0.1 rad of finger
# or root rotation, 0.3 of a shape coefficient, 1 cm of wrist position. L-BFGS's first step
# is a plain gradient step, so similar units make it a sensible one.
VARIABLE_SCALE = torch.zeros(HAND_DIM)
VARIABLE_SCALE[POSE] = 0.1
VARIABLE_SCALE[BETAS] = 0.3
VARIABLE_SCALE[ROT6D] = 0.1
VARIABLE_SCALE[TRANSL] = 0.01


class HandsSolver:
    """Minimises a RefinementObjective over the free hands of B rows (the objective's config may change between solves)."""

    def __init__(self, objective: RefinementObjective, device: torch.device) -> None:
        self.objective = objective
        self.scale = VARIABLE_SCALE.to(device)

    def solve(
        self, left: HandParams, right: HandParams, free: Tensor, targets: FrameTargets, iterations: int
    ) -> tuple[HandParams, HandParams]:
        """L-BFGS on the rows' free hands. left, right (B,); free: (2, B) bool (left, right) -> refined (left, right)."""
        if iterations == 0 or not bool(free.any()):
            return left, right
        base = torch.stack([left.to_vector(), right.to_vector()]).detach()
        u = torch.zeros_like(base, requires_grad=True)
        optimiser = torch.optim.LBFGS(
            [u],
            lr=1.0,
            max_iter=iterations,
            history_size=10,
            line_search_fn="strong_wolfe",
            tolerance_grad=1e-7,
            tolerance_change=1e-9,
        )
        mask = free[..., None].to(base.dtype)

        def vectors() -> Tensor:
            return base + mask * u * self.scale

        def closure() -> Tensor:
            optimiser.zero_grad()
            vec = vectors()
            loss = self.objective(HandParams.from_vector(vec[0]), HandParams.from_vector(vec[1]), targets).sum()
            loss.backward()
            return loss

        with torch.enable_grad():
            optimiser.step(closure)
        with torch.no_grad():
            vec = vectors()
        return HandParams.from_vector(vec[0]), HandParams.from_vector(vec[1])

    def solve_staged(
        self, left: HandParams, right: HandParams, free: Tensor, targets: FrameTargets, iterations: int
    ) -> tuple[HandParams, HandParams]:
        """``solve`` in two stages (module docstring): the penetration term only for the rows whose
        first-stage result interpenetrates (targets.near rows only; None counts as all)."""
        near = targets.near if targets.near is not None else torch.ones_like(free[0])
        if self.objective.config.penetration_weight == 0 or not bool(near.any()):
            return self.solve(left, right, free, targets, iterations)
        first = self.solve(left, right, free, replace(targets, near=torch.zeros_like(near)), iterations)
        touching = near & (self.objective.deepest_penetration(*first) > self.objective.config.penetration_tolerance_m)
        if not bool(touching.any()):
            return first
        again = self.solve(left, right, free & touching[None], replace(targets, near=touching), iterations)
        keep = touching[:, None]

        def merged(a: HandParams, b: HandParams) -> HandParams:
            return HandParams.from_vector(torch.where(keep, b.to_vector(), a.to_vector()))

        return merged(first[0], again[0]), merged(first[1], again[1])

    def keypoints(self, left: HandParams, right: HandParams) -> tuple[Tensor, Tensor]:
        """left, right (B,) -> their keypoints (B, 21, 3) each, metres, without gradients."""
        with torch.no_grad():
            left_kp, right_kp, _, _ = self.objective.keypoints(left, right)
        return left_kp, right_kp
