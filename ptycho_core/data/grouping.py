"""Neighbour grouping of scan points: which ``C = gridsize²`` points form each group, and their coordinates.

:func:`group_neighbours` picks ``n_groups`` seed points and, for ``C > 1``, ``C`` of each seed's ``K`` nearest
neighbours (KD-tree, the seed itself excluded). It draws from a NumPy ``RandomState`` with exactly the original
PtychoPINN's sequence of calls, so an integer ``seed`` selects the same groups the original selects after
``np.random.seed(seed)``:

* seeds: ``choice(arange(M), n, replace=False)`` when ``n < M`` (all points, in order, otherwise), or the first
  ``n`` points with ``sequential`` (the neighbour draws then restart from seed 0, as in the original);
* ``C > 1``: for each seed in order, ``choice(its K neighbours, C, replace=False)``;
* oversampling (``n_groups > M``): the C-subsets of the seeds' neighbours ("K choose C"), see
  :func:`_oversampled_groups`.

Coordinates follow the original's conventions: ``coords (B, 1, 2, C)`` with axis 2 = ``[x, y]``, group centres
``offsets = mean over C`` ``(B, 1, 2, 1)``, and ``relative = -(coords - offsets)`` (group centre − position),
the model's position input.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from itertools import combinations
from typing import Any, Optional, Tuple, Union

import numpy as np

from ..types import ArrayLike

logger = logging.getLogger(__name__)

__all__ = [
    "Groups",
    "group_neighbours",
    "group_coordinates",
    "nearest_neighbours",
    "relative_coordinates",
    "subsample_rows",
    "LOCAL_OFFSET_SIGN",
]

#: ``relative = LOCAL_OFFSET_SIGN · (coords - centre)``
LOCAL_OFFSET_SIGN = -1

Seed = Union[int, np.random.RandomState, None]


@dataclass(frozen=True)
class Groups:
    """Groups of scan points: ``indices (B, C)`` and their coordinates (see the module docstring)."""

    indices: np.ndarray
    coords: np.ndarray
    offsets: np.ndarray
    relative: np.ndarray

    def __len__(self) -> int:
        return int(self.indices.shape[0])


def _rng(seed: Seed) -> np.random.RandomState:
    """The generator to draw from: a given ``RandomState`` itself, else ``RandomState(seed)``."""
    if isinstance(seed, np.random.RandomState):
        return seed
    return np.random.RandomState(seed)


def subsample_rows(count: int, keep: Optional[int], seed: Seed = None) -> np.ndarray:
    """Sorted indices of ``keep`` of ``count`` scan points drawn without replacement (all, in order, when
    ``keep`` is None or at least ``count``): ``sort(rng.choice(arange(count), keep, replace=False))``, the
    original's random subsampling (``seed`` as in :func:`group_neighbours`)."""
    if keep is None or int(keep) >= count:
        return np.arange(count)
    keep = positive_int(keep, "the number of points to keep")
    return np.sort(_rng(seed).choice(np.arange(count), size=keep, replace=False))


def positive_int(value: Any, name: str) -> int:
    """``int(value)`` if it is a positive integer, else ``ValueError`` naming ``name``."""
    try:
        ok = int(value) == value and int(value) >= 1
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ValueError(f"{name} must be a positive integer; got {value!r}")
    return int(value)


def _kdtree(points: np.ndarray) -> Any:
    try:
        from scipy.spatial import cKDTree
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "grouping scan points into gridsize > 1 groups needs SciPy's KD-tree (scipy.spatial.cKDTree); "
            "install it with `pip install scipy` (gridsize=1 needs no neighbour search)"
        ) from exc
    return cKDTree(points)


def nearest_neighbours(x: ArrayLike, y: ArrayLike, K: int) -> np.ndarray:
    """``(M, K + 1)`` indices of each point's ``K + 1`` nearest points (itself included, usually first)."""
    points = np.column_stack((np.asarray(x), np.asarray(y)))
    _, indices = _kdtree(points).query(points, k=K + 1)
    return indices


def group_coordinates(x: ArrayLike, y: ArrayLike, indices: np.ndarray) -> np.ndarray:
    """``(B, 1, 2, C)`` float64 coordinates of the groups ``indices (B, C)``, axis 2 = ``[x, y]``."""
    stacked = np.array([np.asarray(x, dtype=np.float64)[indices], np.asarray(y, dtype=np.float64)[indices]])
    return np.transpose(stacked, [1, 0, 2])[:, None, :, :]


