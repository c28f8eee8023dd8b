"""A tiny prior checkpoint for tests that load one through the public API (pipeline, CLI, benchmark).

``write_tiny_prior(directory)`` saves a randomly initialised denoiser of a few thousand
parameters, with a Normalizer of plausible spread, as ``directory/tiny.safetensors`` plus
``tiny.json`` (hand model "procedural") and returns the weights path.
``write_tiny_object_prior(directory)`` does the same for an object-conditioned prior with a
tiny PointNet++ encoder (64 input points).
"""

from __future__ import annotations

from pathlib import Path

import torch

from interhandgen_core.hands.hand_params import HAND_DIM
from interhandgen_core.prior.checkpoint import save_prior
from interhandgen_core.prior.configuration import DenoiserConfig, DiffusionConfig, ObjectEncoderConfig
from interhandgen_core.prior.denoiser import Denoiser
from interhandgen_core.prior.object_encoder import ObjectEncoder
from interhandgen_core.prior.representation import Normalizer

TINY_CONFIG = DenoiserConfig(preset="custom", embed_dim=16, hidden_dim=32, num_heads=2, ff_dim=32)
TINY_DIFFUSION = DiffusionConfig(num_timesteps=64)
TINY_ENCODER = ObjectEncoderConfig(
    num_points=64,
    min_points=16,
    centroids=(16, 4),
    radii=(0.04, 0.1),
    neighbors=(8, 4),
    mlps=((8,), (8,)),
    global_mlp=(8,),
    head=(8,),
)
TINY_OBJECT_CONFIG = DenoiserConfig(
    preset="custom", embed_dim=16, hidden_dim=32, num_heads=2, ff_dim=32, object_embedding_dim=TINY_ENCODER.out_dim
)


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


def write_tiny_object_prior(directory: str | Path, name: str = "tiny_object", seed: int = 0) -> Path:
    """Save a tiny random object-conditioned prior as ``directory/NAME.safetensors`` + ``NAME.json``."""
    torch.manual_seed(seed)
    denoiser = Denoiser(TINY_OBJECT_CONFIG).eval()
    encoder = ObjectEncoder(TINY_ENCODER).eval()
    return save_prior(
        Path(directory) / name,
        denoiser,
        tiny_normalizer(),
        TINY_OBJECT_CONFIG,
        TINY_DIFFUSION,
        hand_model="procedural",
        object_encoder=encoder,
    )
