"""Cascaded sampler (Algorithm 2): batched passes against per-sample and separate-pass references."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from interhandgen_core.errors import Cancelled
from interhandgen_core.hands.hand_params import HAND_DIM, HandParams
from interhandgen_core.hands.layer import HandLayer
from interhandgen_core.prior.configuration import DenoiserConfig, DiffusionConfig, SamplerConfig
from interhandgen_core.prior.denoiser import Denoiser
from interhandgen_core.prior.representation import Normalizer
from interhandgen_core.prior.sampler import AnchorHand, CascadedSampler
from interhandgen_core.prior.schedule import DiffusionSchedule

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from conftest import build_synthetic_asset


@pytest.fixture(scope="module")
def parts() -> tuple[Denoiser, DiffusionSchedule, Normalizer, HandLayer, HandLayer]:
    torch.manual_seed(0)
    denoiser = Denoiser(DenoiserConfig(preset="custom", embed_dim=16, hidden_dim=32, num_heads=2, ff_dim=32)).eval()
    schedule = DiffusionSchedule(DiffusionConfig(num_timesteps=64))
    mean = torch.zeros(HAND_DIM)
    std = torch.full((HAND_DIM,), 0.3)
    std[61:] = 0.05  # translations in metres
    asset = build_synthetic_asset(seed=0)
    return denoiser, schedule, Normalizer(mean, std), HandLayer(asset), HandLayer(asset.mirrored())


def make_sampler(parts: tuple, config: SamplerConfig, calls: list[int] | None = None) -> CascadedSampler:
    denoiser, schedule, normalizer, right, left = parts

    def denoise(
        x: torch.Tensor, t: torch.Tensor, c: torch.Tensor, m: torch.Tensor, o: torch.Tensor | None
    ) -> torch.Tensor:
        if calls is not None:
            calls.append(x.shape[0])
        return denoiser(x, t, c, m, o)

    return CascadedSampler(denoise, schedule, normalizer, right, left, config)


def test_same_seed_same_samples(parts: tuple) -> None:
    sampler = make_sampler(parts, SamplerConfig(ddim_steps=4))
    a = sampler.sample(3, torch.Generator().manual_seed(7), torch.device("cpu"))
    b = sampler.sample(3, torch.Generator().manual_seed(7), torch.device("cpu"))
    c = sampler.sample(3, torch.Generator().manual_seed(8), torch.device("cpu"))
    assert torch.equal(a[1].to_vector(), b[1].to_vector())
    assert not torch.allclose(a[1].to_vector(), c[1].to_vector())


def test_anchor_is_canonical_left_hand(parts: tuple) -> None:
    sampler = make_sampler(parts, SamplerConfig(ddim_steps=4))
    left, _ = sampler.sample(4, torch.Generator().manual_seed(0), torch.device("cpu"))
    assert torch.allclose(left.rotation, torch.eye(3).expand(4, 3, 3))
    assert torch.equal(left.translation, torch.zeros(4, 3))


def test_cfg_runs_cond_and_uncond_in_one_call_and_matches_separate_calls(parts: tuple) -> None:
    calls: list[int] = []
    config = SamplerConfig(ddim_steps=3, cfg_weight=0.5, penetration_guidance_weight=0.0)
    sampler = make_sampler(parts, config, calls)
    anchor = sampler.sample_anchor(torch.randn(5, HAND_DIM, generator=torch.Generator().manual_seed(1)))
    cond, left = sampler.anchor_to_condition(anchor)
    calls.clear()
    batched = sampler.sample_other(torch.randn(5, HAND_DIM, generator=torch.Generator().manual_seed(2)), cond, left)
    assert calls == [10, 10, 10]  # one doubled batch per step

    # Reference: the conditional and unconditional predictions from two separate calls.
    denoiser, schedule, *_ = parts
    x = torch.randn(5, HAND_DIM, generator=torch.Generator().manual_seed(2))
    on, off = torch.ones(5, dtype=torch.bool), torch.zeros(5, dtype=torch.bool)
    with torch.no_grad():
        for t, t_prev in zip(*schedule.ddim_timestep_pairs(3), strict=True):
            tt = t.expand(5)
            eps_c = schedule.eps_from_x0(x, tt, denoiser(x, tt, cond, on, None))
            eps_u = schedule.eps_from_x0(x, tt, denoiser(x, tt, cond, off, None))
            x = schedule.ddim_step(x, tt, t_prev, 1.5 * eps_c - 0.5 * eps_u)
    assert torch.allclose(batched, x, atol=1e-5)


def test_batched_guidance_step_matches_per_sample_steps(parts: tuple) -> None:
    """One anti-penetration step on a batch equals the same step on each sample alone.

    Whole guided chains are not compared: under a random network the nearest-vertex test
    of Eq. 8 is discontinuous, so 1e-8 rounding differences between batch sizes can flip a
    vertex pair and grow over steps. The step itself is where batching could go wrong.
    """
    sampler = make_sampler(parts, SamplerConfig(ddim_steps=4, penetration_guidance_weight=4.0))
    gen = torch.Generator().manual_seed(3)
    _, left = sampler.anchor_to_condition(sampler.sample_anchor(torch.randn(6, HAND_DIM, generator=gen)))
    with torch.no_grad():
        left_vertices = sampler.left_layer(left).vertices
    # A right hand placed onto the anchor so that the meshes interpenetrate.
    x = 0.3 * torch.randn(6, HAND_DIM, generator=gen)
    eps = torch.randn(6, HAND_DIM, generator=gen)
    t_prev = torch.tensor(5)
    faces = sampler.left_layer.faces
    batched = sampler._guide(x, t_prev, eps, AnchorHand.of(left_vertices, faces, with_trees=False), None, 4.0)
    assert not torch.allclose(batched, x)  # the step did something
    single = torch.cat(
        [
            sampler._guide(
                x[i : i + 1], t_prev, eps[i : i + 1], AnchorHand.of(left_vertices[i : i + 1], faces, False), None, 4.0
            )
            for i in range(6)
        ]
    )
    assert torch.allclose(batched, single, atol=1e-5)
    # The anchor with its normals and k-d trees made once per chain (sample_other): the same step.
    anchor = AnchorHand.of(left_vertices, sampler.left_layer.faces)
    assert anchor.trees is not None
    assert torch.allclose(sampler._guide(x, t_prev, eps, anchor, None, 4.0), batched, atol=1e-6)


def test_batched_capsule_guidance_step_matches_per_sample_steps(parts: tuple) -> None:
    """The capsule term (hand_guidance "capsules"): one step on a batch equals the same step on each sample."""
    sampler = make_sampler(parts, SamplerConfig(ddim_steps=4, hand_guidance="capsules"))
    gen = torch.Generator().manual_seed(3)
    _, left = sampler.anchor_to_condition(sampler.sample_anchor(torch.randn(6, HAND_DIM, generator=gen)))
    anchor = sampler.anchor_hand(left)
    assert anchor.capsules is not None and anchor.trees is None and anchor.normals is None
    x = 0.3 * torch.randn(6, HAND_DIM, generator=gen)
    eps = torch.randn(6, HAND_DIM, generator=gen)
    t_prev = torch.tensor(5)
    batched = sampler._guide(x, t_prev, eps, anchor, None, 4.0)
    assert not torch.allclose(batched, x)
    single = torch.cat(
        [
            sampler._guide(
                x[i : i + 1], t_prev, eps[i : i + 1], sampler.anchor_hand(left.select(slice(i, i + 1))), None, 4.0
            )
            for i in range(6)
        ]
    )
    assert torch.allclose(batched, single, atol=1e-5)


def test_final_guidance_steps_separate_the_finished_hands(parts: tuple) -> None:
    """final_guidance_steps: steps on the returned hands that lower the capsule penetration they guide by."""
    from interhandgen_core.contact.penetration import capsule_penetration_loss

    def penetration(sampler: CascadedSampler, x: torch.Tensor, anchor: AnchorHand) -> torch.Tensor:
        with torch.no_grad():
            out = sampler.right_layer(HandParams.from_vector(sampler.normalizer.denormalize(x)))
            capsules = sampler.capsule_proxies()[0](out.keypoints, out.vertices)
            assert anchor.capsules is not None
            return capsule_penetration_loss(out.vertices, capsules, anchor.vertices, anchor.capsules)

    config = SamplerConfig(ddim_steps=4, hand_guidance="capsules", penetration_max_step=0.05)
    none, some = (make_sampler(parts, replace(config, final_guidance_steps=k)) for k in (0, 8))
    gen = torch.Generator().manual_seed(5)
    _, left = none.anchor_to_condition(none.sample_anchor(torch.randn(6, HAND_DIM, generator=gen)))
    x = 0.3 * torch.randn(6, HAND_DIM, generator=gen)  # right hands placed onto the anchors
    anchor = none.anchor_hand(left)
    assert torch.equal(none._guide_finished(x, anchor, None), x)
    unguided = make_sampler(parts, replace(config, final_guidance_steps=8, penetration_guidance_weight=0.0))
    assert torch.equal(unguided._guide_finished(x, anchor, None), x)  # no guidance: no final steps either
    moved = some._guide_finished(x, anchor, None)
    before, after = penetration(none, x, anchor), penetration(none, moved, anchor)
    assert (before > 0).sum() >= 3  # the test has penetrating samples to act on
    assert torch.all(after <= before + 1e-6)
    assert after.sum() < 0.5 * before.sum()
    assert torch.all((moved - x).norm(dim=-1) <= 8 * 0.05 + 1e-5)  # each step within the trust region


def test_hand_guidance_names_a_known_term() -> None:
    from interhandgen_core.errors import ConfigError

    with pytest.raises(ConfigError, match="hand_guidance"):
        SamplerConfig(hand_guidance="spheres")


def test_unguided_chain_is_batch_independent(parts: tuple) -> None:
    sampler = make_sampler(parts, SamplerConfig(ddim_steps=4, penetration_guidance_weight=0.0))
    cond, left = sampler.anchor_to_condition(
        sampler.sample_anchor(torch.randn(4, HAND_DIM, generator=torch.Generator().manual_seed(3)))
    )
    noise = torch.randn(4, HAND_DIM, generator=torch.Generator().manual_seed(4))
    batched = sampler.sample_other(noise, cond, left)
    single = torch.cat(
        [sampler.sample_other(noise[i : i + 1], cond[i : i + 1], left.select(slice(i, i + 1))) for i in range(4)]
    )
    assert torch.allclose(batched, single, atol=1e-5)


def test_guidance_changes_penetrating_samples_only_when_enabled(parts: tuple) -> None:
    off = make_sampler(parts, SamplerConfig(ddim_steps=4, penetration_guidance_weight=0.0))
    on = make_sampler(parts, SamplerConfig(ddim_steps=4, penetration_guidance_weight=50.0))
    anchor = off.sample_anchor(torch.randn(6, HAND_DIM, generator=torch.Generator().manual_seed(5)))
    cond, left = off.anchor_to_condition(anchor)
    noise = torch.randn(6, HAND_DIM, generator=torch.Generator().manual_seed(6))
    a = off.sample_other(noise, cond, left)
    b = on.sample_other(noise, cond, left)
    assert not torch.allclose(a, b)
    assert on.penetration_weights()[-1] == pytest.approx(50.0)
    assert on.penetration_weights()[0] == pytest.approx(50.0 * 0.9**3)


def test_guidance_step_is_bounded_by_the_trust_region(parts: tuple) -> None:
    # The configurations only set the trust region; _guide takes its weight (1e4, beyond the
    # configurable range, to force steps far past the region) as an argument.
    bounded = make_sampler(
        parts, SamplerConfig(ddim_steps=4, penetration_guidance_weight=1e3, penetration_max_step=0.2)
    )
    unbounded = make_sampler(
        parts, SamplerConfig(ddim_steps=4, penetration_guidance_weight=1e3, penetration_max_step=float("inf"))
    )
    gen = torch.Generator().manual_seed(9)
    _, left = bounded.anchor_to_condition(bounded.sample_anchor(torch.randn(6, HAND_DIM, generator=gen)))
    anchor = bounded.anchor_hand(left, with_trees=False)
    x = 0.3 * torch.randn(6, HAND_DIM, generator=gen)
    eps = torch.randn(6, HAND_DIM, generator=gen)
    t_prev = torch.tensor(5)
    small = (bounded._guide(x, t_prev, eps, anchor, None, 1e4) - x).norm(dim=-1)
    large = (unbounded._guide(x, t_prev, eps, anchor, None, 1e4) - x).norm(dim=-1)
    moved = large > 0
    assert moved.any()
    assert torch.all(small <= 0.2 + 1e-5)
    assert torch.all(small[moved] < large[moved])


def test_trust_region_must_be_positive() -> None:
    from interhandgen_core.errors import ConfigError

    with pytest.raises(ConfigError, match="penetration_max_step"):
        SamplerConfig(penetration_max_step=0.0)


def test_an_object_condition_builds_its_cloud_tree_once() -> None:
    from interhandgen_core.geometry.mirroring import mirror_points
    from interhandgen_core.prior.sampler import ObjectCondition

    g = torch.Generator().manual_seed(0)
    points = torch.randn(256, 3, generator=g) * 0.05
    normals = torch.nn.functional.normalize(points, dim=-1)
    embedding = torch.zeros(1, 8)
    first = ObjectCondition(embedding, embedding, points, normals, float("inf"))
    assert first.distance is not None
    # Given its tree, as the cascade rebuilds the condition from its tensors, it keeps it.
    again = ObjectCondition(embedding, embedding, points, normals, float("inf"), first.distance)
    assert again.distance is first.distance
    # Gamma(O)'s distance reads the mirrored cloud as the cloud's reads the cloud.
    mirrored = first.mirrored()
    queries = (torch.randn(1, 50, 3, generator=g) * 0.05).clamp(-0.1, 0.1)
    assert mirrored.distance is not None
    assert torch.allclose(mirrored.distance(mirror_points(queries)), first.distance(queries))


def test_guidance_steps_below_the_minimum_weight_are_skipped(parts: tuple) -> None:
    every = make_sampler(parts, SamplerConfig(ddim_steps=4, penetration_guidance_weight=2.0, penetration_min_weight=0))
    late = make_sampler(parts, SamplerConfig(ddim_steps=4, penetration_guidance_weight=2.0, penetration_min_weight=1.7))
    assert every.penetration_weights() == pytest.approx([2.0 * 0.9**3, 2.0 * 0.9**2, 1.8, 2.0])
    assert late.penetration_weights() == pytest.approx([0.0, 0.0, 1.8, 2.0])


def test_an_object_condition_shares_its_distance_grid_with_its_mirror_image() -> None:
    from interhandgen_core.geometry.mirroring import mirror_points
    from interhandgen_core.prior.sampler import ObjectCondition

    g = torch.Generator().manual_seed(1)
    points = torch.nn.functional.normalize(torch.randn(512, 3, generator=g), dim=-1) * 0.06
    embedding = torch.zeros(1, 8)
    first = ObjectCondition(embedding, embedding, points, points / 0.06, float("inf"))
    again = ObjectCondition(embedding, embedding, points, points / 0.06, float("inf"), first.distance)
    assert first.field is not None and again.field is first.field  # built once per tree
    mirrored = first.mirrored()
    queries = torch.randn(1, 40, 3, generator=g) * 0.05
    assert mirrored.field is not None and mirrored.field.values is first.field.values
    assert torch.allclose(mirrored.field(mirror_points(queries)), first.field(queries))
    guided = first.guidance_distance()
    assert guided is not None and first.settling_distance() is first.field


def test_should_stop_ends_sampling_between_denoising_steps(parts: tuple) -> None:
    """The cancel hook is asked before every DDIM step; True raises Cancelled before the next denoiser call."""
    calls: list[int] = []
    asked: list[int] = []

    def should_stop() -> bool:
        asked.append(len(calls))
        return len(calls) >= 3  # after three denoiser calls: the anchor's third step

    sampler = make_sampler(parts, SamplerConfig(ddim_steps=8, penetration_guidance_weight=0.0), calls)
    sampler.should_stop = should_stop
    with pytest.raises(Cancelled, match="before denoising step 4 of 8"):
        sampler.sample(2, torch.Generator().manual_seed(0), torch.device("cpu"))
    assert len(calls) == 3 and asked == [0, 1, 2, 3]
    # with_denoise keeps the hook (unless told not to), and a hook that never fires changes nothing
    assert sampler.with_denoise(sampler.denoise).should_stop is should_stop
    assert sampler.with_denoise(sampler.denoise, keep_stop=False).should_stop is None
    free = make_sampler(parts, SamplerConfig(ddim_steps=4))
    hooked = make_sampler(parts, SamplerConfig(ddim_steps=4))
    hooked.should_stop = lambda: False
    a = free.sample(2, torch.Generator().manual_seed(1), torch.device("cpu"))
    b = hooked.sample(2, torch.Generator().manual_seed(1), torch.device("cpu"))
    assert torch.equal(a[1].to_vector(), b[1].to_vector())
