"""Image agreement measures for reconstructions whose placement and scale are not fixed.

A PINN reconstruction is known up to a global amplitude scale and, after stitching, up to the placement of the
stitched canvas in the object's frame. :func:`aligned_correlation` finds the integer shift that best overlays a
reconstruction on a reference (FFT cross-correlation of the mean-removed images) and returns the Pearson
correlation over the overlap — invariant to scale and offset of the values.

:func:`score_reconstruction` scores a complex reconstruction against its true object with the usual definitions
(correlations, PSNR, SSIM, half-bit FRC) and adds the original PtychoPINN's own figures
(:mod:`ptycho_core.evaluation`) under a separate key. Host NumPy/SciPy/scikit-image only.
"""

from __future__ import annotations

import math
import warnings
from typing import Any, Dict, Optional, Tuple

import numpy as np

__all__ = [
    "pearson",
    "best_shift",
    "aligned_correlation",
    "psnr",
    "half_bit_threshold",
    "frc_half_bit",
    "score_reconstruction",
]


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


def psnr(truth: np.ndarray, image: np.ndarray, data_range: float) -> Optional[float]:
    """Peak signal-to-noise ratio in dB, ``10·log10(data_range² / MSE)`` with ``MSE = mean((image − truth)²)``.

    ``None`` when it is undefined or infinite (``data_range ≤ 0`` or ``MSE = 0``).
    """
    error = np.mean((np.asarray(image, np.float64) - np.asarray(truth, np.float64)) ** 2)
    if not data_range > 0 or not error > 0:
        return None
    return float(10.0 * np.log10(data_range**2 / error))


def half_bit_threshold(ring_pixels: np.ndarray) -> np.ndarray:
    """The 1/2-bit FRC threshold of van Heel & Schatz (2005) for rings of ``ring_pixels`` pixels each.

    ``T(n) = (0.2071 + 1.9102/√n) / (1.2071 + 0.9102/√n)``: 1 for a single pixel, → 0.1716 for large rings.
    """
    root = np.sqrt(np.asarray(ring_pixels, np.float64))
    return (0.2071 + 1.9102 / root) / (1.2071 + 0.9102 / root)


