"""`interhandgen grasp`, run in-process: an object in, ranked grasps out; one-line errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from cli_checks import assert_one_line_error, files_under, needs_procedural

from interhandgen_core.cli import main
from interhandgen_core.io.hands_file import read_hands_file


@needs_procedural
def test_grasp_writes_ranked_grasps_meshes_and_preview(
    tiny_object_checkpoint: Path, box_stl: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "grasps"
    args = ["grasp", "--object", str(box_stl), "--num", "3", "--out", str(out), "--steps", "2"]
    assert main([*args, "--checkpoint", str(tiny_object_checkpoint)]) == 0
    expected = {Path("grasps.npz"), Path("object.ply"), Path("preview.png")}
    expected |= {Path(f"grasp_{i:04d}.ply") for i in range(3)}
    assert files_under(out) == expected
    hands = read_hands_file(out / "grasps.npz")
    assert hands.num_samples == 3 and hands.scores is not None and hands.object_points is not None
    assert bool(np.all(np.diff(hands.scores) <= 0)), "grasps are written best first"
    printed = capsys.readouterr().out
    assert "score" in printed and "H-O pen mm" in printed


@pytest.mark.parametrize(
    ("content", "suffix", "names"),
    [
        (b"solid nonsense\nthis is not an stl\n", ".stl", ["broken.stl"]),
        (b"", ".npy", ["broken.npy"]),
        (b"hello", ".xyz", ["broken.xyz"]),
    ],
)
def test_grasp_unreadable_object_is_one_line(
    content: bytes,
    suffix: str,
    names: list[str],
    tiny_object_checkpoint: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    bad = tmp_path / f"broken{suffix}"
    bad.write_bytes(content)
    out = tmp_path / "grasps"
    code = main(
        ["grasp", "--object", str(bad), "--num", "1", "--out", str(out), "--checkpoint", str(tiny_object_checkpoint)]
    )
    assert code == 1
    assert_one_line_error(capsys.readouterr().err, *names)
    assert not out.exists()


def test_grasp_of_a_ten_point_cloud_names_the_file_and_what_is_wrong(
    tiny_object_checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """No row was dropped: the message says the cloud is too small, naming the file, not "left after dropping"."""
    cloud = tmp_path / "cloud.xyz"
    np.savetxt(cloud, np.random.default_rng(0).normal(scale=0.05, size=(10, 3)))
    out = tmp_path / "grasps"
    code = main(
        ["grasp", "--object", str(cloud), "--num", "1", "--out", str(out), "--checkpoint", str(tiny_object_checkpoint)]
    )
    assert code == 1
    err = capsys.readouterr().err
    assert_one_line_error(err, "cloud.xyz: the cloud has 10 points; at least 32 needed")
    assert "dropping" not in err and not out.exists()


def test_grasp_with_a_two_hand_prior_is_one_line(
    tiny_checkpoint: Path, box_stl: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        [
            "grasp",
            "--object",
            str(box_stl),
            "--num",
            "1",
            "--out",
            str(tmp_path / "o"),
            "--checkpoint",
            str(tiny_checkpoint),
        ]
    )
    assert code == 1
    assert_one_line_error(capsys.readouterr().err, "object encoder")


@needs_procedural
def test_grasp_converts_a_cloud_in_millimetres_with_a_warning(
    tiny_object_checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import trimesh

    points = trimesh.creation.box(extents=(0.2, 0.1, 0.12)).sample(3000, seed=0)  # type: ignore[call-arg]
    cloud = tmp_path / "box_mm.npy"
    np.save(cloud, (points + np.array([0.5, 0.0, 0.3])) * 1000.0)  # a box 20 cm long, in millimetres
    out = tmp_path / "grasps"
    args = ["grasp", "--object", str(cloud), "--num", "2", "--out", str(out), "--steps", "2"]
    assert main([*args, "--checkpoint", str(tiny_object_checkpoint)]) == 0
    captured = capsys.readouterr()
    warnings = [line for line in captured.err.splitlines() if line.startswith("interhandgen: warning: ")]
    assert len(warnings) == 1 and "spans 200 units: it looks like millimetres" in warnings[0], captured.err
    assert "converted from millimetres" in captured.out
    hands = read_hands_file(out / "grasps.npz")
    assert hands.object_points is not None
    # The results are in metres, where the box is: not 1000 times too far.
    span = np.ptp(hands.object_points.reshape(-1, 3), axis=0)
    assert 0.15 < span.max() < 0.25, span
    for keypoints in (hands.left_keypoints, hands.right_keypoints):
        assert keypoints is not None and np.abs(keypoints - [0.5, 0.0, 0.3]).max() < 1.0


@needs_procedural
@pytest.mark.parametrize(
    ("extents", "size", "which"), [((0.04, 0.03, 0.02), "4.0 cm", "small"), ((1.2, 0.3, 0.4), "1", "large")]
)
def test_grasp_warns_of_an_object_too_small_or_large_for_two_hands(
    extents: tuple[float, float, float],
    size: str,
    which: str,
    tiny_object_checkpoint: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import trimesh

    cloud = tmp_path / "object.npy"
    np.save(cloud, trimesh.creation.box(extents=extents).sample(3000, seed=0))  # type: ignore[call-arg]
    out = tmp_path / "grasps"
    args = ["grasp", "--object", str(cloud), "--num", "2", "--out", str(out), "--steps", "2"]
    assert main([*args, "--checkpoint", str(tiny_object_checkpoint)]) == 0
    warnings = [line for line in capsys.readouterr().err.splitlines() if line.startswith("interhandgen: warning: ")]
    assert len(warnings) == 1 and f"too {which} for two hands" in warnings[0] and f"spans {size}" in warnings[0]
    assert read_hands_file(out / "grasps.npz").num_samples == 2  # proposals are still returned


# --physics: each proposal tried in MuJoCo (README "Physics validation"). Short pushes keep the tests quick.
PHYSICS = ["--physics", "--push-time", "0.2"]
DIRECTIONS = ["+x", "-x", "+y", "-y", "+z", "-z"]


def _grasp_argv(path: Path, out: Path, checkpoint: Path, num: int = 3) -> list[str]:
    return [
        "grasp",
        "--object",
        str(path),
        "--num",
        str(num),
        "--out",
        str(out),
        "--steps",
        "2",
        "--checkpoint",
        str(checkpoint),
    ]


def _warnings(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("interhandgen: warning: ")]


@needs_procedural
def test_grasp_physics_prints_what_each_grasp_held_and_writes_physics_json(
    tiny_object_checkpoint: Path, box_stl: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    out = tmp_path / "grasps"
    assert main([*_grasp_argv(box_stl, out, tiny_object_checkpoint), *PHYSICS]) == 0
    expected = {Path("grasps.npz"), Path("physics.json"), Path("object.ply"), Path("preview.png")}
    assert files_under(out) == expected | {Path(f"grasp_{i:04d}.ply") for i in range(3)}
    report = json.loads((out / "physics.json").read_text())
    assert report["config"]["push_time"] == 0.2 and report["config"]["press_depth"] == 0.005
    assert report["directions"] == DIRECTIONS and report["grasps"] == 3
    assert report["object_body"]["method"] == "convex: 1 convex part(s)"
    assert report["object_body"]["volume_m3"] == pytest.approx(0.2 * 0.1 * 0.12)
    per_grasp = report["per_grasp"]
    assert np.asarray(per_grasp["held"]).shape == (3, 6) and np.asarray(per_grasp["displacement_m"]).shape == (3, 6)
    assert per_grasp["success"] == [all(row) for row in per_grasp["held"]]
    assert len(per_grasp["settle_displacement_m"]) == 3 and len(per_grasp["rotation_deg"]) == 3
    hands = read_hands_file(out / "grasps.npz")  # the schema of grasps.npz is unchanged, its scores in rank order
    np.testing.assert_allclose(per_grasp["score"], hands.scores, rtol=1e-6)
    printed = capsys.readouterr().out.splitlines()
    header = next(line for line in printed if line.lstrip().startswith("rank"))
    assert header.endswith("held  directions held")
    rows = printed[printed.index(header) + 1 : printed.index(header) + 4]
    for row, held in zip(rows, per_grasp["held"], strict=True):  # yes/no, then the directions held or "none"
        names = [d for d, ok in zip(DIRECTIONS, held, strict=True) if ok]
        assert row.endswith(f"{'yes' if all(held) else 'no':>4}  {' '.join(names) or 'none'}"), row
    assert any(line.startswith("physics object: convex: 1 convex part(s); 1.200 kg") for line in printed)
    assert any(line.startswith("physics: 3 grasps: ") and "hold in all six directions" in line for line in printed)


def test_rank_candidates_without_the_physics_ranking_are_refused(
    box_stl: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "grasps"
    argv = ["grasp", "--object", str(box_stl), "--num", "1", "--out", str(out), "--physics", "--rank-candidates", "4"]
    assert main(argv) == 1
    assert_one_line_error(capsys.readouterr().err, "--rank-candidates: applies only with --rank physics")
    assert not out.exists()


def test_grasp_physics_options_without_physics_are_refused(
    box_stl: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "grasps"
    code = main(["grasp", "--object", str(box_stl), "--num", "1", "--out", str(out), "--friction", "0.3"])
    assert code == 1
    assert_one_line_error(
        capsys.readouterr().err, "--friction: physics options apply only with --physics or --rank physics"
    )
    assert not out.exists()


@needs_procedural
@pytest.mark.parametrize(("kind", "method", "tolerance"), [("cloud", "Poisson", 0.15), ("mesh", "convex", 1e-6)])
def test_grasp_physics_of_an_object_in_millimetres_builds_the_body_in_metres(
    kind: str,
    method: str,
    tolerance: float,
    tiny_object_checkpoint: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import json

    import trimesh

    box = trimesh.creation.box(extents=(0.2, 0.1, 0.12))
    box.apply_translation([0.5, 0.0, 0.3])
    if kind == "cloud":  # xyz in millimetres and the outward normals, as a sensor's segmentation gives them
        points, faces = trimesh.sample.sample_surface(box, 3000, seed=0)
        path = tmp_path / "box_mm.npy"
        np.save(path, np.hstack([points * 1000.0, box.face_normals[faces]]))
    else:  # a CAD export in millimetres
        path = tmp_path / "box_mm.stl"
        box.apply_scale(1000.0)
        box.export(path)
    out = tmp_path / "grasps"
    assert main([*_grasp_argv(path, out, tiny_object_checkpoint, num=2), *PHYSICS]) == 0
    body = json.loads((out / "physics.json").read_text())["object_body"]
    assert method in body["method"]  # a cloud is closed by Poisson reconstruction first
    assert body["volume_m3"] == pytest.approx(0.2 * 0.1 * 0.12, rel=tolerance)  # metres, as the hands
    assert len(_warnings(capsys.readouterr().err)) == 1  # the millimetres only


@needs_procedural
def test_grasp_physics_of_an_open_mesh_names_the_fallback_in_one_warning(
    tiny_object_checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    import trimesh

    box = trimesh.creation.box(extents=(0.2, 0.1, 0.12))
    path = tmp_path / "open_box.stl"
    trimesh.Trimesh(box.vertices, box.faces[:-2], process=False).export(path)  # two faces (one side) removed
    out = tmp_path / "grasps"
    assert main([*_grasp_argv(path, out, tiny_object_checkpoint), *PHYSICS]) == 0
    captured = capsys.readouterr()
    assert _warnings(captured.err) == [
        "interhandgen: warning: object mesh is not watertight (4 open edges): its holes were capped"
    ], captured.err
    assert read_hands_file(out / "grasps.npz").num_samples == 3  # proposals and physics both ran
    report = json.loads((out / "physics.json").read_text())
    assert report["object_body"]["method"].startswith("object mesh is not watertight (4 open edges)")
    assert report["object_body"]["volume_m3"] == pytest.approx(0.2 * 0.1 * 0.12)  # the cap closed it flat


def _flat_grid() -> tuple[np.ndarray, np.ndarray]:
    """A 20 x 10 cm grid of triangles at z = 0: (V, 3) metres, (F, 3)."""
    import trimesh

    grid = trimesh.creation.box(extents=(0.2, 0.1, 0.12)).subdivide().subdivide()
    vertices = np.array(grid.vertices)
    vertices[:, 2] = 0.0
    return vertices, np.asarray(grid.faces)


@needs_procedural
@pytest.mark.parametrize(
    ("name", "step"),
    [
        ("plane", "the physics validation cannot make a solid of it: object mesh is flat: 0.000 mm thick"),
        ("line", "the mesh has zero surface area"),
        ("three_faces", "the physics validation cannot make a solid of it: object mesh has 4 vertices and 3 faces"),
    ],
)
def test_grasp_physics_of_a_degenerate_mesh_is_one_line_and_writes_nothing(
    name: str, step: str, tiny_object_checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import trimesh

    vertices, faces = _flat_grid()
    if name == "line":
        vertices[:, 1] = 0.0  # every vertex on the x axis
    if name == "three_faces":  # a tetrahedron without its fourth face
        vertices, faces = np.eye(4, 3, k=-1) * 0.1, np.array([[0, 2, 1], [0, 1, 3], [1, 2, 3]])
    path = tmp_path / f"{name}.ply"
    trimesh.Trimesh(vertices, faces, process=False).export(path)
    out = tmp_path / "grasps"
    assert main([*_grasp_argv(path, out, tiny_object_checkpoint, num=2), *PHYSICS]) == 1
    line = assert_one_line_error(capsys.readouterr().err, str(path), step)
    assert name == "line" or line.endswith("; nothing was written")
    assert not out.exists()


@pytest.fixture(scope="module")
def million_face_ply(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A sphere of 8 cm radius, 1,310,720 faces (binary PLY, 25 MB), built once."""
    import trimesh

    path = tmp_path_factory.mktemp("huge") / "sphere.ply"
    trimesh.creation.icosphere(subdivisions=8, radius=0.08).export(path)
    return path


