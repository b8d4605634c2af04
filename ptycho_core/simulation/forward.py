"""The forward simulation: object patches → exit waves → far-field amplitudes with Poisson noise.

Forward model (ptycho_core's physics, any Keras backend):

1. **Patch** at position ``(x, y)`` (object pixels, ``[x, y]`` rows, x = column): ``patch(r, q) =
   O(r + y − N/2, q + x − N/2)``, bilinear between pixels, zero outside the object — the convention of
   ``RawData``'s ground-truth patches and of ``ptycho.tf_helper.reassemble_position`` (the patch's pixel
   ``(N/2, N/2)`` sits on object pixel ``(row y, column x)``). Computed with
   :func:`ptycho_core.physics.extract_patches_position` on a small window around each position.
2. **Exit wave** ``ψ = P·patch`` (:func:`ptycho_core.physics.illuminate`, probe used as given).
3. **Far field** ``A = |FFT2(ψ)|/N``, zero frequency at ``(N/2, N/2)`` (:func:`ptycho_core.physics.diffract`);
   Parseval: ``Σ A² = Σ |ψ|²``.
4. **Dose**: ``s = sqrt(nphotons / mean_patterns(Σ A²))`` so that the expected total count per pattern,
   averaged over the dataset, is ``nphotons`` (the original's ``scale_nphotons``).
5. **Noise**: counts ``~ Poisson((s·A)²)`` drawn with ``numpy.random.Generator.poisson``; the dataset holds
   AMPLITUDES ``sqrt(counts)`` (photon-count scale; unlike the original, the scale ``s`` is *not* divided out
   again — ``RawData`` re-normalises the data anyway, §6.1).

Units: positions in object pixels, amplitudes in sqrt(photons), phases in radians, ``nphotons`` in photons
per pattern. Inputs are validated first (:func:`check_probe`, :func:`check_object`, :func:`check_positions`,
:func:`check_nphotons`: ``ValueError`` naming what is wrong). Datasets and NPZ
files: :mod:`ptycho_core.simulation.dataset`.
"""

from __future__ import annotations

import math
from typing import Any, Iterator, Optional, Tuple

import numpy as np
from keras import ops

from .. import physics
from ..types import ArrayLike
from .scans import Seed, as_generator, check_patch_size

__all__ = [
    "check_nphotons",
    "check_object",
    "check_positions",
    "check_probe",
    "diffraction_amplitude",
    "object_patches",
    "photon_scale",
    "simulate",
]

_CHUNK_PIXELS = 1 << 22  # window pixels per backend call (bounds memory; chunks are padded to powers of two)


# ----------------------------------------------------------------------------------------------- checks
def check_probe(probe: ArrayLike) -> np.ndarray:
    """Validate a probe: square ``(N, N)`` or ``(N, N, 1)``, finite, not all zero, N a multiple of 4 (>= 16).

    Returns:
        complex64 ``(N, N)``.
    """
    arr = np.asarray(probe)
    if arr.ndim == 3 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    if arr.ndim != 2 or arr.shape[0] != arr.shape[1]:
        raise ValueError(f"probe must be a square 2-D array (N, N) or (N, N, 1); got shape {np.shape(probe)}")
    if arr.dtype.kind not in "biufc":
        raise ValueError(f"probe must be numeric (real or complex); got dtype {arr.dtype}")
    check_patch_size(arr.shape[0])
    if not np.all(np.isfinite(arr)):
        raise ValueError("probe contains NaN or inf values")
    if not np.any(arr):
        raise ValueError("probe is zero everywhere; nothing would be illuminated")
    return arr.astype(np.complex64)


def check_object(obj: ArrayLike, N: int) -> np.ndarray:
    """Validate an object: ``(H, W)`` or ``(H, W, 1)``, finite, at least ``N × N``. Returns complex64 ``(H, W)``."""
    arr = np.asarray(obj)
    if arr.ndim == 3 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    if arr.ndim != 2:
        raise ValueError(f"object must be a 2-D array (H, W); got shape {np.shape(obj)}")
    if arr.dtype.kind not in "biufc":
        raise ValueError(f"object must be numeric (real or complex); got dtype {arr.dtype}")
    if arr.shape[0] < N or arr.shape[1] < N:
        raise ValueError(
            f"object of shape {arr.shape} is smaller than the probe ({N} x {N}); every patch must fit inside the object"
        )
    if not np.all(np.isfinite(arr)):
        raise ValueError("object contains NaN or inf values")
    return arr.astype(np.complex64)


