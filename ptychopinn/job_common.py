"""What the command line's jobs share: the bundle's name, quiet progress, refusing to overwrite, the scores."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, Sequence

import numpy as np

from .inputs import UserError

if TYPE_CHECKING:
    from ptycho_core.data import Scan

logger = logging.getLogger("ptychopinn.jobs")

BUNDLE_NAME = "wts.h5.zip"


def quiet_report(message: str) -> None:
    """Progress into the log only (the default ``report`` of every job)."""
    logger.info(message)


def refuse_existing(paths: Sequence[Path], overwrite: bool) -> None:
    """A UserError naming the outputs that exist, unless ``overwrite``."""
    existing = [str(p) for p in paths if p.exists()]
    if existing and not overwrite:
        raise UserError(
            f"output already exists: {', '.join(existing)}; choose another --out folder or pass "
            f"--overwrite (previous images are then kept as numbered backups)"
        )


def scan_metrics(image: np.ndarray, scan: Scan) -> Dict[str, Any]:
    """``metrics.json``: the object's shape, the pattern count and, with a true object, its scores."""
    from ptycho_core.metrics import score_reconstruction

    metrics: Dict[str, Any] = {"object_shape": list(image.shape), "patterns": len(scan)}
    if scan.object is not None:
        truth = np.asarray(scan.object)
        if truth.shape[0] >= image.shape[0] and truth.shape[1] >= image.shape[1]:
            # amplitude_correlation, phase/amplitude PSNR and SSIM, half-bit FRC, the original's figures
            metrics.update(score_reconstruction(np.asarray(image), truth, border=2))
    return metrics


def load_bundle(bundle: Path) -> Any:
    """The trained model in ``bundle`` (a folder holding ``wts.h5.zip``); a missing or bad one is a UserError."""
    from ptycho_core.pipeline import load_model
    from ptycho_core.safe_pickle import ArchiveError

    if bundle.is_dir() and not (bundle / BUNDLE_NAME).exists():
        raise UserError(
            f"Model archive not found at: {bundle / BUNDLE_NAME}. Expected 'wts.h5.zip' in {bundle}; "
            f"it is written by training (`ptychopinn train`, or ptycho.model_manager.save)."
        )
    if not bundle.exists():
        raise UserError(f"Model directory does not exist: {bundle}")
    try:
        return load_model(bundle)
    except (ArchiveError, ValueError, FileNotFoundError, KeyError) as exc:
        raise UserError(str(exc)) from exc