@needs_procedural
def test_grasp_physics_of_a_million_face_mesh_finishes_with_one_warning(
    million_face_ply: Path, tiny_object_checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import json
    import time

    out = tmp_path / "grasps"
    start = time.perf_counter()
    assert main([*_grasp_argv(million_face_ply, out, tiny_object_checkpoint), *PHYSICS]) == 0
    seconds = time.perf_counter() - start
    print(f"grasp --physics of 1,310,720 faces: {seconds:.1f} s")
    assert seconds < 120.0, "no hang: 10-20 s on 2 loaded cores (reading 0.6 s, the body 2 s)"
    (warning,) = _warnings(capsys.readouterr().err)
    assert warning.startswith(
        "interhandgen: warning: object mesh has 1,310,720 faces (more than 20,000): simplified by vertex clustering"
    )
    body = json.loads((out / "physics.json").read_text())["object_body"]
    assert body["convex_parts"] == 1 and body["volume_m3"] == pytest.approx(4 / 3 * np.pi * 0.08**3, rel=0.05)


@needs_procedural
def test_grasp_rank_physics_orders_by_pushes_held_on_the_cloud(
    tiny_object_checkpoint: Path, box_stl: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "grasps"
    assert main([*_grasp_argv(box_stl, out, tiny_object_checkpoint), "--rank", "physics", "--push-time", "0.2"]) == 0
    scores = read_hands_file(out / "grasps.npz").scores
    assert scores is not None and bool(np.all(np.diff(scores) <= 0))
    assert ((scores >= 0) & (scores <= 1)).all()  # (pushes held on the cloud's solid + the figures' score) / 7
    assert "physics.json" not in {p.name for p in out.iterdir()}  # ranking alone validates nothing on the mesh


@needs_procedural
def test_grasp_of_a_cloud_seen_from_one_side_says_what_it_inferred(
    tiny_object_checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The cloud's back is inferred by symmetry and said so in the summary line (and drawn in the preview);
    --one-sided-completion off keeps the cloud as seen."""
    from interhandgen_core.data.procedural_objects import generate_objects
    from interhandgen_core.pipelines.sensor_cloud import corrupt_like_sensor

    points, normals = generate_objects(1, seed=5).sample_surface(4096, seed=5)
    cloud = tmp_path / "view.npy"
    view = corrupt_like_sensor(points[0].numpy(), normals[0].numpy(), seed=3)
    np.save(cloud, view.points)
    camera = ",".join(f"{x:.6f}" for x in view.camera)
    for option, inferred in ((), True), (("--one-sided-completion", "off"), False), ((f"--viewpoint={camera}",), True):
        out = tmp_path / f"grasps_{inferred}"
        args = ["grasp", "--object", str(cloud), "--num", "2", "--out", str(out), "--steps", "2", *option]
        assert main([*args, "--checkpoint", str(tiny_object_checkpoint)]) == 0
        printed = capsys.readouterr().out
        assert ("inferred by symmetry" in printed) == inferred, printed
        assert (out / "preview.png").is_file()
    # A camera placed inside the object cannot have seen it: refused in one line naming the file, nothing written.
    centre = ",".join(f"{x:.6f}" for x in view.points.mean(axis=0))
    args = ["grasp", "--object", str(cloud), "--num", "2", "--out", str(tmp_path / "inside"), f"--viewpoint={centre}"]
    assert main([*args, "--checkpoint", str(tiny_object_checkpoint)]) == 1
    assert_one_line_error(capsys.readouterr().err, f"{cloud}: the viewpoint")
    assert not (tmp_path / "inside").exists()
