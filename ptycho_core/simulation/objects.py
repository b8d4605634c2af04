"""Synthetic complex objects: the original PtychoPINN's ``lines`` and Gaussian-random-field (``grf``) generators.

Conventions of the original (``ptycho.diffsim.sim_object_image``, ORIGINAL_PHYSICS.md §12.3-12.4):

* a generator makes the object's **amplitude** (dimensionless transmission modulus, unnormalised: the
  lines object is of order 1-10, e.g. 2.2-6.3 for the 224-px default, the GRF lies in [0, 1]); the
  simulation rescales the dose anyway (``nphotons``), so the absolute scale does not matter;
* the **phase** (radians) is either zero (``phase="zero"``, the original default ``set_phi=False``) or the
  original's ``dummy_phi`` of the amplitude (``phase="tanh"``, ``set_phi=True``):
  ``φ = π·tanh((A − max(A)/2) / (3·mean(A)))``, in ``(-π, π)``;
* the object is ``A·exp(iφ)``, returned as complex64 ``(H, W)``, row = y, column = x.

Randomness: every generator takes a ``numpy.random.Generator`` (or an integer seed, or a legacy
``RandomState`` for the compat layer) and never touches NumPy's global RNG state.

Pixel-exactness with the original: :func:`lines_amplitude` draws its random numbers in the original's order
(four ``uniform()`` draws per line: r0, c0, r1, c1) and rasterises lines with the same Bresenham rule as
``skimage.draw.line``, so the same random source gives the same image. :func:`grf_amplitude` reproduces the
original's recipe (power spectrum ``k^-0.4`` on an ``N/2`` box of length 100, min-max normalisation, bilinear
upsampling, σ = 1 px Gaussian smoothing) but draws the white noise directly instead of through ``powerbox``:
statistically equivalent, not the same realisation.
"""

from __future__ import annotations

import math
from typing import Optional

import numpy as np

from ..physics.probe import gaussian_blur_reflect
from .scans import Seed, as_generator

PHASE_MODES = ("zero", "tanh")
OBJECT_KINDS = ("lines", "grf")

LINES_COUNT = 400
"""Lines drawn on the ``2·size`` canvas by the original's ``sim_object_image('lines')``."""

GRF_SPECTRAL_INDEX = -0.4
GRF_BOXLENGTH = 100.0
GRF_SMOOTHING_SIGMA = 1.0


def _check_size(size: int, name: str = "size", minimum: int = 1) -> int:
    try:
        ok = int(size) == size and not isinstance(size, bool)
    except (TypeError, ValueError):
        ok = False
    if not ok or int(size) < minimum:
        raise ValueError(f"{name} must be an integer number of pixels >= {minimum}; got {size!r}")
    return int(size)


# ----------------------------------------------------------------------------------------------- lines
def line_pixels(r0: int, c0: int, r1: int, c1: int) -> tuple:
    """Pixels of the digital line from ``(r0, c0)`` to ``(r1, c1)`` (both ends included).

    Same pixels as ``skimage.draw.line`` (integer Bresenham): along the major axis (the one with the larger
    extent ``L``; columns on ties) step ``i = 0 … L``; the minor coordinate moves by
    ``floor(i·l/L + 1/2)`` (halves round away from the start), ``l`` being the minor extent.

    Returns:
        ``(rows, cols)`` int64 arrays of length ``max(|r1-r0|, |c1-c0|) + 1``.
    """
    dr, dc = abs(r1 - r0), abs(c1 - c0)
    sr = 1 if r1 - r0 > 0 else -1
    sc = 1 if c1 - c0 > 0 else -1
    major, minor = max(dr, dc), min(dr, dc)
    i = np.arange(major + 1, dtype=np.int64)
    step = (2 * i * minor + major) // (2 * major) if major else i
    if dr > dc:
        rows, cols = r0 + sr * i, c0 + sc * step
    else:
        rows, cols = r0 + sr * step, c0 + sc * i
    return rows, cols