def check_positions(
    positions: ArrayLike, object_shape: Optional[Tuple[int, int]] = None, N: Optional[int] = None
) -> np.ndarray:
    """Validate scan positions ``(n, 2)`` rows ``[x, y]`` (n >= 1, finite); returns float64 ``(n, 2)``.

    With ``object_shape`` and ``N``: every patch must lie inside the object, i.e.
    ``N/2 <= x <= W - N/2`` and ``N/2 <= y <= H - N/2`` (the scan generators keep a margin of ``N/2 + 1``).
    """
    arr = np.asarray(positions)
    if arr.ndim != 2 or arr.shape[1] != 2:
        raise ValueError(f"positions must have shape (n, 2) with rows [x, y]; got shape {arr.shape}")
    if arr.dtype.kind not in "biuf":
        raise ValueError(f"positions must be real numbers; got dtype {arr.dtype}")
    if len(arr) == 0:
        raise ValueError("positions is empty; give at least one scan position")
    arr = arr.astype(np.float64)
    if not np.all(np.isfinite(arr)):
        raise ValueError("positions contain NaN or inf values")
    if object_shape is not None and N is not None:
        H, W = object_shape
        half = N / 2
        bad = (arr[:, 0] < half) | (arr[:, 0] > W - half) | (arr[:, 1] < half) | (arr[:, 1] > H - half)
        if np.any(bad):
            first = int(np.argmax(bad))
            raise ValueError(
                f"{int(bad.sum())} scan position(s) put the {N}x{N} patch outside the object of shape (H, W) = "
                f"({H}, {W}) (first: index {first}, [x, y] = {arr[first].tolist()}); positions must satisfy "
                f"{half:g} <= x <= {W - half:g} and {half:g} <= y <= {H - half:g} (use ptycho_core.simulation "
                f"scans, which keep a margin of N/2+1)"
            )
    return arr


def check_nphotons(nphotons: Any) -> float:
    """``nphotons`` must be a finite number > 0 (photons per pattern); returns it as float."""
    try:
        value = float(nphotons)
    except (TypeError, ValueError):
        raise ValueError(f"nphotons must be a positive number of photons per pattern; got {nphotons!r}") from None
    if isinstance(nphotons, bool) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"nphotons must be a positive finite number of photons per pattern; got {nphotons!r}")
    return value


