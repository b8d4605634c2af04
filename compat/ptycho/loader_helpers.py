"""Helpers of the original's ``ptycho.loader`` (re-exported there): ``normalize_data`` (the loader's legacy
variant), ``crop``, ``get_gt_patch`` and ``load_xpp_npz``."""

from __future__ import annotations

import numpy as np

from . import tf_helper as hh
from ._host import to_numpy
from .raw_data import RawData

__all__ = ["normalize_data", "crop", "get_gt_patch", "load_xpp_npz"]


def normalize_data(dset: dict, N: int) -> np.ndarray:
    """Legacy loader variant: ``sqrt((N/2)² / mean Σ D²) · D`` in float64 (``raw_data.normalize_data`` is the
    one the grouping uses; this one is kept for old callers)."""
    d = np.asarray(dset["diffraction"], dtype=np.float64)
    return np.sqrt(((N / 2) ** 2) / np.mean(np.sum(d**2, axis=(1, 2)))) * d


def crop(arr2d, size):
    """Centre crop of a 2-D array to ``2·(size//2)`` pixels per side (the original's indexing)."""
    n = np.shape(arr2d)[0]
    return arr2d[n // 2 - size // 2 : n // 2 + size // 2, n // 2 - size // 2 : n // 2 + size // 2]


def get_gt_patch(offset, N, gt_image):
    """Centre crop (``crop(·, N // 2)``) of the 2-D ``gt_image`` shifted by ``offset = [dx, dy]`` pixels."""
    image = np.asarray(to_numpy(gt_image))
    shifted = to_numpy(hh.translate(image[None, ..., None], np.reshape(np.asarray(offset, np.float32), (1, 2))))
    return crop(shifted[0, ..., 0], N // 2)


def load_xpp_npz(file_path, train_size=512):
    """Read an XPP-format NPZ (key ``diffraction``) into ``(full RawData, first train_size points, npz data)``."""
    data = np.load(file_path)
    xcoords, ycoords = data["xcoords"], data["ycoords"]
    xcoords_start, ycoords_start = data["xcoords_start"], data["ycoords_start"]
    diff3d, probeGuess, objectGuess = data["diffraction"], data["probeGuess"], data["objectGuess"]
    scan_index = np.zeros(diff3d.shape[0], dtype=int)
    full = RawData(
        xcoords, ycoords, xcoords_start, ycoords_start, diff3d, probeGuess, scan_index, objectGuess=objectGuess
    )
    n = train_size
    train = RawData(
        xcoords[:n],
        ycoords[:n],
        xcoords_start[:n],
        ycoords_start[:n],
        diff3d[:n],
        probeGuess,
        scan_index[:n],
        objectGuess=objectGuess,
    )
    return full, train, data