def lines_image(size: int, nlines: int, rng: Seed) -> np.ndarray:
    """The original's ``mk_lines_img(size, nlines, rng=rng)`` as a 2-D image (float64 ``(size, size)``).

    ``nlines`` random segments (endpoints ``int(size·U)`` drawn as r0, c0, r1, c1) set pixels to 1, then
    ``gf(img, 1) + 2·gf(img, 5) + 5·gf(img, 10)`` (Gaussian blurs with σ in pixels, reflect borders,
    truncated at 4σ). The original returns this replicated on 3 channels; the blur along that constant axis is
    the identity, so one 2-D copy carries the same values.
    """
    size = _check_size(size)
    nlines = _check_size(nlines, "nlines", minimum=0)
    gen = as_generator(rng, "rng")
    image = np.zeros((size, size), dtype=np.float64)
    if nlines:
        ends = (size * gen.uniform(size=(nlines, 4))).astype(np.int64)  # same stream as 4·nlines scalar draws
        for r0, c0, r1, c1 in ends:
            rows, cols = line_pixels(int(r0), int(c0), int(r1), int(c1))
            image[rows, cols] = 1.0
    return (
        gaussian_blur_reflect(image, 1.0)
        + 2.0 * gaussian_blur_reflect(image, 5.0)
        + 5.0 * gaussian_blur_reflect(image, 10.0)
    )


def lines_amplitude(size: int, rng: Seed, nlines: int = LINES_COUNT) -> np.ndarray:
    """Amplitude of the original's ``lines`` object (``sim_object_image`` with ``data_source='lines'``).

    :func:`lines_image` of size ``2·size`` with ``nlines`` lines, centre-cropped to ``size × size``
    (rows/columns ``size//2 … size//2 + size - 1``), so lines cross the borders like in the interior.

    Returns:
        float64 ``(size, size)``, dimensionless, >= 0 (of order 1-10 for the default 400 lines).
    """
    size = _check_size(size)
    full = lines_image(2 * size, nlines, rng)
    start = size // 2
    return full[start : start + size, start : start + size]


# ----------------------------------------------------------------------------------------------- GRF
def _bilinear_resize(field: np.ndarray, size: int) -> np.ndarray:
    """Sample ``field (n, n)`` on ``linspace(0, n-1, size)`` along both axes with bilinear interpolation."""
    n = field.shape[0]
    q = np.linspace(0.0, n - 1.0, size)
    i0 = np.clip(np.floor(q).astype(np.int64), 0, max(n - 2, 0))
    w = q - i0
    i1 = np.minimum(i0 + 1, n - 1)
    rows = field[i0, :] * (1 - w)[:, None] + field[i1, :] * w[:, None]
    return rows[:, i0] * (1 - w)[None, :] + rows[:, i1] * w[None, :]


def grf_field(
    n: int, rng: Seed, spectral_index: float = GRF_SPECTRAL_INDEX, boxlength: float = GRF_BOXLENGTH
) -> np.ndarray:
    """A zero-mean real Gaussian random field on an ``n × n`` grid with power spectrum ``P(k) ∝ k^index``.

    White Gaussian noise (``rng.standard_normal((n, n))``) filtered in Fourier space by ``sqrt(P(|k|))``,
    ``k = 2π·fftfreq(n, d=boxlength/n)`` (angular wavenumber, as ``powerbox``), ``P(0) = 0`` (zero mean).

    Returns:
        float64 ``(n, n)`` (arbitrary units; only its shape matters after normalisation).
    """
    n = _check_size(n, "n", minimum=2)
    gen = as_generator(rng, "rng")
    noise = gen.standard_normal((n, n))
    k1 = 2.0 * np.pi * np.fft.fftfreq(n, d=boxlength / n)
    k = np.sqrt(k1[:, None] ** 2 + k1[None, :] ** 2)
    power = np.zeros_like(k)
    nonzero = k > 0
    power[nonzero] = k[nonzero] ** spectral_index
    return np.real(np.fft.ifft2(np.fft.fft2(noise) * np.sqrt(power)))


