"""A tiny prior checkpoint for tests that load one through the public API (pipeline, CLI, benchmark).

``write_tiny_prior(directory)`` saves a randomly initialised denoiser of a few thousand
parameters, with a Normalizer of plausible spread, as ``directory/tiny.safetensors`` plus
``tiny.json`` (hand model "procedural") and returns the weights path.
"""

from __future__ import annotations

from pathlib import Path

import torch

from interhandgen_core.prior.checkpoint import save_prior
from interhandgen_core.prior.configuration import DenoiserConfig, DiffusionConfig
from interhandgen_core.prior.denoiser import Denoiser
from interhandgen_core.prior.representation import HAND_DIM, Normalizer

TINY_CONFIG = DenoiserConfig(preset="custom", embed_dim=16, hidden_dim=32, num_heads=2, ff_dim=32)
TINY_DIFFUSION = DiffusionConfig(num_timesteps=64)


def tiny_normalizer() -> Normalizer:
    mean = torch.zeros(HAND_DIM)
    std = torch.full((HAND_DIM,), 0.3)
    std[61:64] = 0.05  # translations, metres
    return Normalizer(mean, std)


def write_tiny_prior(
    directory: str | Path, name: str = "tiny", config: DenoiserConfig = TINY_CONFIG, seed: int = 0
) -> Path:
    """Save a tiny random prior as ``directory/NAME.safetensors`` + ``NAME.json``; returns the weights path."""
    torch.manual_seed(seed)
    denoiser = Denoiser(config).eval()
    return save_prior(
        Path(directory) / name, denoiser, tiny_normalizer(), config, TINY_DIFFUSION, hand_model="procedural"
    )
