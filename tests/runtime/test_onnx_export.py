"""ONNX export (runtime/onnx_export.py) and the ONNX Runtime backend: parity with torch, caching, bad files."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from interhandgen_core.errors import BackendError
from interhandgen_core.pipelines.interhandgen import InterHandGen
from interhandgen_core.pipelines.shipped_priors import default_checkpoint, default_object_checkpoint
from interhandgen_core.prior.denoiser import Denoiser
from interhandgen_core.prior.object_encoder import ObjectEncoder
from interhandgen_core.runtime.configuration import BackendConfig
from interhandgen_core.runtime.factory import create_backend
from interhandgen_core.runtime.onnx_export import (
    FINGERPRINT_KEY,
    export_denoiser,
    export_object_encoder,
    model_fingerprint,
    onnx_for_denoiser,
    read_onnx_metadata,
)

pytest.importorskip("onnxruntime", reason="the onnx extra is not installed (pip install 'interhandgen-core[onnx]')")
pytest.importorskip("onnxscript", reason="the onnx extra is not installed (pip install 'interhandgen-core[onnx]')")

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from test_backend import inputs
from tiny_prior import TINY_CONFIG, TINY_ENCODER, TINY_OBJECT_CONFIG

CPU = torch.device("cpu")
# fp32 parity bound of the issue: ONNX Runtime against torch, max absolute difference.
FP32_TOLERANCE = 1e-4


@pytest.fixture(scope="module")
def tiny_denoisers() -> dict[str, Denoiser]:
    torch.manual_seed(0)
    return {"two-hand": Denoiser(TINY_CONFIG).eval(), "object": Denoiser(TINY_OBJECT_CONFIG).eval()}


@pytest.fixture(scope="module")
def exported(tiny_denoisers: dict[str, Denoiser], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    directory = tmp_path_factory.mktemp("onnx")
    return {kind: export_denoiser(denoiser, directory / f"{kind}.onnx") for kind, denoiser in tiny_denoisers.items()}


def max_difference(backend: object, denoiser: Denoiser, batch: int, seed: int = 0) -> float:
    args = inputs(batch, denoiser.config.object_embedding_dim, seed)
    with torch.no_grad():
        expected = denoiser(*args)
    return float((backend(*args) - expected).abs().max())  # type: ignore[operator]


@pytest.mark.parametrize("kind", ["two-hand", "object"])
def test_onnxruntime_matches_torch_at_any_batch(
    kind: str, tiny_denoisers: dict[str, Denoiser], exported: dict[str, Path]
) -> None:
    denoiser = tiny_denoisers[kind]
    backend = create_backend(denoiser, CPU, BackendConfig(name="onnxruntime", onnx_path=str(exported[kind])))
    for batch in (1, 7, 130):  # one dynamic axis serves them all, CFG's doubled batches included
        assert max_difference(backend, denoiser, batch, seed=batch) < FP32_TOLERANCE
    backend.close()


@pytest.mark.parametrize("checkpoint", [default_checkpoint, default_object_checkpoint])
def test_shipped_priors_export_within_tolerance(checkpoint: object, tmp_path: Path) -> None:
    model = InterHandGen.from_pretrained(checkpoint())  # type: ignore[operator]
    backend = model.use_backend(BackendConfig(name="onnxruntime", cache_dir=str(tmp_path)))
    difference = max(max_difference(backend, model.denoiser, batch, seed=batch) for batch in (1, 64))
    kind = "object-conditioned" if model.prior.object_conditioned else "two-hand"
    print(f"\nshipped {kind} prior, ONNX Runtime vs torch fp32: max |diff| {difference:.2e}")
    assert difference < FP32_TOLERANCE


def test_sampling_through_onnxruntime_matches_torch(tmp_path: Path) -> None:
    model = InterHandGen.from_pretrained()
    onnx = BackendConfig(name="onnxruntime", cache_dir=str(tmp_path))
    per_sample = {}
    for weight in (0.0, None):  # without and with anti-penetration guidance
        model.use_backend(BackendConfig())
        reference = model.sample(8, seed=3, ddim_steps=8, penetration_guidance_weight=weight)
        model.use_backend(onnx)
        samples = model.sample(8, seed=3, ddim_steps=8, penetration_guidance_weight=weight)
        per_sample[weight] = (samples.right_vertices - reference.right_vertices).abs().amax(dim=(1, 2))
    assert per_sample[0.0].max() < 1e-4  # metres: the chain carries the 1e-6 denoiser differences along
    # Guidance acts on nearest vertices, a piecewise function: a 1e-6 difference may flip a vertex pair
    # and move that one sample by millimetres. The typical sample stays identical.
    assert per_sample[None].median() < 1e-5


def test_object_encoder_export_matches_torch(tmp_path: Path) -> None:
    onnxruntime = pytest.importorskip("onnxruntime")
    torch.manual_seed(0)
    encoder = ObjectEncoder(TINY_ENCODER).eval()
    path = export_object_encoder(encoder, tmp_path / "encoder.onnx")
    assert read_onnx_metadata(path)["interhandgen.kind"] == "object_encoder"
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    points = 0.05 * torch.randn(1, TINY_ENCODER.num_points, 3, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = encoder(points).numpy()
    (out,) = session.run(None, {"points": points.numpy()})
    assert np.abs(out - expected).max() < FP32_TOLERANCE


def test_cache_exports_once_and_reexports_a_corrupt_file(tiny_denoisers: dict[str, Denoiser], tmp_path: Path) -> None:
    denoiser = tiny_denoisers["two-hand"]
    config = BackendConfig(name="onnxruntime", cache_dir=str(tmp_path))
    path = onnx_for_denoiser(denoiser, config)
    assert read_onnx_metadata(path)[FINGERPRINT_KEY] == model_fingerprint(denoiser)
    stamp = path.stat().st_mtime_ns
    assert onnx_for_denoiser(denoiser, config) == path and path.stat().st_mtime_ns == stamp  # reused
    path.write_bytes(path.read_bytes()[:100])  # truncated
    again = onnx_for_denoiser(denoiser, config)
    assert again == path and read_onnx_metadata(again)[FINGERPRINT_KEY] == model_fingerprint(denoiser)


def test_fingerprint_follows_the_weights(tiny_denoisers: dict[str, Denoiser]) -> None:
    denoiser = tiny_denoisers["two-hand"]
    changed = Denoiser(TINY_CONFIG).eval()
    changed.load_state_dict(denoiser.state_dict())
    assert model_fingerprint(changed) == model_fingerprint(denoiser)
    with torch.no_grad():
        changed.decoder[0].bias[0] += 1e-3
    assert model_fingerprint(changed) != model_fingerprint(denoiser)


def test_an_export_of_other_weights_is_refused(exported: dict[str, Path]) -> None:
    torch.manual_seed(1)
    other = Denoiser(TINY_CONFIG).eval()
    with pytest.raises(BackendError, match="exported from other weights"):
        create_backend(other, CPU, BackendConfig(name="onnxruntime", onnx_path=str(exported["two-hand"])))


def test_a_two_hand_export_is_refused_for_an_object_model(
    tiny_denoisers: dict[str, Denoiser], exported: dict[str, Path]
) -> None:
    with pytest.raises(BackendError, match="other weights"):
        create_backend(
            tiny_denoisers["object"], CPU, BackendConfig(name="onnxruntime", onnx_path=str(exported["two-hand"]))
        )


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "no such ONNX file"),
        (b"", "not a valid ONNX model"),
        (b"\x08\x07garbage that is not protobuf \xff\xfe", "not a valid ONNX model"),
        ("truncated", "not a valid ONNX model"),
    ],
)
def test_bad_onnx_files_are_refused(
    content: bytes | str | None,
    message: str,
    exported: dict[str, Path],
    tiny_denoisers: dict[str, Denoiser],
    tmp_path: Path,
) -> None:
    path = tmp_path / "bad.onnx"
    if content == "truncated":
        data = exported["two-hand"].read_bytes()
        path.write_bytes(data[: len(data) // 2])
    elif isinstance(content, bytes):
        path.write_bytes(content)
    with pytest.raises(BackendError, match=message):
        create_backend(tiny_denoisers["two-hand"], CPU, BackendConfig(name="onnxruntime", onnx_path=str(path)))


def test_an_onnx_file_without_our_metadata_is_refused(tmp_path: Path) -> None:
    onnx = pytest.importorskip("onnx")
    path = tmp_path / "plain.onnx"
    value = onnx.helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1, 64])
    graph = onnx.helper.make_graph(
        [onnx.helper.make_node("Identity", ["x"], ["y"])],
        "plain",
        [value],
        [onnx.helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1, 64])],
    )
    onnx.save(onnx.helper.make_model(graph), str(path))  # a valid model that someone else made
    with pytest.raises(BackendError, match="without interhandgen metadata"):
        read_onnx_metadata(path)
