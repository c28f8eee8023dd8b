"""The restricted MANO pickle loader, the left-hand shapedirs fix and load_hand_pair.

Fake MANO files are written with stand-in ``chumpy`` and ``scipy.sparse`` modules placed in
``sys.modules`` only while pickling (the pickles then reference ``chumpy.ch.Ch``,
``chumpy.reordering.Select`` and ``scipy.sparse.csc.csc_matrix`` exactly as the released
files do); they are read back with chumpy and scipy made unimportable.
"""

from __future__ import annotations

import builtins
import dataclasses
import io
import os
import pickle
import subprocess
import sys
import types
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from interhandgen_core.errors import AssetError
from interhandgen_core.hands.asset import HandAsset
from interhandgen_core.hands.keypoints import PARENTS, TIP_ORDER
from interhandgen_core.hands.loading import HAND_KINDS, load_hand_pair, write_mano_pickle
from interhandgen_core.hands.mano_pickle import MANO_TIP_VERTEX_IDS, fix_left_shapedirs, load_mano_pickle

V = 778
PROCEDURAL_NPZ = Path(__file__).resolve().parents[2] / "interhandgen_core" / "assets" / "procedural_hand.npz"


def _class(module: str, name: str) -> type:
    return type(name, (), {"__module__": module, "__qualname__": name})


def _fake_modules() -> tuple[dict[str, types.ModuleType], dict[str, type]]:
    classes = {
        "Ch": _class("chumpy.ch", "Ch"),
        "Select": _class("chumpy.reordering", "Select"),
        "csc_matrix": _class("scipy.sparse.csc", "csc_matrix"),
    }
    modules = {name: types.ModuleType(name) for name in ("chumpy", "chumpy.ch", "chumpy.reordering")}
    modules.update({name: types.ModuleType(name) for name in ("scipy", "scipy.sparse", "scipy.sparse.csc")})
    modules["chumpy.ch"].Ch = classes["Ch"]  # type: ignore[attr-defined]
    modules["chumpy.reordering"].Select = classes["Select"]  # type: ignore[attr-defined]
    modules["scipy.sparse.csc"].csc_matrix = classes["csc_matrix"]  # type: ignore[attr-defined]
    return modules, classes


def _chumpy_node(cls: type, **terms: Any) -> object:
    node = cls.__new__(cls)
    # What chumpy's Ch.__getstate__ leaves besides the terms.
    node.__dict__.update(_dirty_vars={"x"}, _itr=None, _depends_on_deps={}, _make_dense=False, _make_sparse=False)
    node.__dict__.update(terms)
    return node


def _csc(cls: type, dense: np.ndarray) -> object:
    matrix = cls.__new__(cls)
    rows, cols = np.nonzero(dense.T)[::-1]  # column-major order of the non-zeros
    matrix.__dict__.update(
        data=dense[rows, cols],
        indices=rows.astype(np.int32),
        indptr=np.concatenate([[0], np.cumsum(np.bincount(cols, minlength=dense.shape[1]))]).astype(np.int32),
        _shape=dense.shape,
        maxprint=50,
        format="csc",
    )
    return matrix


def _mano_arrays(seed: int) -> dict[str, Any]:
    """Random arrays with the shapes and dtypes of a MANO model (V = 778)."""
    rng = np.random.default_rng(seed)
    j_regressor = np.zeros((16, V))
    for j in range(16):
        chosen = rng.choice(V, 8, replace=False)
        j_regressor[j, chosen] = rng.dirichlet(np.ones(8))
    weights = rng.dirichlet(np.ones(16), size=V)
    kintree = np.stack([np.array(PARENTS), np.arange(16)]).astype(np.int64)
    kintree[0, 0] = 2**32 - 1
    return {
        "v_template": rng.normal(0, 0.05, (V, 3)),
        "f": rng.integers(0, V, (1538, 3)).astype(np.uint32),
        "shapedirs_20": rng.normal(0, 0.01, (V, 3, 20)),
        "posedirs": rng.normal(0, 0.01, (V, 3, 135)),
        "J_regressor": j_regressor,
        "weights": weights,
        "kintree_table": kintree,
        "hands_mean": rng.normal(0, 0.3, 45),
        "hands_components": rng.normal(0, 1.0, (45, 45)),
        "hands_coeffs": rng.normal(0, 1.0, (1554, 45)),
        "J": rng.normal(0, 0.05, (16, 3)),
    }


