"""Streaming reconstruction: diffraction read, predicted and stitched a chunk of groups at a time.

Memory is a fixed working set (one chunk of patterns and its predicted patches, the model, the stitching
canvas) plus 8 bytes per scan position and ``4·C`` bytes per group of indices; it does not grow with the number
of diffraction patterns, which are never all in memory. The result equals the in-memory path (normalise all
grouped patterns, predict, :func:`~ptycho_core.physics.reassemble_position`) up to float32 summation order:

1. a first pass over the patterns sums the grouped patterns' energy (a pattern in ``k`` groups counts ``k``
   times, as in the grouped stack) and gives the normalisation factor ``f`` of
   :func:`~ptycho_core.physics.scaling.normalization_factor`, checking the values on the way;
2. a second pass reads each chunk of groups, forms the model input ``(f·D)·s`` (``s`` the intensity scale,
   the same two float32 products as the in-memory path), predicts it a batch at a time and adds each batch's
   patches to a :class:`~ptycho_core.physics.PositionStitcher` before predicting the next.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Optional, Tuple

import numpy as np

from .data.scan import check_diffraction_rows
from .physics.scaling import factor_for_energy
from .physics.stitching import PositionStitcher
from .physics.stitching import _average as average_sums
from .types import ArrayLike, Tensor

if TYPE_CHECKING:
    from .array_rows import ArrayRows

#: Default bytes of float32 model input per chunk of groups.
DEFAULT_CHUNK_BYTES = 64 << 20

#: ``predict(x, local_offsets)``: ``x`` float32 ``(b, N, N, C)`` model input, ``local_offsets`` float64
#: ``(b, 1, 2, C)`` → object patches ``(b, N, N, 1)`` (complex, NumPy or tensor); ``b <= batch_size``. For a
#: Keras model, ``lambda x, offsets: model.predict_on_batch([x, offsets])``.
Predict = Callable[[np.ndarray, np.ndarray], Tensor]


def _check_groups(groups: ArrayLike, n_patterns: int) -> np.ndarray:
    g = np.asarray(groups)
    if g.ndim != 2 or not np.issubdtype(g.dtype, np.integer) or g.shape[0] < 1 or g.shape[1] < 1:
        raise ValueError(f"groups must be a non-empty (B, C) integer array of pattern indices; got {g.dtype} {g.shape}")
    if g.min() < 0 or g.max() >= n_patterns:
        raise ValueError(f"groups index patterns {g.min()}..{g.max()} but there are {n_patterns} patterns")
    return g


def rows_per_chunk(pattern_shape: tuple, channels: int = 1, chunk_bytes: int = DEFAULT_CHUNK_BYTES) -> int:
    """How many groups of ``channels`` float32 patterns of ``pattern_shape`` fit in ``chunk_bytes``."""
    per_group = int(np.prod(pattern_shape, dtype=np.int64)) * 4 * int(channels)
    return max(1, int(chunk_bytes) // max(1, per_group))


def grouped_energy(reader: ArrayRows, groups: ArrayLike, chunk_bytes: int = DEFAULT_CHUNK_BYTES) -> float:
    """float64 sum of the squared amplitudes of the grouped patterns, read from ``reader`` in chunks.

    Args:
        reader: rows of diffraction amplitudes ``(n, N, N)`` (:mod:`ptycho_core.array_rows`).
        groups: ``(B, C)`` pattern indices; pattern ``i`` counts as often as it appears. Only the patterns named
            here are read (a process of a sharded reconstruction reads only its groups' patterns).
    Raises:
        ValueError: complex, NaN/inf or negative values (naming the first bad pattern), sums overflowing.
    """
    n = int(reader.shape[0])
    g = _check_groups(groups, n)
    counts = np.bincount(g.reshape(-1), minlength=n).astype(np.float64)
    step = rows_per_chunk(reader.shape[1:], 1, chunk_bytes)
    buffer = np.empty((min(step, n),) + tuple(reader.shape[1:]), reader.dtype)  # reused by every chunk
    total = 0.0
    for first in range(0, n, step):
        last = min(n, first + step)
        indices = first + np.flatnonzero(counts[first:last])
        if not len(indices):
            continue
        rows = reader.read(indices, out=buffer[: len(indices)])
        check_diffraction_rows(rows, indices)
        flat = rows.reshape(len(rows), -1)
        energy = np.einsum("ij,ij->i", flat, flat, dtype=np.float64)  # float64 sums without a float64 copy
        total += float(energy @ counts[indices])
    if not np.isfinite(total):
        raise ValueError("diffraction values are too large: their squares overflow float64; rescale the data")
    return total


def grouped_normalization_factor(
    reader: ArrayRows, groups: ArrayLike, size: int, chunk_bytes: int = DEFAULT_CHUNK_BYTES
) -> np.float32:
    """Normalisation factor of the grouped patterns, read from ``reader`` in chunks.

    Args:
        reader: rows of diffraction amplitudes ``(n, N, N)`` (:mod:`ptycho_core.array_rows`).
        groups: ``(B, C)`` pattern indices; pattern ``i`` counts as often as it appears.
        size: ``N``.
    Returns:
        float32 ``f`` with mean grouped-pattern energy ``Σ (f·D)² = (N/2)²``.
    Raises:
        ValueError: complex, NaN/inf or negative values (naming the first bad pattern), all-zero data.
    """
    g = _check_groups(groups, int(reader.shape[0]))
    return factor_for_energy(grouped_energy(reader, g, chunk_bytes), g.size, size)


def reconstruct_streaming(
    predict: Predict,
    reader: ArrayRows,
    groups: ArrayLike,
    global_offsets: Tensor,
    local_offsets: ArrayLike,
    *,
    intensity_scale: float,
    M: int,
    chunk_bytes: int = DEFAULT_CHUNK_BYTES,
    batch_size: int = 64,
    factor: Optional[float] = None,
    progress: Optional[Callable[[int, int], None]] = None,
    shard: Optional[Tuple[int, int]] = None,
    all_reduce: Optional[Callable[[np.ndarray], np.ndarray]] = None,
) -> np.ndarray:
    """Predict and stitch the object of a scan whose patterns are read from ``reader`` a chunk at a time.

    Args:
        predict: the inference model as a function (see :data:`Predict`).
        reader: rows of diffraction amplitudes ``(n, N, N)``, any real dtype (:mod:`ptycho_core.array_rows`).
        groups: ``(B, C)`` pattern indices of each group (``C = gridsize²``; ``(n, 1)`` for gridsize 1).
        global_offsets: ``(B, 1, 2, 1)`` group centres ``[x, y]`` in pixels (where patches are stitched).
        local_offsets: ``(B, 1, 2, C)`` positions relative to the group centre (the model's second input).
        intensity_scale: the model's ``s`` (``params['intensity_scale']``).
        M: central window of each patch kept when stitching (even).
        chunk_bytes: float32 model input read per chunk; sets the working set, not the result.
        batch_size: groups per ``predict`` call; each batch's patches are stitched before the next is
            predicted, so the patches of a chunk never exist all at once.
        factor: the normalisation factor if known; otherwise a first pass computes it.
        progress: called as ``progress(groups_done, groups_total)`` after each chunk.
        shard, all_reduce: sharded reconstruction over several processes: this process reads, predicts and
            stitches only the groups ``shard = (first, stop)``; ``all_reduce`` (an element-wise sum over the
            processes, :meth:`ptycho_core.distributed.Session.all_reduce_sum`) combines the float64 energy of the
            normalisation pass and the float32 canvas sums ``(Pc, Pc, 3)``, so every process returns the whole
            image. Memory per process is the same fixed working set.
    Returns:
        complex64 ``(Pc, Pc, 1)``, as :func:`~ptycho_core.physics.reassemble_position` of all patches.
    Raises:
        ValueError: inconsistent shapes, bad values (see :func:`grouped_normalization_factor`).
    """
    n, size = int(reader.shape[0]), int(reader.shape[-1])
    if len(reader.shape) != 3 or reader.shape[1] != reader.shape[2]:
        raise ValueError(
            f"diffraction must be square patterns (n, N, N); got shape {tuple(reader.shape)} "
            "(crop or pad them to N x N)"
        )
    g = _check_groups(groups, n)
    B, C = g.shape
    local = np.asarray(local_offsets)
    if local.shape != (B, 1, 2, C):
        raise ValueError(f"local_offsets must have shape ({B}, 1, 2, {C}) for {B} groups of {C}; got {local.shape}")
    first_group, stop_group = (0, B) if shard is None else (int(shard[0]), int(shard[1]))
    if not 0 <= first_group <= stop_group <= B:
        raise ValueError(f"shard {shard} is not a range of the {B} groups")
    checked = factor is None  # the first pass checks every pattern's values
    if factor is None:
        total = grouped_energy(reader, g[first_group:stop_group], chunk_bytes) if stop_group > first_group else 0.0
        if all_reduce is not None:
            total = float(all_reduce(np.array([total], np.float64))[0])
        factor32 = factor_for_energy(total, g.size, size)
    else:
        factor32 = np.float32(factor)
    scale32 = np.float32(intensity_scale)
    if int(batch_size) < 1:
        raise ValueError(f"batch_size must be >= 1; got {batch_size}")
    batch = int(batch_size)
    step = min(B, rows_per_chunk((size, size), C, chunk_bytes))
    rows_buffer = np.empty((step * C, size, size), reader.dtype)  # the working set: two buffers, reused
    x_buffer = np.empty((step, size, size, C), np.float32)
    stitcher: Optional[PositionStitcher] = None
    for first in range(first_group, stop_group, step):
        last = min(stop_group, first + step)
        indices = g[first:last].reshape(-1)
        rows = reader.read(indices, out=rows_buffer[: len(indices)])
        if not checked:
            check_diffraction_rows(rows, indices)
        x = x_buffer[: last - first]
        np.copyto(x, np.transpose(rows.reshape(last - first, C, size, size), (0, 2, 3, 1)), casting="unsafe")
        x *= factor32  # float32(D)·f, then ·s: the in-memory path's two float32 products
        x *= scale32
        for start in range(first, last, batch):
            stop = min(last, start + batch)
            patches = predict(x[start - first : stop - first], local[start:stop])
            if stitcher is None:
                stitcher = PositionStitcher(global_offsets, M, int(np.shape(patches)[1]))
                if stitcher.n != B:
                    raise ValueError(f"global_offsets hold {stitcher.n} positions for {B} groups")
                stitcher.added = first_group  # a shard's patches start at its first group's position
            stitcher.add(patches)
            del patches
        if progress is not None:
            progress(last, B)
    if shard is None and all_reduce is None:
        assert stitcher is not None
        return stitcher.image()
    if stitcher is None:  # an empty shard adds nothing
        stitcher = PositionStitcher(global_offsets, M, size)
    stitcher.added = stitcher.n  # this process's partial sums; the others hold the rest
    sums = stitcher.sums()
    if all_reduce is not None:
        sums = all_reduce(sums)
    return average_sums(sums)
