"""Loss functions of the original, as elementwise or mean-reduced tensors.

* Poisson negative log-likelihood without the constant ``log(y!)`` term:
  ``exp(log ŷ) - y·log ŷ`` per element (``ŷ`` predicted intensity in counts, ``y`` measured counts). No
  epsilon: ``ŷ = 0`` gives ``inf``/``NaN`` exactly as in the original.
* MAE: ``|y - ŷ|``.
* Real-space loss: ``tv_weight·TV(pred) + realspace_mae_weight·MAE(target, pred)``, with ``pred`` multiplied
  by the central ``N/2×N/2`` mask unless ``probe_big``; 0 when both weights are 0 (the default).
"""

from __future__ import annotations

import numpy as np
from keras import ops

from ..types import Tensor
from ._checks import is_complex


def poisson_nll(y_true: Tensor, y_pred: Tensor):
    """Elementwise ``exp(log ŷ) - y·log ŷ`` (float32, shape of the inputs)."""
    y_pred = ops.convert_to_tensor(y_pred)
    y_true = ops.cast(ops.convert_to_tensor(y_true), y_pred.dtype)
    log_pred = ops.log(y_pred)
    return ops.exp(log_pred) - y_true * log_pred


def poisson_nll_floor(amplitudes: np.ndarray) -> float:
    """The least value of :func:`poisson_nll_mean` for measured counts ``y = amplitudes²`` (any shape ``(n, ...)``):
    ``mean(y - y·log y)`` in float64 (``0·log 0 = 0``), reached by the perfect prediction ``ŷ = y``.

    The Poisson NLL without ``log(y!)`` is dominated by this data-dependent constant (about ``-4e6`` per pixel
    for 1e9 photons on 64×64); ``loss - floor ≥ 0`` is what training can still reduce. Read in chunks of rows.
    """
    from scipy.special import xlogy

    a = np.asarray(amplitudes)
    if a.size == 0:
        raise ValueError("no amplitudes given")
    step = max(1, (1 << 20) // max(1, a[:1].size))
    total = 0.0
    for start in range(0, len(a), step):
        y = np.square(a[start : start + step], dtype=np.float64)
        total += float(np.sum(y - xlogy(y, y)))
    return total / a.size


def poisson_nll_mean(y_true: Tensor, y_pred: Tensor):
    """Mean of :func:`poisson_nll` over all elements (what Keras reports with ``sum_over_batch_size``)."""
    return ops.mean(poisson_nll(y_true, y_pred))


def mean_absolute_error(y_true: Tensor, y_pred: Tensor):
    """Mean of ``|y - ŷ|`` over all elements."""
    y_pred = ops.convert_to_tensor(y_pred)
    return ops.mean(ops.abs(ops.cast(y_true, y_pred.dtype) - y_pred))


def total_variation(images: Tensor):
    """``Σ (∂x)² + Σ (∂y)²`` of forward differences of ``(n, H, W, ch)``; complex: real + imaginary parts."""
    if is_complex(images):
        z = ops.convert_to_tensor(images)
        return total_variation(ops.real(z)) + total_variation(ops.imag(z))
    x = ops.convert_to_tensor(images)
    dy = x[:, 1:, :, :] - x[:, :-1, :, :]
    dx = x[:, :, 1:, :] - x[:, :, :-1, :]
    return ops.sum(dx * dx) + ops.sum(dy * dy)


def center_mask(size: int, channels: int = 1) -> np.ndarray:
    """Ones on the central ``N/2×N/2`` window ``[N//4, N//4 + N//2)²``, zeros elsewhere: ``(N, N, channels)``."""
    mask = np.zeros((size, size, channels), np.float32)
    q, h = size // 4, size // 2
    mask[q : q + h, q : q + h, :] = 1.0
    return mask


def realspace_loss(
    target: Tensor, pred: Tensor, *, probe_big: bool, tv_weight: float = 0.0, realspace_mae_weight: float = 0.0
):
    """The original's real-space loss on ``(B, N, N, 1)`` object patches (0.0 with both weights 0).

    Args:
        target: ground-truth amplitude patches (real).
        pred: predicted object (under Keras 3 the original receives only its real part).
        probe_big: without ``probe_big`` the prediction is restricted to the central window first.
    """
    pred = ops.convert_to_tensor(pred)
    if not probe_big:
        size = int(ops.shape(pred)[1])
        pred = pred * ops.cast(center_mask(size)[None], pred.dtype)
    loss = 0.0
    if tv_weight > 0:
        loss = loss + tv_weight * total_variation(pred)
    if realspace_mae_weight > 0:
        loss = loss + realspace_mae_weight * mean_absolute_error(target, pred)
    return loss
