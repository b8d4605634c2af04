"""Small helpers to move data between NumPy and the backend and to measure deviations."""

from __future__ import annotations

import numpy as np
from keras import ops


def to_numpy(x) -> np.ndarray:
    return np.asarray(ops.convert_to_numpy(x))


def max_abs(a, b) -> float:
    return float(np.max(np.abs(np.asarray(a) - np.asarray(b)))) if np.size(a) else 0.0


def rel_err(actual, expected) -> float:
    """Max absolute deviation divided by the largest magnitude of the expected values (normwise, max-norm)."""
    expected = np.asarray(expected)
    scale = float(np.max(np.abs(expected))) if expected.size else 0.0
    return max_abs(actual, expected) / (scale if scale > 0 else 1.0)


def assert_close(actual, expected, rtol: float, what: str = "") -> float:
    """Assert the normwise relative error is <= rtol; returns it (tests print it for the record)."""
    actual = to_numpy(actual) if not isinstance(actual, np.ndarray) else actual
    assert np.shape(actual) == np.shape(expected), f"{what}: shape {np.shape(actual)} != {np.shape(expected)}"
    err = rel_err(actual, expected)
    assert err <= rtol, f"{what}: relative error {err:.3e} > {rtol:.1e}"
    return err