def grf_amplitude(size: int, rng: Seed, spectral_index: float = GRF_SPECTRAL_INDEX) -> np.ndarray:
    """Amplitude of the original's ``grf`` object (``datagen.grf.mk_grf(size)``).

    :func:`grf_field` on a ``size/2`` grid → min-max normalised to [0, 1] → bilinearly upsampled to
    ``size × size`` (sample points ``linspace(0, size/2 - 1, size)``) → Gaussian blur σ = 1 px (reflect).

    Args:
        size: even object size in pixels (the original asserts evenness).
    Returns:
        float64 ``(size, size)`` in [0, 1], dimensionless.
    """
    size = _check_size(size, minimum=4)
    if size % 2:
        raise ValueError(f"the GRF object needs an even size (it is generated on a size/2 grid); got {size}")
    field = grf_field(size // 2, rng, spectral_index)
    lo, hi = field.min(), field.max()
    field = (field - lo) / (hi - lo) if hi > lo else np.zeros_like(field)
    return gaussian_blur_reflect(_bilinear_resize(field, size), GRF_SMOOTHING_SIGMA)


# ----------------------------------------------------------------------------------------------- complex objects
def tanh_phase(amplitude: np.ndarray) -> np.ndarray:
    """The original's ``dummy_phi``: ``π·tanh((A − max(A)/2) / (3·mean(A)))`` in radians (float64, A's shape).

    Raises:
        ValueError: if the mean amplitude is not positive (the formula divides by it).
    """
    a = np.asarray(amplitude, dtype=np.float64)
    mean = float(np.mean(a)) if a.size else 0.0
    if not mean > 0:
        raise ValueError("the tanh phase needs an amplitude with a positive mean")
    return np.pi * np.tanh((a - np.max(a) / 2.0) / (3.0 * mean))


def complex_object(amplitude: np.ndarray, phase: str = "zero") -> np.ndarray:
    """``A·exp(iφ)`` as complex64 with ``φ`` chosen by ``phase`` ∈ :data:`PHASE_MODES` (see module docstring)."""
    a = np.asarray(amplitude, dtype=np.float64)
    if a.ndim != 2:
        raise ValueError(f"amplitude must be a 2-D (H, W) array; got shape {a.shape}")
    if not np.all(np.isfinite(a)):
        raise ValueError("amplitude contains NaN or inf")
    if phase == "zero":
        return a.astype(np.complex64)
    if phase == "tanh":
        return (a * np.exp(1j * tanh_phase(a))).astype(np.complex64)
    raise ValueError(f"unknown phase mode {phase!r}; choose one of {PHASE_MODES}")


def lines_object(size: int, rng: Seed, *, nlines: int = LINES_COUNT, phase: str = "zero") -> np.ndarray:
    """The ``lines`` object: :func:`lines_amplitude` with the phase convention ``phase``.

    Returns:
        complex64 ``(size, size)``; ``abs`` is the dimensionless amplitude, ``angle`` the phase in radians.
    """
    return complex_object(lines_amplitude(size, rng, nlines), phase)


def grf_object(size: int, rng: Seed, *, phase: str = "zero") -> np.ndarray:
    """The ``grf`` object: :func:`grf_amplitude` (even ``size``) with the phase convention ``phase``.

    Returns:
        complex64 ``(size, size)``; amplitude in [0, 1], phase in radians.
    """
    return complex_object(grf_amplitude(size, rng), phase)


def make_object(kind: str, size: int, rng: Seed, *, phase: str = "zero", nlines: Optional[int] = None) -> np.ndarray:
    """Dispatch on ``kind`` ∈ :data:`OBJECT_KINDS`; returns a complex64 ``(size, size)`` object.

    ``nlines`` applies to ``lines`` only (default :data:`LINES_COUNT`).
    """
    if kind == "lines":
        return lines_object(size, rng, nlines=LINES_COUNT if nlines is None else nlines, phase=phase)
    if kind == "grf":
        if nlines is not None:
            raise ValueError("nlines applies to the 'lines' object only")
        return grf_object(size, rng, phase=phase)
    raise ValueError(f"unknown object kind {kind!r}; choose one of {OBJECT_KINDS}")


def default_object_size(N: int) -> int:
    """Object size used by :func:`ptycho_core.simulation.default_dataset`: ``3.5·N`` rounded to an even number
    (224 for N = 64), the ratio of the original's ``scripts/simulation/run_with_synthetic_lines.py``."""
    return 2 * int(math.ceil(3.5 * N / 2))
