"""The original ``ptycho.evaluation`` API: reconstruction figures with its names, defaults and return structures.

The numbers come from :mod:`ptycho_core.evaluation` (NumPy/SciPy and scikit-image's SSIM); this module adds the
original's legacy inputs and side effects:

* the crop of :func:`eval_reconstruction` and :func:`trim` is ``ptycho.params.cfg['offset']`` (default 4: two
  pixels per side), read at call time;
* ``debug_save_images=True`` writes the original's 8 PNG files to ``./debug_images_<label>/`` (or
  ``./debug_images/`` without a label) through ``matplotlib.image.imsave`` (``hsv`` colour map for names holding
  ``phase``, else ``gray``).

Differences: no OpenCV (:func:`psnr` computes ``cv2.PSNR``'s formula, peak 255, in NumPy), no TensorFlow, the FRC
package (a git submodule the original needs at run time) is built in, nothing is printed, and ``offset = 0``
means no crop (the original's slice gave empty images). ``save_metrics`` and the plotting helpers are not
provided.

Only NumPy, SciPy, scikit-image and (for debug images) matplotlib are imported: no Keras, no backend.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Dict, Optional, Tuple, Union

import numpy as np

from ptycho_core import evaluation as _core

__all__ = [
    "ms_ssim",
    "trim",
    "mae",
    "mse",
    "psnr",
    "fit_and_remove_plane",
    "frc_cutoffs",
    "frc50",
    "eval_reconstruction",
]

ms_ssim = _core.ms_ssim
mae = _core.mae
mse = _core.mse
fit_and_remove_plane = _core.fit_and_remove_plane


def _offset() -> int:
    from ptycho import params

    return int(params.get("offset"))


def trim(arr2d: np.ndarray) -> np.ndarray:
    """Drop ``cfg['offset'] // 2`` pixels from each side of the first two axes (``offset`` must be even)."""
    return _core.trim(np.asarray(arr2d), _offset())


def psnr(target: Any, pred: Any, normalize: bool = True, shift: bool = False) -> float:
    """PSNR in dB with the peak fixed at 255, as ``cv2.PSNR`` on float32 copies (see ``psnr_255`` in ptycho_core)."""
    return _core.psnr_255(target, pred, normalize=normalize, shift=shift)


def _save_debug_image(
    image: np.ndarray, name: str, output_dir: Union[str, Path], vmin: Any = None, vmax: Any = None
) -> None:
    """Write ``output_dir/name.png`` with the original's colour maps (``hsv`` if ``phase`` is in the name)."""
    from matplotlib.image import imsave

    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    cmap = "hsv" if "phase" in name.lower() else "gray"
    imsave(output_dir / f"{name}.png", np.asarray(image), cmap=cmap, vmin=vmin, vmax=vmax)


def frc_cutoffs(
    target: Any,
    pred: Any,
    frc_sigma: float = 0,
    debug_save_images: bool = False,
    debug_dir: Optional[Union[str, Path]] = None,
    label: str = "",
) -> Tuple[Optional[np.ndarray], float, float]:
    """``(curve, frc50, frc1over7)``: FRC of the centre-square crops and its 0.5 and 1/7 crossings (ring index).

    ``(None, nan, nan)`` when ``target`` is identically 0; ``ValueError`` when ``pred`` is all NaN. With
    ``debug_save_images`` and a ``debug_dir`` the two square crops are written as ``<label>_target_for_frc.png``
    and ``<label>_pred_for_frc.png`` (without the prefix when ``label`` is empty).
    """
    target, pred = np.asarray(target), np.asarray(pred)
    if np.isnan(pred).all():
        raise ValueError("the prediction is all NaN")
    if np.max(target) == np.min(target) == 0:
        return None, float("nan"), float("nan")
    if debug_save_images and debug_dir:
        square_target, square_pred = _core.square_crop(target, pred)
        vmin = min(square_target.min(), square_pred.min())
        vmax = max(square_target.max(), square_pred.max())
        prefix = f"{label}_" if label else ""
        _save_debug_image(square_target, f"{prefix}target_for_frc", debug_dir, vmin=vmin, vmax=vmax)
        _save_debug_image(square_pred, f"{prefix}pred_for_frc", debug_dir, vmin=vmin, vmax=vmax)
    return _core.frc_cutoffs(target, pred, frc_sigma=frc_sigma)