class _Python2StylePickler(pickle.Pickler):
    """Writes arrays as Python 2 numpy did: raw bytes as a string under numpy.core.multiarray."""

    def reducer_override(self, obj: Any) -> Any:
        if type(obj) is np.ndarray:
            reconstruct = np.zeros(1).__reduce__()[0]
            raw = np.ascontiguousarray(obj).tobytes().decode("latin1")
            return reconstruct, (np.ndarray, (0,), "b"), (1, obj.shape, obj.dtype, False, raw)
        return NotImplemented


def _write_fake_mano(
    path: Path, arrays: dict[str, Any], monkeypatch: pytest.MonkeyPatch, protocol: int = 2, python2_style: bool = False
) -> None:
    """Pickle ``arrays`` the way the released MANO files are laid out, with fake chumpy/scipy."""
    modules, classes = _fake_modules()
    with monkeypatch.context() as patch:
        for name, module in modules.items():
            patch.setitem(sys.modules, name, module)
        shapedirs_20 = arrays["shapedirs_20"]
        keep_ten = np.arange(shapedirs_20.size).reshape(shapedirs_20.shape)[:, :, :10].ravel()
        payload = {
            "v_template": _chumpy_node(classes["Ch"], x=arrays["v_template"]),
            "f": arrays["f"],
            "shapedirs": _chumpy_node(
                classes["Select"],
                a=_chumpy_node(classes["Ch"], x=shapedirs_20),
                idxs=keep_ten,
                preferred_shape=(V, 3, 10),
            ),
            "posedirs": arrays["posedirs"],
            "J_regressor": _csc(classes["csc_matrix"], arrays["J_regressor"]),
            "weights": arrays["weights"],
            "kintree_table": arrays["kintree_table"],
            "hands_mean": arrays["hands_mean"],
            "hands_components": arrays["hands_components"],
            "hands_coeffs": arrays["hands_coeffs"],
            "J": _chumpy_node(classes["Ch"], x=arrays["J"]),
            "bs_style": "lbs",
            "bs_type": "lrotmin",
        }
        if not python2_style:
            path.write_bytes(pickle.dumps(payload, protocol=protocol))
            return
        buffer = io.BytesIO()
        _Python2StylePickler(buffer, protocol=protocol).dump(payload)
        written = buffer.getvalue()
        numpy2_name = b"cnumpy._core.multiarray\n_reconstruct\n"
        assert numpy2_name in written
        path.write_bytes(written.replace(numpy2_name, b"cnumpy.core.multiarray\n_reconstruct\n"))


@pytest.fixture
def no_chumpy_no_scipy(monkeypatch: pytest.MonkeyPatch) -> None:
    """Makes chumpy and scipy unimportable (a None entry in sys.modules blocks the import)."""
    for name in ("chumpy", "chumpy.ch", "chumpy.reordering", "scipy", "scipy.sparse", "scipy.sparse.csc"):
        monkeypatch.setitem(sys.modules, name, None)


@pytest.mark.parametrize(("protocol", "python2_style"), [(0, False), (2, False), (2, True)])
def test_reads_fake_mano_without_chumpy_or_scipy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, protocol: int, python2_style: bool, no_chumpy_no_scipy: None
) -> None:
    arrays = _mano_arrays(seed=0)
    path = tmp_path / "MANO_RIGHT.pkl"
    _write_fake_mano(path, arrays, monkeypatch, protocol=protocol, python2_style=python2_style)
    written = path.read_bytes()
    assert b"chumpy.reordering" in written and b"chumpy.ch" in written and b"scipy.sparse.csc" in written
    with pytest.raises(ImportError):
        import chumpy  # noqa: F401

    asset = load_mano_pickle(path)
    assert asset.name == "mano"
    assert asset.side == "right"
    np.testing.assert_array_equal(asset.v_template, arrays["v_template"])
    np.testing.assert_array_equal(asset.faces, arrays["f"].astype(np.int64))
    np.testing.assert_array_equal(asset.shapedirs, arrays["shapedirs_20"][:, :, :10])
    np.testing.assert_array_equal(asset.posedirs, arrays["posedirs"])
    np.testing.assert_array_equal(asset.J_regressor, arrays["J_regressor"])
    np.testing.assert_array_equal(asset.weights, arrays["weights"])
    np.testing.assert_array_equal(asset.parents, np.array(PARENTS))
    np.testing.assert_array_equal(asset.hands_mean, arrays["hands_mean"])
    np.testing.assert_array_equal(asset.hands_components, arrays["hands_components"])
    assert asset.tip_vertex_ids.tolist() == [MANO_TIP_VERTEX_IDS[finger] for finger in TIP_ORDER]
    assert asset.tip_vertex_ids.tolist() == [744, 320, 443, 554, 671]


