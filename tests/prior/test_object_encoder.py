"""The PointNet++ SSG object encoder: shapes, invariances, batch independence, gradients, null embedding."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from interhandgen_core.prior import object_encoder
from interhandgen_core.prior.configuration import ObjectEncoderConfig
from interhandgen_core.prior.object_encoder import ObjectEncoder

SMALL = ObjectEncoderConfig(
    num_points=128,
    min_points=16,
    centroids=(32, 8),
    radii=(0.04, 0.08),
    neighbors=(8, 8),
    mlps=((8, 16), (16, 32)),
    global_mlp=(32,),
    head=(32, 24),
)


def encoder(config: ObjectEncoderConfig = SMALL) -> ObjectEncoder:
    torch.manual_seed(0)
    return ObjectEncoder(config)


def clouds(batch: int, num_points: int = 128, seed: int = 1) -> torch.Tensor:
    """Points on random ellipsoids of 4-15 cm semi-axes, centred at the origin (the object frame)."""
    gen = torch.Generator().manual_seed(seed)
    directions = torch.randn(batch, num_points, 3, generator=gen)
    directions = directions / directions.norm(dim=-1, keepdim=True)
    axes = torch.rand(batch, 1, 3, generator=gen) * 0.11 + 0.04
    points = directions * axes
    return points - points.mean(dim=1, keepdim=True)


@pytest.mark.parametrize(
    "config",
    [SMALL, dataclasses.replace(SMALL, centroids=(16,), radii=(0.05,), neighbors=(4,), mlps=((8,),))],
    ids=["two_levels", "one_level"],
)
def test_output_shape_dtype_and_finite(config: ObjectEncoderConfig) -> None:
    model = encoder(config).eval()
    out = model(clouds(5))
    assert out.shape == (5, config.out_dim) and out.dtype == torch.float32
    assert torch.isfinite(out).all()
    assert model.out_dim == config.head[-1]


def test_eval_output_is_deterministic() -> None:
    model = encoder().eval()
    points = clouds(4)
    assert torch.equal(model(points), model(points))


def test_invariant_to_the_order_of_points_after_the_first() -> None:
    # Which points FPS picks depends on the start point (index 0), and a ball holding more than K
    # points keeps its first K in index order, so a shuffle changes the output in general. With
    # point 0 kept in place FPS chooses the same centres in the same order (ties have probability
    # 0 on random clouds), so levels 2+ see identically ordered inputs; with K = num_points at
    # level 1 no ball is truncated, so each level-1 group holds the same set of points and the
    # per-point MLP + max-pool gives the same feature. The output must then be unchanged.
    config = dataclasses.replace(SMALL, neighbors=(SMALL.num_points, 8))
    model = encoder(config).eval()
    points = clouds(3)
    gen = torch.Generator().manual_seed(2)
    order = torch.cat([torch.zeros(1, dtype=torch.long), 1 + torch.randperm(config.num_points - 1, generator=gen)])
    expected = model(points)
    torch.testing.assert_close(model(points[:, order]), expected, rtol=0.0, atol=1e-5)
    # Control: moving point 0 too moves FPS's start, hence the centres, and the output changes.
    moved = torch.roll(points, shifts=1, dims=1)
    assert not torch.allclose(model(moved), expected, atol=1e-4)


def test_sample_does_not_depend_on_batch_mates() -> None:
    model = encoder().eval()
    points = clouds(6)
    full = model(points)
    mixed = model(torch.cat([points[:3], clouds(3, seed=9)]))
    torch.testing.assert_close(mixed[:3], full[:3], rtol=1e-5, atol=1e-6)
    alone = model(points[4:5])
    torch.testing.assert_close(alone, full[4:5], rtol=1e-5, atol=1e-6)
    assert not torch.allclose(mixed[3:], full[3:])


def test_different_objects_give_different_features() -> None:
    model = encoder().eval()
    points = clouds(2)
    out = model(points)
    assert not torch.allclose(out[0], out[1], atol=1e-4)
    assert not torch.allclose(model(points * 1.5), out, atol=1e-4)  # size matters for grasping


def test_gradients_reach_every_parameter_and_the_points() -> None:
    model = encoder().train()
    points = clouds(4).requires_grad_(True)
    keep = torch.tensor([True, False, True, True])
    model.drop(model(points), keep).square().sum().backward()
    for name, parameter in model.named_parameters():
        assert parameter.grad is not None, name
        assert torch.isfinite(parameter.grad).all() and parameter.grad.abs().sum() > 0, name
    assert points.grad is not None and points.grad[keep].abs().sum() > 0
    assert points.grad[~keep].abs().sum() == 0  # a dropped row does not see its object


def test_wrong_inputs_raise_value_error() -> None:
    model = encoder()
    points = clouds(2)
    for bad in (points[:, :-1], torch.cat([points, points[:, :1]], dim=1), points[..., :2], points[0]):
        with pytest.raises(ValueError, match="num_points = 128"):
            model(bad)
    with pytest.raises(ValueError, match="floating-point"):
        model(points.long())
    embedding = model(points)
    with pytest.raises(ValueError, match="embedding"):
        model.drop(embedding[:, :-1], torch.ones(2, dtype=torch.bool))
    with pytest.raises(ValueError, match="keep"):
        model.drop(embedding, torch.ones(2))
    with pytest.raises(ValueError, match="keep"):
        model.drop(embedding, torch.ones(3, dtype=torch.bool))
    with pytest.raises(ValueError, match="batch_size"):
        model.embed(points, 3)
    with pytest.raises(ValueError, match="batch_size"):
        model.embed(None, -1)


def test_drop_and_embed_use_the_null_embedding() -> None:
    model = encoder().eval()
    points = clouds(4)
    embedding = model(points)
    keep = torch.tensor([True, False, False, True])
    dropped = model.drop(embedding, keep)
    assert torch.equal(dropped[keep], embedding[keep])
    assert torch.equal(dropped[~keep], model.null_embedding.detach().expand(2, -1))
    assert torch.equal(model.drop(embedding, torch.ones(4, dtype=torch.bool)), embedding)
    assert torch.equal(model.embed(points, 4), embedding)
    null = model.embed(None, 3)
    assert null.shape == (3, model.out_dim) and torch.equal(null[2], model.null_embedding.detach())


def test_module_docstring_states_the_default_parameter_count() -> None:
    # The module docstring documents the default config; when the defaults change, update it.
    count = encoder(ObjectEncoderConfig()).num_parameters()
    assert f"default config: {count:,}" in (object_encoder.__doc__ or "")


def test_paper_sized_parameter_count() -> None:
    paper = ObjectEncoderConfig(
        num_points=1024,
        centroids=(512, 128),
        radii=(0.04, 0.08),
        neighbors=(32, 64),
        mlps=((64, 64, 128), (128, 128, 256)),
        global_mlp=(256, 512, 1024),
        head=(512, 512),
    )
    assert encoder(paper).num_parameters() == 1_595_712  # also stated in the module docstring


def test_default_config_runs_on_a_batch_of_64() -> None:
    config = ObjectEncoderConfig()
    model = encoder(config).eval()
    with torch.no_grad():
        out = model(clouds(64, config.num_points))
    assert out.shape == (64, config.out_dim) and torch.isfinite(out).all()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu() -> None:
    model = encoder().eval()
    points = clouds(8)
    expected = model(points)
    torch.testing.assert_close(model.cuda()(points.cuda()).cpu(), expected, rtol=1e-4, atol=1e-5)
