"""The probe (illumination): default probe, disc mask, normalisation, estimation from data, illumination.

Probe construction is set-up work done once on the host, so it is NumPy; :func:`illuminate` is the tensor op
used inside the model.

Conventions: a probe is ``(N, N)`` (or ``(N, N, 1)``) complex; pixel ``(i, j)`` is row ``i``, column ``j``.
"""

from __future__ import annotations

from typing import Optional

import numpy as np
from keras import ops

from ..types import ArrayLike, Tensor
from ._checks import check_finite
from .smoothing import complex_gaussian_filter2d

DEFAULT_PROBE_SCALE = 0.7


def gaussian_window(size: int, std: float) -> np.ndarray:
    """Symmetric Gaussian window ``exp(-k²/(2 std²))``, ``k = arange(size) - (size-1)/2`` (float64)."""
    k = np.arange(size, dtype=np.float64) - (size - 1.0) / 2.0
    return np.exp(-(k**2) / (2.0 * std * std))


def lowpass_filter(scale: float, size: int) -> np.ndarray:
    """The original's low-pass profile: Gaussian window of std ``size/(scale·π²)``, divided by its maximum."""
    window = gaussian_window(size, size / (scale * np.pi**2))
    return window / window.max()


def gaussian_blur_reflect(image: np.ndarray, sigma: float, truncate: float = 4.0) -> np.ndarray:
    """Separable Gaussian blur with half-sample symmetric borders (``d c b a | a b c d``), float64.

    Same definition as ``scipy.ndimage.gaussian_filter(image, sigma, mode='reflect', truncate=truncate)``:
    kernel radius ``int(truncate·sigma + 0.5)``, normalised ``exp(-k²/(2σ²))``.
    """
    image = np.asarray(image, dtype=np.float64)
    radius = int(truncate * float(sigma) + 0.5)
    k = np.arange(-radius, radius + 1, dtype=np.float64)
    kernel = np.exp(-0.5 * (k / sigma) ** 2)
    kernel /= kernel.sum()
    out = image
    for axis in range(image.ndim):
        widths = [(0, 0)] * image.ndim
        widths[axis] = (radius, radius)
        padded = np.pad(out, widths, mode="symmetric")
        acc = np.zeros_like(out)
        for i, weight in enumerate(kernel):
            index = [slice(None)] * image.ndim
            index[axis] = slice(i, i + out.shape[axis])
            acc += weight * padded[tuple(index)]
        out = acc
    return out


def default_probe(size: int, scale: float = DEFAULT_PROBE_SCALE) -> np.ndarray:
    """The original's default probe: a smoothed disc (real, float64, ``(N, N)``).

    ``disc = outer(f, f) > 0.5`` with ``f = lowpass_filter(scale, N)``; probe = Gaussian blur (σ = 1 px,
    reflect borders) of the disc, plus 1e-9. For N = 64 and scale 0.7 its sum is 376.000004.
    """
    if int(size) != size or size <= 0:
        raise ValueError(f"size must be a positive integer number of pixels; got {size!r}")
    profile = lowpass_filter(scale, int(size))
    disc = (np.outer(profile, profile) > 0.5).astype(np.float64)
    return gaussian_blur_reflect(disc, 1.0) + 1e-9


def probe_distance(size: int) -> np.ndarray:
    """Distance of each pixel from the probe centre ``(N/2 - 0.5, N/2 - 0.5)`` in pixels, ``(N, N)`` float64.

    (The original names this ``get_squared_distance`` but returns the distance.)
    """
    u = np.arange(size) - size // 2 + 0.5
    x, y = np.meshgrid(u, u)
    return np.sqrt(x * x + y * y)


def curved_probe(probe: ArrayLike, curvature: float) -> np.ndarray:
    """``probe`` times a quadratic (defocus-like) phase: ``P(r)·exp(i·c·(r/R)²)``, complex128 ``(N, N)``.

    ``r`` is :func:`probe_distance` (pixels), ``R = N/4`` the radius of :func:`probe_mask`, so ``c`` is the phase
    in radians at the disc's edge. A real, centro-symmetric probe (``P(-r) = P(r)``, e.g. :func:`default_probe`)
    cannot tell an object patch ``O(r)`` from its twin ``conj(O(-r))``: both give the same far-field intensity.
    A curvature ``c != 0`` breaks that symmetry (``conj(P(-r)) != P(r)``), as the curved wavefront of a real,
    slightly defocused probe does. ``c = 0`` returns the probe unchanged (as complex).
    """
    p = np.asarray(probe)
    if p.ndim != 2 or p.shape[0] != p.shape[1]:
        raise ValueError(f"probe must be a square (N, N) array; got shape {p.shape}")
    if not np.isfinite(curvature):
        raise ValueError(f"curvature must be a finite number of radians; got {curvature!r}")
    size = p.shape[0]
    r = probe_distance(size) / (size / 4)
    return p.astype(np.complex128) * np.exp(1j * float(curvature) * r * r)


