"""ARCTIC converter on fixture files in the published format: frames, object articulation, round trip, summary and
grasp set, bad input."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from dataset_formats import (
    random_arctic_sequence,
    write_arctic_sequence,
    write_arctic_split,
    write_arctic_template,
    write_mano_dir,
)

from interhandgen_core.data import arctic
from interhandgen_core.data.arctic import ArcticConfig, convert_arctic_split
from interhandgen_core.data.grasp_synth import GraspSet
from interhandgen_core.errors import ConfigError, DataError
from interhandgen_core.geometry.distance import points_to_surface_distance
from interhandgen_core.geometry.rotations import axis_angle_to_matrix
from interhandgen_core.hands.layer import HandLayer
from interhandgen_core.hands.loading import load_hand_pair
from interhandgen_core.restricted_pickle import load_npy


@pytest.fixture(scope="module")
def layers(tmp_path_factory: pytest.TempPathFactory) -> tuple[HandLayer, HandLayer]:
    right, left = load_hand_pair("mano", write_mano_dir(tmp_path_factory.mktemp("mano"), seed=6))
    return HandLayer(left), HandLayer(right)


def _convert(root: Path, layers: tuple[HandLayer, HandLayer], split: str = "train", **kw: object) -> arctic.ArcticSplit:
    config = ArcticConfig(**{"cloud_points": 256, **kw})  # type: ignore[arg-type]
    return convert_arctic_split(root, split, *layers, work=root / f"work_{split}", config=config, progress=False)


def test_round_trip_gives_the_same_vertices_in_the_object_frame(
    layers: tuple[HandLayer, HandLayer], tmp_path: Path
) -> None:
    write_arctic_template(tmp_path, "box")
    write_arctic_template(tmp_path, "laptop")
    sequences = {
        "s01/box_grab_01": random_arctic_sequence(5, seed=1),
        "s02/laptop_use_03": random_arctic_sequence(4, 2),
    }
    write_arctic_sequence(tmp_path, "s01/box_grab_01", layers, sequences["s01/box_grab_01"])
    write_arctic_sequence(tmp_path, "s02/laptop_use_03", layers, sequences["s02/laptop_use_03"], per_frame_shape=True)
    write_arctic_split(tmp_path, {"train": list(sequences), "val": [], "test": []})
    split = _convert(tmp_path, layers)

    assert split.sequence.tolist() == ["s01/box_grab_01"] * 5 + ["s02/laptop_use_03"] * 4
    assert split.frame.tolist() == [0, 1, 2, 3, 4, 0, 1, 2, 3]
    assert split.kind.tolist() == [0] * 5 + [1] * 4
    assert [split.objects.family_names[int(f)] for f in split.objects.family[split.object_index]] == ["box"] * 5 + [
        "laptop"
    ] * 4
    left = torch.cat([sequences[s].left.pose for s in sequences])
    torch.testing.assert_close(split.left.pose, left)

    offset = split.objects.offset[split.object_index]
    errors = []
    for side, layer in (("left", layers[0]), ("right", layers[1])):
        source = [getattr(sequences[s], side) for s in sequences]
        with torch.no_grad():
            expected = torch.cat([layer(h).vertices for h in source])
            hand = getattr(split, side)
            ours = layer(hand).vertices
        errors.append((ours - (expected - offset[:, None])).norm(dim=-1).max().item())
    print(f"\nARCTIC round trip (template -> world -> files -> object frame): max vertex error {max(errors):.2e} m")
    assert max(errors) < 1e-5


def test_clouds_lie_on_the_articulated_template(layers: tuple[HandLayer, HandLayer], tmp_path: Path) -> None:
    vertices, faces, moving = write_arctic_template(tmp_path, "box")
    sequence = random_arctic_sequence(6, seed=3)
    write_arctic_sequence(tmp_path, "s01/box_use_01", layers, sequence)
    write_arctic_split(tmp_path, {"train": ["s01/box_use_01"]})
    split = _convert(tmp_path, layers, articulation_step_deg=2.0)

    step = math.radians(2.0)
    for row in range(6):
        instance = int(split.object_index[row])
        angle = float(split.objects.articulation[instance])
        assert abs(angle - float(sequence.articulation[row])) <= step / 2 + 1e-6
        # ARCTIC's object layer, by hand: the top part about (0, 0, -1) through the template origin.
        rotation = axis_angle_to_matrix(torch.tensor([0.0, 0.0, -angle], dtype=torch.float64)).numpy()
        posed = np.where(moving[:, None], vertices @ rotation.T, vertices)
        cloud = split.points[instance].double() + split.objects.offset[instance].double()
        distance = points_to_surface_distance(
            cloud, torch.zeros(len(cloud), dtype=torch.long), torch.as_tensor(posed)[None], torch.as_tensor(faces)
        )
        assert distance.max() < 1e-5
        assert split.points[instance].mean(0).abs().max() < 1e-5  # origin at the cloud's centroid
    np.testing.assert_allclose(split.articulation, sequence.articulation.double().numpy(), atol=1e-6)


def test_every_skip_reason_is_counted(layers: tuple[HandLayer, HandLayer], tmp_path: Path) -> None:
    write_arctic_template(tmp_path, "box")
    good = random_arctic_sequence(6, seed=4)
    write_arctic_sequence(tmp_path, "s01/box_grab_01", layers, good)
    nan = random_arctic_sequence(5, seed=5)
    nan.translation_mm[1, 0] = float("nan")
    nan.left.translation[3, 2] = float("nan")
    write_arctic_sequence(tmp_path, "s01/box_grab_02", layers, nan)
    base = write_arctic_sequence(tmp_path, "s02/box_use_01", layers, random_arctic_sequence(3, seed=6))
    np.save(f"{base}.object.npy", np.zeros((3, 6)))  # malformed: 6 columns
    base = write_arctic_sequence(tmp_path, "s02/box_use_02", layers, random_arctic_sequence(3, seed=7))
    np.save(f"{base}.object.npy", np.zeros((4, 7)))  # 4 object frames for 3 hand frames
    write_arctic_split(
        tmp_path,
        {
            "train": [
                "s01/box_grab_01",
                "s01/box_grab_02",
                "s02/box_use_01",
                "s02/box_use_02",
                "s03/box_grab_01",  # withheld subject: no files
                "s01/teapot_grab_01",  # no such object
                "s01/boxgrab",  # not a sequence name
            ]
        },
    )
    split = _convert(tmp_path, layers)
    counts = dict(split.skips.counts)
    assert counts == {
        arctic.NON_FINITE: 2,
        arctic.MALFORMED_SEQUENCE: 2,
        arctic.MISSING_FILES: 1,
        arctic.UNKNOWN_OBJECT: 1,
        arctic.BAD_NAME: 1,
    }
    assert split.frame.tolist() == [0, 1, 2, 3, 4, 5, 0, 2, 4]
    assert "s01/box_grab_02 frame 1" == split.skips.examples[arctic.NON_FINITE]
    assert "expected a (T, 7) number array" in split.skips.examples[arctic.MALFORMED_SEQUENCE]
    assert split.sequences == 7


def test_summary_and_grasp_set_of_a_split(layers: tuple[HandLayer, HandLayer], tmp_path: Path) -> None:
    write_arctic_template(tmp_path, "box")
    write_arctic_template(tmp_path, "laptop")
    write_arctic_sequence(tmp_path, "s01/box_grab_01", layers, random_arctic_sequence(5, seed=1))
    write_arctic_sequence(tmp_path, "s02/laptop_use_03", layers, random_arctic_sequence(4, seed=2))
    write_arctic_split(tmp_path, {"train": ["s01/box_grab_01", "s02/laptop_use_03", "s03/box_grab_01"]})
    config = ArcticConfig(cloud_points=256)
    split = convert_arctic_split(tmp_path, "train", *layers, work=tmp_path / "work", config=config, progress=False)

    summary = split.summary("train", config, "/models/mano")
    assert list(summary) == [
        "split",
        "sequences_listed",
        "sequences_converted",
        "scenes",
        "scenes_per_object",
        "scenes_per_action",
        "object_instances",
        "skipped",
        "config",
        "hand_model",
        "frame",
    ]
    assert (summary["split"], summary["sequences_listed"], summary["sequences_converted"]) == ("train", 3, 2)
    assert summary["scenes"] == 9 and summary["object_instances"] == len(split.objects)
    assert summary["scenes_per_object"] == {"box": 5, "laptop": 4}
    assert summary["scenes_per_action"] == {"grab": 5, "use": 4}
    assert summary["skipped"][arctic.MISSING_FILES]["count"] == 1  # s03: ARCTIC withholds it
    assert summary["config"] == dataclasses.asdict(config)
    assert summary["hand_model"] == "mano (/models/mano)" and summary["frame"] == arctic.ARCTIC_FRAME
    assert json.loads(json.dumps(summary)) == summary

    grasps = GraspSet.from_converted(split, arctic.ARCTIC_ACTIONS)  # what `data arctic` writes
    assert len(grasps) == grasps.attempts == 9
    assert grasps.kind_names == arctic.ARCTIC_ACTIONS and torch.equal(grasps.kind, split.kind)
    assert grasps.objects is split.objects and torch.equal(grasps.object_index, split.object_index)
    assert torch.equal(grasps.object_points, split.points) and torch.equal(grasps.object_normals, split.normals)
    assert torch.equal(grasps.left.pose, split.left.pose) and torch.equal(
        grasps.right.translation, split.right.translation
    )
    assert grasps.hand_object_depth.isnan().all() and grasps.hand_hand_depth.isnan().all()  # nobody measured them
    assert grasps.kind_counts() == summary["scenes_per_action"]
    grasps.save(tmp_path / "grasps.npz")
    loaded = GraspSet.load(tmp_path / "grasps.npz")
    assert loaded.kind_names == ("grab", "use") and loaded.objects.family_names == ("box", "laptop")


def test_stride_and_resume(
    layers: tuple[HandLayer, HandLayer], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_arctic_template(tmp_path, "box")
    for i in range(3):
        write_arctic_sequence(tmp_path, f"s01/box_grab_0{i}", layers, random_arctic_sequence(7, seed=10 + i))
    write_arctic_split(tmp_path, {"val": [f"s01/box_grab_0{i}" for i in range(3)]})
    first = _convert(tmp_path, layers, split="val", stride=3)
    assert first.frame.tolist() == [0, 3, 6] * 3

    (tmp_path / "work_val" / "s01__box_grab_02.npz").unlink()  # as if stopped before the last sequence
    read: list[str] = []
    original = arctic.read_sequence

    def counting(root: Path, entry: str) -> arctic.SequenceArrays:
        read.append(entry)
        return original(root, entry)

    monkeypatch.setattr(arctic, "read_sequence", counting)
    again = _convert(tmp_path, layers, split="val", stride=3)
    assert read == ["s01/box_grab_02"]
    torch.testing.assert_close(again.right.translation, first.right.translation)
    read.clear()
    _convert(tmp_path, layers, split="val", stride=2)  # other options: nothing reused
    assert len(read) == 3


def test_pickled_code_is_refused_not_run(tmp_path: Path) -> None:
    marker = tmp_path / "ran"

    class Payload:
        def __reduce__(self) -> tuple[object, tuple[str]]:
            return (os.system, (f"touch {marker}",))

    path = tmp_path / "evil.mano.npy"
    array = np.empty((), dtype=object)
    array[()] = {"right": Payload()}
    with path.open("wb") as stream:
        np.lib.format.write_array_header_1_0(stream, {"descr": "|O", "fortran_order": False, "shape": ()})
        pickle.dump(array, stream, protocol=2)
    with pytest.raises(DataError, match=r"evil.mano.npy: refusing to unpickle .* references '(posix|os|nt)\.system'"):
        load_npy(path, "ARCTIC MANO sequence")
    assert not marker.exists()


def test_layout_and_template_errors(layers: tuple[HandLayer, HandLayer], tmp_path: Path) -> None:
    with pytest.raises(DataError, match="raw_seqs: not found; --root must be ARCTIC's unpacked data folder"):
        _convert(tmp_path, layers)
    (tmp_path / "raw_seqs").mkdir()
    with pytest.raises(DataError, match=r"protocol_p1.json: ARCTIC protocol-1 split file not found"):
        _convert(tmp_path, layers)
    write_arctic_split(tmp_path, {"train": "s01/box_grab_01"})
    with pytest.raises(DataError, match="not an ARCTIC split file"):
        _convert(tmp_path, layers)
    write_arctic_template(tmp_path, "box")
    write_arctic_sequence(tmp_path, "s01/box_grab_01", layers, random_arctic_sequence(2, seed=8))
    write_arctic_split(tmp_path, {"train": ["s01/box_grab_01"]})
    (tmp_path / "meta" / "object_vtemplates" / "box" / "parts.json").write_text("[0, 1]")
    with pytest.raises(
        DataError, match=r"parts.json: expected one 0 or 1 per vertex of mesh.obj \(16 vertices\), got 2"
    ):
        _convert(tmp_path, layers)
    write_arctic_split(tmp_path, {"train": ["s03/box_grab_01"]})
    with pytest.raises(DataError, match=r"no usable frame in the 'train' split .*1 sequences whose files are missing"):
        _convert(tmp_path, layers)


@pytest.mark.parametrize("field, value", [("articulation_step_deg", 0.0), ("cloud_points", 0), ("stride", 1.5)])
def test_config_is_validated(field: str, value: float) -> None:
    with pytest.raises(ConfigError, match=field):
        ArcticConfig(**{field: value})  # type: ignore[arg-type]
