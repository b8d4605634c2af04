"""A tiny simulated ptychography dataset in NumPy (independent of ptycho_core), for training tests."""

from __future__ import annotations

import numpy as np

from . import reference as ref


def smooth_object(size: int, seed: int) -> np.ndarray:
    """Complex object ``(size, size)``: smooth random amplitude in [0.3, 1] and phase in [-1, 1] rad."""
    rng = np.random.default_rng(seed)
    f = np.fft.fft2(rng.standard_normal((2, size, size)))
    k = np.fft.fftfreq(size)
    lowpass = np.exp(-(k[:, None] ** 2 + k[None, :] ** 2) / (2 * 0.03**2))
    fields = np.real(np.fft.ifft2(f * lowpass))
    fields = (fields - fields.min(axis=(1, 2), keepdims=True)) / np.ptp(fields, axis=(1, 2), keepdims=True)
    return ((0.3 + 0.7 * fields[0]) * np.exp(1j * (2 * fields[1] - 1))).astype(np.complex64)


def dataset(n_side: int = 8, size: int = 64, step: float = 6.0, nphotons: float = 1e6, seed: int = 0):
    """Raster scan over a smooth object; returns a dict with model inputs for gridsize 1.

    Keys: ``x_scaled`` (n, N, N, 1) = normalised amplitudes × intensity scale, ``positions`` (n, 1, 2, 1)
    zeros, ``global_offsets`` (n, 1, 2, 1) scan positions [x, y], ``probe`` (N, N, 1) normalised complex64,
    ``object`` the complex object, ``patches`` (n, N, N, 1) true object patches, ``intensity_scale``.
    """
    rng = np.random.default_rng(seed)
    margin = size // 2 + 2
    extent = int(margin * 2 + step * (n_side - 1)) + 2
    obj = smooth_object(extent, seed)
    centres = np.array([(margin + i * step, margin + j * step) for j in range(n_side) for i in range(n_side)])
    centres = centres + rng.uniform(-0.4, 0.4, centres.shape)
    # patch(y, x) = obj(y + cy - N/2, x + cx - N/2): shift the object by -(c - N/2) and crop N x N
    big = np.repeat(obj[None, ..., None], len(centres), axis=0)
    shifted = ref.translate(big, -(centres - size / 2))
    patches = shifted[:, :size, :size, :].astype(np.complex64)
    probe = ref.normalize_probe(ref.default_probe(size).astype(np.complex64), 4.0)
    amplitude = ref.pad_and_diffract(patches * probe[None])
    x, _ = ref.normalize_data(amplitude, size)
    s = ref.intensity_scale(nphotons, size)
    return {
        "x_scaled": (x * s).astype(np.float32),
        "positions": np.zeros((len(centres), 1, 2, 1), np.float32),
        "global_offsets": centres.reshape(-1, 1, 2, 1).astype(np.float64),
        "probe": probe,
        "object": obj,
        "patches": patches,
        "intensity_scale": np.float32(s),
    }