def relative_coordinates(coords: ArrayLike) -> Tuple[np.ndarray, np.ndarray]:
    """``(offsets (B, 1, 2, 1), relative (B, 1, 2, C))`` of grouped coordinates ``(B, 1, 2, C)``."""
    coords = np.asarray(coords)
    if coords.ndim != 4:
        raise ValueError(f"coords_nn must have shape (M, 1, 2, C); got {coords.shape}")
    offsets = np.mean(coords, axis=3)[..., None]
    return offsets, LOCAL_OFFSET_SIGN * (coords - offsets)


def group_neighbours(
    x: ArrayLike,
    y: ArrayLike,
    *,
    gridsize: int,
    n_groups: int,
    K: int = 4,
    seed: Seed = None,
    sequential: bool = False,
    oversampling: bool = False,
    pool_size: Optional[int] = None,
) -> Groups:
    """Group the scan points at ``(x, y)`` into ``n_groups`` groups of ``C = gridsize²`` neighbours.

    Args:
        x, y: ``(M,)`` positions (object pixels).
        gridsize: group side; ``C = gridsize²`` points per group (1: every group is one point, no KD-tree).
        n_groups: groups wanted; at most ``M`` unless ``oversampling`` (``C > 1``).
        K: neighbours considered per seed (``K >= C``).
        seed: an int (the original's ``np.random.seed(seed)`` draws), a ``RandomState`` to draw from (advanced
            in place; pass ``np.random.mtrand._rand`` to continue NumPy's global sequence), or None (fresh).
        sequential: the first ``n_groups`` points are the seeds.
        oversampling: allow ``n_groups > M`` for ``C > 1`` ("K choose C", OVERSAMPLING-001).
        pool_size: the neighbour pool for oversampling (default ``K``, must be ``>= C``).
    Returns:
        :class:`Groups`: ``indices`` int32 ``(B, C)`` (the seeds' int64 for ``C = 1``) and coordinates.
    Raises:
        ValueError: non-positive sizes, fewer than C points, ``K < C``, ``n_groups > M`` with ``C > 1`` and no
            oversampling, a pool smaller than C.
    """
    gridsize = positive_int(gridsize, "gridsize")
    n_groups = positive_int(n_groups, "n_groups")
    C = gridsize**2
    x, y = np.asarray(x), np.asarray(y)
    n_points = len(x)
    pool = pool_size if pool_size is not None else K
    needs_oversampling = n_groups > n_points and C > 1
    if needs_oversampling:
        if not oversampling:
            raise ValueError(
                f"Requesting {n_groups} groups but only {n_points} points available (gridsize={gridsize}, "
                f"C={C}). K choose C oversampling is required but not enabled. Set enable_oversampling=True "
                f"and ensure neighbor_pool_size >= {C} to proceed, or request at most {n_points} groups "
                f"(n_groups), or provide at least {n_groups} scan points, or use gridsize=1 "
                f"(OVERSAMPLING-001)."
            )
        if pool < C:
            raise ValueError(
                f"K choose C oversampling requires neighbor_pool_size >= C (gridsize²). Got "
                f"neighbor_pool_size={pool}, but C={C}; increase neighbor_pool_size to at least {C} "
                f"(OVERSAMPLING-001)."
            )
    logger.info(
        "Grouping %d of %d points into groups of C=%d (K=%d, %s sampling%s)",
        n_groups,
        n_points,
        C,
        K,
        "sequential" if sequential else "random",
        ", K choose C oversampling" if needs_oversampling else "",
    )
    seeds = np.arange(min(n_groups, n_points)) if sequential else None
    if needs_oversampling:
        indices = _oversampled_groups(x, y, n_groups, pool, C, _rng(seed), seeds)
    else:
        indices = _groups(x, y, n_groups, K, C, seed, seeds)
    coords = group_coordinates(x, y, indices)
    offsets, relative = relative_coordinates(coords)
    return Groups(indices=indices, coords=coords, offsets=offsets, relative=relative)


def _check_sizes(n_points: int, K: int, C: int) -> None:
    if n_points < C:
        raise ValueError(f"Dataset has only {n_points} points but {C} coordinates per group requested.")
    if K < C:
        raise ValueError(f"K={K} must be >= C={C} (need at least C neighbors to form a group)")


