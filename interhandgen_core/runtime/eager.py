"""The torch eager backend: the Denoiser module called directly, optionally under autocast.

fp16 / bf16 run the network under ``torch.autocast`` (matrix products in half precision,
reductions and softmax in fp32) and return fp32, so the sampler's DDIM arithmetic and the
guidance always run in fp32.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch import Tensor

from interhandgen_core.errors import ConfigError
from interhandgen_core.prior.denoiser import Denoiser
from interhandgen_core.runtime.backend import DenoiserBackend
from interhandgen_core.runtime.configuration import BackendConfig

AUTOCAST_DTYPES = {"fp16": torch.float16, "bf16": torch.bfloat16}


def autocast_for(precision: str, device: torch.device) -> contextlib.AbstractContextManager[object]:
    """The autocast context of ``precision`` on ``device`` (a no-op for fp32)."""
    if precision == "fp32":
        return contextlib.nullcontext()
    if device.type == "cpu" and precision == "fp16":
        raise ConfigError("fp16 autocast needs a CUDA device; on the CPU use precision bf16 or fp32")
    # No weight-cast cache: each call enters a fresh context anyway, and CUDA graph capture
    # (runtime/cuda_graph.py) requires it off.
    return torch.autocast(device_type=device.type, dtype=AUTOCAST_DTYPES[precision], cache_enabled=False)


class EagerBackend(DenoiserBackend):
    """D_phi as a torch module, no gradients, fp32 output."""

    def __init__(self, denoiser: Denoiser, device: torch.device, config: BackendConfig) -> None:
        super().__init__(
            config, device, denoiser.config.hand_dim * denoiser.config.num_hands, denoiser.config.object_embedding_dim
        )
        autocast_for(config.precision, device)  # refuses fp16 on the CPU now, not at the first call
        self.denoiser = denoiser

    @contextlib.contextmanager
    def _mode(self) -> Iterator[None]:
        with torch.no_grad(), autocast_for(self.config.precision, self.device):
            yield

    def _run(self, x_t: Tensor, t: Tensor, cond: Tensor, cond_mask: Tensor, object_embedding: Tensor | None) -> Tensor:
        with self._mode():
            return self.denoiser(x_t, t, cond, cond_mask, object_embedding).float()

    def close(self) -> None:
        # The module belongs to the loaded prior; nothing of our own to free.
        pass