def test_round_trip_of_written_pickle(tmp_path: Path, make_synthetic_asset: Any, no_chumpy_no_scipy: None) -> None:
    asset = make_synthetic_asset(seed=3, posedirs_scale=0.01)
    path = tmp_path / "hand_right.pkl"
    write_mano_pickle(asset, path)
    loaded = load_mano_pickle(path)
    for field in dataclasses.fields(HandAsset):
        if field.name not in ("name", "side"):
            np.testing.assert_array_equal(getattr(loaded, field.name), getattr(asset, field.name), err_msg=field.name)
    assert loaded.side == "right"


class _Evil:
    def __init__(self, func: Any, *args: Any) -> None:
        self.func, self.args = func, args

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return self.func, self.args


@pytest.mark.parametrize(
    ("func", "name"),
    [(os.system, "system"), (builtins.eval, "eval"), (builtins.exec, "exec"), (subprocess.call, "subprocess.call")],
)
@pytest.mark.parametrize("protocol", [0, 2, 4])
def test_malicious_pickle_is_refused_and_nothing_runs(tmp_path: Path, func: Any, name: str, protocol: int) -> None:
    marker = tmp_path / "pwned"
    command = f"touch {marker}"
    args: tuple[Any, ...] = {
        "system": (command,),
        "eval": (f"open({str(marker)!r}, 'w').close()",),
        "exec": (f"open({str(marker)!r}, 'w').close()",),
        "subprocess.call": (["touch", str(marker)],),
    }[name]
    arrays = _mano_arrays(seed=1)
    # The payload hides behind legitimate entries, as a tampered model file would.
    payload = {"v_template": arrays["v_template"], "posedirs": _Evil(func, *args)}
    path = tmp_path / "MANO_RIGHT.pkl"
    path.write_bytes(pickle.dumps(payload, protocol=protocol))
    with pytest.raises(AssetError, match="refusing to unpickle") as info:
        load_mano_pickle(path)
    message = str(info.value)
    assert str(path) in message
    assert name.split(".")[-1] in message
    assert "\n" not in message
    assert not marker.exists()


def test_restricted_helpers_cannot_be_abused(tmp_path: Path) -> None:
    # _codecs.encode with a codec other than latin1 (which could trigger codec imports) is refused.
    path = tmp_path / "MANO_RIGHT.pkl"
    path.write_bytes(b"c_codecs\nencode\n(Vabc\nVrot13\ntR.")
    with pytest.raises(AssetError, match="truncated or corrupted"):
        load_mano_pickle(path)
    # copyreg._reconstructor with a base other than object is refused.
    path.write_bytes(b"ccopy_reg\n_reconstructor\n(c__builtin__\nset\nc__builtin__\nset\nNtR.")
    with pytest.raises(AssetError):
        load_mano_pickle(path)
    # BUILD with slot state would setattr on whatever a global names: the admitted classes and
    # functions refuse, so one file cannot alter what later loads run.
    for target in (b"scipy.sparse.csc\ncsc_matrix", b"chumpy.ch\nCh", b"_codecs\nencode", b"copyreg\n_reconstructor"):
        for attribute in (b"to_dense", b"__call__", b"__defaults__", b"__class__"):
            path.write_bytes(b"c" + target + b"\n(N}V" + attribute + b"\nc__builtin__\nset\nstb.")
            with pytest.raises(AssetError):
                load_mano_pickle(path)


def test_loads_are_unaffected_by_refused_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_chumpy_no_scipy: None
) -> None:
    test_restricted_helpers_cannot_be_abused(tmp_path)
    arrays = _mano_arrays(seed=11)
    path = tmp_path / "MANO_RIGHT.pkl"
    _write_fake_mano(path, arrays, monkeypatch, protocol=0)
    asset = load_mano_pickle(path)
    np.testing.assert_array_equal(asset.J_regressor, arrays["J_regressor"])
    np.testing.assert_array_equal(asset.shapedirs, arrays["shapedirs_20"][:, :, :10])


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(AssetError, match=r"not found.*download MANO") as info:
        load_mano_pickle(tmp_path / "MANO_RIGHT.pkl")
    assert "MANO_RIGHT.pkl" in str(info.value)


