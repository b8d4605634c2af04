"""Image agreement measures for reconstructions whose placement and scale are not fixed.

A PINN reconstruction is known up to a global amplitude scale and, after stitching, up to the placement of the
stitched canvas in the object's frame. :func:`aligned_correlation` finds the integer shift that best overlays a
reconstruction on a reference (FFT cross-correlation of the mean-removed images) and returns the Pearson
correlation over the overlap — invariant to scale and offset of the values.
"""

from __future__ import annotations

from typing import Tuple

import numpy as np

__all__ = ["pearson", "best_shift", "aligned_correlation"]


def pearson(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation of two real arrays of the same shape (0 when either is constant)."""
    a = np.asarray(a, np.float64).ravel()
    b = np.asarray(b, np.float64).ravel()
    if a.shape != b.shape:
        raise ValueError(f"shapes differ: {a.shape} vs {b.shape}")
    a, b = a - a.mean(), b - b.mean()
    denominator = np.sqrt((a * a).sum() * (b * b).sum())
    return float((a * b).sum() / denominator) if denominator > 0 else 0.0


def best_shift(image: np.ndarray, reference: np.ndarray) -> Tuple[int, int]:
    """Integer ``(row, col)`` placing ``image`` (h, w) inside ``reference`` (H ≥ h, W ≥ w) where they agree best.

    ``reference[row:row+h, col:col+w]`` has the highest normalised cross-correlation with ``image``.
    """
    image = np.asarray(image, np.float64)
    reference = np.asarray(reference, np.float64)
    h, w = image.shape
    H, W = reference.shape
    if h > H or w > W:
        raise ValueError(f"image {image.shape} is larger than the reference {reference.shape}")
    template = image - image.mean()
    shape = (H, W)
    spectrum = np.fft.rfft2(reference, shape) * np.conj(np.fft.rfft2(template, shape))
    correlation = np.fft.irfft2(spectrum, shape)[: H - h + 1, : W - w + 1]
    # normalise by the local energy of the reference under the window
    window = np.ones((h, w))
    local_sum = np.fft.irfft2(np.fft.rfft2(reference, shape) * np.conj(np.fft.rfft2(window, shape)), shape)
    local_sq = np.fft.irfft2(np.fft.rfft2(reference**2, shape) * np.conj(np.fft.rfft2(window, shape)), shape)
    local_sum, local_sq = local_sum[: H - h + 1, : W - w + 1], local_sq[: H - h + 1, : W - w + 1]
    local_var = np.maximum(local_sq - local_sum**2 / (h * w), 1e-12)
    score = correlation / np.sqrt(local_var)
    row, col = np.unravel_index(int(np.argmax(score)), score.shape)
    return int(row), int(col)


def aligned_correlation(image: np.ndarray, reference: np.ndarray, border: int = 0) -> float:
    """Pearson correlation of ``image`` with the best-matching window of ``reference``.

    Args:
        image: real ``(h, w)``, e.g. a stitched amplitude (squeezed).
        reference: real ``(H, W)`` with ``H ≥ h``, ``W ≥ w``, e.g. the true object's amplitude.
        border: pixels dropped from each side of ``image`` first (stitching edges are poorly constrained).
    """
    image = np.squeeze(np.asarray(image, np.float64))
    if border:
        image = image[border:-border, border:-border]
    row, col = best_shift(image, reference)
    h, w = image.shape
    return pearson(image, np.asarray(reference)[row : row + h, col : col + w])
