"""Levenberg-Marquardt on the least-squares form of the refinement objective: the stream's solver.

Every term of a warm-started frame but penetration is a sum of squares once Eq. 9's target is held
fixed over the frame (refinement/objective.py ``residuals``), so a Gauss-Newton step, which uses
the terms' curvature, lands in a few iterations where L-BFGS needs a dozen evaluations of the
objective and its gradient. Its Jacobian comes from one batched evaluation of the keypoints of
all N + 1 perturbed states (forward differences, float64): on a CPU, where a frame's cost is the
per-operation overhead of small tensors, a batch of 129 states costs about as much as one state
with its backward pass.

Notation (code -> meaning; per row b of B independent rows):
    x0          base        (2, B, 64)  the hand vectors (left, right) the solve starts from
    u           u           (B, N)      the variable, N = 128 (left 64, right 64), in the units
                                        of VARIABLE_SCALE (refinement/solver.py); starts at 0
    m           mask        (B, N)      1 for the dimensions of the hands that move
    x(u)                                x0 + m * u * s
    e(u)        residuals   (B, R)      RefinementObjective.residuals (with Eq. 7's pairs at u)
    E(u)        cost        (B,)        the objective: |e(u)|^2 without the pairs, plus Eq. 7
    J           jacobian    (B, R, N)   de/du, (e(u + h d_n) - e(u)) / h per column n
    A, g                    (B, N, N), (B, N)   J^T J and J^T e
    lambda      damping     (B,)        Marquardt's damping, per row

    delta = -(A + lambda (diag(A) + I) + epsilon I)^-1 g   (Marquardt 1963; the identity keeps the
                                                            step bounded along dimensions of A near 0)
    a step that lowers E is taken (lambda /= 3), else refused (lambda *= 10). The trial is evaluated
    first (E and Eq. 7's pairs) and linearised, with those pairs, only when it is taken and the solve goes
    on: a refused step, or the last one, costs no Jacobian. A frame stops after ``iterations``, or once
    a taken step gained less than RefinerConfig.converged_decrease of E and no vertex lies deeper than
    penetration_tolerance_m behind the other hand, or when ``solve``'s interrupt says so.

Penetration (Eq. 7) is no sum of squares: its vertex pairs are found at each linearisation and enter
as reweighted depth residuals (objective.py ``PenetrationPairs``); a step is judged on E with Eq. 7
itself. A state started afresh (far from its end) re-takes Eq. 9's target at every iteration
instead of once per frame. ``HandsSolver.solve`` (L-BFGS on the same objective) is the reference;
tests/refinement/test_levenberg_marquardt.py compares the two.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import fields, replace
from typing import NamedTuple

import torch
from torch import Tensor

from interhandgen_core.hands.hand_params import HAND_DIM, HandParams
from interhandgen_core.hands.layer import HandLayer
from interhandgen_core.refinement.objective import FrameTargets, HandPoints, PenetrationPairs, RefinementObjective
from interhandgen_core.refinement.solver import VARIABLE_SCALE

# Forward-difference step, in units of VARIABLE_SCALE (0.1 microradian, 10 nanometres): in float64 the
# truncation (h) and rounding (1e-16 / h) errors are both about 1e-6 of a column.
_STEP = 1e-6
_DAMPING_START = 1e-2
_DAMPING_UP, _DAMPING_DOWN = 10.0, 3.0
_DAMPING_MIN, _DAMPING_MAX = 1e-6, 1e6
_EPSILON = 1e-9


class LevenbergMarquardtSolver:
    """Minimises RefinementObjective.residuals over the free hands of B rows (module docstring)."""

    def __init__(self, objective: RefinementObjective) -> None:
        self.objective = objective
        # A float64 twin of the hand layers and the normaliser: forward differences need the digits.
        self._double = copy.copy(objective)
        self._double.left_layer = copy.deepcopy(objective.left_layer).double()
        self._double.right_layer = copy.deepcopy(objective.right_layer).double()
        self._double.normalizer = copy.deepcopy(objective.normalizer).double()
        self.scale = VARIABLE_SCALE.to(objective.left_layer.v_template.device, torch.float64)

    def solve(
        self,
        left: HandParams,
        right: HandParams,
        free: Tensor,
        targets: FrameTargets,
        iterations: int,
        interrupt: Callable[[], bool] | None = None,
    ) -> tuple[HandParams, HandParams]:
        """left, right (B,); free: (2, B) bool (left, right) -> refined (left, right), same dtype as given.

        ``interrupt``: asked after each iteration but the last; True ends the solve there (the first iteration
        always runs) with the best state so far (a newer input waiting: refinement/refiner.py ``step``)."""
        if iterations == 0 or not bool(free.any()):
            return left, right
        self._double.config = self.objective.config
        dtype = left.translation.dtype
        base = torch.stack([left.to_vector(), right.to_vector()]).detach().double()  # (2, B, 64)
        batch = base.shape[1]
        mask = free.to(torch.float64)[..., None].expand(2, batch, HAND_DIM).permute(1, 0, 2).reshape(batch, -1)
        fixed_target = targets.prior_estimate is not None or self.objective.config.prior_weight == 0
        u = torch.zeros(batch, 2 * HAND_DIM, dtype=torch.float64, device=base.device)
        damping = torch.full((batch,), _DAMPING_START, dtype=torch.float64, device=base.device)
        frame = self._frame_targets(base, u, mask, targets, fixed_target)
        here = self._linearised(base, u, mask, frame)
        config = self.objective.config
        for iteration in range(iterations):
            a = here.jacobian.transpose(1, 2) @ here.jacobian
            g = (here.jacobian.transpose(1, 2) @ here.residual[..., None])[..., 0]
            diagonal = torch.diagonal(a, dim1=1, dim2=2)
            system = a + torch.diag_embed(damping[:, None] * (diagonal + 1.0) + _EPSILON)
            trial_u = u - torch.linalg.solve(system, g) * mask
            last = iteration == iterations - 1
            # The trial is evaluated (its Eq. 7 pairs found); it is linearised, with those pairs, only when it
            # is taken and the solve goes on: a converged or refused step costs no Jacobian.
            trial = self._evaluated(base, trial_u, mask, frame)
            better = trial.cost < here.cost
            # Done: a small decrease, and no vertex deeper than the tolerance behind the other hand.
            converged = (
                better
                & (here.cost - trial.cost <= config.converged_decrease * here.cost)
                & (trial.deepest <= config.penetration_tolerance_m)
            )
            u = torch.where(better[:, None], trial_u, u)
            damping = torch.where(better, damping / _DAMPING_DOWN, damping * _DAMPING_UP)
            damping = damping.clamp(_DAMPING_MIN, _DAMPING_MAX)
            if last or bool(converged.all()):
                break
            if interrupt is not None and interrupt():
                break
            if not fixed_target:  # Eq. 9's target re-taken at the new state
                frame = self._frame_targets(base, u, mask, targets, fixed_target)
                here = self._linearised(base, u, mask, frame)
            elif bool(better.all()):  # u is the trial: its pairs are those just found
                here = self._linearised(base, u, mask, frame, trial.pairs)
            elif bool(better.any()):  # some rows kept their state: linearised afresh
                here = self._linearised(base, u, mask, frame)
            # else every row refused the step: the same linearisation, with more damping
        vectors = self._vectors(base, u, mask).to(dtype)
        # A hand that does not move comes back as it came (not through the 6D rotation and float64).
        return _moved(free[0], left, vectors[0]), _moved(free[1], right, vectors[1])

    def _vectors(self, base: Tensor, u: Tensor, mask: Tensor) -> Tensor:
        """base (2, B, 64), u, mask (B', N) with B' a multiple of B (row b' is row b' mod B) -> (2, B', 64)."""
        repeats = u.shape[0] // base.shape[1]
        step = (mask.repeat(repeats, 1) * u).reshape(-1, 2, HAND_DIM).permute(1, 0, 2) * self.scale
        return base.repeat(1, repeats, 1) + step

    def _frame_targets(
        self, base: Tensor, u: Tensor, mask: Tensor, targets: FrameTargets, fixed_target: bool
    ) -> FrameTargets:
        """The targets in float64, with Eq. 9's target taken at u when it is not fixed."""
        if not fixed_target:
            vectors = self._vectors(base, u, mask).to(self.objective.left_layer.v_template.dtype)
            estimate, placement = self.objective.prior_estimate(
                HandParams.from_vector(vectors[0]), HandParams.from_vector(vectors[1]), targets
            )
            targets = replace(targets, prior_estimate=estimate, placement=placement)
        return _as_double(targets)

    def _state(self, base: Tensor, u: Tensor, mask: Tensor) -> tuple[HandParams, HandParams]:
        vectors = self._vectors(base, u, mask)
        return HandParams.from_vector(vectors[0]), HandParams.from_vector(vectors[1])

    def _near(self, targets: FrameTargets) -> Tensor | None:
        """(B,) bool, the rows where Eq. 7 applies; None where it applies to none."""
        near = targets.left_present & targets.right_present
        if targets.near is not None:
            near = near & targets.near
        if self.objective.config.penetration_weight == 0 or not bool(near.any()):
            return None
        return near

    def _pairs(
        self, base: Tensor, u: Tensor, mask: Tensor, targets: FrameTargets
    ) -> tuple[PenetrationPairs | None, Tensor, Tensor]:
        """Eq. 7's pairs at u (B rows), its weighted value (B,) and the deepest vertex (B,) metres;
        (None, 0, 0) where no term applies."""
        near = self._near(targets)
        if near is None:
            zero = u.new_zeros(u.shape[0])
            return None, zero, zero
        return self._double.penetration_pairs(*self._state(base, u, mask), near)

    def _evaluated(self, base: Tensor, u: Tensor, mask: Tensor, targets: FrameTargets) -> Evaluation:
        """E(u) (B,), the objective itself (the squared residuals and Eq. 7), the deepest vertex, and Eq. 7's
        pairs (``_pairs``), at u. Where Eq. 7 applies, one forward of both meshes gives the residuals'
        keypoints and the pairs' vertices (not a keypoint pass and a mesh pass)."""
        near = self._near(targets)
        left, right = self._state(base, u, mask)
        if near is None:
            with torch.no_grad():
                residual = self._double.residuals(left, right, targets)
            zero = u.new_zeros(u.shape[0])
            return Evaluation(residual.pow(2).sum(-1), zero, (None, zero, zero))
        with torch.no_grad():
            lo, ro = self._double.left_layer(left), self._double.right_layer(right)
            residual = self._double.residuals_at(left, right, HandPoints(lo.keypoints, ro.keypoints), targets)
        found = self._double.vertex_penetration_pairs(lo.vertices, ro.vertices, near)
        return Evaluation(residual.pow(2).sum(-1) + found[1], found[2], found)

    def _linearised(
        self,
        base: Tensor,
        u: Tensor,
        mask: Tensor,
        targets: FrameTargets,
        found: tuple[PenetrationPairs | None, Tensor, Tensor] | None = None,
    ) -> Linearisation:
        """e(u), J by forward differences (the N + 1 states in one evaluation), E(u) and the deepest vertex;
        ``found``: ``_pairs`` at u where already known.

        e holds Eq. 7's pairs at u in least-squares form (PenetrationPairs): J^T J and J^T e are then the
        Gauss-Newton model of the majoriser that touches E at u.
        """
        batch, n = u.shape
        pairs, penetration, deepest = self._pairs(base, u, mask, targets) if found is None else found
        steps = _STEP * torch.eye(n, dtype=u.dtype, device=u.device)
        states = torch.cat([u[None], u[None] + steps[:, None]]).reshape(-1, n)  # (N + 1) x B rows
        repeated = _repeated(targets, n + 1)
        if pairs is not None:
            pairs = replace(pairs, factor=pairs.factor.repeat(n + 1, 1), normal=pairs.normal.repeat(n + 1, 1, 1))
        with torch.no_grad():
            vectors = self._vectors(base, states, mask)
            left, right = HandParams.from_vector(vectors[0]), HandParams.from_vector(vectors[1])
            points = self._points_by_hand(vectors, pairs, batch)
            values = self._double.residuals_at(left, right, points, repeated, pairs)
        values = values.reshape(n + 1, batch, -1)
        jacobian = (values[1:] - values[:1]) / _STEP  # (N, B, R)
        pair_count = 0 if pairs is None else pairs.factor.shape[1]
        smooth_cost = values[0, :, : values.shape[-1] - pair_count].pow(2).sum(-1)
        return Linearisation(values[0], jacobian.permute(1, 2, 0), smooth_cost + penetration, deepest)

    def _points_by_hand(self, vectors: Tensor, pairs: PenetrationPairs | None, batch: int) -> HandPoints:
        """vectors (2, (N + 1) B, 64), the states of ``_linearised`` (the base's B rows, then B per column:
        the left hand's 64, then the right's) -> their HandPoints, each hand evaluated only on the states that
        move it, (1 + N / 2) B rows, and gathered: half the hand-layer work of evaluating every state."""
        own = (HAND_DIM + 1) * batch  # rows of the base and of the left hand's columns
        rows = torch.arange(vectors.shape[1], device=vectors.device)
        at_base = rows[:batch].repeat(HAND_DIM)  # the other hand's columns leave a hand at the base
        left_rows, left_gather = rows[:own], torch.cat([rows[:own], at_base])
        right_rows = torch.cat([rows[:batch], rows[own:]])
        right_gather = torch.cat([rows[:batch], at_base, rows[batch:own]])
        left_kp, left_v = _hand_points(
            self._double.left_layer,
            HandParams.from_vector(vectors[0, left_rows]),
            None if pairs is None else pairs.left_ids,
        )
        right_kp, right_v = _hand_points(
            self._double.right_layer,
            HandParams.from_vector(vectors[1, right_rows]),
            None if pairs is None else pairs.right_ids,
        )
        return HandPoints(
            left_kp[left_gather],
            right_kp[right_gather],
            None if left_v is None else left_v[left_gather],
            None if right_v is None else right_v[right_gather],
        )


def _hand_points(layer: HandLayer, hand: HandParams, vertex_ids: Tensor | None) -> tuple[Tensor, Tensor | None]:
    """hand (B,) -> its keypoints (B, 21, 3) and, with vertex_ids (K,), those vertices (B, K, 3), metres."""
    if vertex_ids is None:
        return layer.keypoints(hand), None
    return layer.keypoints_and_vertices(hand, vertex_ids)


class Evaluation(NamedTuple):
    """The objective at a state: cost E (B,), the deepest vertex behind the other hand (B,) metres, and Eq. 7's
    pairs there with their term and deepest vertex (LevenbergMarquardtSolver._pairs)."""

    cost: Tensor
    deepest: Tensor
    pairs: tuple[PenetrationPairs | None, Tensor, Tensor]


class Linearisation(NamedTuple):
    """The objective linearised at a state: e (B, R), J (B, R, N), E (B,), the deepest vertex (B,) metres."""

    residual: Tensor
    jacobian: Tensor
    cost: Tensor
    deepest: Tensor


def _moved(free: Tensor, given: HandParams, vectors: Tensor) -> HandParams:
    """free (B,) bool, the hands as given, their solved vectors (B, 64) -> the solved hands where free."""
    solved = HandParams.from_vector(vectors)
    rows = free[:, None]
    return HandParams(
        torch.where(rows, solved.pose, given.pose),
        torch.where(rows, solved.betas, given.betas),
        torch.where(rows[..., None], solved.rotation, given.rotation),
        torch.where(rows, solved.translation, given.translation),
    )


def _as_double(targets: FrameTargets) -> FrameTargets:
    """Every floating tensor of ``targets`` in float64 (masks and None as they are)."""
    changes = {}
    for item in fields(targets):
        value = getattr(targets, item.name)
        if isinstance(value, Tensor) and value.is_floating_point():
            changes[item.name] = value.double()
    return replace(targets, **changes)


def _repeated(targets: FrameTargets, repeats: int) -> FrameTargets:
    """The targets of B rows for B * repeats rows (row b' is row b' mod B)."""
    if repeats == 1:
        return targets
    changes = {}
    for item in fields(targets):
        value = getattr(targets, item.name)
        if isinstance(value, Tensor):
            # prior_estimate is (2B, 64): anchors then other hands, each repeated in place.
            if item.name == "prior_estimate":
                half = value.shape[0] // 2
                value = torch.cat([value[:half].repeat(repeats, 1), value[half:].repeat(repeats, 1)])
            else:
                value = value.repeat(repeats, *([1] * (value.ndim - 1)))
            changes[item.name] = value
    return replace(targets, **changes)
