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
"""

from __future__ import annotations

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

    def keypoints(self, left: HandParams, right: HandParams) -> tuple[Tensor, Tensor]:
        """left, right (B,) -> their keypoints (B, 21, 3) each, metres, without gradients."""
        with torch.no_grad():
            left_kp, right_kp, _, _ = self.objective.keypoints(left, right)
        return left_kp, right_kp
