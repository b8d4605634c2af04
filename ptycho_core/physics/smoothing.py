"""Small Gaussian smoothing of real or complex images with reflect borders (the probe-illumination option).

Kernel: per axis ``softmax(-t²/(2σ²))`` for ``t = (-s)//2 + 1 … s//2`` (a normalised Gaussian), 2-D kernel the
outer product; padding ``reflect`` (``c b | a b c | b a``, no edge repeat); stride 1, same output size. Complex
inputs are filtered as independent real and imaginary parts. Written as a sum of shifted slices, so it needs
no convolution op (no TF32 or layout surprises on any backend).
"""

from __future__ import annotations

from typing import Sequence, Union

import numpy as np
from keras import ops

from ..types import Tensor
from ._checks import check_rank, is_complex
from .complex import complex_from_parts


def gaussian_kernel_1d(size: int, sigma: float) -> np.ndarray:
    """Normalised 1-D Gaussian kernel of ``size`` taps (float32)."""
    t = np.arange((-size) // 2 + 1, size // 2 + 1, dtype=np.float64)
    logits = -(t**2) / (2.0 * float(sigma) ** 2)
    weights = np.exp(logits - logits.max())
    return (weights / weights.sum()).astype(np.float32)


def gaussian_kernel_2d(filter_shape: Sequence[int], sigma: Sequence[float]) -> np.ndarray:
    """``outer(k_y, k_x)`` for ``filter_shape = (rows, cols)`` and ``sigma = (σ_y, σ_x)`` (float32)."""
    return np.outer(gaussian_kernel_1d(filter_shape[0], sigma[0]), gaussian_kernel_1d(filter_shape[1], sigma[1]))


def gaussian_filter2d(
    images: Tensor, filter_shape: Union[int, Sequence[int]] = 3, sigma: Union[float, Sequence[float]] = 1.0
):
    """Gaussian smoothing of ``(n, H, W, ch)`` images with reflect padding; output has the input's shape.

    Args:
        images: real or complex tensor.
        filter_shape: kernel size (int or ``(rows, cols)``).
        sigma: standard deviation in pixels (float or ``(σ_y, σ_x)``), must be > 0.
    """
    shape = check_rank(images, 4, "images", "(n, H, W, ch)")
    if isinstance(filter_shape, (int, np.integer)):
        filter_shape = (int(filter_shape), int(filter_shape))
    if isinstance(sigma, (int, float, np.floating)):
        sigma = (float(sigma), float(sigma))
    if len(filter_shape) != 2 or len(sigma) != 2:
        raise ValueError(f"filter_shape and sigma must be scalars or pairs; got {filter_shape!r}, {sigma!r}")
    if min(sigma) <= 0:
        raise ValueError(f"sigma must be > 0 pixels; got {sigma!r}")
    fh, fw = int(filter_shape[0]), int(filter_shape[1])
    h, w = shape[1], shape[2]
    if h is not None and (fh > h or fw > w):
        raise ValueError(f"filter_shape {filter_shape} is larger than the images ({h}, {w})")
    if is_complex(images):
        z = ops.convert_to_tensor(images)
        ch = int(ops.shape(z)[3])
        both = gaussian_filter2d(ops.concatenate([ops.real(z), ops.imag(z)], axis=-1), filter_shape, sigma)
        return complex_from_parts(both[..., :ch], both[..., ch:])
    kernel = gaussian_kernel_2d((fh, fw), sigma)
    top, left = (fh - 1) // 2, (fw - 1) // 2
    padded = ops.pad(
        ops.convert_to_tensor(images),
        [[0, 0], [top, fh - 1 - top], [left, fw - 1 - left], [0, 0]],
        mode="reflect",
    )
    out = None
    for i in range(fh):
        for j in range(fw):
            term = float(kernel[i, j]) * padded[:, i : i + h, j : j + w, :]
            out = term if out is None else out + term
    return out


def complex_gaussian_filter2d(
    images: Tensor, filter_shape: Union[int, Sequence[int]], sigma: Union[float, Sequence[float]]
):
    """:func:`gaussian_filter2d` on the real and imaginary parts of a complex ``(n, H, W, ch)`` tensor."""
    return gaussian_filter2d(images, filter_shape, sigma)
