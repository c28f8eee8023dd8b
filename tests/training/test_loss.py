from __future__ import annotations

import pytest
import torch
from torch import Tensor

from interhandgen_core.hands.hand_params import ROOT, HandParams
from interhandgen_core.hands.layer import HandLayer
from interhandgen_core.hands.loading import load_hand_pair
from interhandgen_core.prior.representation import Normalizer
from interhandgen_core.training.loss import KeypointLoss


def _hands(n: int, seed: int) -> Tensor:
    g = torch.Generator().manual_seed(seed)
    rotation = torch.linalg.qr(torch.randn(n, 3, 3, generator=g)).Q
    rotation = rotation * torch.linalg.det(rotation)[:, None, None]  # proper rotations
    return HandParams(
        0.3 * torch.randn(n, 45, generator=g),
        torch.randn(n, 10, generator=g),
        rotation,
        0.1 * torch.randn(n, 3, generator=g),
    ).to_vector()


def test_keypoint_loss_is_the_weighted_keypoint_error_of_the_full_hand_layer() -> None:
    layer = HandLayer(load_hand_pair("procedural")[0])
    raw_pred, raw_target = _hands(6, 0), _hands(6, 1)
    normalizer = Normalizer.fit(torch.cat([raw_pred, raw_target]))
    pred, target = normalizer.normalize(raw_pred), normalizer.normalize(raw_target)
    loss = KeypointLoss(layer, normalizer, weight=100.0)
    everything = torch.ones(6, dtype=torch.bool)

    # Reference: the skinned mesh's keypoints (the layer's forward), not the keypoint-only path the loss uses.
    ours = layer(HandParams.from_vector(raw_pred)).keypoints
    theirs = layer(HandParams.from_vector(raw_target)).keypoints
    expected = 100.0 * (ours - theirs).square().sum(-1).mean()
    torch.testing.assert_close(loss(pred, target, everything), expected, rtol=1e-4, atol=1e-7)
    assert float(loss(target, target, everything)) < 1e-10


def test_keypoint_loss_ignores_the_root_of_rows_without_an_informative_root() -> None:
    layer = HandLayer(load_hand_pair("procedural")[0])
    raw = _hands(4, 2)
    normalizer = Normalizer.fit(torch.cat([raw, _hands(4, 3)]))
    target = normalizer.normalize(raw)
    moved = target.clone()
    moved[:, ROOT] += 1.0  # another root, same pose and shape
    loss = KeypointLoss(layer, normalizer, weight=1.0)
    assert float(loss(moved, target, torch.zeros(4, dtype=torch.bool))) < 1e-10
    assert float(loss(moved, target, torch.ones(4, dtype=torch.bool))) > 1e-4
    moved.requires_grad_(True)
    loss(moved, target, torch.ones(4, dtype=torch.bool)).backward()
    assert moved.grad is not None and bool(moved.grad[:, ROOT].abs().sum() > 0)


class _FixedOutput(torch.nn.Module):
    """A stand-in denoiser that predicts x_0 = 0 whatever it is given (the loss is what is tested)."""

    def forward(self, x_t: Tensor, t: Tensor, cond: Tensor, cond_mask: Tensor) -> Tensor:
        return torch.zeros_like(x_t)


def test_unconditional_root_counts_the_root_of_rows_without_a_condition() -> None:
    from interhandgen_core.prior.configuration import DiffusionConfig
    from interhandgen_core.prior.schedule import DiffusionSchedule
    from interhandgen_core.training.loss import diffusion_loss

    schedule = DiffusionSchedule(DiffusionConfig(num_timesteps=10))
    x0 = torch.zeros(8, 64)
    x0[:, ROOT] = 2.0  # every error is in the root
    cond = torch.zeros(8, 64)
    draws = {"generator": torch.Generator().manual_seed(0)}
    # p_uncond 1: every row unconditional, so S.4.2's loss leaves out all the error ...
    assert float(diffusion_loss(_FixedOutput(), schedule, x0, cond, 1.0, **draws)) == 0.0
    # ... and the unconditional root loss counts it: 9 of 64 entries off by 2.
    draws = {"generator": torch.Generator().manual_seed(0)}
    loss = diffusion_loss(_FixedOutput(), schedule, x0, cond, 1.0, unconditional_root=True, **draws)
    assert float(loss) == pytest.approx(9 * 4.0 / 64)


def test_anchor_marginal_makes_rows_without_a_condition_learn_the_condition() -> None:
    from interhandgen_core.prior.configuration import DiffusionConfig
    from interhandgen_core.prior.schedule import DiffusionSchedule
    from interhandgen_core.training.loss import diffusion_loss

    schedule = DiffusionSchedule(DiffusionConfig(num_timesteps=10))
    x0 = torch.zeros(8, 64)  # the zero output predicts the targets exactly ...
    cond = torch.full((8, 64), 3.0)  # ... and misses the anchors by 3 everywhere
    cond[:, ROOT] = 0.0
    kwargs = {"generator": torch.Generator().manual_seed(0)}
    # Conditioned rows (p_uncond 0) learn the target whatever anchor_marginal says.
    assert float(diffusion_loss(_FixedOutput(), schedule, x0, cond, 0.0, anchor_marginal=True, **kwargs)) == 0.0
    kwargs = {"generator": torch.Generator().manual_seed(0)}
    assert float(diffusion_loss(_FixedOutput(), schedule, x0, cond, 1.0, **kwargs)) == 0.0
    # Rows without the condition learn the anchor: its 55 non-root entries, each off by 3.
    kwargs = {"generator": torch.Generator().manual_seed(0)}
    loss = diffusion_loss(_FixedOutput(), schedule, x0, cond, 1.0, anchor_marginal=True, **kwargs)
    assert float(loss) == pytest.approx(9.0)
