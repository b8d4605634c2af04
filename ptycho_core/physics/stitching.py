"""Stitching of reconstructed patches into one object image (the original's ``reassemble_position``).

Definition (ORIGINAL_PHYSICS §8.1), for ``n`` patches ``(n, N, N, 1)`` at global positions ``g`` (``[x, y]``):

1. keep the central ``M×M`` window of each patch (``M`` even);
2. ``adj = float32(g) - mean(float32(g))`` (centre of mass removed, float32 sequential sum);
3. ``pad = ceil(max|adj|)``, rounded up to even; canvas size ``Pc = M + 2·pad``;
4. numerator: the sum over patches of the window zero-padded by ``pad`` and translated by ``+adj`` (bilinear,
   per-corner zero fill); denominator: the same for windows of ones;
5. result ``numerator / (denominator + 1e-9)``, complex64 ``(Pc, Pc, 1)``.

Global position ``g`` lands at canvas pixel ``Pc/2 + (g - mean g)``.

The original translates every patch across the whole canvas, so its time grows with patches × canvas area.
Here each patch touches only its ``(M+1)×(M+1)`` footprint: the footprint is sampled with exactly the
original's interpolation (same float32 sample points) and scatter-added (``ops.segment_sum``) into the
canvas, chunk by chunk, so time and memory grow linearly with the number of patches and memory is bounded by
``chunk_size``.
"""

from __future__ import annotations

import numpy as np
from keras import ops

from .._backend import compiled
from ..types import Tensor
from ._checks import check_even_positive, check_rank
from .translation import sample_bilinear

STITCH_EPSILON = 1e-9


def _offsets_xy(global_offsets: Tensor, n: int) -> np.ndarray:
    g = np.asarray(
        ops.convert_to_numpy(global_offsets) if not isinstance(global_offsets, np.ndarray) else global_offsets
    )
    if np.iscomplexobj(g):
        g = g.real
    if g.size != 2 * n:
        raise ValueError(
            f"global_offsets must hold one [x, y] pair per patch, e.g. shape ({n}, 1, 2, 1); "
            f"got shape {g.shape} for {n} patches"
        )
    g = g.reshape(-1, 2).astype(np.float32)
    if not np.all(np.isfinite(g)):
        raise ValueError("global_offsets contains NaN or inf; drop those scan positions before stitching")
    return g


def center_of_mass(g: np.ndarray) -> np.ndarray:
    """Mean position ``(2,)`` float32, summed sequentially in float32 like the original's ``reduce_mean``.

    The order matters at the 1e-5 level for coordinates of ~100 px: a pairwise or float64 mean moves the
    bilinear weights by an ulp of the coordinate, which the original's stitched images show.
    """
    return (np.cumsum(g, axis=0, dtype=np.float32)[-1] / np.float32(len(g))).astype(np.float32)


