"""The original PtychoPINN's reconstruction figures (``ptycho.evaluation``), reproduced in NumPy/SciPy.

These are the numbers the original reports, quirks included, so that results can be compared with published
ones. For figures with the usual definitions use :func:`ptycho_core.metrics.score_reconstruction`.

Conventions (all arrays are host NumPy; ``(H, W)`` images unless stated):

* **Crop**: :func:`eval_reconstruction` first drops ``offset // 2`` pixels from every side (``offset`` even; the
  original read it from the legacy ``cfg['offset']``, here it is an argument).
* **Amplitude**: ``t = |truth|`` as float32, ``p = |recon|`` at the reconstruction's precision, then ``p`` is
  multiplied by ``mean(t) / mean(p)``.
* **Phase**: ``np.angle`` (wrapped to (-π, π], no unwrapping), then per image either a least-squares plane
  ``a·col + b·row + c`` or the mean is subtracted.
* **PSNR** (:func:`psnr_255`): ``20·log10(255 / (√MSE + ε))`` with ``ε`` the float64 machine epsilon: the peak is
  fixed at 255 whatever the data (OpenCV's ``cv2.PSNR`` default), so unit-scale data give about 70 dB.
* **MS-SSIM** (:func:`ms_ssim`): not Wang et al.'s: the product over levels of the full SSIM raised to
  ``MS_SSIM_WEIGHTS[level]``, decimating by ``[::2, ::2]`` between levels without low-pass filtering.
* **FRC** (:func:`fourier_ring_correlation`): ring means of the shifted spectra, rings out to the corners;
  cut-offs (:func:`first_crossing`) are interpolated ring indices (cycles per image side), not fractions of
  Nyquist.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any, Dict, Optional, Tuple

import numpy as np
from scipy.ndimage import gaussian_filter

__all__ = [
    "EvaluationInputError",
    "OriginalEvaluation",
    "MS_SSIM_WEIGHTS",
    "trim",
    "mae",
    "mse",
    "psnr_255",
    "fit_and_remove_plane",
    "ssim",
    "ms_ssim",
    "square_crop",
    "ring_index",
    "fourier_ring_correlation",
    "first_crossing",
    "frc_cutoffs",
    "eval_reconstruction",
]

MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
"""Per-level exponents of the original's multi-scale SSIM (Wang et al.'s weights, used without renormalising)."""

_PSNR_PEAK = 255.0
_PSNR_EPS = float(np.finfo(np.float64).eps)
_SSIM_MIN_SIDE = 7  # scikit-image's default window; the MS-SSIM loop stops below it


class EvaluationInputError(ValueError, AssertionError):
    """Invalid shapes or crop for :func:`eval_reconstruction` (the original asserted: both types are kept)."""


def trim(image: np.ndarray, offset: int) -> np.ndarray:
    """Drop ``offset // 2`` pixels from each side of the first two axes of ``image``.

    ``offset`` must be even and ≥ 0; 0 keeps the image (the original's slice returned an empty array).
    """
    offset = int(offset)
    if offset < 0 or offset % 2:
        raise EvaluationInputError(f"offset must be even and >= 0; got {offset}")
    half = offset // 2
    if half == 0:
        return image
    return image[half:-half, half:-half]


def _mean_scale(target: np.ndarray, pred: np.ndarray) -> Any:
    """``mean(target) / mean(pred)``, the original's amplitude normalisation (NumPy scalar)."""
    return np.mean(target) / np.mean(pred)


def mae(target: np.ndarray, pred: np.ndarray, normalize: bool = True) -> Any:
    """``mean |target − s·pred|`` with ``s = mean(target)/mean(pred)`` when ``normalize`` (else 1)."""
    scale = _mean_scale(target, pred) if normalize else 1
    return np.mean(np.absolute(target - scale * pred))


def mse(target: np.ndarray, pred: np.ndarray, normalize: bool = True) -> Any:
    """``mean (target − s·pred)²`` with ``s = mean(target)/mean(pred)`` when ``normalize`` (else 1)."""
    scale = _mean_scale(target, pred) if normalize else 1
    return np.mean((target - scale * pred) ** 2)


def psnr_255(target: np.ndarray, pred: np.ndarray, normalize: bool = True, shift: bool = False) -> float:
    """The original's PSNR in dB, peak fixed at 255: ``20·log10(255 / (√MSE + ε))``.

    Both arrays are cast to float32. ``s = mean(t)/mean(p)`` (``normalize``, else 1) is taken from the unshifted
    arrays; with ``shift`` the joint minimum ``min(min t, min p)`` is then subtracted from both; only then is
    ``p`` multiplied by ``s``. The squared differences are summed in float64. MSE 0 gives 361.20199909921956.
    """
    t = np.array(target, dtype=np.float32)
    p = np.array(pred, dtype=np.float32)
    if t.shape != p.shape:
        raise ValueError(f"shapes differ: {t.shape} vs {p.shape}")
    scale = _mean_scale(t, p) if normalize else 1
    if shift:
        low = min(np.min(t), np.min(p))
        t, p = t - low, p - low
    p = scale * p
    difference = t.astype(np.float64) - np.asarray(p).astype(np.float64)
    rms = float(np.sqrt(np.mean(difference * difference)))
    return float(20.0 * np.log10(_PSNR_PEAK / (rms + _PSNR_EPS)))


def fit_and_remove_plane(phase_img: np.ndarray, reference_phase: Optional[np.ndarray] = None) -> np.ndarray:
    """Subtract the least-squares plane ``a·col + b·row + c`` (indices from 0) from a 2-D phase image.

    With ``reference_phase`` (same shape) the reference's own fitted plane is added back, so the result carries
    the reference's tilt and offset instead of none. Returns float64.
    """
    phase_img = np.asarray(phase_img)
    h, w = phase_img.shape
    rows, cols = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
    design = np.column_stack([cols.ravel(), rows.ravel(), np.ones(h * w)])

    def plane(image: np.ndarray) -> np.ndarray:
        coeffs = np.linalg.lstsq(design, np.asarray(image).ravel(), rcond=None)[0]
        return coeffs[0] * cols + coeffs[1] * rows + coeffs[2]

    aligned = phase_img - plane(phase_img)
    if reference_phase is not None:
        aligned = aligned + plane(reference_phase)
    return aligned


def ssim(image1: np.ndarray, image2: np.ndarray, data_range: float) -> Any:
    """scikit-image ``structural_similarity`` with its defaults (7×7 uniform window, K1 0.01, K2 0.03)."""
    from skimage.metrics import structural_similarity

    return structural_similarity(image1, image2, data_range=data_range)


def ms_ssim(img1: np.ndarray, img2: np.ndarray, levels: int = 5, sigma: float = 0.0) -> float:
    """The original's multi-scale SSIM: ``∏_l SSIM_l ^ MS_SSIM_WEIGHTS[l]``.

    With ``sigma > 0`` both images are first smoothed (``scipy.ndimage.gaussian_filter``, reflect). The data range
    is fixed once, ``max(ptp(img1), ptp(img2))``. After each level but the last both images are decimated by
    ``[::2, ::2]``; the loop stops early once a side is below 7 (the remaining weights are dropped, not
    renormalised). A NaN SSIM makes the result 0.0 and a negative one counts as 1e-4 (both with a
    ``RuntimeWarning``). ``levels`` is capped at 5.
    """
    if sigma > 0:
        img1 = gaussian_filter(img1, sigma)
        img2 = gaussian_filter(img2, sigma)
    levels = min(int(levels), len(MS_SSIM_WEIGHTS))
    data_range = max(img1.max() - img1.min(), img2.max() - img2.min())
    value: Any = 1.0
    for level in range(levels):
        level_ssim = ssim(img1, img2, data_range=data_range)
        if np.isnan(level_ssim):
            warnings.warn(f"MS-SSIM: SSIM is NaN at level {level}; returning 0.0", RuntimeWarning, stacklevel=2)
            return 0.0
        if level_ssim < 0:
            warnings.warn(
                f"MS-SSIM: negative SSIM {level_ssim:.4f} at level {level} counted as 1e-4",
                RuntimeWarning,
                stacklevel=2,
            )
            level_ssim = 0.0001
        value = value * level_ssim ** MS_SSIM_WEIGHTS[level]
        if level < levels - 1:
            img1, img2 = img1[::2, ::2], img2[::2, ::2]
            if min(img1.shape) < _SSIM_MIN_SIDE or min(img2.shape) < _SSIM_MIN_SIDE:
                break
    return 0.0 if np.isnan(value) else value


def square_crop(target: np.ndarray, pred: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Centre-crop both images to the shorter side of ``target`` (start ``(dim − side) // 2``), as the FRC does."""
    target, pred = np.array(target), np.array(pred)
    if target.shape[0] == target.shape[1]:
        return target, pred
    side = min(target.shape[:2])
    r0, c0 = (target.shape[0] - side) // 2, (target.shape[1] - side) // 2
    return target[r0 : r0 + side, c0 : c0 + side], pred[r0 : r0 + side, c0 : c0 + side]


def ring_index(n: int) -> np.ndarray:
    """``round(√(r² + c²))`` for an ``n × n`` grid with ``r, c`` measured from pixel ``n // 2`` (the DC of fftshift)."""
    offsets = np.arange(n) - n // 2
    return np.rint(np.hypot(offsets[:, None], offsets[None, :])).astype(np.intp)


def fourier_ring_correlation(image1: np.ndarray, image2: np.ndarray) -> np.ndarray:
    """FRC of two square ``(n, n)`` images, as in the FRC package the original bundles.

    With ``I = fftshift(fft2(image))`` and ring ``k`` the pixels at rounded distance ``k`` from the centre,
    ``FRC_k = |⟨I1·I2*⟩_k| / √|⟨|I1|²⟩_k·⟨|I2|²⟩_k|`` (``⟨·⟩_k``: mean over ring ``k``). Rings run out to the corners:
    the curve (float64) has ``max ring + 1 = round(√2·(n//2)) + 1`` entries for even ``n``.
    """
    image1, image2 = np.asarray(image1), np.asarray(image2)
    if image1.shape != image2.shape or image1.ndim != 2 or image1.shape[0] != image1.shape[1]:
        raise ValueError(f"FRC needs two square images of the same shape; got {image1.shape} and {image2.shape}")
    f1 = np.fft.fftshift(np.fft.fft2(image1))
    f2 = np.fft.fftshift(np.fft.fft2(image2))
    rings = ring_index(image1.shape[0]).ravel()
    count = np.bincount(rings)
    cross = f1 * np.conj(f2)
    c12 = (np.bincount(rings, cross.real.ravel()) + 1j * np.bincount(rings, cross.imag.ravel())) / count
    c11 = np.bincount(rings, (np.abs(f1) ** 2).ravel()) / count
    c22 = np.bincount(rings, (np.abs(f2) ** 2).ravel()) / count
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.abs(c12) / np.sqrt(np.abs(c11 * c22))


def first_crossing(curve: np.ndarray, threshold: float) -> float:
    """Where ``curve`` first goes below ``threshold``, linearly interpolated, in units of its index.

    For the first index ``i`` with ``curve[i] < threshold`` (non-finite values ignored) the result is
    ``(i−1) + (threshold − y[i−1]) / (y[i] − y[i−1])`` clipped to ``[i−1, i]``; ``0.0`` if ``i = 0``;
    ``float(len(curve))`` if the curve never goes below; NaN for an empty or all-NaN curve; ``float(i)`` where the
    interpolation is undefined (a non-finite neighbour or equal values).
    """
    values = np.asarray(curve, dtype=np.float64)
    finite = np.isfinite(values)
    if values.size == 0 or not finite.any():
        return float("nan")
    below = np.flatnonzero(finite & (values < threshold))
    if below.size == 0:
        return float(len(values))
    i = int(below[0])
    if i == 0:
        return 0.0
    y0, y1 = float(values[i - 1]), float(values[i])
    if not (np.isfinite(y0) and np.isfinite(y1)) or np.isclose(y1 - y0, 0.0):
        return float(i)
    x = (i - 1) + (threshold - y0) / (y1 - y0)
    return float(np.clip(x, i - 1, i)) if np.isfinite(x) else float(i)


def frc_cutoffs(
    target: np.ndarray, pred: np.ndarray, frc_sigma: float = 0
) -> Tuple[Optional[np.ndarray], float, float]:
    """``(curve, frc50, frc1over7)``: the FRC of the centre-square crops and its 0.5 and 1/7 crossings (ring index).

    ``frc_sigma > 0`` smooths the curve (``gaussian_filter``, reflect) before the crossings are read.
    ``(None, nan, nan)`` when ``target`` is identically 0; ``ValueError`` when ``pred`` is all NaN.
    """
    if np.isnan(pred).all():
        raise ValueError("the prediction is all NaN")
    if np.max(target) == np.min(target) == 0:
        return None, float("nan"), float("nan")
    target, pred = square_crop(target, pred)
    curve = fourier_ring_correlation(target, pred)
    if frc_sigma > 0:
        curve = gaussian_filter(curve, frc_sigma)
    return curve, first_crossing(curve, 0.5), first_crossing(curve, 1.0 / 7.0)


@dataclass
class OriginalEvaluation:
    """What :func:`eval_reconstruction` returns.

    ``metrics``: the original's dict, 8 keys (``mae mse psnr ssim ms_ssim frc50 frc1over7 frc``), each an
    ``(amplitude, phase)`` tuple. ``images``: the cropped 2-D images the metrics were computed on, for debug
    output: ``amp_target``, ``amp_pred`` (mean-scaled), ``phi_target``, ``phi_pred`` (aligned, radians),
    ``phase_target_scaled`` and ``phase_pred_scaled`` (``(φ + π) / 2π``).
    """

    metrics: Dict[str, Tuple[Any, Any]]
    images: Dict[str, np.ndarray] = field(default_factory=dict)


def eval_reconstruction(
    stitched_obj: np.ndarray,
    ground_truth_obj: np.ndarray,
    *,
    offset: int = 4,
    phase_align_method: str = "plane",
    frc_sigma: float = 0,
    ms_ssim_sigma: float = 1.0,
) -> OriginalEvaluation:
    """The original's ``eval_reconstruction`` figures for a complex reconstruction against its ground truth.

    Args:
        stitched_obj: complex ``(H, W, C)`` or ``(B, H, W, C)`` (batch item 0 is used); channel 0 is used.
        ground_truth_obj: complex ``(H, W, C)``, same ``H`` and ``W``.
        offset: even; ``offset // 2`` pixels are dropped from every side first (the original's ``cfg['offset']``).
        phase_align_method: ``'plane'`` (subtract each phase's own least-squares plane) or ``'mean'``.
        frc_sigma: smoothing of the FRC curves (0: none). ms_ssim_sigma: smoothing of the amplitudes for MS-SSIM.

    Amplitude metrics compare ``t = float32 |truth|`` with ``p·mean(t)/mean(p)``: MAE, MSE, PSNR (peak 255), SSIM
    (data range ``ptp(t)``), MS-SSIM, FRC. Phase metrics compare the aligned phases; SSIM and MS-SSIM use
    ``(φ + π) / 2π`` with data range 1. FRC figures are ring indices (cycles per side of the square crop).
    """
    stitched = np.asarray(stitched_obj)
    truth = np.asarray(ground_truth_obj)
    if truth.ndim != 3:
        raise EvaluationInputError(f"ground_truth_obj must be (H, W, C); got shape {truth.shape}")
    if stitched.ndim not in (3, 4):
        raise EvaluationInputError(f"stitched_obj must be (H, W, C) or (B, H, W, C); got shape {stitched.shape}")
    if stitched.ndim == 4:
        stitched = stitched[0]
    if stitched.shape[:2] != truth.shape[:2]:
        raise EvaluationInputError(f"height and width differ: {stitched.shape} vs {truth.shape}")
    if phase_align_method not in ("plane", "mean"):
        raise ValueError(f"Unknown phase_align_method: {phase_align_method}. Use 'plane' or 'mean'.")

    phi_pred_raw = trim(np.angle(stitched[..., 0]), offset)
    phi_target_raw = trim(np.angle(truth[..., 0]), offset)
    if phase_align_method == "plane":
        phi_pred, phi_target = fit_and_remove_plane(phi_pred_raw), fit_and_remove_plane(phi_target_raw)
    else:
        phi_pred, phi_target = phi_pred_raw - np.mean(phi_pred_raw), phi_target_raw - np.mean(phi_target_raw)

    amp_target = trim(np.absolute(truth[..., 0]), offset).astype(np.float32)
    amp_pred = trim(np.absolute(stitched[..., 0]), offset)
    amp_pred = amp_pred * _mean_scale(amp_target, amp_pred)

    phase_target_scaled = (phi_target + np.pi) / (2 * np.pi)
    phase_pred_scaled = (phi_pred + np.pi) / (2 * np.pi)
    frc_amp, frc50_amp, frc1over7_amp = frc_cutoffs(amp_target, amp_pred, frc_sigma=frc_sigma)
    frc_phi, frc50_phi, frc1over7_phi = frc_cutoffs(phi_target, phi_pred, frc_sigma=frc_sigma)
    metrics: Dict[str, Tuple[Any, Any]] = {
        "mae": (mae(amp_target, amp_pred, normalize=False), mae(phi_target, phi_pred, normalize=False)),
        "mse": (mse(amp_target, amp_pred, normalize=False), mse(phi_target, phi_pred, normalize=False)),
        "psnr": (psnr_255(amp_target, amp_pred, normalize=False), psnr_255(phi_target, phi_pred, normalize=False)),
        "ssim": (
            ssim(amp_target, amp_pred, data_range=float(np.max(amp_target) - np.min(amp_target))),
            ssim(phase_target_scaled, phase_pred_scaled, data_range=1.0),
        ),
        "ms_ssim": (
            ms_ssim(amp_target, amp_pred, sigma=ms_ssim_sigma),
            ms_ssim(phase_target_scaled, phase_pred_scaled),
        ),
        "frc50": (frc50_amp, frc50_phi),
        "frc1over7": (frc1over7_amp, frc1over7_phi),
        "frc": (frc_amp, frc_phi),
    }
    images = {
        "amp_target": amp_target,
        "amp_pred": amp_pred,
        "phi_target": phi_target,
        "phi_pred": phi_pred,
        "phase_target_scaled": phase_target_scaled,
        "phase_pred_scaled": phase_pred_scaled,
    }
    return OriginalEvaluation(metrics=metrics, images=images)
