"""One side's observation of a frame -> what that hand is fitted to (SideTargets), per row.

Checks and repairs the observation (refinement/observation.py: NaN, millimetres, implausible
scale), folds its confidence into the keypoint weights and keeps usable hand parameters as a
first guess. A hand that is missing, unusable or has confidence 0 is not ``observed``; the
refiner then holds it (refinement/tracker.py) or leaves it out.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch
from torch import Tensor

from interhandgen_core.hands.hand_params import ROT6D, HandParams
from interhandgen_core.hands.layer import HandLayer
from interhandgen_core.refinement.configuration import RefinerConfig
from interhandgen_core.refinement.observation import HandObservation, repair_keypoints


@dataclass
class SideTargets:
    """What one hand of B rows is fitted to, world frame.

    keypoints: (B, 21, 3) metres; weight: (B, 21) the confidence, 0 where a keypoint is
    missing; observed: (B,) bool; repaired: (B,) bool, the observation was changed
    (millimetres, swapped labels); confidence: (B,); init: hand parameters from the
    observation, None when it had none usable; init_ok: (B,) bool, rows of ``init`` that
    are finite and observed.
    """

    keypoints: Tensor
    weight: Tensor
    observed: Tensor
    repaired: Tensor
    confidence: Tensor
    init: HandParams | None
    init_ok: Tensor


def observation_to_targets(
    side: str,
    obs: HandObservation | None,
    batch: int,
    layer: HandLayer,
    config: RefinerConfig,
    device: torch.device,
    dtype: torch.dtype,
) -> tuple[SideTargets, list[str]]:
    """One side's observation (None: not observed) of B rows -> (SideTargets, issue lines).

    layer: the side's hand layer (keypoints of observed parameters); dtype: the refiner's.
    """
    notes: list[str] = []
    if obs is None:
        zeros = torch.zeros(batch, device=device)
        return (
            SideTargets(
                torch.zeros(batch, 21, 3, device=device),
                torch.zeros(batch, 21, device=device),
                zeros.bool(),
                zeros.bool(),
                zeros,
                None,
                zeros.bool(),
            ),
            notes,
        )
    if obs.confidence is not None and bool(((obs.confidence < 0) | (obs.confidence > 1)).any()):
        worst = float(obs.confidence[(obs.confidence < 0) | (obs.confidence > 1)][0])
        notes.append(f"{side} hand confidence {worst:g} is outside [0, 1]; clamped")
    confidence = obs.confidences().to(device, dtype)
    init: HandParams | None = None
    params_ok = torch.zeros(batch, dtype=torch.bool, device=device)
    if obs.params is not None:
        params = obs.params.to(device, dtype)
        params_ok = torch.isfinite(params.to_vector()).all(-1)
        if not bool(params_ok.all()):
            notes.append(f"{side} hand parameters hold NaN or inf; treated as missing")
        init = _finite_or_placeholder(params, params_ok)
    if obs.keypoints is not None:
        repaired = repair_keypoints(
            obs.keypoints.to(device, dtype), side, config.min_keypoints, config.hand_size_range_m
        )
        notes += repaired.notes
        keypoints, weight = repaired.keypoints, repaired.weight
        observed, fixed = repaired.observed, repaired.repaired
        if init is not None:  # parameters only where they are finite and the keypoints are usable
            params_ok = params_ok & observed
    else:
        assert init is not None
        with torch.no_grad():
            keypoints = layer(init).keypoints
        observed, fixed = params_ok, torch.zeros_like(params_ok)
        weight = observed[:, None].expand(batch, 21).to(keypoints.dtype)
    lost = observed & (confidence <= 0)
    if bool(lost.any()):
        notes.append(f"{side} hand has confidence 0; treated as missing")
    observed = observed & (confidence > 0)
    weight = weight * (confidence * observed)[:, None]
    return (
        SideTargets(
            keypoints,
            weight,
            observed,
            fixed,
            confidence,
            init if bool(params_ok.any()) else None,
            params_ok & observed,
        ),
        notes,
    )


def relabelled(targets: SideTargets) -> SideTargets:
    """A side's targets moved to the other label. Keypoints stay as they are (a left hand's keypoints are
    where they are); parameters of the other hand model are dropped, the fit starts from the keypoints."""
    return replace(
        targets, init=None, init_ok=torch.zeros_like(targets.init_ok), repaired=torch.ones_like(targets.repaired)
    )


def _finite_or_placeholder(params: HandParams, ok: Tensor) -> HandParams:
    """Rows that are not ``ok`` replaced by zeros with the identity rotation (never used as data)."""
    safe = torch.zeros_like(params.to_vector())
    safe[:, ROT6D] = torch.tensor([1.0, 0.0, 0.0, 0.0, 1.0, 0.0], device=safe.device)
    return HandParams.from_vector(torch.where(ok[:, None], torch.nan_to_num(params.to_vector()), safe))
