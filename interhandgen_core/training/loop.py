"""Training of the two-hand prior: Algorithm 1 of the paper with the settings of supplementary S.4.2.

Notation (paper -> code):
    (x_r, x_l)     (x0, cond)      (B, 64) normalised target hand and conditioning (anchor) hand
    null           cond_mask False conditioning dropped with probability p_uncond (Algorithm 1 step 5)
    eps            noise           (B, 64) ~ N(0, I) (step 6)
    t              t               (B,) long, uniform in 0..T-1 (0-based; paper 1..T)
    x_t            x_t             q_sample(x0, t, noise) (step 8, Eq. 3)
    D_phi          denoiser        predicts x_0; loss ||x_r - D_phi(x_t, x_l, t)||^2 (step 9)

The root transform (representation.ROOT, 9 numbers) of an unconditional sample is the
anchor hand's pose in its own canonical frame, which carries no information; following
S.4.2 those 9 numbers are left out of the loss for unconditional samples, and the loss is
the mean over the entries that remain. With an object (paper 3.6, ``config.object_encoder``)
the hands live in the object's frame, so the root counts whenever the object is kept; the
object condition is dropped with probability ``p_uncond_object`` (supplementary S.1) and the
data are grasp sets, drawn through data/grasp_pairs.py.

Run directory (``out_dir``), written by rank 0 only:
    config.yaml             the TrainConfig of the latest (re)start
    log.jsonl               one JSON object per line: "start", "step" (every log_every; rank 0's mean
                            loss since the previous record), "epoch" (mean over all ranks; val_loss is
                            step 9's x_0 loss alone, comparable across runs with and without a keypoint loss), "end"
    checkpoints/epoch_NNNN.{safetensors,json}   every checkpoint_every epochs
    model.{safetensors,json}                    the final prior (returned path)
    training_state.pt       model, optimiser, scheduler, epoch, step (and the weights' average); for resume=True

With ``config.ema_decay`` > 0 an exponential moving average of the weights (torch's AveragedModel)
is updated after every optimisation step; the checkpoints, the final prior and the validation
loss are the average's, the optimiser keeps training the raw weights.

Multi-process: start with ``torchrun --nproc_per_node N -m interhandgen_core.training.loop
--config X --out Y``; WORLD_SIZE / RANK / LOCAL_RANK select DistributedDataParallel with
gloo (CPU) or NCCL (CUDA). Randomness is drawn from generators reseeded from
(seed, rank, step) at every step, so a run is reproducible on CPU and a resumed run draws
the same numbers as an uninterrupted one; the caller's global RNG state is restored on return.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from torch.utils.data import BatchSampler, DataLoader, DistributedSampler
from tqdm import tqdm

from interhandgen_core.data.dataset import TwoHandPairs, load_twohand_params
from interhandgen_core.data.grasp_pairs import GraspPairs
from interhandgen_core.data.grasp_synth import GraspSet
from interhandgen_core.errors import CheckpointError, ConfigError, InterHandGenError
from interhandgen_core.hands.layer import HandLayer
from interhandgen_core.hands.loading import load_hand_pair
from interhandgen_core.prior.checkpoint import (
    LoadedPrior,
    library_version,
    load_prior,
    load_training_state,
    save_prior,
    save_training_state,
)
from interhandgen_core.prior.configuration import DenoiserConfig, DiffusionConfig, TrainConfig
from interhandgen_core.prior.denoiser import Denoiser
from interhandgen_core.prior.network import PriorNetwork
from interhandgen_core.prior.object_encoder import ObjectEncoder
from interhandgen_core.prior.representation import Normalizer
from interhandgen_core.prior.schedule import DiffusionSchedule
from interhandgen_core.training.loss import KeypointLoss, diffusion_loss, model_inputs
from interhandgen_core.training.lr_schedule import run_schedule

STATE_FILE = "training_state.pt"
LOG_FILE = "log.jsonl"
MODEL_NAME = "model"
_STATE_VERSION = 1
_RUN_FILES = (STATE_FILE, LOG_FILE, MODEL_NAME + ".safetensors", "checkpoints")


def _step_seed(seed: int, rank: int, step: int, stream: str = "train") -> int:
    digest = hashlib.blake2b(f"{stream}:{seed}:{rank}:{step}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1


@dataclass
class _Dist:
    world_size: int
    rank: int
    local_rank: int
    device: torch.device
    owns_group: bool

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def _pick_device(name: str, local_rank: int) -> torch.device:
    if name == "cpu":
        return torch.device("cpu")
    if name == "auto":
        return torch.device("cuda", local_rank) if torch.cuda.is_available() else torch.device("cpu")
    if not torch.cuda.is_available():
        raise ConfigError(f"TrainConfig.device is {name!r} but CUDA is not available; use device: cpu or auto")
    return torch.device("cuda", local_rank) if name == "cuda" else torch.device(name)


def _setup_distributed(config: TrainConfig) -> _Dist:
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1 and not dist.is_initialized():
        return _Dist(1, 0, 0, _pick_device(config.device, 0), owns_group=False)
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = _pick_device(config.device, local_rank)
    owns = False
    if not dist.is_initialized():
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
        owns = True
    return _Dist(dist.get_world_size(), dist.get_rank(), local_rank, device, owns)


def _barrier(ctx: _Dist) -> None:
    if ctx.world_size > 1:
        dist.barrier()


@contextmanager
def _restored_rng(device: torch.device) -> Iterator[None]:
    devices = (
        [device.index if device.index is not None else torch.cuda.current_device()] if device.type == "cuda" else []
    )
    with torch.random.fork_rng(devices=devices):
        yield


class _Logger:
    """JSON lines to log.jsonl plus occasional human-readable lines; no-op on ranks other than 0."""

    def __init__(self, path: Path | None, bar: tqdm | None) -> None:
        self.path, self.bar, self.t0 = path, bar, time.monotonic()

    def record(self, event: str, echo: bool = False, **fields: Any) -> None:
        if self.path is None:
            return
        entry = {"event": event, "time_s": round(time.monotonic() - self.t0, 3), **fields}
        with self.path.open("a", encoding="utf-8") as f:
            f.write(json.dumps(entry) + "\n")
        if echo:
            text = " ".join(f"{k}={v:.5g}" if isinstance(v, float) else f"{k}={v}" for k, v in entry.items())
            (self.bar.write if self.bar is not None else print)(text)


@torch.no_grad()
def evaluate(
    network: nn.Module,
    schedule: DiffusionSchedule,
    dataset: TwoHandPairs | GraspPairs,
    batch_size: int,
    p_uncond: float,
    seed: int,
    device: torch.device,
    p_uncond_object: float = 0.0,
    num_hands: int = 1,
    anchor_marginal: bool = False,
) -> float:
    """Algorithm 1 loss over a whole data set with fixed draws (same seed -> comparable across epochs).

    The mean over batches, weighted by batch size. ``network``: a Denoiser for TwoHandPairs,
    a PriorNetwork for GraspPairs (whose augmentation is drawn from the same fixed generator).
    """
    was_training = network.training
    network.eval()
    generator = torch.Generator(device=device)
    generator.manual_seed(_step_seed(seed, 0, 0, "val"))
    data_generator = torch.Generator().manual_seed(_step_seed(seed, 0, 0, "val-data"))
    total, count = 0.0, 0
    with torch.no_grad():
        for start in range(0, len(dataset), batch_size):
            rows = torch.arange(start, min(start + batch_size, len(dataset)))
            if isinstance(dataset, GraspPairs):
                x0, cond, points = (v.to(device) for v in dataset.batch(rows, data_generator))
                loss = diffusion_loss(network, schedule, x0, cond, p_uncond, generator, points, p_uncond_object)
            else:
                x0, cond = model_inputs(num_hands, *(v.to(device) for v in dataset[rows]))
                loss = diffusion_loss(network, schedule, x0, cond, p_uncond, generator, anchor_marginal=anchor_marginal)
            total += float(loss) * len(rows)
            count += len(rows)
    network.train(was_training)
    return total / max(count, 1)


def _check_run_dir(out_dir: Path, resume: bool) -> None:
    if resume:
        if not (out_dir / STATE_FILE).is_file():
            raise CheckpointError(f"{out_dir / STATE_FILE}: no training state to resume; start without resume")
        return
    existing = [name for name in _RUN_FILES if (out_dir / name).exists()]
    if existing:
        raise ConfigError(
            f"{out_dir}: already holds a training run ({', '.join(existing)}); "
            "resume it (resume=True / --resume) or choose another output directory"
        )


def _initial_prior(config: TrainConfig) -> LoadedPrior:
    """The checkpoint of ``config.init_from``, refused (ConfigError) unless its configuration is the recipe's."""
    if config.init_from is None:
        raise ConfigError("TrainConfig.init_from is not set")
    prior = load_prior(config.init_from)
    encoder = None if prior.object_encoder is None else prior.object_encoder.config.to_dict()
    wanted = None if config.object_encoder is None else config.object_encoder.to_dict()
    for name, theirs, ours in (
        ("model", prior.model_config.to_dict(), config.model.to_dict()),
        ("diffusion", prior.diffusion_config.to_dict(), config.diffusion.to_dict()),
        ("object_encoder", encoder, wanted),
    ):
        if theirs != ours:
            raise ConfigError(
                f"init_from {config.init_from}: its {name} configuration differs from the recipe's; fine-tuning needs "
                f"the same network (set the recipe's {name} to the checkpoint's, in its .json)"
            )
    return prior


