"""MANO's parameters <-> HandParams: the same mesh as smplx's MANO layer, with the mean pose and transl conventions."""

from __future__ import annotations

from pathlib import Path

import pytest
import smplx
import torch
from dataset_formats import random_world_scenes, write_mano_dir

from interhandgen_core.errors import DataError
from interhandgen_core.hands.layer import HandLayer
from interhandgen_core.hands.loading import load_hand_pair
from interhandgen_core.hands.mano_params import ManoParams, hand_params_to_mano, mano_to_hand_params
from interhandgen_core.hands.mano_pickle import MANO_FILE_NAMES


@pytest.mark.parametrize("side", ["right", "left"])
def test_converted_params_give_smplx_mano_mesh(side: str, tmp_path: Path) -> None:
    folder = write_mano_dir(tmp_path / "mano", seed=3)
    right, left = load_hand_pair("mano", folder)
    layer = HandLayer(right if side == "right" else left)
    assert layer.hands_mean.abs().max() > 0.1  # the fixture has a real mean pose to get wrong
    g = torch.Generator().manual_seed(1)
    n = 6
    mano = ManoParams(
        torch.randn(n, 3, generator=g),
        0.3 * torch.randn(n, 45, generator=g),
        torch.randn(n, 10, generator=g),
        torch.randn(n, 3, generator=g),
    )
    reference = smplx.MANO(
        model_path=str(folder / MANO_FILE_NAMES[side]),  # type: ignore[arg-type]
        is_rhand=side == "right",
        use_pca=False,
        flat_hand_mean=False,
        num_betas=10,
    )
    with torch.no_grad():
        expected = reference(
            global_orient=mano.global_orient, hand_pose=mano.hand_pose, betas=mano.betas, transl=mano.transl
        ).vertices
        hand = mano_to_hand_params(layer, mano)
        ours = layer(hand).vertices
    error = (ours - expected).norm(dim=-1).max().item()
    print(f"\n[{side}] smplx MANO (flat_hand_mean=False) vs converted HandParams: max vertex error {error:.2e} m")
    assert error < 1e-5


def test_round_trip_is_identity(tmp_path: Path) -> None:
    right, _ = load_hand_pair("mano", write_mano_dir(tmp_path / "mano"))
    layer = HandLayer(right)
    hand, _ = random_world_scenes(5, seed=2)
    back = mano_to_hand_params(layer, hand_params_to_mano(layer, hand))
    for name in ("pose", "betas", "rotation", "translation"):
        torch.testing.assert_close(getattr(back, name), getattr(hand, name), atol=1e-5, rtol=0)


def test_flat_hand_mean_ignores_the_mean(tmp_path: Path) -> None:
    right, _ = load_hand_pair("mano", write_mano_dir(tmp_path / "mano"))
    layer = HandLayer(right)
    hand, _ = random_world_scenes(2, seed=4)
    flat = hand_params_to_mano(layer, hand, flat_hand_mean=True)
    torch.testing.assert_close(flat.hand_pose, hand.pose)
    shifted = hand_params_to_mano(layer, hand)
    torch.testing.assert_close(shifted.hand_pose, hand.pose - layer.hands_mean)


def test_wrong_shape_is_refused() -> None:
    with pytest.raises(DataError, match="'hand_pose' has shape"):
        ManoParams(torch.zeros(2, 3), torch.zeros(2, 48), torch.zeros(2, 10), torch.zeros(2, 3))