def frc_half_bit(image1: np.ndarray, image2: np.ndarray) -> Dict[str, Any]:
    """Fourier ring correlation of two images and its crossing of the 1/2-bit threshold.

    Both ``(h, w)`` images (real or complex) are centre-cropped to a square of side ``m = min(h, w)``. With
    ``F = fftshift(fft2(image))`` and ring ``k`` the frequencies at rounded radius ``k`` (cycles per ``m`` pixels),
    ``FRC_k = |Σ_k F1·F2*| / √(Σ_k |F1|² · Σ_k |F2|²)`` for ``k = 0 … m//2`` (out to Nyquist, ``k = m/2``).
    The cut-off is the first ``k ≥ 1`` with ``FRC_k <`` :func:`half_bit_threshold`, interpolated linearly in
    ``FRC − T`` between ``k − 1`` and ``k`` (0 when ``k = 1``: ring 0 is the DC pixel, where ``T = 1``).

    Returns ``curve`` and ``threshold`` (float64, ``m//2 + 1``), ``cutoff_ring`` (cycles per ``m`` pixels),
    ``cutoff_fraction_of_nyquist`` (``cutoff_ring / (m/2)``), ``resolution_pixels`` (the full period
    ``m / cutoff_ring`` in pixels; ``None`` at 0), ``crossed`` (``False``: the FRC stays above the threshold up to
    Nyquist, and the cut-off is reported as Nyquist, a lower bound) and ``side`` (``m``).
    """
    from ptycho_core.evaluation import ring_index

    a, b = np.asarray(image1), np.asarray(image2)
    if a.shape != b.shape or a.ndim != 2:
        raise ValueError(f"FRC needs two 2-D images of the same shape; got {a.shape} and {b.shape}")
    m = min(a.shape)
    r0, c0 = (a.shape[0] - m) // 2, (a.shape[1] - m) // 2
    f1 = np.fft.fftshift(np.fft.fft2(a[r0 : r0 + m, c0 : c0 + m].astype(np.complex128)))
    f2 = np.fft.fftshift(np.fft.fft2(b[r0 : r0 + m, c0 : c0 + m].astype(np.complex128)))
    rings = ring_index(m).ravel()
    inside = rings <= m // 2
    rings, f1, f2 = rings[inside], f1.ravel()[inside], f2.ravel()[inside]
    cross = f1 * np.conj(f2)
    c12 = np.abs(np.bincount(rings, cross.real) + 1j * np.bincount(rings, cross.imag))
    c11, c22 = np.bincount(rings, np.abs(f1) ** 2), np.bincount(rings, np.abs(f2) ** 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        curve = np.where(c11 * c22 > 0, c12 / np.sqrt(c11 * c22), 0.0)
    threshold = half_bit_threshold(np.bincount(rings))
    margin = curve - threshold
    below = np.flatnonzero(margin[1:] < 0) + 1
    crossed = below.size > 0
    if crossed:
        k = int(below[0])
        # ring 0 (DC) is 1 pixel, where T = 1 = FRC: below already at ring 1 means nothing is resolved
        cutoff = 0.0 if k == 1 else (k - 1) + margin[k - 1] / (margin[k - 1] - margin[k])
    else:
        cutoff = m / 2
    return {
        "curve": curve,
        "threshold": threshold,
        "cutoff_ring": float(cutoff),
        "cutoff_fraction_of_nyquist": float(cutoff / (m / 2)),
        "resolution_pixels": float(m / cutoff) if cutoff > 0 else None,
        "crossed": bool(crossed),
        "side": int(m),
    }


def _finite(value: Any) -> Optional[float]:
    """A JSON-safe float: ``None`` for ``None`` and non-finite values."""
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _original_figures(image: np.ndarray, truth: np.ndarray) -> Dict[str, Any]:
    """The original's ``eval_reconstruction`` scalars for two aligned complex ``(h, w)`` images (no further crop).

    Its ``RuntimeWarning``s (e.g. MS-SSIM of a flat phase, which it reports as 0.0) are silenced: the values are
    what the original returns.
    """
    from ptycho_core.evaluation import eval_reconstruction

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        metrics = eval_reconstruction(image[..., None], truth[..., None], offset=0).metrics
    out: Dict[str, Any] = {
        name: {"amplitude": _finite(values[0]), "phase": _finite(values[1])}
        for name, values in metrics.items()
        if name != "frc"
    }
    out["conventions"] = (
        "ptycho.evaluation.eval_reconstruction of the original PtychoPINN (defaults: phase plane removed, amplitude "
        "mean-scaled): PSNR with the peak fixed at 255; SSIM/MS-SSIM of phase on (phi+pi)/(2 pi); frc50/frc1over7 "
        "in ring index (cycles per side of the square crop), not a fraction of Nyquist"
    )
    return out


def score_reconstruction(image: np.ndarray, truth: np.ndarray, border: int = 2) -> Dict[str, Any]:
    """Score a complex reconstruction against its true object; a JSON-ready dict.

    Args:
        image: complex ``(h, w)`` reconstruction (squeezed), e.g. a stitched object.
        truth: complex ``(H, W)`` true object with ``H ≥ h``, ``W ≥ w``.
        border: pixels dropped from each side of ``image`` first (stitching edges, outside the scanned region).

    Alignment: the integer shift where ``|image|`` best matches ``|truth|`` (:func:`best_shift`) picks the window
    ``t`` of the truth; ``r`` is the image times ``exp(−iθ)``, ``θ = arg Σ r·t*`` (global phase offset removed).

    Figures (standard definitions):

    * ``amplitude_correlation``, ``phase_correlation``: Pearson correlation of ``|r|`` with ``|t|`` and of the
      phases ``arg t + arg(r·t*)`` with ``arg t`` (the difference is wrapped, so wrapping of ``arg t`` is not
      counted as an error);
    * ``amplitude_psnr_db``, ``phase_psnr_db``: ``10·log10(R²/MSE)`` with ``R`` the truth's range (max − min), given
      as ``amplitude_psnr_data_range`` and ``phase_psnr_data_range_rad``; the amplitude is first scaled by the
      least-squares factor ``s = Σ|r||t| / Σ|r|²``;
    * ``amplitude_ssim``, ``phase_ssim``: scikit-image ``structural_similarity`` (7×7 window) with the same ``R``;
    * ``frc_half_bit_*``: :func:`frc_half_bit` of the complex ``r`` and ``t``: cut-off as a fraction of Nyquist
      and as a period in pixels;
    * ``original_eval_reconstruction``: the original PtychoPINN's figures (:func:`_original_figures`) on the same
      aligned images; its PSNR has a peak of 255 and its FRC cut-offs are ring indices.

    ``alignment`` records the window origin, compared shape, amplitude scale ``s`` and phase offset ``θ``. A value
    that is undefined (flat truth, e.g. a phase-free object; zero error; an image under 7 pixels for SSIM) is
    ``None``.
    """
    image = np.squeeze(np.asarray(image))
    truth = np.asarray(truth)
    if border:
        image = image[border:-border, border:-border]
    amplitude, truth_amplitude = np.abs(image).astype(np.float64), np.abs(truth).astype(np.float64)
    row, col = best_shift(amplitude, truth_amplitude)
    h, w = image.shape
    window = truth[row : row + h, col : col + w].astype(np.complex128)
    image = image.astype(np.complex128)
    t_amp = truth_amplitude[row : row + h, col : col + w]

    overlap = np.sum(image * np.conj(window))
    theta = float(np.angle(overlap)) if abs(overlap) > 0 else 0.0
    image = image * np.exp(-1j * theta)
    t_phase = np.angle(window)
    r_phase = t_phase + np.angle(image * np.conj(window))
    energy = float(np.sum(amplitude * amplitude))
    scale = float(np.sum(amplitude * t_amp)) / energy if energy > 0 else 1.0
    r_amp = scale * amplitude

    amp_range = float(np.max(t_amp) - np.min(t_amp))
    phase_range = float(np.max(t_phase) - np.min(t_phase))
    frc = frc_half_bit(image, window)
    scores: Dict[str, Any] = {
        "amplitude_correlation": pearson(amplitude, t_amp),
        "phase_correlation": pearson(r_phase, t_phase) if phase_range > 0 else None,
        "amplitude_psnr_db": psnr(t_amp, r_amp, amp_range),
        "amplitude_psnr_data_range": amp_range,
        "phase_psnr_db": psnr(t_phase, r_phase, phase_range),
        "phase_psnr_data_range_rad": phase_range,
        "amplitude_ssim": None,
        "phase_ssim": None,
        "frc_half_bit_fraction_of_nyquist": frc["cutoff_fraction_of_nyquist"],
        "frc_half_bit_resolution_pixels": _finite(frc["resolution_pixels"]),
        "frc_half_bit_crossed": frc["crossed"],
        "alignment": {
            "border": int(border),
            "window_origin": [int(row), int(col)],
            "compared_shape": [int(h), int(w)],
            "amplitude_scale": scale,
            "phase_offset_rad": theta,
        },
        "original_eval_reconstruction": None,
    }
    if min(h, w) >= 7:
        from skimage.metrics import structural_similarity

        if amp_range > 0:
            scores["amplitude_ssim"] = _finite(structural_similarity(t_amp, r_amp, data_range=amp_range))
        if phase_range > 0:
            scores["phase_ssim"] = _finite(structural_similarity(t_phase, r_phase, data_range=phase_range))
        scores["original_eval_reconstruction"] = _original_figures(image, window)
    return scores
