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


def scan(
    n_side: int = 10, size: int = 64, step: float = 5.0, nphotons: float = 1e6, seed: int = 0, poisson: bool = True
) -> dict:
    """A raw raster scan as the NPZ / ``RawData`` schema holds it (independent of ptycho_core).

    Keys: ``xcoords``, ``ycoords`` (n,) float64 object-pixel centres of the patches, ``diff3d`` (n, N, N) float32
    diffraction AMPLITUDES (sqrt of Poisson counts with mean total ``nphotons`` per pattern when ``poisson``),
    ``probeGuess`` (N, N) complex64 (unnormalised default probe), ``objectGuess`` (H, W) complex64,
    ``scan_index`` (n,) int, ``patches`` (n, N, N) complex64 true object patches.
    """
    data = dataset(n_side=n_side, size=size, step=step, nphotons=nphotons, seed=seed)
    centres = data["global_offsets"][:, 0, :, 0]
    probe = ref.default_probe(size).astype(np.complex64)
    intensity = np.abs(ref.pad_and_diffract(data["patches"] * probe[None, ..., None])[..., 0]) ** 2
    intensity *= nphotons / intensity.sum(axis=(1, 2), keepdims=True).mean()
    if poisson:
        intensity = np.random.default_rng(seed + 1).poisson(intensity).astype(np.float64)
    return {
        "xcoords": centres[:, 0].astype(np.float64),
        "ycoords": centres[:, 1].astype(np.float64),
        "diff3d": np.sqrt(intensity).astype(np.float32),
        "probeGuess": probe,
        "objectGuess": data["object"],
        "scan_index": np.zeros(len(centres), dtype=int),
        "patches": data["patches"][..., 0],
    }
