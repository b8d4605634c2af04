"""A scan grouped for the model: grouped patterns, normalised input, coordinates and ground truth.

:func:`group_scan` = :func:`~ptycho_core.data.grouping.group_neighbours` + gathering: the ``C`` patterns of
each group as channels ``(B, N, N, C)``, the normalised amplitudes ``X = f · D`` with
``f = sqrt((N/2)² / mean Σ D²)`` (:func:`~ptycho_core.physics.normalize_diffraction`), the coordinates of the
groups from the positions (for stitching) and from the start positions (the model's position input), and the
ground-truth object patches when the scan has an object (or per-point truth patches are given).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Optional

import numpy as np

from ..physics.scaling import normalize_diffraction
from ..types import ArrayLike
from .grouping import Groups, Seed, group_coordinates, group_neighbours, positive_int, relative_coordinates
from .patches import object_patches_at
from .scan import Scan, ScanError

logger = logging.getLogger(__name__)

__all__ = ["GroupedScan", "group_scan", "gather_truth"]


@dataclass(frozen=True)
class GroupedScan:
    """A grouped scan (``B`` groups of ``C`` points, ``N x N`` patterns).

    Attributes:
        groups: the :class:`~ptycho_core.data.grouping.Groups` (indices, coordinates of the positions).
        diffraction: ``(B, N, N, C)`` grouped amplitudes, the source dtype.
        X: ``(B, N, N, C)`` float32 normalised amplitudes ``f · D``.
        factor: the float32 normalisation factor ``f``.
        start_coords, start_offsets, start_relative: the groups' coordinates from the start positions;
            ``start_relative (B, 1, 2, C)`` is the model's position input.
        truth: ``(B, N, N, C)`` complex ground-truth patches, or None.
    """

    groups: Groups
    diffraction: np.ndarray
    X: np.ndarray
    factor: np.float32
    start_coords: np.ndarray
    start_offsets: np.ndarray
    start_relative: np.ndarray
    truth: Optional[np.ndarray]

    def __len__(self) -> int:
        return len(self.groups)


def gather_truth(scan: Scan, groups: Groups, N: int, truth_patches: Optional[ArrayLike] = None) -> Optional[np.ndarray]:
    """Ground truth ``(B, N, N, C)``: the given per-point patches ``(M, N, N[, 1])`` gathered by group, else the
    object sampled at the group positions (:func:`~ptycho_core.data.patches.object_patches_at`), else None."""
    if truth_patches is not None:
        picked = np.asarray(truth_patches)[groups.indices]
        if picked.ndim == 5:  # (B, C, N, N, 1)
            return np.transpose(picked, [0, 2, 3, 1, 4])[..., 0]
        return np.transpose(picked, [0, 2, 3, 1])
    if scan.object is not None:
        return object_patches_at(scan.object, groups.offsets + groups.relative, N)
    return None


def group_scan(
    scan: Scan,
    *,
    gridsize: int,
    n_groups: Optional[int] = None,
    K: int = 4,
    seed: Seed = None,
    sequential: bool = False,
    oversampling: bool = False,
    pool_size: Optional[int] = None,
    N: Optional[int] = None,
    truth_patches: Optional[ArrayLike] = None,
) -> GroupedScan:
    """Group a validated ``scan`` (:meth:`Scan.validate`) and gather what the model needs (module docstring).

    ``n_groups`` defaults to every point; the other grouping arguments are those of
    :func:`~ptycho_core.data.grouping.group_neighbours`. ``N`` (default: the pattern size) must be the
    pattern size.
    """
    if scan.diffraction is None:
        raise ScanError("this scan has no diffraction patterns (diff3d is None); nothing to group")
    if not isinstance(scan.diffraction, np.ndarray):
        raise ScanError("group_scan needs the diffraction patterns in memory; stream large scans instead")
    size = scan.N if N is None else positive_int(N, "N")
    if scan.N != size:
        d = scan.diffraction
        raise ScanError(
            f"N={size} but the diffraction patterns are {d.shape[1]}x{d.shape[2]}; pass N=diff3d.shape[-1] "
            f"({d.shape[-1]})"
        )
    groups = group_neighbours(
        scan.x,
        scan.y,
        gridsize=gridsize,
        n_groups=len(scan) if n_groups is None else n_groups,
        K=K,
        seed=seed,
        sequential=sequential,
        oversampling=oversampling,
        pool_size=pool_size,
    )
    diffraction = np.transpose(scan.diffraction[groups.indices], [0, 2, 3, 1])
    X, factor = normalize_diffraction(diffraction, size)
    x_start = scan.x if scan.x_start is None else scan.x_start
    y_start = scan.y if scan.y_start is None else scan.y_start
    start_coords = group_coordinates(x_start, y_start, groups.indices)
    start_offsets, start_relative = relative_coordinates(start_coords)
    truth = gather_truth(scan, groups, size, truth_patches)
    logger.debug("grouped diffraction %s", X.shape)
    return GroupedScan(
        groups=groups,
        diffraction=diffraction,
        X=X,
        factor=factor,
        start_coords=start_coords,
        start_offsets=start_offsets,
        start_relative=start_relative,
        truth=truth,
    )
