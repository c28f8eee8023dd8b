"""What a training recipe costs: one optimisation step of its network, timed, and the run projected from it.

A step is what ``training/loop.py`` does per batch (Algorithm 1 steps 5-9, backward, Adam) on
the recipe's own network, batch size and device, fed random inputs of the right shapes (the
time of a step does not depend on the values; data loading is a gather from memory there and
is not timed). Memory is the peak the step needs: CUDA's allocator peak on a GPU, the
process's peak resident size on a CPU. The row also counts the step's floating-point work
(torch's FlopCounterMode: matrix products and convolutions of forward and backward; the
point grouping's gathers and distance tables are not counted), which does not depend on the
device: a step's time on another device is at least that work over the device's throughput.
The row records the load other processes put on the machine during the timing
(evaluation/machine_load.py), with a warning when they kept it busy; ``progress`` shows a bar
on stderr over the steps.

Projection: every scene gives two training pairs (the Gamma-swapped view of Algorithm 1 step
4), so an epoch is ceil(2 N / (batch x processes)) steps and the run ``epochs`` of them (or
``max_steps``). With P processes under torchrun each takes its own batch, so the projection
divides the steps by P and assumes the step time stays that of one process (DistributedDataParallel
overlaps the gradient all-reduce with the backward pass; on one machine that is close).
"""

from __future__ import annotations

import math
import statistics
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode
from tqdm import tqdm

from interhandgen_core.array_files import read_npz
from interhandgen_core.errors import DataError
from interhandgen_core.evaluation.inference_benchmark import device_name, peak_memory_mb, timed_ms
from interhandgen_core.evaluation.machine_load import MachineLoad, load_cell
from interhandgen_core.evaluation.refinement_benchmark import percentile
from interhandgen_core.hands.hand_params import HAND_DIM
from interhandgen_core.prior.configuration import TrainConfig
from interhandgen_core.prior.denoiser import Denoiser
from interhandgen_core.prior.network import PriorNetwork
from interhandgen_core.prior.object_encoder import ObjectEncoder
from interhandgen_core.prior.schedule import DiffusionSchedule
from interhandgen_core.training.loss import diffusion_loss, model_inputs


def count_scenes(path: Path) -> int:
    """N of a hands file or grasp set: the rows of its right_pose array (the only array read)."""
    if not path.is_file():
        raise DataError(f"{path}: training data not found; make it first or pass --scenes")
    arrays = read_npz(path, "hands file or grasp set", ("right_pose",))
    if "right_pose" not in arrays:
        raise DataError(f"{path}: no 'right_pose' array; not a hands file or grasp set")
    return int(arrays["right_pose"].shape[0])


def run_train_benchmark(
    config: TrainConfig,
    device: str,
    repeats: int = 10,
    scenes: int | None = None,
    processes: int = 1,
    progress: bool = True,
) -> dict[str, Any]:
    """Time ``repeats`` training steps of ``config``'s network -> one row (the bench-row fields of README
    "Conventions", the load of the machine during the timing, and the projection).

    scenes: the training set's size for the projection (None: none is made). progress: a bar on
    stderr over the steps (the counted one, the warm-up and the timed ones).
    """
    dev = torch.device(device)
    torch.manual_seed(0)
    denoiser = Denoiser(config.model).to(dev)
    encoder = None if config.object_encoder is None else ObjectEncoder(config.object_encoder).to(dev)
    network: nn.Module = denoiser if encoder is None else PriorNetwork(denoiser, encoder)
    optimizer = torch.optim.Adam(network.parameters(), lr=config.lr)
    schedule = DiffusionSchedule(config.diffusion)
    batch = config.batch_size
    generator = torch.Generator(device=dev).manual_seed(0)
    x0, cond = model_inputs(
        config.model.num_hands,
        torch.randn(batch, HAND_DIM, device=dev, generator=generator),
        torch.randn(batch, HAND_DIM, device=dev, generator=generator),
    )
    points = None
    if config.object_encoder is not None:
        points = 0.1 * torch.randn(batch, config.object_encoder.num_points, 3, device=dev, generator=generator)
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats(dev)

    def step() -> None:
        loss = diffusion_loss(network, schedule, x0, cond, config.p_uncond, generator, points, config.p_uncond_object)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    network.train()
    bar = tqdm(
        total=repeats + 2, desc=f"train step ({config.model.preset}, batch {batch})", unit="step", disable=not progress
    )
    with FlopCounterMode(display=False) as counter:  # once, outside the timing
        step()
    bar.update(1)
    with MachineLoad() as load:
        times = timed_ms(step, repeats, dev, on_call=lambda: bar.update(1))
    bar.close()
    load.warn_if_loaded(f"a training step (preset {config.model.preset}, batch {batch})")
    median = statistics.median(times)
    row: dict[str, Any] = {
        "backend": "torch",
        "device": device_name(dev),
        "preset": config.model.preset,
        "what": "train",
        "batch": batch,
        "median_ms": median,
        "p95_ms": percentile(times, 0.95),
        "peak_mb": peak_memory_mb(dev),
        "parameters": sum(p.numel() for p in network.parameters()),
        "gflop_per_step": counter.get_total_flops() / 1e9,
        "object_conditioned": config.object_encoder is not None,
        **load.fields(),
    }
    if scenes is not None:
        steps_per_epoch = math.ceil(2 * scenes / (batch * processes))
        total = config.epochs * steps_per_epoch
        if config.max_steps is not None:
            total = min(total, config.max_steps)
        row.update(
            scenes=scenes,
            processes=processes,
            steps_per_epoch=steps_per_epoch,
            total_steps=total,
            projected_hours=total * median / 1000.0 / 3600.0,
        )
    return row


def format_train_row(row: dict[str, Any]) -> str:
    """One line of step time and memory, and the projection when the row has one."""
    text = (
        f"{row['device']}, preset {row['preset']}, {row['parameters'] / 1e6:.1f}M parameters, batch {row['batch']}: "
        f"{row['median_ms']:.1f} ms per step (p95 {row['p95_ms']:.1f}), peak {row['peak_mb']:.0f} MB, "
        f"{row['gflop_per_step']:.1f} GFLOP per step; other processes busy on {load_cell(row)} cores"
    )
    if "projected_hours" in row:
        text += (
            f"\n{row['scenes']} scenes, {row['processes']} process(es): {row['steps_per_epoch']} steps per epoch, "
            f"{row['total_steps']} steps, about {row['projected_hours']:.1f} h"
        )
    return text
