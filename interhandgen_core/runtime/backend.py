"""The denoiser backend interface (ARCHITECTURE.md, "runtime"); runtime/factory.py builds one.

    backend(x_t (B, 64), t (B,) long, cond (B, 64), cond_mask (B,) bool,
            object_embedding (B, E) | None) -> x_0 (B, 64) float32

All tensors are torch tensors on ``backend.device``, in normalised units (prior/representation.py),
exactly as ``prior.denoiser.Denoiser.forward`` takes them; whatever runs inside (torch, a CUDA
graph, ONNX Runtime, a TensorRT engine), the caller sees the same function. Backends run without
gradients: the sampler's and the refiner's guidance differentiate through the hand model only.

Work that calls the denoiser many times on fixed shapes (the whole guided cascade of a batch)
is handed over as one callable: ``backend.run_captured(key, fn, inputs)`` returns ``fn(*inputs)``;
the CUDA-graph backend captures it once per key and input shapes and replays it
(runtime/cuda_graph.py). Inside ``fn`` the denoiser is ``backend.capturable_denoiser``.

What each backend needs:
    torch         nothing beyond torch; fp16 needs CUDA, bf16 a CUDA GPU or a CPU with bf16 support
    cuda-graph    a CUDA device (runtime/cuda_graph.py)
    onnxruntime   the ``onnx`` extra: onnx, onnxscript, onnxruntime (onnxruntime-gpu for CUDA)
    tensorrt      the ``tensorrt`` Python package (JetPack ships it on a Jetson), a CUDA device
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Hashable, Sequence

import torch
from torch import Tensor

from interhandgen_core.errors import BackendError
from interhandgen_core.hands.hand_params import HAND_DIM
from interhandgen_core.runtime.configuration import BackendConfig


class DenoiserBackend(ABC):
    """Runs D_phi. Subclasses implement ``_run`` on inputs that ``__call__`` has checked."""

    def __init__(self, config: BackendConfig, device: torch.device, hand_dim: int, object_embedding_dim: int) -> None:
        self.config = config
        self.device = device
        self.hand_dim = hand_dim
        self.object_embedding_dim = object_embedding_dim

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def max_batch(self) -> int | None:
        """The largest batch one call takes (None: no limit beyond memory)."""
        return None

    def __call__(
        self, x_t: Tensor, t: Tensor, cond: Tensor, cond_mask: Tensor, object_embedding: Tensor | None = None
    ) -> Tensor:
        check_denoiser_inputs(
            x_t, t, cond, cond_mask, object_embedding, self.hand_dim, self.object_embedding_dim, self.device
        )
        limit = self.max_batch
        if limit is not None and x_t.shape[0] > limit:
            raise BackendError(
                f"batch {x_t.shape[0]} exceeds the {self.name} backend's maximum of {limit}; sample in smaller "
                f"batches or rebuild with a larger BackendConfig.max_batch"
            )
        return self._run(x_t, t, cond, cond_mask, object_embedding)

    @property
    def capturable_denoiser(self) -> DenoiserBackend:
        """The denoiser for a function given to ``run_captured``: this backend itself unless it captures
        (a CUDA graph cannot be captured inside another: runtime/cuda_graph.py gives its eager one)."""
        return self

    def run_captured(
        self, key: Hashable, fn: Callable[..., Sequence[Tensor]], inputs: Sequence[Tensor]
    ) -> list[Tensor]:
        """fn(*inputs) -> its output tensors; this default simply calls it.

        ``fn`` is device work only, with no host reads and no copies from the host (the capture rules
        of runtime/cuda_graph.py), calling ``capturable_denoiser``. ``key`` names everything ``fn``
        freezes besides its inputs' shapes (sampler class, configuration, model): a backend that
        captures reuses one capture per key and input shapes.
        """
        return list(fn(*inputs))

    @abstractmethod
    def _run(
        self, x_t: Tensor, t: Tensor, cond: Tensor, cond_mask: Tensor, object_embedding: Tensor | None
    ) -> Tensor: ...

    @abstractmethod
    def close(self) -> None:
        """Free what the backend holds (sessions, engines, graphs). Calling it twice is harmless."""

    def __enter__(self) -> DenoiserBackend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.config.spec}, device={self.device})"


def check_denoiser_inputs(
    x_t: Tensor,
    t: Tensor,
    cond: Tensor,
    cond_mask: Tensor,
    object_embedding: Tensor | None,
    hand_dim: int,
    object_embedding_dim: int,
    device: torch.device,
) -> None:
    """Raise BackendError unless the five inputs have the shapes, dtypes and device of the interface.

    hand_dim: the width of x_t (64; 128 for the joint baseline, whose cond is still one hand's 64).
    """
    batch = x_t.shape[0] if x_t.ndim == 2 else -1
    problems = []
    if x_t.shape != (batch, hand_dim) or batch < 1:
        problems.append(f"x_t must be (B >= 1, {hand_dim}), got {tuple(x_t.shape)}")
    if cond.shape != (batch, HAND_DIM):
        problems.append(f"cond must be ({batch}, {HAND_DIM}), got {tuple(cond.shape)}")
    if t.shape != (batch,) or t.dtype != torch.long:
        problems.append(f"t must be a ({batch},) long tensor, got {t.dtype} {tuple(t.shape)}")
    if cond_mask.shape != (batch,) or cond_mask.dtype != torch.bool:
        problems.append(f"cond_mask must be a ({batch},) bool tensor, got {cond_mask.dtype} {tuple(cond_mask.shape)}")
    if object_embedding_dim > 0:
        if object_embedding is None or object_embedding.shape != (batch, object_embedding_dim):
            got = None if object_embedding is None else tuple(object_embedding.shape)
            problems.append(
                f"this object-conditioned denoiser needs object_embedding ({batch}, {object_embedding_dim}), got {got}"
            )
    elif object_embedding is not None:
        problems.append("this denoiser takes no object_embedding (it was trained without objects)")
    tensors = [x_t, t, cond, cond_mask] + ([] if object_embedding is None else [object_embedding])
    if any(tensor.device != device for tensor in tensors):
        problems.append(f"inputs must be on {device}, got {sorted({str(tensor.device) for tensor in tensors})}")
    if problems:
        raise BackendError("; ".join(problems))
