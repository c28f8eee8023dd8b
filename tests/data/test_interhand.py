"""InterHand2.6M converter on fixture files in the published format: selection, conventions, round trip, summary,
bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from dataset_formats import random_world_scenes, write_interhand_split, write_mano_dir

from interhandgen_core.data import interhand
from interhandgen_core.data.interhand import convert_interhand_split
from interhandgen_core.errors import DataError
from interhandgen_core.hands.hand_params import HandParams
from interhandgen_core.hands.layer import HandLayer
from interhandgen_core.hands.loading import load_hand_pair


@pytest.fixture(scope="module")
def layers(tmp_path_factory: pytest.TempPathFactory) -> tuple[HandLayer, HandLayer]:
    right, left = load_hand_pair("mano", write_mano_dir(tmp_path_factory.mktemp("mano"), seed=5))
    return HandLayer(left), HandLayer(right)


def _vertices_in_left_frame(layers: tuple[HandLayer, HandLayer], left: HandParams, right: HandParams) -> torch.Tensor:
    """Both hands' vertices (N, 2V, 3), expressed in the left hand's frame (wrist origin, its root axes)."""
    with torch.no_grad():
        lv = layers[0](left).vertices
        rv = layers[1](right).vertices
    both = torch.cat([lv, rv], dim=1) - left.translation[:, None]
    return both @ left.rotation


def test_round_trip_gives_the_same_vertices(layers: tuple[HandLayer, HandLayer], tmp_path: Path) -> None:
    left, right = random_world_scenes(8, seed=11)
    fixture = write_interhand_split(tmp_path / "annotations", "train", layers, left, right, cameras=3)
    split = convert_interhand_split(tmp_path / "annotations", "train", *layers, work=tmp_path / "work", progress=False)

    assert [(int(c), int(f)) for c, f in zip(split.capture, split.frame, strict=True)] == fixture.frames
    assert split.num_images.tolist() == [3] * 8
    order = torch.as_tensor(fixture.scene_index)
    expected = _vertices_in_left_frame(layers, left.select(order), right.select(order))
    converted = _vertices_in_left_frame(layers, split.left, split.right)
    error = (converted - expected).norm(dim=-1).max().item()
    print(f"\nInterHand2.6M round trip: max vertex error {error:.2e} m over 8 scenes")
    assert error < 1e-5
    # The project's frame: the left hand canonical, as the synthetic generator writes it.
    torch.testing.assert_close(split.left.rotation, torch.eye(3).expand(8, 3, 3))
    torch.testing.assert_close(split.left.translation, torch.zeros(8, 3))


def test_every_skip_reason_is_counted(layers: tuple[HandLayer, HandLayer], tmp_path: Path) -> None:
    left, right = random_world_scenes(4, seed=12)
    write_interhand_split(tmp_path / "annotations", "val", layers, left, right, cameras=2)
    split = convert_interhand_split(tmp_path / "annotations", "val", *layers, work=tmp_path / "work", progress=False)
    counts = dict(split.skips.counts)
    assert counts == {
        interhand.NOT_INTERACTING: 4,  # the left-only and the right-only frame, 2 cameras each
        interhand.INVALID_HAND_TYPE: 2,
        interhand.UNKNOWN_IMAGE: 1,
        interhand.MISSING_HAND: 1,
        interhand.NON_FINITE_MANO: 1,
        interhand.MALFORMED_MANO: 1,
        interhand.NO_MANO_FIT: 1,
    }
    assert len(split.left.pose) == 4
    assert split.annotations == (4 + 7) * 2 + 1
    assert "capture 0 frame 90004" in split.skips.examples[interhand.NON_FINITE_MANO]


def test_per_image_repeats_each_frame_per_camera(layers: tuple[HandLayer, HandLayer], tmp_path: Path) -> None:
    left, right = random_world_scenes(4, seed=13)
    write_interhand_split(tmp_path / "annotations", "test", layers, left, right, cameras=3)
    split = convert_interhand_split(
        tmp_path / "annotations", "test", *layers, work=tmp_path / "work", per_image=True, progress=False
    )
    assert len(split.capture) == 12
    assert torch.equal(split.left.pose[0], split.left.pose[2])


def test_summary_counts_scenes_frames_and_skips(layers: tuple[HandLayer, HandLayer], tmp_path: Path) -> None:
    left, right = random_world_scenes(4, seed=16)
    write_interhand_split(tmp_path / "annotations", "val", layers, left, right, cameras=3)
    split = convert_interhand_split(
        tmp_path / "annotations", "val", *layers, work=tmp_path / "work", per_image=True, progress=False
    )
    summary = split.summary("val", True, "/models/mano")
    assert list(summary) == [
        "split",
        "annotations_read",
        "scenes",
        "frames",
        "per_image",
        "skipped",
        "hand_model",
        "frame",
    ]
    assert (summary["split"], summary["annotations_read"]) == ("val", split.annotations)
    assert (summary["scenes"], summary["frames"], summary["per_image"]) == (12, 4, True)  # 3 cameras per frame
    assert summary["skipped"] == split.skips.as_dict()
    assert {reason: entry["count"] for reason, entry in summary["skipped"].items()} == dict(split.skips.counts)
    assert summary["hand_model"] == "mano (/models/mano)" and summary["frame"] == interhand.INTERHAND_FRAME
    assert json.loads(json.dumps(summary)) == summary


def test_resumes_from_finished_captures(
    layers: tuple[HandLayer, HandLayer], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    left, right = random_world_scenes(6, seed=14)
    write_interhand_split(tmp_path / "annotations", "train", layers, left, right)
    work = tmp_path / "work"
    first = convert_interhand_split(tmp_path / "annotations", "train", *layers, work=work, progress=False)
    (work / "capture_7.npz").unlink()  # as if the run had stopped after capture 0

    reads: list[str] = []
    original = interhand.read_json

    def counting(path: Path, what: str) -> object:
        reads.append(path.name)
        return original(path, what)

    monkeypatch.setattr(interhand, "read_json", counting)
    again = convert_interhand_split(tmp_path / "annotations", "train", *layers, work=work, progress=False)
    assert reads == ["InterHand2.6M_train_MANO_NeuralAnnot.json"]  # the selection and capture 0 were kept
    torch.testing.assert_close(again.right.translation, first.right.translation)
    assert again.skips.counts == first.skips.counts

    # Another input file: the cache is not reused.
    fixture_mano = tmp_path / "annotations" / "train" / "InterHand2.6M_train_MANO_NeuralAnnot.json"
    fixture_mano.write_text(fixture_mano.read_text() + "\n")
    reads.clear()
    convert_interhand_split(tmp_path / "annotations", "train", *layers, work=work, progress=False)
    assert len(reads) == 2


def test_malformed_json_names_file_and_line(layers: tuple[HandLayer, HandLayer], tmp_path: Path) -> None:
    left, right = random_world_scenes(2, seed=15)
    fixture = write_interhand_split(tmp_path / "annotations", "train", layers, left, right)
    text = fixture.data_path.read_text().splitlines()
    text[5] = text[5] + " oops"
    fixture.data_path.write_text("\n".join(text))
    with pytest.raises(DataError, match=r"InterHand2.6M_train_data.json:6:\d+: malformed JSON"):
        convert_interhand_split(tmp_path / "annotations", "train", *layers, work=tmp_path / "work", progress=False)


def test_missing_files_and_wrong_layout_are_refused(layers: tuple[HandLayer, HandLayer], tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"InterHand2.6M_train_data.json: not found; --annotations"):
        convert_interhand_split(tmp_path, "train", *layers, work=tmp_path / "work", progress=False)
    with pytest.raises(DataError, match=r"unknown InterHand2.6M split 'dev'"):
        convert_interhand_split(tmp_path, "dev", *layers, work=tmp_path / "work", progress=False)
    folder = tmp_path / "train"
    folder.mkdir()
    (folder / "InterHand2.6M_train_data.json").write_text(json.dumps({"images": {}, "annotations": []}))
    (folder / "InterHand2.6M_train_MANO_NeuralAnnot.json").write_text("{}")
    with pytest.raises(DataError, match="no 'images' list"):
        convert_interhand_split(tmp_path, "train", *layers, work=tmp_path / "work", progress=False)


def test_nothing_usable_is_an_error(layers: tuple[HandLayer, HandLayer], tmp_path: Path) -> None:
    folder = tmp_path / "train"
    folder.mkdir()
    data = {
        "images": [{"id": 0, "capture": 1, "frame_idx": 2}],
        "annotations": [{"image_id": 0, "hand_type": "left", "hand_type_valid": 1}],
    }
    (folder / "InterHand2.6M_train_data.json").write_text(json.dumps(data))
    (folder / "InterHand2.6M_train_MANO_NeuralAnnot.json").write_text("{}")
    with pytest.raises(DataError, match=r"no interacting frame .* 1 annotations of a single hand"):
        convert_interhand_split(tmp_path, "train", *layers, work=tmp_path / "work", progress=False)