@pytest.mark.parametrize("keep", [0, 1, 100, 0.5])
def test_truncated_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, keep: float) -> None:
    path = tmp_path / "MANO_LEFT.pkl"
    _write_fake_mano(path, _mano_arrays(seed=2), monkeypatch)
    data = path.read_bytes()
    path.write_bytes(data[: int(keep * len(data)) if isinstance(keep, float) else keep])
    with pytest.raises(AssetError, match="truncated or corrupted") as info:
        load_mano_pickle(path)
    assert str(path) in str(info.value)
    assert "\n" not in str(info.value)


def test_directory_instead_of_file(tmp_path: Path) -> None:
    with pytest.raises(AssetError, match="not a file"):
        load_mano_pickle(tmp_path, side="right")


def test_missing_keys(tmp_path: Path) -> None:
    path = tmp_path / "MANO_RIGHT.pkl"
    arrays = _mano_arrays(seed=3)
    path.write_bytes(pickle.dumps({"v_template": arrays["v_template"], "f": arrays["f"]}, protocol=2))
    with pytest.raises(AssetError, match=r"missing entries \[.*'posedirs'.*download MANO"):
        load_mano_pickle(path)


def test_not_a_dict(tmp_path: Path) -> None:
    path = tmp_path / "MANO_RIGHT.pkl"
    path.write_bytes(pickle.dumps([1, 2, 3], protocol=2))
    with pytest.raises(AssetError, match="holds a list"):
        load_mano_pickle(path)


@pytest.mark.parametrize(
    ("key", "value", "pattern"),
    [
        ("posedirs", np.zeros((V, 3, 100)), r"'posedirs' has shape \(778, 3, 100\)"),
        ("weights", np.zeros((V, 15)), r"'weights' has shape"),
        ("J_regressor", np.zeros((16, V - 1)), r"'J_regressor' has shape"),
        ("v_template", np.zeros((V, 2)), r"'v_template' has shape"),
        ("hands_mean", np.zeros(44), r"'hands_mean' has shape"),
        ("kintree_table", np.stack([np.zeros(16), np.arange(16)]).astype(np.int64), "not MANO's 16-joint hand tree"),
        ("f", np.full((10, 3), V), "indexes vertices outside"),
        ("v_template", np.full((V, 3), np.nan), "NaN or Inf"),
        ("posedirs", "lbs", "not a numeric array"),
    ],
)
def test_wrong_shapes_and_values(tmp_path: Path, key: str, value: Any, pattern: str) -> None:
    path = tmp_path / "MANO_RIGHT.pkl"
    write_mano_pickle(_asset_from_arrays(_mano_arrays(seed=4)), path)
    data = pickle.loads(path.read_bytes())
    data[key] = value
    path.write_bytes(pickle.dumps(data, protocol=2))
    with pytest.raises(AssetError, match=pattern) as info:
        load_mano_pickle(path)
    assert str(path) in str(info.value)


def test_too_few_vertices_for_mano_tips(tmp_path: Path, make_synthetic_asset: Any) -> None:
    path = tmp_path / "MANO_RIGHT.pkl"
    write_mano_pickle(make_synthetic_asset(), path)
    data = pickle.loads(path.read_bytes())
    del data["tip_vertex_ids"]
    path.write_bytes(pickle.dumps(data, protocol=2))
    with pytest.raises(AssetError, match="too few for MANO's fingertip vertices"):
        load_mano_pickle(path)


@pytest.mark.parametrize(
    ("file_name", "side", "expected"),
    [
        ("MANO_RIGHT.pkl", None, "right"),
        ("MANO_LEFT.pkl", None, "left"),
        ("mano_left_v1.pkl", None, "left"),
        ("MANO_RIGHT.pkl", "left", "left"),
        ("model.pkl", "right", "right"),
        ("model.pkl", None, None),
        ("RIGHT_or_LEFT.pkl", None, None),
        ("MANO_RIGHT.pkl", "up", None),
    ],
)
def test_side_detection(tmp_path: Path, file_name: str, side: str | None, expected: str | None) -> None:
    path = tmp_path / file_name
    write_mano_pickle(_asset_from_arrays(_mano_arrays(seed=5)), path)
    if expected is None:
        with pytest.raises(AssetError, match="side"):
            load_mano_pickle(path, side=side)
    else:
        assert load_mano_pickle(path, side=side).side == expected


