"""The diffusion loss of Algorithm 1 (steps 5-9) and what each kind of denoiser learns from a (target, condition) pair.

Notation (paper -> code):
    (x_r, x_l)     (x0, cond)      (B, 64) normalised target hand and conditioning (anchor) hand
    null           cond_mask False conditioning dropped with probability p_uncond (step 5)
    eps            noise           (B, 64) ~ N(0, I) (step 6)
    t              t               (B,) long, uniform in 0..T-1 (0-based; paper 1..T)
    x_t            x_t             q_sample(x0, t, noise) (step 8, Eq. 3)
    D_phi          network         predicts x_0; loss ||x_r - D_phi(x_t, x_l, t)||^2 (step 9)

The root transform (ROOT, 9 numbers) of an unconditional sample carries no information
(S.4.2): those numbers are left out of the loss for unconditional samples without an object.
``unconditional_root`` (TrainConfig.unconditional_root_loss; not in the paper) counts them all the
same: the network then learns the marginal of the root for unconditional rows too, so that the
root numbers of x_t along an unconditional sampling chain (the anchor's) look like those it was
trained on, instead of following predictions that no loss ever shaped.

``anchor_marginal`` (TrainConfig.scene_views "given"; not in the paper): rows without the hand condition
learn the condition itself, x_0 := x_l, so that the unconditional denoiser is the anchor's distribution
and not the targets' (data/dataset.py says when the two differ).

KeypointLoss (not in the paper; the authors' code adds vertex and joint losses through MANO,
weighted 1e4): the squared error of the 21 keypoints of the predicted x_0 against the target's,
through the hand layer, in m^2; rows without an informative root keep the target's root.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from interhandgen_core.hands.hand_params import ROOT, HandParams
from interhandgen_core.hands.layer import HandLayer
from interhandgen_core.prior.representation import Normalizer
from interhandgen_core.prior.schedule import DiffusionSchedule


def x0_loss(pred: Tensor, x0: Tensor, root_mask: Tensor) -> Tensor:
    """Mean squared error of an x_0 prediction, (B, 64) each, root_mask (B,) bool -> scalar.

    Rows whose root transform carries no information (root_mask False: no hand condition and
    no object, S.4.2) do not count their 9 root numbers; the mean is over the entries that count.
    """
    weight = torch.ones_like(x0)
    weight[:, ROOT] = root_mask[:, None].to(x0.dtype)
    return ((pred - x0).square() * weight).sum() / weight.sum().clamp_min(1.0)


class KeypointLoss(nn.Module):
    """weight x mean squared keypoint distance (m^2) of x_0 predictions through a right hand layer.

    forward(pred, x0 (B, 64) normalised, right-hand space; root_mask (B,) bool) -> scalar. Rows whose root
    is not learned (root_mask False) are posed with the target's root, so only their pose and shape count.
    """

    def __init__(self, layer: HandLayer, normalizer: Normalizer, weight: float) -> None:
        super().__init__()
        if layer.side != "right":
            raise ValueError(f"the keypoint loss works in right-hand space; got a {layer.side} hand layer")
        self.layer, self.normalizer, self.weight = layer, normalizer, weight

    def forward(self, pred: Tensor, x0: Tensor, root_mask: Tensor) -> Tensor:
        predicted, target = self.normalizer.denormalize(pred), self.normalizer.denormalize(x0)
        predicted = torch.where(
            root_mask[:, None], predicted, torch.cat([predicted[:, : ROOT.start], target[:, ROOT]], 1)
        )
        keypoints = self.layer.keypoints(HandParams.from_vector(torch.cat([predicted, target])))
        ours, theirs = keypoints.split(pred.shape[0])
        return self.weight * (ours - theirs).square().sum(-1).mean()


def diffusion_loss(
    network: nn.Module,
    schedule: DiffusionSchedule,
    x0: Tensor,
    cond: Tensor,
    p_uncond: float,
    generator: torch.Generator | None = None,
    object_points: Tensor | None = None,
    p_uncond_object: float = 0.0,
    keypoint_loss: KeypointLoss | None = None,
    unconditional_root: bool = False,
    anchor_marginal: bool = False,
) -> Tensor:
    """One draw of Algorithm 1 steps 5-9 on a batch. x0 (target), cond: (B, 64) normalised -> scalar loss.

    ``network`` is a Denoiser, or a PriorNetwork when ``object_points`` (B, P, 3) are given.
    ``keypoint_loss``: added to step 9's loss when given (not in the paper). ``unconditional_root``: the root
    counts in every row's loss; ``anchor_marginal``: rows without the hand condition learn ``cond`` (module
    docstring).
    """
    batch, device = x0.shape[0], x0.device
    cond_mask = torch.rand(batch, device=device, generator=generator) >= p_uncond  # step 5
    if anchor_marginal:
        x0 = torch.where(cond_mask[:, None], x0, cond)
    t = torch.randint(0, schedule.num_timesteps, (batch,), device=device, generator=generator)
    noise = torch.randn(x0.shape, device=device, dtype=x0.dtype, generator=generator)  # step 6
    x_t = schedule.q_sample(x0, t, noise)  # step 8, Eq. 3
    if object_points is None:
        pred, root_mask = network(x_t, t, cond, cond_mask), cond_mask
    else:
        object_mask = torch.rand(batch, device=device, generator=generator) >= p_uncond_object
        pred = network(x_t, t, cond, cond_mask, object_points, object_mask)
        root_mask = cond_mask | object_mask
    if unconditional_root:
        root_mask = torch.ones_like(root_mask)
    loss = x0_loss(pred, x0, root_mask)  # step 9
    return loss if keypoint_loss is None else loss + keypoint_loss(pred, x0, root_mask)


def model_inputs(num_hands: int, x0: Tensor, cond: Tensor) -> tuple[Tensor, Tensor]:
    """(target, condition) pairs (B, 64) each -> what the denoiser learns: unchanged for the decomposed prior;
    for the joint baseline (num_hands 2) both hands as one (B, 128) target, [anchor, other], unconditioned."""
    if num_hands == 2:
        return torch.cat([cond, x0], dim=-1), cond
    return x0, cond
