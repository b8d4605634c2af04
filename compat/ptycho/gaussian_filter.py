"""The original ``ptycho.gaussian_filter`` (a TFA ``gaussian_filter2d`` replacement) on ``ptycho_core``.

Kernel: per axis a normalised Gaussian over ``t = (-s)//2 + 1 … s//2``, 2-D kernel the outer product; REFLECT
borders (``c b | a b c | b a``); stride 1, output of the input's shape. Results are backend tensors.

Only ``padding='REFLECT'`` and ``sigma > 0``; complex input is filtered per part (README: differences).
"""

from __future__ import annotations

from typing import Any, Optional, Sequence, Union

import keras
from keras import ops

from ptycho_core import physics as core

__all__ = ["gaussian_filter2d", "complex_gaussian_filter2d"]

Shape = Union[int, Sequence[int]]
Sigma = Union[float, Sequence[float]]


def gaussian_filter2d(
    image: Any,
    filter_shape: Shape = 3,
    sigma: Sigma = 1.0,
    padding: str = "REFLECT",
    constant_values: float = 0,
    name: Optional[str] = None,
):
    """Gaussian blur of ``(H, W)``, ``(H, W, ch)`` or ``(n, H, W, ch)`` images (same shape and dtype out).

    Args:
        image: real (or complex) image(s); integer inputs are filtered in float32 and cast back.
        filter_shape: kernel size, int or ``(rows, cols)``.
        sigma: standard deviation in pixels, float or ``(σ_y, σ_x)``, > 0.
        padding: only ``'REFLECT'`` (case-insensitive).
        constant_values, name: accepted for compatibility; unused.
    """
    if str(padding).upper() != "REFLECT":
        raise ValueError(f"padding must be 'REFLECT' (the only mode supported); got {padding!r}")
    if isinstance(sigma, (list, tuple)) and len(sigma) != 2:
        raise ValueError(f"sigma must be a float or a pair of floats; got {sigma!r}")
    x = ops.convert_to_tensor(image)
    ndim = len(x.shape)
    if ndim not in (2, 3, 4):
        raise ValueError(f"image must be 2-D (H, W), 3-D (H, W, ch) or 4-D (n, H, W, ch); got {ndim}-D")
    dtype = keras.backend.standardize_dtype(x.dtype)
    if "float" not in dtype and "complex" not in dtype:
        x = ops.cast(x, "float32")
    if ndim == 2:
        x = x[None, :, :, None]
    elif ndim == 3:
        x = x[None]
    out = core.gaussian_filter2d(x, filter_shape, sigma)
    if ndim == 2:
        out = out[0, :, :, 0]
    elif ndim == 3:
        out = out[0]
    return out if keras.backend.standardize_dtype(out.dtype) == dtype else ops.cast(out, dtype)


def complex_gaussian_filter2d(input_tensor: Any, filter_shape: Shape, sigma: Sigma):
    """:func:`gaussian_filter2d` of the real and imaginary parts of a tensor, recombined as complex64.

    Accepts the shapes of :func:`gaussian_filter2d`; a real input is treated as having zero imaginary part.
    """
    x = ops.convert_to_tensor(input_tensor)
    if keras.backend.standardize_dtype(x.dtype) != "complex64":
        x = ops.cast(x, "complex64")
    return gaussian_filter2d(x, filter_shape=filter_shape, sigma=sigma)
