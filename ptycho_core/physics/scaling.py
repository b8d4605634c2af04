"""Intensity scaling: how ``nphotons`` enters, and normalisation of measured diffraction.

* Data normalisation: measured amplitudes ``D`` (``sqrt`` of counts) are scaled by
  ``f = sqrt((N/2)² / mean_patterns(Σ_xy D²))`` so that the mean pattern energy is ``(N/2)²``.
* Model intensity scale: ``s = sqrt(nphotons) / (N/2)`` (float32), independent of the data; the model sees
  ``X·s`` and predicts counts, so scaled targets carry ``nphotons`` photons per pattern on average.
* Simulation scale: ``s_sim = sqrt(nphotons / mean_patterns(Σ_xy |obj|²))`` makes the expected total count
  of a simulated exit wave ``nphotons``.
"""

from __future__ import annotations

from typing import Tuple

import numpy as np
from keras import ops

from ..types import ArrayLike, Tensor
from ._checks import check_finite


def intensity_scale(nphotons: float, size: int) -> np.float32:
    """``float32(sqrt(float32(nphotons)) / (N/2))``; e.g. 988.2118 for N = 64, nphotons = 1e9."""
    if not np.isfinite(nphotons) or nphotons <= 0:
        raise ValueError(f"nphotons must be a positive finite photon count; got {nphotons!r}")
    if int(size) != size or size <= 0:
        raise ValueError(f"N must be a positive integer; got {size!r}")
    return np.float32(np.sqrt(np.float32(nphotons)) / (size / 2))


#: Elements per chunk when scanning host diffraction stacks (32 MiB of float64 temporaries).
_CHUNK_ELEMENTS = 1 << 22


def _pattern_chunks(d: np.ndarray):
    """Slices along axis 0 of ``d`` covering about :data:`_CHUNK_ELEMENTS` elements each."""
    per_row = max(1, int(np.prod(d.shape[1:], dtype=np.int64)))
    step = max(1, _CHUNK_ELEMENTS // per_row)
    for start in range(0, d.shape[0], step):
        yield slice(start, min(start + step, d.shape[0]))


def normalization_factor(diffraction: ArrayLike, size: int) -> np.float32:
    """``f`` with ``mean Σ (f·D)² = (N/2)²``: :func:`energy_factor` with the target energy ``(N/2)²``."""
    return energy_factor(diffraction, (size / 2) ** 2)


def energy_factor(diffraction: ArrayLike, energy: float) -> np.float32:
    """``f`` with ``mean Σ (f·D)² = energy``; sums in float64 over axes 1, 2, mean over the rest.

    Reads ``diffraction`` in chunks (float64 temporaries of at most 32 MiB), so a large stack costs no copy.
    With ``energy = nphotons`` it is the original loader's ``norm_Y_I``.
    """
    d = np.asarray(diffraction)
    if d.ndim < 3:
        raise ValueError(f"diffraction must have shape (M, N, N[, C]); got {d.shape}")
    if np.iscomplexobj(d):
        raise ValueError(
            f"diffraction must be real amplitudes; got a {d.dtype} array (pass np.abs of the "
            "complex field, or the square root of measured counts)"
        )
    n_patterns = d.size // max(1, d.shape[1] * d.shape[2])
    total = 0.0
    for rows in _pattern_chunks(d):
        total += float(np.sum(np.square(d[rows], dtype=np.float64)))
    if not np.isfinite(total):
        check_finite(d, "diffraction")  # names the NaN / inf values
        raise ValueError("diffraction values are too large: their squares overflow float64; rescale the data")
    mean = total / n_patterns if n_patterns else 0.0
    if not mean > 0:
        raise ValueError("diffraction is zero everywhere; cannot normalise it")
    return np.float32(np.sqrt(energy / mean))


def factor_for_energy(total: float, n_patterns: int, size: int) -> np.float32:
    """``f = sqrt((N/2)² / (total / n_patterns))`` from the float64 sum of squared amplitudes of ``n_patterns``.

    The one formula behind :func:`normalization_factor`; a streaming reader sums ``total`` chunk by chunk.
    """
    energy = total / n_patterns if n_patterns else 0.0
    if not energy > 0:
        raise ValueError("diffraction is zero everywhere; cannot normalise it")
    return np.float32(np.sqrt(((size / 2) ** 2) / energy))


def normalize_diffraction(diffraction: ArrayLike, size: int) -> Tuple[np.ndarray, np.float32]:
    """Scale amplitudes to mean pattern energy ``(N/2)²``; returns ``(float32 data, factor)``.

    The result is ``factor · float32(D)`` in float32, a new array of ``D``'s shape and memory layout (as
    ``astype`` gives); apart from it only chunk-sized temporaries are allocated.
    """
    d = np.asarray(diffraction)
    factor = normalization_factor(d, size)
    out = np.empty_like(d, dtype=np.float32)  # keeps D's memory order, so the chunks stream through memory
    for rows in _pattern_chunks(d):
        np.multiply(d[rows].astype(np.float32, copy=False), factor, out=out[rows])
    return out, factor


def count_photons(amplitude: Tensor):
    """``Σ_xy |a|²`` per pattern and channel: ``(n, H, W, ch)`` → ``(n, ch)``."""
    a = ops.convert_to_tensor(amplitude)
    if "complex" in str(a.dtype):
        a = ops.abs(a)
    return ops.sum(a * a, axis=(1, 2))


def simulation_scale(amplitude: Tensor, nphotons: float):
    """``s_sim = sqrt(nphotons / mean(count_photons(a)))`` (scalar tensor)."""
    return ops.sqrt(float(nphotons) / ops.mean(count_photons(amplitude)))
