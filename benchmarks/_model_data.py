"""Simulated inputs of the model benchmark (NumPy, seeded): the probe, smooth random objects, diffraction data.

The data are far-field amplitudes of the probe times smooth random objects, normalised and scaled for
:data:`NPHOTONS` photons per pattern, with Poisson noise (:func:`synthetic_inputs`); the streaming benchmark and
``profile_torch_step`` use the same data. :func:`measurement_inputs` gives the exact arrays of one measured
configuration, so that the model benchmark's workers and the original's worker (fed through a ``.npz``, see
:mod:`benchmarks._original_inputs`) see the same numbers.
"""

from __future__ import annotations

from typing import Tuple

import numpy as np

#: Simulated data: photons per pattern (sets the intensity scale, as ``ModelSpec``'s default) and probe_scale.
NPHOTONS = 1e9
PROBE_SCALE = 4.0


def smooth_objects(rng: np.random.Generator, count: int, n: int) -> np.ndarray:
    """Complex ``(count, n, n)`` objects: smooth random amplitude in [0.3, 1] and phase in [-1, 1] rad."""
    k = np.fft.fftfreq(n)
    lowpass = np.exp(-(k[:, None] ** 2 + k[None, :] ** 2) / (2 * 0.05**2))
    fields = np.real(np.fft.ifft2(np.fft.fft2(rng.standard_normal((2, count, n, n))) * lowpass))
    low = fields.min(axis=(2, 3), keepdims=True)
    fields = (fields - low) / (fields.max(axis=(2, 3), keepdims=True) - low)
    return ((0.3 + 0.7 * fields[0]) * np.exp(1j * (2 * fields[1] - 1))).astype(np.complex64)


def benchmark_probe(n: int) -> np.ndarray:
    """The default probe normalised as the original's ``set_probe`` does (probe_scale 4): complex64 ``(n, n, 1)``."""
    from ptycho_core.physics import default_probe, normalize_probe

    return normalize_probe(default_probe(n).astype(np.complex64), PROBE_SCALE)


def synthetic_inputs(
    rng: np.random.Generator, count: int, n: int, gridsize: int, probe: np.ndarray
) -> Tuple[np.ndarray, np.ndarray]:
    """Simulated model inputs: ``X·s`` float32 ``(count, n, n, C)`` and positions ``(count, 1, 2, C)``.

    Each of the ``count·C`` patterns is the far-field amplitude of ``probe ×`` a smooth random object, normalised
    to mean pattern energy ``(N/2)²`` (:func:`ptycho_core.physics.normalize_diffraction`), scaled by
    ``s = intensity_scale(NPHOTONS, N)`` (the ``ModelSpec`` default) and given Poisson noise. Positions are
    uniform in ``±2`` px. Data of this scale keep the Poisson NLL finite; arbitrary numbers can make it ``inf``
    on the first step (``log 0``) and every later step NaN.
    """
    from ptycho_core.physics import intensity_scale, normalize_diffraction

    c = gridsize**2
    waves = smooth_objects(rng, count * c, n) * probe[None, :, :, 0]
    amplitude = np.abs(np.fft.fftshift(np.fft.fft2(waves), axes=(1, 2))) / n
    x, _ = normalize_diffraction(amplitude[..., None], n)
    counts = rng.poisson((x[..., 0].astype(np.float64) * float(intensity_scale(NPHOTONS, n))) ** 2)
    x_scaled = np.sqrt(counts).astype(np.float32).reshape(count, c, n, n).transpose(0, 2, 3, 1)
    positions = rng.uniform(-2.0, 2.0, size=(count, 1, 2, c)).astype(np.float32)
    return np.ascontiguousarray(x_scaled), positions


def measurement_inputs(
    measurement: str, gridsize: int, batch: int, n: int, calls: int
) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(probe, X·s, positions)`` of one measured configuration: ``calls × batch`` samples, seeded per kind.

    ``calls`` is ``Sizes.train_steps`` for ``"train"`` and ``Sizes.predict_batches`` for ``"predict"``; the
    generator is seeded ``SEED + gridsize`` (train) or ``SEED + 10 + gridsize`` (predict), as the measurements
    always were.
    """
    from ._measure import SEED

    offset = {"train": 0, "predict": 10}[measurement]
    probe = benchmark_probe(n)
    x, positions = synthetic_inputs(np.random.default_rng(SEED + offset + gridsize), calls * batch, n, gridsize, probe)
    return probe, x, positions