# ----------------------------------------------------------------------------------------------- forward model
def _chunks(n: int, window: int) -> Iterator[Tuple[int, int, int]]:
    """``(start, stop, padded)`` row ranges; ``padded`` is a power of two >= ``stop - start`` (few shapes)."""
    limit = max(1, _CHUNK_PIXELS // (window * window))
    limit = 1 << (limit.bit_length() - 1)
    for start in range(0, n, limit):
        stop = min(start + limit, n)
        yield start, stop, min(limit, 1 << (stop - start - 1).bit_length())


def _windows(obj: np.ndarray, origin: np.ndarray, size: int) -> np.ndarray:
    """``(k, size, size)`` windows of ``obj`` whose pixel (0, 0) is object pixel ``(origin_y, origin_x)``; zero
    outside the object."""
    H, W = obj.shape
    span = np.arange(size)
    rows = origin[:, 1, None] + span
    cols = origin[:, 0, None] + span
    inside = ((rows >= 0) & (rows < H))[:, :, None] & ((cols >= 0) & (cols < W))[:, None, :]
    return obj[np.clip(rows, 0, H - 1)[:, :, None], np.clip(cols, 0, W - 1)[:, None, :]] * inside


def _pad_rows(x: np.ndarray, rows: int) -> np.ndarray:
    if len(x) == rows:
        return x
    return np.concatenate([x, np.zeros((rows - len(x),) + x.shape[1:], x.dtype)])


def _forward(
    obj: np.ndarray, probe: Optional[np.ndarray], positions: np.ndarray, N: int, want_patches: bool
) -> Tuple[Optional[np.ndarray], Optional[np.ndarray]]:
    """Patches ``(n, N, N)`` complex64 and/or unit-dose amplitudes ``(n, N, N)`` float32 (validated inputs)."""
    n = len(positions)
    window = N + 2  # one extra pixel each side: the trim of extract_patches_position is symmetric
    whole = np.floor(positions)
    frac = positions - whole
    origin = whole.astype(np.int64) - (N // 2 + 1)
    patches = np.empty((n, N, N), np.complex64) if want_patches else None
    amplitude = np.empty((n, N, N), np.float32) if probe is not None else None
    probe_t = None if probe is None else probe[..., None]
    for start, stop, padded in _chunks(n, window):
        k = stop - start
        win = _pad_rows(_windows(obj, origin[start:stop], window), padded)[..., None]
        # extraction shifts by +o and keeps the centre: o = -frac samples the window at (r + 1 + fy, q + 1 + fx)
        offsets = _pad_rows(-frac[start:stop], padded).astype(np.float32).reshape(padded, 1, 2, 1)
        cut = physics.extract_patches_position(win, offsets, N)
        if patches is not None:  # want_patches
            patches[start:stop] = ops.convert_to_numpy(cut)[:k, :, :, 0]
        if amplitude is not None:  # probe is not None
            amp = physics.diffract(physics.illuminate(cut, probe_t))
            amplitude[start:stop] = ops.convert_to_numpy(amp)[:k, :, :, 0]
    return patches, amplitude


def object_patches(obj: ArrayLike, positions: ArrayLike, N: int) -> np.ndarray:
    """The ``N × N`` object patches at the scan positions.

    ``patch[k](r, q) = O(r + y_k − N/2, q + x_k − N/2)``: bilinear interpolation between object pixels, zero
    outside the object (so the patch's pixel ``(N/2, N/2)`` is object pixel ``(row y_k, column x_k)``).

    Args:
        obj: complex (or real) object ``(H, W)``.
        positions: ``(n, 2)`` rows ``[x, y]`` in object pixels.
        N: patch size (multiple of 4, >= 16).
    Returns:
        complex64 ``(n, N, N)``.
    """
    N = check_patch_size(N)
    obj = check_object(obj, N)
    positions = check_positions(positions)
    patches = _forward(obj, None, positions, N, want_patches=True)[0]
    assert patches is not None
    return patches


def diffraction_amplitude(obj: ArrayLike, probe: ArrayLike, positions: ArrayLike) -> np.ndarray:
    """Noise-free far-field amplitudes at unit dose: ``fftshift(|FFT2(P · patch_k)|) / N``.

    Args:
        obj: complex object ``(H, W)``.
        probe: complex probe ``(N, N)`` (or ``(N, N, 1)``), used as given (not normalised).
        positions: ``(n, 2)`` rows ``[x, y]``; every patch must lie inside the object.
    Returns:
        float32 ``(n, N, N)``, zero frequency at ``(N/2, N/2)``; ``Σ A² = Σ |P·patch|²`` per pattern.
    """
    probe = check_probe(probe)
    N = probe.shape[0]
    obj = check_object(obj, N)
    positions = check_positions(positions, obj.shape, N)
    amplitude = _forward(obj, probe, positions, N, want_patches=False)[1]
    assert amplitude is not None
    return amplitude


def photon_scale(amplitude: ArrayLike, nphotons: float) -> float:
    """``s = sqrt(nphotons / mean_k Σ_xy A_k²)``: multiplying amplitudes ``(n, N, N)`` by ``s`` makes the mean
    total intensity per pattern ``nphotons`` (float64 sums)."""
    nphotons = check_nphotons(nphotons)
    energy = float(np.mean(np.sum(np.square(np.asarray(amplitude, dtype=np.float64)), axis=(-2, -1))))
    if not energy > 0:
        raise ValueError("the simulated diffraction is zero everywhere (is the object zero under the probe?)")
    return math.sqrt(nphotons / energy)


def _simulate(
    obj: ArrayLike, probe: ArrayLike, positions: ArrayLike, nphotons: float, seed: Optional[Seed], poisson: bool
) -> Tuple[np.ndarray, float, np.ndarray, np.ndarray, np.ndarray]:
    probe = check_probe(probe)
    N = probe.shape[0]
    obj = check_object(obj, N)
    positions = check_positions(positions, obj.shape, N)
    nphotons = check_nphotons(nphotons)
    gen = as_generator(seed, "seed") if poisson else None
    amplitude = _forward(obj, probe, positions, N, want_patches=False)[1]
    assert amplitude is not None
    scale = photon_scale(amplitude, nphotons)
    if poisson:
        assert gen is not None
        counts = gen.poisson(np.square(scale * amplitude.astype(np.float64)))
        observed = np.sqrt(counts).astype(np.float32)
    else:
        observed = (scale * amplitude.astype(np.float64)).astype(np.float32)
    return observed, scale, obj, probe, positions


def simulate(
    obj: ArrayLike, probe: ArrayLike, positions: ArrayLike, nphotons: float, seed: Optional[Seed], poisson: bool = True
) -> np.ndarray:
    """Simulated diffraction AMPLITUDES of a ptychographic scan (see the module docstring for the model).

    Args:
        obj: complex object ``(H, W)`` (row = y, column = x), at least ``N × N``, finite.
        probe: complex probe ``(N, N)`` or ``(N, N, 1)``; N a multiple of 4, >= 16; finite, not all zero.
        positions: ``(n, 2)`` float rows ``[x, y]`` in object pixels; each patch must lie inside the object.
        nphotons: mean total photon count per pattern (> 0).
        seed: integer seed or ``numpy.random.Generator`` for the Poisson draws (required when ``poisson``;
            ignored otherwise). The same seed gives bit-identical data on the same backend and machine.
            Across Keras backends the noise-free amplitudes agree to float32 round-off (~2e-7 relative), but
            NumPy's Poisson sampler consumes a rate-dependent number of random numbers, so a last-bit
            difference in one rate changes the rest of the realisation: to compare backends on the same
            noisy data, simulate once and share the NPZ.
        poisson: draw Poisson counts; False returns the noise-free amplitudes ``s·A``.
    Returns:
        float32 ``(n, N, N)`` amplitudes ``sqrt(counts)``, zero frequency at ``(N/2, N/2)``; the mean over
        patterns of ``Σ amplitude²`` is ``nphotons`` (exactly without noise, in expectation with it).
    Raises:
        ValueError: bad N, object smaller than the probe, positions outside the object, ``nphotons <= 0``,
            NaN/inf in the object, probe or positions, missing seed.
    """
    return _simulate(obj, probe, positions, nphotons, seed, poisson)[0]
