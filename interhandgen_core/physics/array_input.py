"""Arrays handed to the physics validation: numpy or torch in, checked float64 / int64 numpy out."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from interhandgen_core.errors import DataError


def float_array(values: Any, name: str, trailing: tuple[int, ...], ndim: int) -> NDArray[np.float64]:
    """values (numpy or a torch tensor on any device) -> float64 array of ``ndim`` dims ending in ``trailing``.

    DataError naming ``name`` for another shape or a NaN/Inf entry.
    """
    if hasattr(values, "detach"):
        values = values.detach().cpu().numpy()
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != ndim or tuple(array.shape[ndim - len(trailing) :]) != trailing:
        expected = ", ".join(["..."] * (ndim - len(trailing)) + [str(t) for t in trailing])
        raise DataError(f"{name} must have shape ({expected}), got {tuple(array.shape)}")
    if not np.isfinite(array).all():
        raise DataError(f"{name} has {int((~np.isfinite(array)).sum())} NaN or infinite entries")
    return array


def index_array(values: Any, name: str, count: int) -> NDArray[np.int64]:
    """values (F, 3) triangle indices (numpy or torch) -> int64 array; DataError when one lies outside [0, count)."""
    if hasattr(values, "detach"):
        values = values.detach().cpu().numpy()
    array = np.asarray(values)
    if array.ndim != 2 or array.shape[1] != 3 or not np.issubdtype(array.dtype, np.integer):
        raise DataError(f"{name} must be an integer array of shape (F, 3), got {array.dtype} {tuple(array.shape)}")
    if array.size and (array.min() < 0 or array.max() >= count):
        raise DataError(f"{name} index vertices outside [0, {count}): {array.min()} .. {array.max()}")
    return array.astype(np.int64)