def frc50(
    target: Any,
    pred: Any,
    frc_sigma: float = 0,
    debug_save_images: bool = False,
    debug_dir: Optional[Union[str, Path]] = None,
    label: str = "",
) -> Tuple[Optional[np.ndarray], float]:
    """``(curve, frc50)``: :func:`frc_cutoffs` without the 1/7 crossing."""
    curve, value, _ = frc_cutoffs(target, pred, frc_sigma, debug_save_images, debug_dir, label)
    return curve, value


def eval_reconstruction(
    stitched_obj: Any,
    ground_truth_obj: Any,
    lowpass_n: int = 1,
    label: str = "",
    phase_align_method: str = "plane",
    frc_sigma: float = 0,
    debug_save_images: bool = False,
    ms_ssim_sigma: float = 1.0,
) -> Dict[str, Tuple[Any, Any]]:
    """Compare a complex reconstruction with its ground truth; the original's 8 figures.

    Args:
        stitched_obj: complex ``(H, W, C)`` or ``(B, H, W, C)`` (batch item 0, channel 0 are used).
        ground_truth_obj: complex ``(H, W, C)`` with the same ``H``, ``W``.
        lowpass_n: ignored (kept for the signature). label: names the debug images only.
        phase_align_method: ``'plane'`` or ``'mean'`` (else ``ValueError``).
        frc_sigma: FRC curve smoothing; ms_ssim_sigma: amplitude smoothing before MS-SSIM.
        debug_save_images: write the 8 debug PNGs under the current directory.

    Returns ``{'mae', 'mse', 'psnr', 'ssim', 'ms_ssim', 'frc50', 'frc1over7', 'frc'}``, each an
    ``(amplitude, phase)`` tuple, computed on images cropped by ``cfg['offset'] // 2`` per side (see
    :func:`ptycho_core.evaluation.eval_reconstruction`). Shape errors raise an ``AssertionError`` that is also a
    ``ValueError``.
    """
    del lowpass_n
    result = _core.eval_reconstruction(
        np.asarray(stitched_obj),
        np.asarray(ground_truth_obj),
        offset=_offset(),
        phase_align_method=phase_align_method,
        frc_sigma=frc_sigma,
        ms_ssim_sigma=ms_ssim_sigma,
    )
    if debug_save_images:
        _write_debug_images(result.images, label)
    return result.metrics


def _write_debug_images(images: Dict[str, np.ndarray], label: str) -> None:
    """The original's 8 debug images: FRC inputs (square crops) and MS-SSIM inputs, shared colour scales."""
    debug_dir = os.path.join(os.getcwd(), f"debug_images_{label}" if label else "debug_images")
    prefix = f"{label}_" if label else ""
    amp_target, amp_pred = images["amp_target"], images["amp_pred"]
    phase_target, phase_pred = images["phase_target_scaled"], images["phase_pred_scaled"]
    for part, target, pred in (
        ("amp", amp_target, amp_pred),
        ("phi", images["phi_target"], images["phi_pred"]),
    ):
        if np.max(target) == np.min(target) == 0:
            continue  # the original's FRC returned before writing its images
        square_target, square_pred = _core.square_crop(target, pred)
        vmin, vmax = min(square_target.min(), square_pred.min()), max(square_target.max(), square_pred.max())
        _save_debug_image(square_target, f"{prefix}{part}_target_for_frc", debug_dir, vmin=vmin, vmax=vmax)
        _save_debug_image(square_pred, f"{prefix}{part}_pred_for_frc", debug_dir, vmin=vmin, vmax=vmax)
    for part, target, pred in (("phase", phase_target, phase_pred), ("amp", amp_target, amp_pred)):
        vmin, vmax = min(target.min(), pred.min()), max(target.max(), pred.max())
        _save_debug_image(pred, f"{prefix}{part}_pred_for_ms-ssim", debug_dir, vmin=vmin, vmax=vmax)
        _save_debug_image(target, f"{prefix}{part}_target_for_ms-ssim", debug_dir, vmin=vmin, vmax=vmax)
