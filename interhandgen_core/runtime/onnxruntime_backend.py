"""The ONNX Runtime backend: the exported denoiser (runtime/onnx_export.py) in an InferenceSession.

On the CPU, inputs go in as numpy views of the torch tensors and x0 comes back as a torch
tensor sharing the numpy buffer. On CUDA (onnxruntime-gpu's CUDAExecutionProvider), the
torch tensors are bound in place with an IOBinding and the output is written into a torch
tensor, so nothing crosses to the host; torch's current stream is synchronised first, because
ONNX Runtime runs on its own stream.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from interhandgen_core.errors import BackendError
from interhandgen_core.runtime.backend import DenoiserBackend
from interhandgen_core.runtime.configuration import BackendConfig
from interhandgen_core.runtime.onnx_export import DENOISER_INPUTS, DENOISER_OUTPUT, read_onnx_metadata

_NUMPY_TYPES = {torch.float32: np.float32, torch.int64: np.int64, torch.bool: np.bool_}


def _require_onnxruntime() -> Any:
    try:
        import onnxruntime
    except ImportError as error:
        raise BackendError(
            f"the onnxruntime backend needs onnxruntime (pip install 'interhandgen-core[onnx]'; onnxruntime-gpu "
            f"for CUDA): {error}"
        ) from None
    return onnxruntime


class OnnxRuntimeBackend(DenoiserBackend):
    """D_phi from an ONNX file, CPU or CUDA execution provider."""

    def __init__(
        self, onnx_path: Path, config: BackendConfig, device: torch.device, hand_dim: int, object_embedding_dim: int
    ) -> None:
        super().__init__(config, device, hand_dim, object_embedding_dim)
        ort = _require_onnxruntime()
        read_onnx_metadata(onnx_path)  # a corrupt or foreign file is refused before ONNX Runtime parses it
        if device.type == "cuda":
            if "CUDAExecutionProvider" not in ort.get_available_providers():
                raise BackendError(
                    "onnxruntime has no CUDAExecutionProvider here: install onnxruntime-gpu, or run on the CPU"
                )
            providers: list[Any] = [("CUDAExecutionProvider", {"device_id": device.index or 0})]
        else:
            providers = ["CPUExecutionProvider"]
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # Share the cores torch was told to use, rather than ONNX Runtime's default of all of them.
        options.intra_op_num_threads = int(os.environ.get("OMP_NUM_THREADS", torch.get_num_threads()))
        # Between calls torch runs the guidance on the same cores; ONNX Runtime's workers would
        # otherwise spin-wait there after each call and slow torch down (measured: the cascade
        # ran 0.6-0.85x eager's speed with spinning, though the denoiser itself ran 2-3.6x faster).
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            self.session = ort.InferenceSession(str(onnx_path), sess_options=options, providers=providers)
        except Exception as error:  # ONNX Runtime raises its own Fail / InvalidGraph types
            raise BackendError(f"{onnx_path}: ONNX Runtime cannot load it: {str(error).splitlines()[0]}") from None
        self.input_names = [i.name for i in self.session.get_inputs()]
        expected = list(DENOISER_INPUTS[: 5 if object_embedding_dim > 0 else 4])
        if self.input_names != expected:
            raise BackendError(
                f"{onnx_path}: inputs {self.input_names}, this model needs {expected} "
                f"({'object-conditioned' if object_embedding_dim > 0 else 'two-hand'} prior)"
            )
        self.path = onnx_path

    def _run(self, x_t: Tensor, t: Tensor, cond: Tensor, cond_mask: Tensor, object_embedding: Tensor | None) -> Tensor:
        inputs = [x_t.float(), t, cond.float(), cond_mask]
        if object_embedding is not None:
            inputs.append(object_embedding.float())
        inputs = [tensor.contiguous() for tensor in inputs]
        if self.device.type == "cuda":
            return self._run_cuda(inputs)
        feeds = {name: tensor.numpy() for name, tensor in zip(self.input_names, inputs, strict=True)}
        (x0,) = self.session.run([DENOISER_OUTPUT], feeds)
        return torch.from_numpy(x0)

    def _run_cuda(self, inputs: list[Tensor]) -> Tensor:
        binding = self.session.io_binding()
        index = self.device.index or 0
        for name, tensor in zip(self.input_names, inputs, strict=True):
            binding.bind_input(name, "cuda", index, _NUMPY_TYPES[tensor.dtype], tuple(tensor.shape), tensor.data_ptr())
        out = torch.empty(inputs[0].shape, dtype=torch.float32, device=self.device)
        binding.bind_output(DENOISER_OUTPUT, "cuda", index, np.float32, tuple(out.shape), out.data_ptr())
        torch.cuda.current_stream(self.device).synchronize()  # inputs written by torch must be complete
        self.session.run_with_iobinding(binding)
        return out

    def close(self) -> None:
        self.__dict__.pop("session", None)
