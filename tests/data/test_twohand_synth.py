"""The synthetic two-hand generator: accepted samples touch, do not interpenetrate, are reproducible and summarised."""

from __future__ import annotations

import pytest
import torch

from interhandgen_core.contact.interaction import interaction_statistics, measure_interaction
from interhandgen_core.data.twohand_synth import INTERACTION_KINDS, TwoHandSet, TwoHandSynthConfig, TwoHandSynthesizer
from interhandgen_core.errors import ConfigError
from interhandgen_core.hands.hand_params import HandParams
from interhandgen_core.hands.layer import HandLayer
from interhandgen_core.hands.loading import load_hand_pair


@pytest.fixture(scope="module")
def synthesizer() -> TwoHandSynthesizer:
    right, left = load_hand_pair("procedural")
    return TwoHandSynthesizer(HandLayer(right), HandLayer(left))


def test_accepted_samples_are_plausible_and_in_the_anchor_frame(synthesizer: TwoHandSynthesizer) -> None:
    config = TwoHandSynthConfig(num=12, seed=3, chunk_size=16)
    result = synthesizer.generate(config, progress=False)
    assert result.left.batch_size == result.right.batch_size == 12
    assert torch.allclose(result.left.rotation, torch.eye(3).expand(12, 3, 3))
    assert torch.equal(result.left.translation, torch.zeros(12, 3))
    # Re-measure independently of the generator's own acceptance test.
    lv = synthesizer.left_layer(result.left).vertices
    rv = synthesizer.right_layer(result.right).vertices
    depth, gap = measure_interaction(lv.detach(), synthesizer.left_faces, rv.detach(), synthesizer.right_faces)
    assert float(depth.max()) <= config.max_penetration_m + 1e-6
    assert float(gap.max()) <= config.max_gap_m + 1e-6
    assert result.attempts >= 12


def test_same_seed_same_data(synthesizer: TwoHandSynthesizer) -> None:
    config = TwoHandSynthConfig(num=4, seed=11, chunk_size=8, kinds=("stacked", "palm_to_palm"))
    a = synthesizer.generate(config, progress=False)
    b = synthesizer.generate(config, progress=False)
    assert torch.equal(a.right.to_vector(), b.right.to_vector())
    assert set(a.kind.tolist()) <= {INTERACTION_KINDS.index("stacked"), INTERACTION_KINDS.index("palm_to_palm")}


def test_optimisation_removes_penetration(synthesizer: TwoHandSynthesizer) -> None:
    """Without optimisation the templates interpenetrate or float apart; with it they mostly pass."""
    raw = TwoHandSynthConfig(num=1, seed=5, chunk_size=32, iterations=0)
    tuned = TwoHandSynthConfig(num=1, seed=5, chunk_size=32)
    gen = torch.Generator().manual_seed(0)
    kind = torch.randint(len(INTERACTION_KINDS), (32,), generator=gen)

    def passing(config: TwoHandSynthConfig) -> float:
        left, right = synthesizer._chunk(kind, torch.Generator().manual_seed(1), config)
        lv = synthesizer.left_layer(left).vertices.detach()
        rv = synthesizer.right_layer(right).vertices.detach()
        depth, gap = measure_interaction(lv, synthesizer.left_faces, rv, synthesizer.right_faces)
        return float(((depth <= config.max_penetration_m) & (gap <= config.max_gap_m)).float().mean())

    assert passing(tuned) > passing(raw) + 0.2


def test_config_is_validated() -> None:
    with pytest.raises(ConfigError, match="num"):
        TwoHandSynthConfig(num=0)
    with pytest.raises(ConfigError, match="unknown interaction kinds"):
        TwoHandSynthConfig(num=1, kinds=("juggling",))


def _rest_hands(n: int) -> HandParams:
    return HandParams(torch.zeros(n, 45), torch.zeros(n, 10), torch.eye(3).expand(n, 3, 3), torch.zeros(n, 3))


def test_summary_counts_every_kind_and_states_the_acceptance() -> None:
    kind = torch.tensor([INTERACTION_KINDS.index("stacked"), INTERACTION_KINDS.index("handshake")] * 2)
    depth = torch.tensor([0.0, 0.001, 0.0, 0.002])
    gap = torch.tensor([0.001, 0.0, 0.03, 0.0])
    samples = TwoHandSet(_rest_hands(4), _rest_hands(4), kind, 10, depth, gap)
    summary = samples.summary(TwoHandSynthConfig(num=4, seed=7), "procedural")

    assert list(summary) == ["num", "seed", "attempts", "acceptance_ratio", "kinds", "statistics", "hand_model"]
    assert (summary["num"], summary["seed"], summary["attempts"]) == (4, 7, 10)
    assert summary["acceptance_ratio"] == 0.4 and summary["hand_model"] == "procedural"
    assert list(summary["kinds"]) == list(INTERACTION_KINDS)  # every kind, in order, zeros included
    assert summary["kinds"]["stacked"] == summary["kinds"]["handshake"] == 2 and sum(summary["kinds"].values()) == 4
    assert summary["statistics"] == interaction_statistics(depth, gap).as_dict() == samples.statistics().as_dict()
    assert summary["statistics"]["penetrating_ratio"] == 0.5 and summary["statistics"]["proximity_ratio"] == 0.75
