"""CUDA graphs (runtime/cuda_graph.py).

Capture needs a GPU, but what makes code capturable can be checked anywhere: the captured
work must not read a device value back to the host (``.item()``, a 0-d tensor used as an
index, boolean-mask indexing, ``nonzero``) nor make a tensor from host data. The first test
runs the callable a pipeline hands to ``run_captured`` (the whole guided cascade, with and
without an object) under a dispatch mode that records exactly those operations, on the CPU.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable, Hashable, Sequence
from pathlib import Path

import pytest
import torch
from tiny_prior import TINY_CONFIG, TINY_DIFFUSION, tiny_normalizer
from torch import Tensor
from torch.utils._python_dispatch import TorchDispatchMode

from interhandgen_core.data.procedural_objects import generate_objects
from interhandgen_core.errors import BackendError
from interhandgen_core.geometry.tree_nearest import all_pairs_search
from interhandgen_core.pipelines.grasp import GraspPipeline
from interhandgen_core.pipelines.interhandgen import InterHandGen
from interhandgen_core.pipelines.shipped_priors import default_object_checkpoint
from interhandgen_core.pipelines.two_hand import TwoHandPipeline
from interhandgen_core.prior.checkpoint import save_prior
from interhandgen_core.prior.configuration import DenoiserConfig
from interhandgen_core.prior.denoiser import Denoiser
from interhandgen_core.runtime.backend import DenoiserBackend
from interhandgen_core.runtime.configuration import BackendConfig
from interhandgen_core.runtime.cuda_graph import CudaGraphBackend
from interhandgen_core.runtime.eager import EagerBackend

# Operations that synchronise with the host on a GPU, or copy host data to it.
HOST_OPERATIONS = {"aten._local_scalar_dense", "aten.nonzero", "aten.lift_fresh", "aten.masked_select", "aten.unique"}


class HostOperationRecorder(TorchDispatchMode):
    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
        name = str(func.overloadpacket)
        boolean_index = name == "aten.index" and any(
            index is not None and index.dtype == torch.bool for index in args[1]
        )
        if name in HOST_OPERATIONS or boolean_index:
            where = traceback.format_stack(limit=4)[0].strip().splitlines()[0]
            self.found.append(f"{name} at {where}")
        return func(*args, **(kwargs or {}))


def test_the_recorder_sees_host_operations() -> None:
    x = torch.arange(4.0)
    with HostOperationRecorder() as recorder:
        x.sum().item()
        torch.tensor([1.0, 2.0])
        x[x > 1]
        x[torch.tensor(1)]
    found = " ".join(recorder.found)
    for name in ("aten._local_scalar_dense", "aten.lift_fresh", "aten.index"):
        assert name in found


class HostCheckingBackend(EagerBackend):
    """The eager backend, running what is handed to run_captured under the HostOperationRecorder."""

    def __init__(self, backend: DenoiserBackend) -> None:
        assert isinstance(backend, EagerBackend)
        super().__init__(backend.denoiser, backend.device, backend.config)
        self.found: list[str] = []
        self.runs = 0

    def run_captured(
        self, key: Hashable, fn: Callable[..., Sequence[Tensor]], inputs: Sequence[Tensor]
    ) -> list[Tensor]:
        self.runs += 1
        with HostOperationRecorder() as recorder:
            outputs = list(fn(*inputs))
        self.found += recorder.found
        return outputs


def test_the_cascade_never_waits_for_the_host() -> None:
    model = TwoHandPipeline.from_pretrained()
    checking = HostCheckingBackend(model.backend)
    model.backend = checking
    with all_pairs_search():  # CUDA's search path (the CPU's k-d trees read back to the host by design)
        model.sample(3, seed=0)
    assert checking.runs == 1
    assert checking.found == [], "\n".join(sorted(set(checking.found)))


def test_the_cascade_with_an_object_never_waits_for_the_host() -> None:
    grasper = GraspPipeline.from_pretrained()
    checking = HostCheckingBackend(grasper.backend)
    grasper.backend = checking
    points, normals = generate_objects(1, seed=0).sample_surface(1024, seed=0)
    with all_pairs_search():  # CUDA's search path (the CPU's k-d trees read back to the host by design)
        grasper.sample(3, seed=0, object_points=points[0], object_normals=normals[0], settle_iterations=0)
    assert checking.runs == 1
    assert checking.found == [], "\n".join(sorted(set(checking.found)))


needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA (CUDA graphs)")


def _joint_prior(directory: Path) -> Path:
    config = DenoiserConfig.from_dict({**TINY_CONFIG.to_dict(), "num_hands": 2})
    torch.manual_seed(0)
    return save_prior(directory / "joint", Denoiser(config).eval(), tiny_normalizer(), config, TINY_DIFFUSION)


@needs_cuda
@pytest.mark.parametrize("with_object", [False, True])
def test_graphed_cascade_matches_eager(with_object: bool) -> None:
    checkpoint = default_object_checkpoint() if with_object else None
    eager = InterHandGen.from_pretrained(checkpoint, device="cuda")
    graphed = InterHandGen.from_pretrained(checkpoint, device="cuda", backend=BackendConfig(name="cuda-graph"))
    kwargs = {"ddim_steps": 8}
    if with_object:
        points, normals = generate_objects(1, seed=0).sample_surface(2048, seed=0)
        kwargs |= {"object_points": points[0], "object_normals": normals[0]}
    reference = eager.sample(6, seed=1, **kwargs)  # type: ignore[arg-type]
    for seed in (1, 1, 2):  # captured once, then replayed; a new seed reuses the graph
        samples = graphed.sample(6, seed=seed, **kwargs)  # type: ignore[arg-type]
    again = graphed.sample(6, seed=1, **kwargs)  # type: ignore[arg-type]
    difference = (again.right_vertices - reference.right_vertices).abs().amax(dim=(1, 2))
    assert difference.median() < 1e-4
    assert not torch.equal(samples.right_vertices, again.right_vertices)  # seed 2 differs from seed 1


@needs_cuda
def test_graphed_denoiser_matches_eager() -> None:
    model = InterHandGen.from_pretrained(device="cuda")
    backend = model.use_backend(BackendConfig(name="cuda-graph"))
    for batch in (1, 5, 1):
        x = torch.randn(batch, 64, device="cuda")
        t = torch.randint(0, 100, (batch,), device="cuda")
        mask = torch.rand(batch, device="cuda") > 0.5
        with torch.no_grad():
            expected = model.denoiser(x, t, x, mask, None)
        torch.testing.assert_close(backend(x, t, x, mask, None), expected, rtol=0, atol=1e-5)


@needs_cuda
def test_inputs_on_the_wrong_device_are_refused() -> None:
    backend = InterHandGen.from_pretrained(device="cuda", backend=BackendConfig(name="cuda-graph")).backend
    x = torch.zeros(2, 64)
    with pytest.raises(BackendError, match="inputs must be on cuda"):
        backend(x, torch.zeros(2, dtype=torch.long), x, torch.ones(2, dtype=torch.bool), None)


@needs_cuda
def test_a_joint_prior_is_graphed_with_its_own_sampler(tmp_path: Path) -> None:
    path = _joint_prior(tmp_path)
    eager = TwoHandPipeline.from_pretrained(path, device="cuda")
    graphed = TwoHandPipeline.from_pretrained(path, device="cuda", backend=BackendConfig(name="cuda-graph"))
    reference = eager.sample(4, seed=1, ddim_steps=4)
    for _ in range(2):  # captured, then replayed
        samples = graphed.sample(4, seed=1, ddim_steps=4)
    difference = (samples.right_vertices - reference.right_vertices).abs().amax(dim=(1, 2))
    assert difference.median() < 1e-4


@needs_cuda
def test_work_that_cannot_be_captured_runs_eagerly(caplog: pytest.LogCaptureFixture) -> None:
    backend = TwoHandPipeline.from_pretrained(device="cuda", backend=BackendConfig(name="cuda-graph")).backend
    assert isinstance(backend, CudaGraphBackend)
    calls = []

    def host_read(x: Tensor) -> list[Tensor]:  # float() reads a device value back: not capturable
        calls.append(1)
        return [x * float(x.sum())]

    x = torch.arange(4.0, device="cuda")
    with caplog.at_level(logging.WARNING, logger="interhandgen_core.runtime"):
        first = backend.run_captured("host read", host_read, [x])
    assert "running it eagerly" in caplog.text
    torch.testing.assert_close(first[0], x * 6.0)
    before = len(calls)
    again = backend.run_captured("host read", host_read, [x])  # no second capture attempt: one eager call
    assert len(calls) == before + 1
    torch.testing.assert_close(again[0], x * 6.0)
