"""CUDA graphs: record a fixed-shape piece of GPU work once, replay it with one launch.

At batch 1 the denoiser and the guidance are a few hundred small kernels per DDIM step, each
costing more to launch from Python than to run; a CUDA graph replays the recorded kernels
without Python or launch overhead. Two captures are offered:

    CudaGraphBackend(...)(x_t, t, cond, cond_mask, emb)   one denoiser call, captured per batch
                                                          size (the refiner's calls, any caller)
    CudaGraphBackend.run_captured(key, fn, inputs)        any function of tensors, captured per
                                                          key and input shapes; the pipelines
                                                          (pipelines/prior_pipeline.py) pass the
                                                          whole guided cascade of prior/sampler.py
                                                          (both hands, every DDIM step, CFG and the
                                                          anti-penetration gradient), keyed by
                                                          sampler class, configuration and object
                                                          cloud, so one graph per batch size,
                                                          configuration and cloud size

Inside ``fn`` the denoiser is ``capturable_denoiser``, this backend's eager one: a graph cannot
be captured inside another. A function whose capture fails runs eagerly from then on for its
key and shapes (logged once): a robot would rather have its grasps late than not at all.

Capture rules this relies on (torch.cuda.graphs): inputs and outputs live in static buffers
that are copied into before and out of each replay; the captured code neither synchronises
with the host nor copies host memory to the device (prior/sampler.py keeps to that, and
tests/runtime/test_cuda_graph.py checks it on any machine); shapes and Python-side decisions
(batch size, number of steps, weights) are frozen into the graph, hence the cache keys.
Tensors the captured code reads besides its inputs (a sampler's timesteps, the hand model's
buffers) must outlive the graph: a captured call keeps the function, and so what it holds.
Each graph keeps its own memory pool: graphs of different batch sizes are replayed in any
order, which a shared pool does not allow.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence

import torch
from torch import Tensor

from interhandgen_core.errors import BackendError
from interhandgen_core.prior.denoiser import Denoiser
from interhandgen_core.runtime.backend import DenoiserBackend
from interhandgen_core.runtime.configuration import BackendConfig
from interhandgen_core.runtime.eager import EagerBackend

log = logging.getLogger("interhandgen_core.runtime")

# Captured graphs kept per backend; the least recently used is dropped beyond this.
MAX_GRAPHS = 32
# Eager runs before capture: the first call allocates, picks kernels and fills lazy caches.
WARMUP_RUNS = 2


class CapturedCall:
    """fn(*inputs) -> tensors, captured once for the shapes of ``example_inputs`` and replayed.

    Replay copies the new inputs into the static input buffers and returns copies of the
    static outputs, so results never alias the graph's memory. ``fn`` is kept: the graph reads
    the tensors it holds.
    """

    def __init__(self, fn: Callable[..., Sequence[Tensor]], example_inputs: Sequence[Tensor]) -> None:
        self.fn = fn
        device = example_inputs[0].device
        self.inputs = [x.clone() for x in example_inputs]
        side = torch.cuda.Stream(device)
        side.wait_stream(torch.cuda.current_stream(device))
        with torch.cuda.stream(side):
            for _ in range(WARMUP_RUNS):
                fn(*self.inputs)
        torch.cuda.current_stream(device).wait_stream(side)
        self.graph = torch.cuda.CUDAGraph()
        try:
            with torch.cuda.graph(self.graph):
                self.outputs = list(fn(*self.inputs))
        except RuntimeError as error:
            raise BackendError(
                f"CUDA graph capture failed ({str(error).splitlines()[0]}); use the torch backend instead"
            ) from error

    def __call__(self, *inputs: Tensor) -> list[Tensor]:
        for buffer, value in zip(self.inputs, inputs, strict=True):
            buffer.copy_(value)
        self.graph.replay()
        return [output.clone() for output in self.outputs]


class CudaGraphBackend(DenoiserBackend):
    """The eager denoiser (at config.precision), captured and replayed per input shape."""

    def __init__(self, denoiser: Denoiser, device: torch.device, config: BackendConfig) -> None:
        if device.type != "cuda":
            raise BackendError(f"the cuda-graph backend needs a CUDA device, got {device}")
        super().__init__(
            config, device, denoiser.config.hand_dim * denoiser.config.num_hands, denoiser.config.object_embedding_dim
        )
        self.eager = EagerBackend(denoiser, device, config)
        self._graphs: OrderedDict[Hashable, CapturedCall] = OrderedDict()
        self._uncapturable: set[Hashable] = set()

    def _captured(self, key: Hashable, fn: Callable[..., Sequence[Tensor]], inputs: Sequence[Tensor]) -> CapturedCall:
        call = self._graphs.get(key)
        if call is None:
            call = CapturedCall(fn, inputs)
            self._graphs[key] = call
            if len(self._graphs) > MAX_GRAPHS:
                self._graphs.popitem(last=False)
        else:
            self._graphs.move_to_end(key)
        return call

    def _run(self, x_t: Tensor, t: Tensor, cond: Tensor, cond_mask: Tensor, object_embedding: Tensor | None) -> Tensor:
        inputs = [x_t, t, cond, cond_mask] + ([] if object_embedding is None else [object_embedding])

        def denoise(*args: Tensor) -> list[Tensor]:
            embedding = args[4] if len(args) > 4 else None
            return [self.eager._run(args[0], args[1], args[2], args[3], embedding)]

        return self._captured(("denoiser", x_t.shape[0]), denoise, inputs)(*inputs)[0]

    @property
    def capturable_denoiser(self) -> DenoiserBackend:
        return self.eager

    def run_captured(
        self, key: Hashable, fn: Callable[..., Sequence[Tensor]], inputs: Sequence[Tensor]
    ) -> list[Tensor]:
        """fn(*inputs), captured once per (key, input shapes and dtypes) and replayed; eager where capture failed.

        ``fn`` calls ``capturable_denoiser`` (this backend's eager denoiser); every tensor in
        ``inputs`` is on this device.
        """
        full_key = (key, *((tuple(x.shape), x.dtype) for x in inputs))
        if full_key in self._uncapturable:
            return list(fn(*inputs))
        try:
            return self._captured(full_key, fn, inputs)(*inputs)
        except BackendError as error:
            # A robot would rather have its grasps late than not at all: run this work eagerly from now on.
            log.warning("%s; running it eagerly for this configuration", error)
            self._uncapturable.add(full_key)
            return list(fn(*inputs))

    def close(self) -> None:
        self._graphs.clear()
        self._uncapturable.clear()