def _asset_from_arrays(arrays: dict[str, Any], side: str = "right") -> HandAsset:
    return HandAsset(
        name="mano",
        side="right" if side == "right" else "left",
        v_template=arrays["v_template"],
        faces=arrays["f"].astype(np.int64),
        shapedirs=arrays["shapedirs_20"][:, :, :10].copy(),
        posedirs=arrays["posedirs"],
        J_regressor=arrays["J_regressor"],
        weights=arrays["weights"],
        parents=np.array(PARENTS, dtype=np.int64),
        tip_vertex_ids=np.array([744, 320, 443, 554, 671], dtype=np.int64),
        hands_mean=arrays["hands_mean"],
        hands_components=arrays["hands_components"],
    )


def _released_pair(seed: int) -> tuple[HandAsset, HandAsset, HandAsset]:
    """(right, left as released with the bug, left as it should be)."""
    right = _asset_from_arrays(_mano_arrays(seed))
    correct_left = right.mirrored()
    buggy = correct_left.shapedirs.copy()
    buggy[:, 0, :] = right.shapedirs[:, 0, :]
    return right, dataclasses.replace(correct_left, shapedirs=buggy), correct_left


def test_left_shapedirs_fix_applies_when_equal() -> None:
    right, buggy_left, correct_left = _released_pair(seed=6)
    fixed = fix_left_shapedirs(buggy_left, right)
    np.testing.assert_array_equal(fixed.shapedirs, correct_left.shapedirs)
    np.testing.assert_array_equal(fixed.v_template, buggy_left.v_template)
    # Only the x components change.
    np.testing.assert_array_equal(fixed.shapedirs[:, 1:], buggy_left.shapedirs[:, 1:])


def test_left_shapedirs_fix_skips_corrected_file() -> None:
    right, _, correct_left = _released_pair(seed=7)
    assert fix_left_shapedirs(correct_left, right) is correct_left
    # Idempotent: fixing twice is fixing once.
    _, buggy_left, _ = _released_pair(seed=7)
    once = fix_left_shapedirs(buggy_left, right)
    assert fix_left_shapedirs(once, right) is once


def test_left_shapedirs_fix_checks_argument_order() -> None:
    right, buggy_left, _ = _released_pair(seed=8)
    with pytest.raises(AssetError, match="left, right"):
        fix_left_shapedirs(right, buggy_left)


def test_load_hand_pair_mano(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_chumpy_no_scipy: None) -> None:
    arrays = _mano_arrays(seed=9)
    right_asset, buggy_left, correct_left = _released_pair(seed=9)
    _write_fake_mano(tmp_path / "MANO_RIGHT.pkl", arrays, monkeypatch)
    left_arrays = dict(arrays)
    left_arrays["v_template"] = buggy_left.v_template
    left_20 = arrays["shapedirs_20"].copy()
    left_20[:, :, :10] = buggy_left.shapedirs
    left_arrays["shapedirs_20"] = left_20
    _write_fake_mano(tmp_path / "MANO_LEFT.pkl", left_arrays, monkeypatch)

    right, left = load_hand_pair("mano", mano_dir=tmp_path)
    assert (right.side, left.side) == ("right", "left")
    np.testing.assert_array_equal(right.shapedirs, right_asset.shapedirs)
    np.testing.assert_array_equal(left.shapedirs, correct_left.shapedirs)


def test_load_hand_pair_mano_errors(tmp_path: Path) -> None:
    with pytest.raises(AssetError, match="--mano-dir"):
        load_hand_pair("mano")
    with pytest.raises(AssetError, match="MANO folder not found"):
        load_hand_pair("mano", mano_dir=tmp_path / "nowhere")
    write_mano_pickle(_asset_from_arrays(_mano_arrays(seed=10)), tmp_path / "MANO_RIGHT.pkl")
    with pytest.raises(AssetError, match=r"MANO_LEFT\.pkl: MANO model file not found"):
        load_hand_pair("mano", mano_dir=str(tmp_path))


def test_load_hand_pair_unknown_kind() -> None:
    with pytest.raises(AssetError, match="procedural, mano"):
        load_hand_pair("smpl")
    assert HAND_KINDS == ("procedural", "mano")


def test_load_hand_pair_procedural() -> None:
    if not PROCEDURAL_NPZ.is_file():
        pytest.skip("procedural asset not generated")
    right, left = load_hand_pair("procedural")
    assert (right.side, left.side) == ("right", "left")
    np.testing.assert_array_equal(left.v_template, right.mirrored().v_template)
    np.testing.assert_array_equal(left.faces, right.mirrored().faces)
