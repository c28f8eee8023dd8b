"""Learning-rate schedules of a training run: S.4.2's step decay per epoch, or a cosine decay per step.

Notation:
    lr          TrainConfig.lr             initial learning rate (S.4.2: 2e-4)
    s, S        step, total_steps          optimisation step (0-based) and the run's total steps
    W           warmup_steps               linear warm-up steps ("cosine" only)

"step" (S.4.2): lr * lr_decay ** floor(epoch / lr_decay_every), torch's StepLR stepped once per epoch.
"cosine" (not in the paper; Loshchilov and Hutter's SGDR without restarts, with a linear warm-up):
    lr * (s + 1) / W                                       for s < W
    lr * (1 + cos(pi * (s - W) / (S - W))) / 2             for W <= s < S, stepped once per step.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from interhandgen_core.prior.configuration import TrainConfig


def cosine_factor(step: int, total_steps: int, warmup_steps: int) -> float:
    """Factor on the initial learning rate at optimisation step ``step`` (0-based) of ``total_steps``."""
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
    return 0.5 * (1.0 + math.cos(math.pi * min(progress, 1.0)))


@dataclass
class RunSchedule:
    """A learning-rate scheduler and when the loop steps it: after every optimisation step, or every epoch."""

    scheduler: torch.optim.lr_scheduler.LRScheduler
    per_step: bool


def run_schedule(optimizer: torch.optim.Optimizer, config: TrainConfig, total_steps: int) -> RunSchedule:
    """The scheduler of ``config.lr_schedule`` on ``optimizer`` for a run of ``total_steps`` optimisation steps."""
    if config.lr_schedule == "cosine":
        scheduler = torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda step: cosine_factor(step, total_steps, config.warmup_steps)
        )
        return RunSchedule(scheduler, per_step=True)
    step_lr = torch.optim.lr_scheduler.StepLR(optimizer, step_size=config.lr_decay_every, gamma=config.lr_decay)
    return RunSchedule(step_lr, per_step=False)
