"""Host (NumPy) results for the compat API.

Where the original returned a TensorFlow tensor built from NumPy data (default probe, probe mask, stitched
image), the compat layer returns a :class:`HostArray`: a plain ``numpy.ndarray`` subclass that also has the
``.numpy()`` method of a TF eager tensor, so original scripts that call ``.numpy()`` keep working and NumPy
functions (``np.squeeze``, ``np.abs``...) accept it directly. It never lives on an accelerator.

Imports only NumPy at module level; Keras is imported lazily by :func:`to_numpy` for backend tensors.
"""

from __future__ import annotations

from typing import Any

import numpy as np


class HostArray(np.ndarray):
    """A NumPy array with a TF-style ``.numpy()`` method (returns a plain ``ndarray`` view of the data)."""

    def numpy(self) -> Any:
        """The data as a plain ``numpy.ndarray`` (a view, no copy); a NumPy scalar for 0-d, like TF's."""
        plain = self.view(np.ndarray)
        return plain[()] if plain.ndim == 0 else plain

    def __array_wrap__(self, obj, context=None, return_scalar=False):
        # Results of ufuncs and reductions are plain NumPy (scalars for 0-d), so the subclass stays at the API
        # boundary instead of spreading into user arrays; views and slices keep ``.numpy()``.
        out = np.asarray(obj).view(np.ndarray)
        return out[()] if (return_scalar or out.ndim == 0) else out


def to_numpy(x: Any) -> np.ndarray:
    """Any array-like (NumPy, list, scalar, TF/torch/jax tensor on any device) as a plain ``numpy.ndarray``."""
    if isinstance(x, np.ndarray):
        return x.view(np.ndarray) if type(x) is not np.ndarray else x
    if isinstance(x, (list, tuple, int, float, complex, np.generic)):
        return np.asarray(x)
    from keras import ops  # lazy: keeps this module backend-free at import

    return np.asarray(ops.convert_to_numpy(x))


def host(x: Any, dtype: Any = None) -> HostArray:
    """``x`` converted to NumPy (optionally cast to ``dtype``) and viewed as a :class:`HostArray`."""
    arr = to_numpy(x)
    if dtype is not None:
        arr = arr.astype(dtype, copy=False)
    return np.asarray(arr).view(HostArray)
