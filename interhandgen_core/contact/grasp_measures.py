"""Per-grasp figures of two hands holding an object: penetration, contact and a score to rank by.

Definitions (all lengths in metres, N grasps, object frame):
    hand-object depth   deepest hand vertex inside the object, max over both hands, 0 when none is
                        inside (the object's signed distance, negative inside)
    hand-hand depth     contact/interaction.py: deepest vertex of either hand inside the other
    gap (per hand)      closest approach of the hand's skin to the object's surface, 0 when touching
                        or penetrating
    in contact          a hand whose gap is at most CONTACT_THRESHOLD_M (5 mm); a grasp counts when
                        both hands are
    press imbalance     contact/press_balance.py: how far the two hands' presses onto the object are
                        from cancelling in force and torque (0: opposing through the centre; about 2:
                        both pressing the same way); NaN where no surface normals were given
    score               the plausibility exp(-(hand-object depth + hand-hand depth) / 5 mm) x mean over
                        the two hands of exp(-gap / 5 mm) (1 for two touching, non-penetrating hands,
                        falling off with a scale of the contact threshold), raised to PLAUSIBILITY_POWER,
                        times the balance exp(-press imbalance) (1 where it was not measured). The
                        balance is what predicts the physics outcome (README, "Physics validation"):
                        pressed onto the object, hands whose presses do not cancel push it away.

The object enters as a signed-distance function, so the same figures serve an analytic
object (procedural objects: exact) and an observed cloud (``cloud_signed_distance``: the
distance to the nearest cloud point, negative behind the normals of the nearest few points;
an estimate whose error grows with the cloud's spacing and noise).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields

import torch
from torch import Tensor

from interhandgen_core.contact.interaction import penetration_depth
from interhandgen_core.contact.press_balance import hand_press, press_imbalance
from interhandgen_core.geometry.nearest import points_to_cloud_signed_distance

CONTACT_THRESHOLD_M = 0.005
_SCORE_SCALE_M = 0.005
# The plausibility's weight in the score against the press balance (module docstring); chosen on
# development objects (seeds 7 and 8), never on the held-out ones.
PLAUSIBILITY_POWER = 0.1
# Hand vertices within this of a hand's closest approach make its contact region (as the physics
# validation's GraspPhysicsConfig.contact_band).
PRESS_BAND_M = 0.01

# points (B, N, 3) metres, object frame; rows (B,) long: which grasps they are -> (B, N) signed metres.
ObjectDistance = Callable[[Tensor, Tensor], Tensor]
# points (B, N, 3) metres, object frame; rows (B,) long -> (B, N, 3) unit outward normal of the surface nearest each.
ObjectNormal = Callable[[Tensor, Tensor], Tensor]


def cloud_signed_distance(points: Tensor, object_points: Tensor, object_normals: Tensor) -> Tensor:
    """points (B, N, 3), object_points (P, 3), object_normals (P, 3) unit outward -> (B, N) metres, negative inside."""
    b = points.shape[0]
    return points_to_cloud_signed_distance(
        points, object_points.expand(b, *object_points.shape), object_normals.expand(b, *object_normals.shape)
    )


@dataclass
class GraspFigures:
    """Figures per grasp, (N,) each, metres (module docstring)."""

    hand_object_depth: Tensor
    hand_hand_depth: Tensor
    left_gap: Tensor
    right_gap: Tensor
    press_imbalance: Tensor  # unit normals, not metres; NaN where not measured

    @property
    def both_in_contact(self) -> Tensor:
        return (self.left_gap <= CONTACT_THRESHOLD_M) & (self.right_gap <= CONTACT_THRESHOLD_M)

    @property
    def plausibility(self) -> Tensor:
        """(N,) in [0, 1]: touching, not penetrating (module docstring)."""
        penetration = torch.exp(-(self.hand_object_depth + self.hand_hand_depth) / _SCORE_SCALE_M)
        contact = 0.5 * (torch.exp(-self.left_gap / _SCORE_SCALE_M) + torch.exp(-self.right_gap / _SCORE_SCALE_M))
        return penetration * contact

    @property
    def score(self) -> Tensor:
        """(N,) in [0, 1], higher is better: plausibility ** PLAUSIBILITY_POWER x exp(-press imbalance)."""
        balance = torch.exp(-torch.nan_to_num(self.press_imbalance, nan=0.0))
        return self.plausibility.pow(PLAUSIBILITY_POWER) * balance

    def select(self, index: Tensor) -> GraspFigures:
        return GraspFigures(*(getattr(self, f.name)[index] for f in fields(self)))

    @staticmethod
    def cat(parts: list[GraspFigures]) -> GraspFigures:
        """Figures of several batches, in order."""
        return GraspFigures(*(torch.cat([getattr(p, f.name) for p in parts]) for f in fields(GraspFigures)))


def measure_grasps(
    left_vertices: Tensor,
    left_faces: Tensor,
    right_vertices: Tensor,
    right_faces: Tensor,
    object_distance: ObjectDistance,
    chunk_size: int = 256,
    object_normal: ObjectNormal | None = None,
    centre: Tensor | None = None,
) -> GraspFigures:
    """left_vertices (N, V_l, 3), right_vertices (N, V_r, 3), faces (F, 3), object frame -> GraspFigures.

    ``object_distance(points, rows)`` gives the object's signed distance for grasps ``rows``;
    ``object_normal(points, rows)`` its outward normals for the press imbalance (NaN without it),
    about ``centre`` (3,) metres (None: the origin). Memory is bounded by measuring ``chunk_size``
    grasps at a time.
    """
    n = left_vertices.shape[0]
    if right_vertices.shape[0] != n or n == 0:
        raise ValueError(
            f"need the same, non-zero number of left and right hands, got {n} and {right_vertices.shape[0]}"
        )
    origin = left_vertices.new_zeros(3) if centre is None else centre.to(left_vertices)
    parts: list[GraspFigures] = []
    with torch.no_grad():
        for start in range(0, n, chunk_size):  # memory chunks
            rows = torch.arange(start, min(n, start + chunk_size), device=left_vertices.device)
            lv, rv = left_vertices[rows], right_vertices[rows]
            left_sdf = object_distance(lv, rows)
            right_sdf = object_distance(rv, rows)
            depth = torch.maximum(torch.relu(-left_sdf).max(-1).values, torch.relu(-right_sdf).max(-1).values)
            if object_normal is None:
                imbalance = torch.full_like(depth, float("nan"))
            else:
                centres = origin.expand(rows.shape[0], 3)
                presses = [
                    hand_press(sdf, object_normal(v, rows), v, centres, PRESS_BAND_M)
                    for sdf, v in ((left_sdf, lv), (right_sdf, rv))
                ]
                imbalance = press_imbalance(presses, centres)
            parts.append(
                GraspFigures(
                    depth,
                    penetration_depth(lv, left_faces, rv, right_faces),
                    torch.relu(left_sdf.min(-1).values),
                    torch.relu(right_sdf.min(-1).values),
                    imbalance,
                )
            )
    return GraspFigures.cat(parts)


@dataclass
class GraspStatistics:
    """Summary over a set of grasps (millimetres, ratios in [0, 1])."""

    count: int
    mean_hand_object_mm: float
    p95_hand_object_mm: float
    mean_hand_hand_mm: float
    p95_hand_hand_mm: float
    contact_ratio: float
    mean_score: float

    def as_dict(self) -> dict[str, float | int]:
        return dict(self.__dict__)

    def summary(self) -> str:
        return (
            f"{self.count} grasps: hand-object penetration mean {self.mean_hand_object_mm:.2f} mm, "
            f"p95 {self.p95_hand_object_mm:.2f} mm; hand-hand mean {self.mean_hand_hand_mm:.2f} mm, "
            f"p95 {self.p95_hand_hand_mm:.2f} mm; both hands in contact (<= {1000 * CONTACT_THRESHOLD_M:.0f} mm) "
            f"{100 * self.contact_ratio:.1f}%; mean score {self.mean_score:.3f}"
        )


def grasp_statistics(figures: GraspFigures) -> GraspStatistics:
    ho = figures.hand_object_depth.double() * 1000.0
    hh = figures.hand_hand_depth.double() * 1000.0
    if ho.numel() == 0:
        raise ValueError("grasp statistics need at least one grasp")
    return GraspStatistics(
        count=int(ho.numel()),
        mean_hand_object_mm=float(ho.mean()),
        p95_hand_object_mm=float(torch.quantile(ho, 0.95)),
        mean_hand_hand_mm=float(hh.mean()),
        p95_hand_hand_mm=float(torch.quantile(hh, 0.95)),
        contact_ratio=float(figures.both_in_contact.double().mean()),
        mean_score=float(figures.score.double().mean()),
    )