def stitch_canvas_size(global_offsets: Tensor, window: int) -> int:
    """Canvas size ``Pc = M + 2·pad`` that :func:`reassemble_position` returns for these offsets."""
    g = _offsets_xy(global_offsets, int(np.size(global_offsets) // 2))
    return window + 2 * _even_pad(g - center_of_mass(g))


def _even_pad(adj: np.ndarray) -> int:
    pad = int(np.ceil(np.max(np.abs(adj)))) if adj.size else 0
    return pad + pad % 2


def _axis_grid(origin: np.ndarray, shift: np.ndarray, window: int, pad: int):
    """Sample points of the ``window + 1`` canvas pixels starting at ``origin`` (per patch, one axis).

    Canvas pixel ``X`` samples the padded window at ``s = fl32(X - shift)``; returns the corner index in the
    unpadded window (``floor(s) - pad``) and the weight ``s - floor(s)``, both float32 ``(n, window + 1)``.
    """
    canvas_x = (origin[:, None] + np.arange(window + 1)[None, :]).astype(np.float32)
    s = (canvas_x - shift[:, None].astype(np.float32)).astype(np.float32)
    corner = np.floor(s)
    return (corner - np.float32(pad)).astype(np.float32), (s - corner).astype(np.float32)


class PositionStitcher:
    """Running stitch of patches arriving in chunks (streaming reconstruction), on a canvas fixed up front.

    All ``n`` positions are given at construction (8 bytes each), which fixes the centre of mass, ``pad`` and
    the canvas exactly as :func:`reassemble_position` computes them; the patches then arrive in any number of
    :meth:`add` calls, in position order. The state is the canvas sums, float32 ``(Pc+1, Pc+1, 3)``, and the
    positions: memory does not grow with the patches added, and :func:`reassemble_position` is one
    :meth:`add` of all patches.

    Args:
        global_offsets: ``n`` positions ``[x, y]`` in pixels, any shape holding ``2·n`` values.
        M: central window kept from each patch, even, ``0 < M <= N``.
        N: patch size in pixels (``patches`` are ``(k, N, N, 1)``).
        chunk_size: patches sampled and scatter-added at once inside :meth:`add` (bounds its temporaries).
    """

    def __init__(self, global_offsets: Tensor, M: int, N: int, chunk_size: int = 2048) -> None:
        check_even_positive(M, "M", " (the central window kept from each patch)")
        if M > N:
            raise ValueError(f"M must be <= N (the patch size); got M={M} for patches of size {N}")
        if int(chunk_size) < 1:
            raise ValueError(f"chunk_size must be >= 1; got {chunk_size}")
        n = int(
            np.size(
                ops.convert_to_numpy(global_offsets) if not isinstance(global_offsets, np.ndarray) else global_offsets
            )
            // 2
        )
        g = _offsets_xy(global_offsets, n)
        self.M, self.N, self.n, self.chunk_size = int(M), int(N), n, int(chunk_size)
        self._adj = (g - center_of_mass(g)).astype(np.float32)
        self.pad = _even_pad(self._adj)
        self.canvas = self.M + 2 * self.pad
        self._side = self.canvas + 1  # a spare row/column for footprints touching the far edge with zero weight
        self._origin = (self.pad + np.floor(self._adj)).astype(np.int64)  # (n, 2) first canvas column/row
        self._total = None
        self.added = 0

    def add(self, patches: Tensor) -> None:
        """Add the patches of the next ``k`` positions: ``(k, N, N, 1)`` complex (or real), tensor or NumPy."""
        shape = check_rank(patches, 4, "patches", "(n, N, N, 1)")
        k = shape[0]
        if shape[3] != 1 or k is None or shape[1] != self.N or shape[2] != self.N:
            raise ValueError(f"patches must have shape (k, {self.N}, {self.N}, 1); got {shape}")
        if self.added + k > self.n:
            raise ValueError(f"{self.added + k} patches added for {self.n} positions; each position takes one patch")
        lo = self.N // 2 - self.M // 2
        M, steps = self.M, np.arange(self.M + 1)
        for first in range(0, k, self.chunk_size):
            last = min(k, first + self.chunk_size)
            z = ops.convert_to_tensor(patches[first:last])[:, lo : lo + M, lo : lo + M, :]  # window only
            if "complex" in str(z.dtype):
                real, imag = ops.real(z), ops.imag(z)
            else:
                real = ops.cast(z, "float32")
                imag = ops.zeros_like(real)
            rows_of = slice(self.added + first, self.added + last)
            origin, adj = self._origin[rows_of], self._adj[rows_of]
            x0, wx = _axis_grid(origin[:, 0], adj[:, 0], M, self.pad)
            y0, wy = _axis_grid(origin[:, 1], adj[:, 1], M, self.pad)
            rows = origin[:, 1, None] + steps[None, :]
            cols = origin[:, 0, None] + steps[None, :]
            index = (rows[:, :, None] * self._side + cols[:, None, :]).astype(np.int32)  # (k, M+1, M+1)
            summed = _footprint_sums(
                real,
                imag,
                x0[:, None, :],
                wx[:, None, :],
                y0[:, :, None],
                wy[:, :, None],
                index.reshape(-1),
                num_segments=self._side * self._side,
            )
            self._total = summed if self._total is None else self._total + summed
        self.added += k

    def sums(self) -> np.ndarray:
        """float32 ``(Pc, Pc, 3)``: sums of the shifted windows' real part, imaginary part, and of ones."""
        if self.added != self.n:
            raise ValueError(f"only {self.added} of {self.n} patches were added; add the rest before reading")
        if self._total is None:
            return np.zeros((self.canvas, self.canvas, 3), np.float32)
        return ops.convert_to_numpy(self._total).reshape(self._side, self._side, 3)[: self.canvas, : self.canvas]

    def image(self) -> np.ndarray:
        """The stitched image, complex64 ``(Pc, Pc, 1)``: numerator / (overlap count + 1e-9)."""
        return _average(self.sums())


def _average(sums: np.ndarray) -> np.ndarray:
    denominator = sums[..., 2:3] + np.float32(STITCH_EPSILON)
    return (sums[..., 0:1] / denominator + 1j * (sums[..., 1:2] / denominator)).astype(np.complex64)


def _stitched_sums(patches: Tensor, global_offsets: Tensor, M: int, chunk_size: int) -> np.ndarray:
    """Sums of shifted windows: float32 ``(Pc, Pc, 3)`` holding real part, imaginary part, overlap count."""
    shape = check_rank(patches, 4, "patches", "(n, N, N, 1)")
    n, size = shape[0], shape[1]
    if shape[3] != 1:
        raise ValueError(f"patches must have shape (n, N, N, 1); got shape {shape}")
    if n is None or size is None:
        raise ValueError(f"patches must have a known shape to stitch; got {shape}")
    check_even_positive(M, "M", " (the central window kept from each patch)")
    if M > size or M > shape[2]:
        raise ValueError(f"M must be <= N (the patch size); got M={M} for patches of size {shape[1:3]}")
    _offsets_xy(global_offsets, n)  # names a count mismatch before anything is computed
    stitcher = PositionStitcher(global_offsets, M, size, chunk_size)
    stitcher.add(patches)
    return stitcher.sums()


@compiled(static_argnames=("num_segments",))
def _footprint_sums(real, imag, x0, wx, y0, wy, index, num_segments: int):
    """Sample each patch's footprint (real, imaginary, ones) and scatter-add it: ``(num_segments, 3)``."""
    window = ops.concatenate([real, imag, ops.ones_like(real)], axis=-1)
    values = sample_bilinear(
        window,
        ops.convert_to_tensor(x0),
        ops.convert_to_tensor(wx),
        ops.convert_to_tensor(y0),
        ops.convert_to_tensor(wy),
    )
    return ops.segment_sum(ops.reshape(values, (-1, 3)), ops.convert_to_tensor(index), num_segments=num_segments)


def reassemble_position(patches: Tensor, global_offsets: Tensor, M: int = 10, chunk_size: int = 2048) -> np.ndarray:
    """Stitch complex patches into one image by position, averaging overlaps.

    Args:
        patches: ``(n, N, N, 1)`` complex (or real) object patches (backend tensor or NumPy).
        global_offsets: ``n`` positions ``[x, y]`` in pixels, any shape holding ``2·n`` values
            (``(n, 1, 2, 1)``, ``(n, 1, 1, 2)`` or ``(n, 2)``).
        M: size of the central window kept from each patch, even, ``0 < M <= N``.
        chunk_size: patches processed at once (bounds memory; the result does not depend on it beyond
            float32 summation order).
    Returns:
        NumPy complex64 ``(Pc, Pc, 1)`` with ``Pc = M + 2·pad`` (see module docstring).
    Raises:
        ValueError: wrong shapes, odd or too large ``M``, offsets that do not match the patches, NaN/inf.
    """
    return _average(_stitched_sums(patches, global_offsets, M, chunk_size))


def shift_and_sum(patches: Tensor, global_offsets: Tensor, M: int = 10, chunk_size: int = 2048) -> np.ndarray:
    """Numerator of :func:`reassemble_position` (sum of shifted windows), complex64 ``(Pc, Pc, 1)``."""
    sums = _stitched_sums(patches, global_offsets, M, chunk_size)
    return (sums[..., 0:1] + 1j * sums[..., 1:2]).astype(np.complex64)
