"""Argument checks shared by the physics functions.

Every check raises ``ValueError`` naming the argument, what was expected and what was received, so a caller
can fix the call without reading the source. Shape checks use static shapes only (``None`` dimensions are
accepted), so they cost nothing inside traced or compiled code. Value checks (finite numbers) run only on host
data (NumPy arrays, lists, Python numbers), never on backend tensors, so they never force a device sync.
"""

from __future__ import annotations

from typing import List, Optional, Sequence

import numpy as np
from keras import ops

from ..types import Tensor


def static_shape(x: Tensor) -> tuple:
    """Static shape of ``x`` as a tuple of ints or ``None`` for unknown dimensions."""
    shape = getattr(x, "shape", None)
    if shape is None:
        shape = np.shape(x)
    out: List[Optional[int]] = []
    for d in tuple(shape):
        try:
            out.append(int(d))
        except (TypeError, ValueError):
            out.append(None)
    return tuple(out)


def describe(shape: Sequence) -> str:
    return "(" + ", ".join("?" if d is None else str(d) for d in shape) + ")"


def check_rank(x: Tensor, rank: int, name: str, layout: str) -> tuple:
    """Require ``x`` to have ``rank`` dimensions; ``layout`` describes them, e.g. ``'(n, H, W, ch)'``."""
    shape = static_shape(x)
    if len(shape) != rank:
        raise ValueError(f"{name} must have shape {layout} ({rank} dimensions); got shape {describe(shape)}")
    return shape


def check_dim(shape: tuple, axis: int, expected: int, name: str, layout: str) -> None:
    """Require ``shape[axis] == expected`` where the dimension is known."""
    got = shape[axis]
    if got is not None and got != expected:
        raise ValueError(
            f"{name} must have shape {layout} with size {expected} on axis {axis}; got shape {describe(shape)}"
        )


def check_even_positive(value: int, name: str, hint: str = "") -> int:
    if int(value) != value or value <= 0 or int(value) % 2:
        raise ValueError(f"{name} must be a positive even integer; got {value!r}{hint}")
    return int(value)


def is_host_array(x: Tensor) -> bool:
    """True for data that lives on the host (NumPy arrays, lists, Python numbers)."""
    return isinstance(x, (np.ndarray, np.generic, list, tuple, int, float, complex))


def check_finite(x: Tensor, name: str) -> None:
    """Reject NaN/inf in host data (no-op for backend tensors, see module docstring)."""
    if is_host_array(x):
        arr = np.asarray(x)
        if arr.dtype.kind in "fc" and not np.all(np.isfinite(arr)):
            bad = int(np.size(arr) - np.count_nonzero(np.isfinite(arr)))
            raise ValueError(
                f"{name} contains {bad} non-finite value(s) (NaN or inf); remove or repair them before the call"
            )


def is_complex(x: Tensor) -> bool:
    """True if ``x`` has a complex dtype (NumPy or backend tensor)."""
    dtype = getattr(x, "dtype", None)
    if dtype is None:
        return np.iscomplexobj(x)
    return "complex" in str(dtype)


def real_float(x: Tensor, dtype: str = "float32"):
    """Backend tensor of the real part of ``x`` (complex offsets keep their real part, as in the original)."""
    if is_complex(x):
        x = ops.real(ops.convert_to_tensor(x))
    return ops.cast(x, dtype)