def _groups(
    x: np.ndarray, y: np.ndarray, n_groups: int, K: int, C: int, seed: Seed, seeds: Optional[np.ndarray]
) -> np.ndarray:
    """One group per seed point (``min(n_groups, M)`` groups)."""
    rng = _rng(seed) if seeds is None else None
    n_points = len(x)
    _check_sizes(n_points, K, C)
    if seeds is not None:
        n_actual = min(len(seeds), n_points)
        seeds = np.asarray(seeds)[:n_actual]
        rng = seed if isinstance(seed, np.random.RandomState) else np.random.RandomState()
        rng.seed(0)  # the original's deterministic neighbour choice for sequential sampling
    else:
        assert rng is not None
        if n_groups > n_points:
            logger.warning(
                "Requested %d groups but only %d points available; using every point as a seed", n_groups, n_points
            )
        n_actual = min(n_groups, n_points)
        all_indices = np.arange(n_points)
        seeds = rng.choice(all_indices, size=n_actual, replace=False) if n_actual < n_points else all_indices
    if C == 1:
        return seeds.reshape(-1, 1)
    coords = np.column_stack([x, y])
    _, neighbours = _kdtree(coords).query(coords[seeds], k=min(K + 1, n_points))
    if n_points > K:  # every seed has K neighbours after itself: one permutation of K per seed
        return _draw_from_neighbours(neighbours[:, 1 : K + 1], C, rng)
    groups = np.zeros((n_actual, C), dtype=np.int32)
    for i in range(n_actual):
        row = neighbours[i]
        near = row[1 : K + 1] if len(row) > K else row[:K]  # the first hit is the seed itself
        available = np.concatenate([[seeds[i]], near]) if len(near) < C else near
        groups[i] = rng.choice(available, size=C, replace=len(available) < C)
    return groups


def _draw_from_neighbours(neighbours: np.ndarray, C: int, rng: np.random.RandomState) -> np.ndarray:
    """``(n, C)`` int32: ``C`` of each row's ``K`` neighbours, the draws of ``rng.choice(row, C, replace=False)``.

    That call takes ``permutation(K)[:C]``, i.e. shuffles ``arange(K)``; shuffling the rows of one ``(n, K)``
    index array in place makes the same draws in the same order without the per-call overhead.
    """
    n, K = neighbours.shape
    order = np.empty((n, K), np.intp)
    order[:] = np.arange(K)
    for row in order:
        rng.shuffle(row)
    return np.take_along_axis(neighbours, order[:, :C], axis=1).astype(np.int32)


def _oversampled_groups(
    x: np.ndarray,
    y: np.ndarray,
    n_groups: int,
    K: int,
    C: int,
    rng: np.random.RandomState,
    seeds: Optional[np.ndarray],
) -> np.ndarray:
    """``(n_groups, C)`` int64 groups drawn from the C-subsets of the seeds' ``K`` nearest neighbours.

    Seeds: ``min(2 · ceil(n_groups / comb(K, C)), M)``, the given ``seeds`` (if there are enough) or a random
    choice. The pool collects, seed by seed, every C-combination of the seed's neighbours (in
    ``itertools.combinations`` order) until it holds ``2 · n_groups``; the groups are ``choice(pool, n_groups)``
    (with replacement only if the pool is too small).
    """
    n_points = len(x)
    _check_sizes(n_points, K, C)
    max_combos = 1 if C == 1 else math.comb(K, C)
    min_seeds = max(1, -(-n_groups // max_combos))
    n_seeds = min(2 * min_seeds, n_points)
    if seeds is not None and len(seeds) >= min_seeds:
        seeds = np.asarray(seeds)[:n_seeds]
    else:
        all_indices = np.arange(n_points)
        seeds = rng.choice(all_indices, size=n_seeds, replace=False) if n_seeds < n_points else all_indices
    if C == 1:
        return rng.choice(seeds, size=n_groups, replace=n_groups > len(seeds)).reshape(-1, 1)
    coords = np.column_stack([x, y])
    tree = _kdtree(coords)
    target = 2 * n_groups
    pool = []
    for seed_index in seeds:
        _, hits = tree.query(coords[seed_index : seed_index + 1], k=min(K + 1, n_points))
        near = hits[0]
        if len(near) > K:
            near = near[1 : K + 1]
        elif len(near) > 1:
            near = near[1:]
        available = np.concatenate([[seed_index], near]) if len(near) < C else near[:K]
        if len(available) >= C:
            for combo in combinations(available, C):
                pool.append(combo)
                if len(pool) >= target:
                    break
        if len(pool) >= target:
            break
    if not pool:
        raise ValueError(
            f"No valid combinations could be generated (every seed has fewer than C={C} neighbours; K={K}, "
            f"{n_points} points)"
        )
    combos = np.array(pool)
    if n_groups > len(combos):
        logger.warning(
            "Requested %d groups but only %d unique combinations available; sampling with replacement",
            n_groups,
            len(combos),
        )
    chosen = rng.choice(len(combos), size=n_groups, replace=n_groups > len(combos))
    return combos[chosen]
