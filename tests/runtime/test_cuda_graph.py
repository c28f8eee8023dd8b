"""CUDA graphs (runtime/cuda_graph.py).

Capture needs a GPU, but what makes code capturable can be checked anywhere: the captured
work must not read a device value back to the host (``.item()``, a 0-d tensor used as an
index, boolean-mask indexing, ``nonzero``) nor make a tensor from host data. The first test
runs the whole guided cascade, with and without an object, under a dispatch mode that
records exactly those operations, on the CPU.
"""

from __future__ import annotations

import traceback

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from interhandgen_core.data.procedural_objects import generate_objects
from interhandgen_core.errors import BackendError
from interhandgen_core.pipelines.interhandgen import InterHandGen, default_object_checkpoint
from interhandgen_core.pipelines.sensor_cloud import preprocess_cloud
from interhandgen_core.runtime.configuration import BackendConfig

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


@pytest.mark.parametrize("with_object", [False, True])
def test_the_cascade_never_waits_for_the_host(with_object: bool) -> None:
    model = InterHandGen.from_pretrained(default_object_checkpoint() if with_object else None)
    sampler = model.sampler()
    obj = None
    if with_object:
        points, normals = generate_objects(1, seed=0).sample_surface(1024, seed=0)
        obj = model._object_condition(preprocess_cloud(points[0], None, normals[0]), 0, sampler.config)
    noise = sampler.draw_noise(3, torch.Generator().manual_seed(0), model.device)
    sampler.timestep_pairs(model.device)  # made before capture (runtime/cuda_graph.py does the same)
    with HostOperationRecorder() as recorder:
        sampler.sample_from_noise(*noise, obj)
    assert recorder.found == [], "\n".join(sorted(set(recorder.found)))


needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA (CUDA graphs)")


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
