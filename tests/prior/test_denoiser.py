from __future__ import annotations

import pytest
import torch

from interhandgen_core.prior.configuration import DenoiserConfig
from interhandgen_core.prior.denoiser import Denoiser, sinusoidal_time_embedding

TINY = {"embed_dim": 16, "hidden_dim": 32, "num_heads": 2, "num_layers": 1, "ff_dim": 32, "decoder_layers": 4}


def tiny(**overrides: object) -> Denoiser:
    torch.manual_seed(0)
    return Denoiser(DenoiserConfig.from_dict({"preset": "custom", **TINY, **overrides}))


def inputs(batch: int, seed: int = 1) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x_t = torch.randn(batch, 64, generator=g)
    t = torch.randint(0, 256, (batch,), generator=g)
    cond = torch.randn(batch, 64, generator=g)
    mask = torch.rand(batch, generator=g) > 0.5
    return x_t, t, cond, mask


def test_output_shape_and_finite() -> None:
    model = tiny().eval()
    out = model(*inputs(5))
    assert out.shape == (5, 64) and torch.isfinite(out).all()


def test_sample_does_not_depend_on_batch_mates() -> None:
    # The authors' encoder attended across the batch; ours must not.
    model = tiny(num_layers=2).eval()
    x_t, t, cond, mask = inputs(8)
    full = model(x_t, t, cond, mask)
    other_x, other_t, other_cond, other_mask = inputs(8, seed=7)
    x_t2 = torch.cat([x_t[:3], other_x[3:]])
    mask2 = torch.cat([mask[:3], other_mask[3:]])
    mixed = model(x_t2, torch.cat([t[:3], other_t[3:]]), torch.cat([cond[:3], other_cond[3:]]), mask2)
    torch.testing.assert_close(mixed[:3], full[:3])
    alone = model(x_t[2:3], t[2:3], cond[2:3], mask[2:3])
    torch.testing.assert_close(alone, full[2:3], rtol=1e-5, atol=1e-6)
    assert not torch.allclose(mixed[3:], full[3:])


def test_condition_ignored_when_dropped() -> None:
    model = tiny().eval()
    x_t, t, cond, _ = inputs(6)
    dropped = torch.zeros(6, dtype=torch.bool)
    a = model(x_t, t, cond, dropped)
    b = model(x_t, t, torch.randn(6, 64) * 10, dropped)
    c = model(x_t, t, torch.full((6, 64), float("nan")), dropped)
    torch.testing.assert_close(a, b)
    torch.testing.assert_close(a, c)
    kept = model(x_t, t, cond, ~dropped)
    assert not torch.allclose(a, kept)


def test_time_changes_output() -> None:
    model = tiny().eval()
    x_t, t, cond, mask = inputs(4)
    assert not torch.allclose(model(x_t, t, cond, mask), model(x_t, (t + 50) % 256, cond, mask))


def test_gradients_reach_every_parameter() -> None:
    model = tiny(object_embedding_dim=8).train()
    x_t, t, cond, mask = inputs(16)
    mask[:2] = torch.tensor([True, False])
    out = model(x_t.requires_grad_(), t, cond, mask, torch.randn(16, 8))
    out.square().mean().backward()
    assert x_t.grad is not None and x_t.grad.abs().sum() > 0
    for name, param in model.named_parameters():
        assert param.grad is not None and param.grad.abs().sum() > 0, name


def test_object_token_path() -> None:
    model = tiny(object_embedding_dim=8).eval()
    assert model.num_tokens == 4
    x_t, t, cond, mask = inputs(3)
    obj = torch.randn(3, 8)
    out = model(x_t, t, cond, mask, obj)
    assert out.shape == (3, 64)
    assert not torch.allclose(out, model(x_t, t, cond, mask, obj + 1.0))
    with pytest.raises(ValueError, match="object_embedding"):
        model(x_t, t, cond, mask)
    with pytest.raises(ValueError, match="object_embedding"):
        tiny()(x_t, t, cond, mask, obj)


def test_decoder_layer_widths_follow_s43() -> None:
    model = tiny(decoder_layers=5)
    widths = [layer.in_features for layer in model.decoder]
    # hidden + emb_xl + emb_t, plus emb_xt on the 1st, 3rd, 5th layers.
    assert widths == [32 + 32 + 16, 32 + 32, 32 + 32 + 16, 32 + 32, 32 + 32 + 16]
    assert model.decoder[-1].out_features == 64


def test_bad_input_shape() -> None:
    model = tiny()
    x_t, t, cond, mask = inputs(2)
    with pytest.raises(ValueError, match=r"\(B, 64\)"):
        model(x_t[:, :63], t, cond, mask)


def test_sinusoidal_embedding() -> None:
    emb = sinusoidal_time_embedding(torch.tensor([0, 5, 255]), 16)
    assert emb.shape == (3, 16)
    torch.testing.assert_close(emb[0], torch.cat([torch.zeros(8), torch.ones(8)]))
    assert emb[1, 0] == pytest.approx(torch.sin(torch.tensor(5.0)).item())


@pytest.mark.parametrize(("preset", "expected"), [("small", 3_539_776), ("paper", 55_342_096)])
def test_preset_parameter_counts(preset: str, expected: int) -> None:
    with torch.device("meta"):
        model = Denoiser(DenoiserConfig.from_preset(preset))
    assert model.num_parameters() == expected