def train(config: TrainConfig, out_dir: str | Path, resume: bool = False, progress: bool = True) -> Path:
    """Train a prior per Algorithm 1 and return the path of the final ``model.safetensors`` in out_dir.

    resume: continue the run in out_dir from its training_state.pt (model, optimiser,
        scheduler, epoch, step); the given config's epochs / max_steps set where it stops.
        Without resume, an out_dir that already holds a run is refused.
    progress: show a tqdm bar (rank 0 only).
    """
    out_dir = Path(out_dir)
    ctx = _setup_distributed(config)
    try:
        _check_run_dir(out_dir, resume)
        _barrier(ctx)  # no rank may see rank 0's new files during the check above
        with _restored_rng(ctx.device):
            return _train(config, out_dir, resume, progress, ctx)
    finally:
        if ctx.owns_group and dist.is_initialized():
            dist.destroy_process_group()


def _train(config: TrainConfig, out_dir: Path, resume: bool, progress: bool, ctx: _Dist) -> Path:
    device = ctx.device
    state: dict[str, Any] | None = None
    normalizer: Normalizer | None = None
    initial: LoadedPrior | None = None
    if resume:
        state = load_training_state(out_dir / STATE_FILE, map_location="cpu")
        _check_resumable(state, config, out_dir)
        normalizer = Normalizer(state["normalizer_mean"], state["normalizer_std"])
    elif config.init_from is not None:
        initial = _initial_prior(config)
        normalizer = initial.normalizer

    train_set: TwoHandPairs | GraspPairs
    val_set: TwoHandPairs | GraspPairs | None = None
    encoder_config = config.object_encoder
    if encoder_config is None:
        left, right = load_twohand_params(config.train_data)
        train_set = TwoHandPairs(left, right, normalizer, config.scene_views)
        if config.val_data is not None:
            val_set = TwoHandPairs.from_file(config.val_data, train_set.normalizer, config.scene_views)
    else:
        train_set = GraspPairs(
            GraspSet.load(config.train_data), encoder_config.num_points, config.sensor_augmentation, normalizer
        )
        if config.val_data is not None:
            val_set = GraspPairs(
                GraspSet.load(config.val_data),
                encoder_config.num_points,
                config.sensor_augmentation,
                train_set.normalizer,
            )
    normalizer = train_set.normalizer
    # Scenes as given: the decomposed prior's unconditional rows learn the anchor (training/loss.py).
    anchor_marginal = config.scene_views == "given" and config.model.num_hands == 1

    torch.manual_seed(config.seed)  # identical initial weights on every rank
    denoiser = Denoiser(config.model).to(device)
    encoder = None if encoder_config is None else ObjectEncoder(encoder_config).to(device)
    network: nn.Module = denoiser if encoder is None else PriorNetwork(denoiser, encoder)
    schedule = DiffusionSchedule(config.diffusion)
    keypoint_loss = (
        None
        if config.keypoint_loss_weight == 0
        else KeypointLoss(HandLayer(load_hand_pair("procedural")[0]), normalizer, config.keypoint_loss_weight).to(
            device
        )
    )
    sampler: DistributedSampler[int] = DistributedSampler(
        train_set, num_replicas=ctx.world_size, rank=ctx.rank, shuffle=True, seed=config.seed, drop_last=False
    )
    # Drop a ragged last batch (noisy gradient), unless the set is smaller than one batch.
    drop_last = len(sampler) >= config.batch_size
    batches_per_epoch = len(BatchSampler(range(len(sampler)), config.batch_size, drop_last))
    total_steps = config.epochs * batches_per_epoch
    if config.max_steps is not None:
        total_steps = min(total_steps, config.max_steps)

    optimizer = torch.optim.Adam(network.parameters(), lr=config.lr)
    lr_schedule = run_schedule(optimizer, config, total_steps)
    scheduler = lr_schedule.scheduler
    epoch, next_batch, step = 0, 0, 0
    if initial is not None:
        denoiser.load_state_dict(initial.denoiser.state_dict())
        if encoder is not None and initial.object_encoder is not None:
            encoder.load_state_dict(initial.object_encoder.state_dict())
    average = (
        None
        if config.ema_decay == 0
        else AveragedModel(network, multi_avg_fn=get_ema_multi_avg_fn(config.ema_decay), use_buffers=True)
    )
    if state is not None:
        denoiser.load_state_dict(state["model"])
        if encoder is not None:
            encoder.load_state_dict(state["object_encoder"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        if average is not None:
            average.load_state_dict(state["ema"])
        epoch, next_batch, step = int(state["epoch"]), int(state["batch"]), int(state["step"])
    # What is saved and validated: the weights' average, else the trained weights themselves.
    saved: nn.Module = network if average is None else average.module
    model: nn.Module = network
    if ctx.world_size > 1:
        model = DistributedDataParallel(network, device_ids=[device.index] if device.type == "cuda" else None)

    if ctx.is_main:
        out_dir.mkdir(parents=True, exist_ok=True)
        config.to_yaml(out_dir / "config.yaml")
    bar = tqdm(total=total_steps, initial=min(step, total_steps), desc="train", disable=not (progress and ctx.is_main))
    log = _Logger(out_dir / LOG_FILE if ctx.is_main else None, bar)
    log.record(
        "start",
        echo=True,
        resume=resume,
        step=step,
        epoch=epoch,
        world_size=ctx.world_size,
        device=str(device),
        train_pairs=len(train_set),
        val_pairs=len(val_set) if val_set is not None else 0,
        parameters=sum(p.numel() for p in network.parameters()),
    )

    generator = torch.Generator(device=device)
    pin = device.type == "cuda"
    window_sum, window_n = torch.zeros((), device=device), 0
    epoch_sum, epoch_n = torch.zeros((), device=device), 0
    final_loss = float("nan")
    stopped_mid_epoch = False
    reached_cap = config.max_steps is not None and step >= config.max_steps

    def save_checkpoint(stem: Path) -> None:
        """Model and resumable state as they are at the moment of the call."""
        saved_denoiser, saved_encoder = _trained_modules(saved)
        _save(config, stem, saved_denoiser, saved_encoder, normalizer, epoch, step, final_loss)
        save_training_state(
            out_dir / STATE_FILE,
            {
                "format_version": _STATE_VERSION,
                "model": denoiser.state_dict(),
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "ema": None if average is None else average.state_dict(),
                "epoch": epoch,
                "batch": next_batch,
                "step": step,
                "normalizer_mean": normalizer.mean.detach().cpu(),
                "normalizer_std": normalizer.std.detach().cpu(),
                "model_config": config.model.to_dict(),
                "object_encoder": None if encoder is None else encoder.state_dict(),
                "object_encoder_config": None if config.object_encoder is None else config.object_encoder.to_dict(),
                "diffusion_config": config.diffusion.to_dict(),
            },
        )

    model.train()
    while epoch < config.epochs and not reached_cap:
        sampler.set_epoch(epoch)
        batches = list(BatchSampler(sampler, config.batch_size, drop_last))[next_batch:]
        loader: Any = (
            batches
            if isinstance(train_set, GraspPairs)  # augmentation is drawn per step, below
            else DataLoader(train_set, sampler=batches, batch_size=None, num_workers=config.num_workers, pin_memory=pin)
        )
        epoch_t0, epoch_step0 = time.monotonic(), step
        for i, item in enumerate(loader):
            seed = _step_seed(config.seed, ctx.rank, step)
            generator.manual_seed(seed)
            torch.manual_seed(seed)  # dropout inside the transformer
            points = None
            if isinstance(train_set, GraspPairs):
                data_generator = torch.Generator().manual_seed(_step_seed(config.seed, ctx.rank, step, "data"))
                x0, cond, points = (v.to(device) for v in train_set.batch(torch.as_tensor(item), data_generator))
            else:
                x0, cond = model_inputs(config.model.num_hands, *(v.to(device, non_blocking=pin) for v in item))
            loss = diffusion_loss(  # Algorithm 1
                model,
                schedule,
                x0,
                cond,
                config.p_uncond,
                generator,
                points,
                config.p_uncond_object,
                keypoint_loss,
                config.unconditional_root_loss,
                anchor_marginal,
            )
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if average is not None:
                average.update_parameters(network)
            if lr_schedule.per_step:
                scheduler.step()
            step += 1
            detached = loss.detach()
            window_sum += detached
            epoch_sum += detached
            window_n += 1
            epoch_n += 1
            bar.update(1)
            if step % 25 == 0:
                bar.set_postfix(loss=f"{float(detached):.4f}", epoch=epoch)
            if step % config.log_every == 0:
                window = float(window_sum) / window_n
                final_loss = window
                echo = step % (config.log_every * max(1, 500 // config.log_every)) == 0
                lr = optimizer.param_groups[0]["lr"]
                log.record("step", echo=echo, step=step, epoch=epoch, loss=window, lr=lr)
                window_sum.zero_()
                window_n = 0
            if config.max_steps is not None and step >= config.max_steps:
                reached_cap = True
                if i + 1 < len(batches):
                    next_batch += i + 1
                    stopped_mid_epoch = True
                break
        if epoch_n:
            if ctx.world_size > 1:
                # Every rank runs the same number of steps per epoch, so this is the mean over all ranks.
                dist.all_reduce(epoch_sum)
                epoch_sum /= ctx.world_size
            final_loss = float(epoch_sum) / epoch_n
        if stopped_mid_epoch:
            break

        if not lr_schedule.per_step:
            scheduler.step()
        epoch += 1
        next_batch = 0
        elapsed = time.monotonic() - epoch_t0
        record: dict[str, Any] = {
            "epoch": epoch,
            "step": step,
            "train_loss": final_loss,
            "lr": optimizer.param_groups[0]["lr"],
            "steps_per_s": (step - epoch_step0) / elapsed if elapsed > 0 else math.nan,
        }
        if val_set is not None and ctx.is_main:
            record["val_loss"] = evaluate(
                saved,
                schedule,
                val_set,
                config.batch_size,
                config.p_uncond,
                config.seed,
                device,
                config.p_uncond_object,
                config.model.num_hands,
                anchor_marginal,
            )
        log.record("epoch", echo=True, **record)
        epoch_sum.zero_()
        epoch_n = 0
        if ctx.is_main and epoch % config.checkpoint_every == 0 and epoch < config.epochs and not reached_cap:
            save_checkpoint(out_dir / "checkpoints" / f"epoch_{epoch:04d}")
    bar.close()

    final_path = out_dir / (MODEL_NAME + ".safetensors")
    if ctx.is_main:
        save_checkpoint(out_dir / MODEL_NAME)
        log.record("end", echo=True, step=step, epoch=epoch, final_loss=final_loss, model=str(final_path))
    _barrier(ctx)  # every rank returns once the final files exist
    return final_path


def _trained_modules(network: nn.Module) -> tuple[Denoiser, ObjectEncoder | None]:
    """A Denoiser, or a PriorNetwork (or a copy of either, as the weights' average holds) -> (denoiser, encoder)."""
    if isinstance(network, PriorNetwork):
        return network.denoiser, network.object_encoder
    if isinstance(network, Denoiser):
        return network, None
    raise TypeError(f"expected a Denoiser or a PriorNetwork, got {type(network).__name__}")


def _check_resumable(state: dict[str, Any], config: TrainConfig, out_dir: Path) -> None:
    path = out_dir / STATE_FILE
    needed = ("model", "optimizer", "scheduler", "epoch", "batch", "step", "normalizer_mean", "normalizer_std")
    missing = [key for key in needed if key not in state]
    if state.get("format_version") != _STATE_VERSION or missing:
        raise CheckpointError(
            f"{path}: not a training state of this library (missing {', '.join(missing) or 'version'})"
        )
    if (state.get("ema") is not None) != (config.ema_decay > 0):
        had = "with" if state.get("ema") is not None else "without"
        raise CheckpointError(
            f"{path}: the run was trained {had} a weights' average and the config asks for ema_decay "
            f"{config.ema_decay:g}; resume with the run's own config.yaml"
        )
    stored_schedule = state["scheduler"]
    if isinstance(stored_schedule, dict) and ("step_size" in stored_schedule) != (config.lr_schedule == "step"):
        raise CheckpointError(
            f"{path}: the run's learning-rate schedule differs from the config's lr_schedule "
            f"{config.lr_schedule!r}; resume with the run's own config.yaml"
        )
    try:
        stored_model = DenoiserConfig.from_dict(state.get("model_config"))
        stored_diffusion = DiffusionConfig.from_dict(state.get("diffusion_config"))
    except ConfigError as exc:
        raise CheckpointError(f"{path}: invalid stored configuration: {exc}") from None
    stored_encoder = state.get("object_encoder_config")
    asked_encoder = None if config.object_encoder is None else config.object_encoder.to_dict()
    for what, stored, asked in (
        ("model", stored_model.to_dict(), config.model.to_dict()),
        ("diffusion", stored_diffusion.to_dict(), config.diffusion.to_dict()),
        ("object_encoder", stored_encoder, asked_encoder),
    ):
        if stored != asked:
            raise CheckpointError(
                f"{path}: the run was trained with {what} {stored}, the config asks for {asked}; "
                "resume with the run's own config.yaml"
            )


def _save(
    config: TrainConfig,
    stem: Path,
    denoiser: Denoiser,
    encoder: ObjectEncoder | None,
    normalizer: Normalizer,
    epoch: int,
    step: int,
    final_loss: float,
) -> None:
    """The prior (NAME.safetensors and NAME.json) with the run's provenance; the run's state is saved by the caller."""
    training_info = {
        "train_data": str(config.train_data),
        "val_data": None if config.val_data is None else str(config.val_data),
        "epochs": epoch,
        "steps": step,
        "seed": config.seed,
        "batch_size": config.batch_size,
        "init_from": None if config.init_from is None else str(config.init_from),
        "lr_schedule": config.lr_schedule,
        "ema_decay": config.ema_decay,
        "scene_views": config.scene_views,
        "final_loss": None if math.isnan(final_loss) else final_loss,
        "library_version": library_version(),
    }
    save_prior(
        stem,
        denoiser,
        normalizer,
        config.model,
        config.diffusion,
        extra={"training": training_info},
        object_encoder=encoder,
    )


def main(argv: list[str] | None = None) -> int:
    """``python -m interhandgen_core.training.loop --config X --out Y [--resume]`` (also under torchrun)."""
    parser = argparse.ArgumentParser(description="Train the two-hand prior (paper Algorithm 1).")
    parser.add_argument(
        "--config", required=True, type=Path, help="YAML recipe, e.g. training/configs/twohand_small.yaml"
    )
    parser.add_argument(
        "--out", required=True, type=Path, help="run directory (refused if it holds a run, unless --resume)"
    )
    parser.add_argument("--resume", action="store_true", help="continue the run in --out")
    parser.add_argument("--max-steps", type=int, default=None, help="override max_steps of the recipe")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    try:
        config = TrainConfig.from_yaml(args.config)
        if args.max_steps is not None:
            config = TrainConfig.from_dict({**config.to_dict(), "max_steps": args.max_steps})
        path = train(config, args.out, resume=args.resume, progress=not args.no_progress)
    except InterHandGenError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if int(os.environ.get("RANK", "0")) == 0:
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