def probe_mask(size: int) -> np.ndarray:
    """Disc support of the probe: ``distance < N//4``, boolean ``(N, N)`` (812 pixels for N = 64)."""
    return probe_distance(size) < size // 4


def _as_square_probe(probe: ArrayLike, name: str = "probe") -> np.ndarray:
    arr = np.asarray(probe)
    if arr.ndim == 4 and arr.shape[-1] == 1 and arr.shape[-2] == 1:
        arr = arr[..., 0]
    if arr.ndim == 3 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    if arr.ndim != 2 or arr.shape[0] != arr.shape[1]:
        raise ValueError(f"{name} must be a square 2-D array (N, N) or (N, N, 1); got shape {np.shape(probe)}")
    check_finite(arr, name)
    return arr


def probe_norm(probe: ArrayLike, probe_scale: float) -> float:
    """``probe_scale · mean(|mask · probe|)`` over all ``N²`` pixels (mask from :func:`probe_mask`)."""
    arr = _as_square_probe(probe)
    mask = probe_mask(arr.shape[0])
    tamped = np.abs(mask * arr.astype(np.complex64)).astype(np.float32)
    return float(np.float32(probe_scale) * np.mean(tamped, dtype=np.float32))


def normalize_probe(probe: ArrayLike, probe_scale: float) -> np.ndarray:
    """The original's ``set_probe`` normalisation: ``probe / (probe_scale · mean|mask·probe|)``.

    Afterwards ``mean(|mask · P|) = 1/probe_scale``. Returns complex64 ``(N, N, 1)``.

    Raises:
        ValueError: non-square or non-finite probe, or a probe that is zero on the mask.
    """
    arr = _as_square_probe(probe).astype(np.complex64)
    norm = probe_norm(arr, probe_scale)
    if not norm > 0:
        raise ValueError("probe is zero inside its central disc (N//4 radius); cannot normalise it")
    return (arr / np.complex64(norm))[..., None]


def estimate_probe(diffraction: ArrayLike, size: int, scale: float = DEFAULT_PROBE_SCALE) -> np.ndarray:
    """Gaussian probe guess from the mean diffraction amplitude (the original's ``set_probe_guess(X, None)``).

    Args:
        diffraction: ``(B, N, N, C)`` amplitudes.
        size: N.
    Returns:
        float32 ``(N, N, 1)`` probe: ``exp(-r²/(2σ²)) + 1e-9`` on the probe mask, scaled to the default
        probe's sum, with σ from the second moment of the central row of ``|IFFT(mean pattern)|``.
    """
    x = np.asarray(diffraction)
    if x.ndim != 4 or x.shape[1] != size or x.shape[2] != size:
        raise ValueError(f"diffraction must have shape (B, {size}, {size}, C); got {x.shape}")
    mean_pattern = x.mean(axis=(0, 3))
    real_space = np.abs(np.fft.fftshift(np.fft.ifft2(np.fft.ifftshift(mean_pattern))))[size // 2, :]
    weights = real_space / real_space.sum()
    sigma = np.sqrt(np.sum(weights * (np.arange(size) - size // 2) ** 2))
    guess = np.exp(-(probe_distance(size) ** 2) / (2.0 * sigma**2))[..., None] + 1e-9
    guess = guess * probe_mask(size)[..., None]
    guess = guess * (np.sum(default_probe(size, scale)) / np.sum(guess))
    return guess.astype(np.float32)


def illuminate(obj: Tensor, probe: Tensor, mask: Optional[Tensor] = None, smoothing_sigma: float = 0.0):
    """Exit wave ``ψ = P·O``, optionally Gaussian-smoothed (3×3, reflect) and then masked.

    Args:
        obj: ``(n, N, N, 1)`` complex (or real) object patches.
        probe: ``(N, N, 1)`` or ``(1, N, N, 1)`` complex probe (broadcast over the batch).
        mask: optional ``(N, N, 1)`` real mask multiplied onto the exit wave after smoothing.
        smoothing_sigma: σ of the 3×3 Gaussian smoothing in pixels; 0 disables it.
    Returns:
        complex64 ``(n, N, N, 1)``.
    """
    obj = ops.convert_to_tensor(obj)
    if "complex" not in str(obj.dtype):
        obj = ops.cast(obj, "complex64")
    probe = ops.cast(ops.convert_to_tensor(probe), "complex64")
    psi = obj * probe
    if smoothing_sigma:
        psi = complex_gaussian_filter2d(psi, (3, 3), smoothing_sigma)
    if mask is not None:
        psi = psi * ops.cast(ops.convert_to_tensor(mask), "complex64")
    return psi
