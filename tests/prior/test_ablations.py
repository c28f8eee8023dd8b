"""The baselines and ablations of Tables 1a and 3: joint model, separate networks, no self-attention, VAE."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from tiny_prior import TINY_CONFIG, TINY_DIFFUSION, tiny_normalizer, write_tiny_prior
from toy_hands import write_hands

from interhandgen_core.errors import ConfigError
from interhandgen_core.hands.loading import load_hand_pair
from interhandgen_core.pipelines.interhandgen import InterHandGen
from interhandgen_core.prior.checkpoint import save_prior
from interhandgen_core.prior.configuration import DenoiserConfig, SamplerConfig, TrainConfig
from interhandgen_core.prior.denoiser import Denoiser, SeparateDenoisers
from interhandgen_core.prior.sampler import JointSampler
from interhandgen_core.prior.vae import TwoHandVae, VaeConfig, load_vae, save_vae, vae_loss
from interhandgen_core.training.vae import VaeTrainConfig, train_vae


def _inputs(n: int, x_dim: int = 64) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(0)
    return (
        torch.randn(n, x_dim, generator=g),
        torch.randint(0, 64, (n,), generator=g),
        torch.randn(n, 64, generator=g),
        torch.rand(n, generator=g) > 0.5,
    )


def test_without_self_attention_the_hand_token_ignores_the_others() -> None:
    torch.manual_seed(0)
    denoiser = Denoiser(DenoiserConfig.from_dict({**TINY_CONFIG.to_dict(), "self_attention": False})).eval()
    tokens = torch.randn(2, 3, TINY_CONFIG.embed_dim)
    changed = tokens.clone()
    changed[:, 1:] = torch.randn(2, 2, TINY_CONFIG.embed_dim)
    torch.testing.assert_close(denoiser.encoder(tokens)[:, 0], denoiser.encoder(changed)[:, 0])
    with_attention = Denoiser(TINY_CONFIG).eval()
    assert not torch.allclose(with_attention.encoder(tokens)[:, 0], with_attention.encoder(changed)[:, 0])


def test_separate_networks_route_rows_by_their_condition_mask() -> None:
    torch.manual_seed(0)
    uncond, cond = Denoiser(TINY_CONFIG).eval(), Denoiser(TINY_CONFIG).eval()
    routed = SeparateDenoisers(uncond, cond)
    x, t, c, mask = _inputs(8)
    with torch.no_grad():
        out = routed(x, t, c, mask)
        torch.testing.assert_close(out[mask], cond(x, t, c, mask)[mask])
        torch.testing.assert_close(out[~mask], uncond(x, t, c, mask)[~mask])


def test_the_joint_model_denoises_both_hands_and_samples_two_hand_scenes(tmp_path: Path) -> None:
    config = DenoiserConfig.from_dict({**TINY_CONFIG.to_dict(), "num_hands": 2})
    torch.manual_seed(0)
    denoiser = Denoiser(config).eval()
    x, t, c, _ = _inputs(4, 128)
    assert denoiser(x, t, c, torch.zeros(4, dtype=torch.bool)).shape == (4, 128)
    with pytest.raises(ValueError, match=r"x_t must be \(B, 128\)"):
        denoiser(x[:, :64], t, c, torch.zeros(4, dtype=torch.bool))
    path = save_prior(tmp_path / "joint", denoiser, tiny_normalizer(), config, TINY_DIFFUSION)
    model = InterHandGen.from_pretrained(path)
    assert isinstance(model.sampler(SamplerConfig(ddim_steps=3)), JointSampler)
    samples = model.sample(5, seed=0, ddim_steps=3)
    assert samples.left_vertices.shape[0] == 5 and torch.isfinite(samples.right_vertices).all()
    # The anchor is the left hand in its canonical frame, as in the cascade.
    torch.testing.assert_close(samples.left.translation, torch.zeros(5, 3))


def test_the_joint_model_trains_only_without_a_hand_condition(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"p_uncond must be 1\.0 for the joint model"):
        TrainConfig(train_data=tmp_path / "x.npz", p_uncond=0.5, model=DenoiserConfig(num_hands=2))


def test_separate_priors_sample_as_one_cascade_and_need_the_same_data(tmp_path: Path) -> None:
    first = write_tiny_prior(tmp_path, "uncond", seed=0)
    second = write_tiny_prior(tmp_path, "cond", seed=1)
    model = InterHandGen.from_separate(first, second)
    samples = model.sample(4, seed=0, ddim_steps=3)
    assert torch.isfinite(samples.right_vertices).all()
    other = save_prior(
        tmp_path / "other",
        Denoiser(TINY_CONFIG),
        type(tiny_normalizer())(torch.ones(64), torch.ones(64)),
        TINY_CONFIG,
        TINY_DIFFUSION,
    )
    with pytest.raises(ConfigError, match="trained on different data"):
        InterHandGen.from_separate(first, other)


def test_the_vae_learns_saves_and_samples(tmp_path: Path) -> None:
    data = write_hands(tmp_path / "train.npz", 120, 0)
    config = VaeTrainConfig(
        train_data=data,
        val_data=data,
        epochs=60,
        batch_size=32,
        vae=VaeConfig(hidden_dim=32, encoder_layers=2, decoder_layers=2),
    )
    path = train_vae(config, tmp_path / "vae", progress=False)
    vae = load_vae(path)
    right, left = load_hand_pair("procedural", None)
    left_hands, right_hands = vae.sample(6, torch.Generator().manual_seed(0))
    assert left_hands.batch_size == 6 and torch.isfinite(right_hands.translation).all()
    torch.testing.assert_close(left_hands.translation, torch.zeros(6, 3))
    # Trained: reconstruction of the training set beats an untrained VAE of the same size.
    from interhandgen_core.data.dataset import TwoHandPairs
    from interhandgen_core.training.loss import model_inputs

    pairs = TwoHandPairs.from_file(data)
    x = model_inputs(2, *pairs[torch.arange(len(pairs))])[0]
    torch.manual_seed(0)
    fresh = TwoHandVae(config.vae, pairs.normalizer)
    torch.manual_seed(1)
    trained_loss = float(vae_loss(vae, x))
    torch.manual_seed(1)
    assert trained_loss < 0.8 * float(vae_loss(fresh, x))
    del right, left
    save_vae(tmp_path / "again", vae)
    with pytest.raises(ConfigError, match="already holds"):
        train_vae(config, tmp_path / "vae", progress=False)
