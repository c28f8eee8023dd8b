"""Training the VAE baseline of Table 1 (prior/vae.py holds the model): Adam on vae_loss over hands files."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor
from tqdm import tqdm

from interhandgen_core.config import ConfigBase, setting
from interhandgen_core.data.dataset import TwoHandPairs
from interhandgen_core.errors import ConfigError
from interhandgen_core.prior.vae import TwoHandVae, VaeConfig, save_vae, vae_loss
from interhandgen_core.training.loss import model_inputs


@dataclass(frozen=True)
class VaeTrainConfig(ConfigBase):
    """A VAE training run: hands files, Adam, and the model's VaeConfig under ``vae``."""

    train_data: Path = setting(help="training hands file (.npz)")
    val_data: Path | None = setting(None, help="validation hands file; none: no validation")
    epochs: int = setting(100, low=1, help="passes over the training data")
    batch_size: int = setting(256, low=2, help="training pairs per optimisation step")
    lr: float = setting(1e-3, low=0.0, high=1.0, low_open=True, help="Adam learning rate")
    seed: int = setting(0, low=0, help="random seed of the run")
    max_steps: int | None = setting(None, low=1, help="stop after this many optimisation steps; none: no cap")
    vae: VaeConfig = setting(default_factory=VaeConfig, help="the model's size and KL weight")


def _joint(pairs: TwoHandPairs, rows: Tensor) -> Tensor:
    return model_inputs(2, *pairs[rows])[0]


def train_vae(config: VaeTrainConfig, out_dir: str | Path, progress: bool = True) -> Path:
    """Train per the config; writes OUT/model.{safetensors,json}. Returns the weights path."""
    out_dir = Path(out_dir)
    if (out_dir / "model.safetensors").exists():
        raise ConfigError(f"{out_dir}: already holds a trained model; choose another output directory")
    torch.manual_seed(config.seed)
    train_set = TwoHandPairs.from_file(config.train_data)
    val_set = None if config.val_data is None else TwoHandPairs.from_file(config.val_data, train_set.normalizer)
    vae = TwoHandVae(config.vae, train_set.normalizer)
    optimizer = torch.optim.Adam(vae.parameters(), lr=config.lr)
    generator = torch.Generator().manual_seed(config.seed)
    steps_per_epoch = max(1, len(train_set) // config.batch_size)
    total = (
        config.epochs * steps_per_epoch
        if config.max_steps is None
        else min(config.max_steps, config.epochs * steps_per_epoch)
    )
    bar = tqdm(total=total, desc="train vae", disable=not progress)
    step, t0, loss = 0, time.monotonic(), torch.zeros(())
    while step < total:
        order = torch.randperm(len(train_set), generator=generator)
        for i in range(steps_per_epoch):
            loss = vae_loss(vae, _joint(train_set, order[i * config.batch_size : (i + 1) * config.batch_size]))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            step += 1
            bar.update(1)
            if step % 100 == 0:
                bar.set_postfix(loss=f"{loss.item():.4f}")
            if step >= total:
                break
    bar.close()
    vae.eval()
    val_loss = None
    if val_set is not None:
        with torch.no_grad():
            torch.manual_seed(config.seed)
            val_loss = float(vae_loss(vae, _joint(val_set, torch.arange(len(val_set)))))
    training = {
        "train_data": str(config.train_data),
        "steps": step,
        "final_loss": loss.item(),
        "val_loss": val_loss,
        "minutes": round((time.monotonic() - t0) / 60, 1),
    }
    return save_vae(out_dir / "model", vae, {"training": training})
