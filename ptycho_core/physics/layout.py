"""Tensor layouts of grouped patches and their conversions.

Three layouts hold the ``C = gridsize**2`` patches of each of ``B`` groups (channels-last throughout):

* grid:    ``(B, g, g, N, N, 1)``
* channel: ``(B, N, N, C)``, channel ``c = i*g + j`` for grid row ``i``, column ``j``
* flat:    ``(B*C, N, N, 1)``, row ``k = b*C + c`` (group-major, channel-minor)

Positions (offsets) are ``(B, 1, 2, C)`` float tensors in pixels, axis 2 holding ``[x, y]``
(x = column, y = row); flattened offsets are ``(B*C, 2)`` with the same row order as the flat layout.
"""

from __future__ import annotations

from keras import ops

from ..types import Tensor
from ._checks import check_dim, check_rank


def channel_to_flat(images: Tensor):
    """``(B, H, W, C)`` → ``(B*C, H, W, 1)``, row ``b*C + c``."""
    shape = check_rank(images, 4, "images", "(B, H, W, C)")
    _, h, w, _ = shape
    x = ops.transpose(images, (0, 3, 1, 2))
    return ops.reshape(x, (-1, h, w, 1))


def flat_to_channel(images: Tensor, channels: int):
    """``(B*C, H, W, 1)`` → ``(B, H, W, C)`` with ``C = channels``; inverse of :func:`channel_to_flat`."""
    shape = check_rank(images, 4, "images", "(B*C, H, W, 1)")
    check_dim(shape, 3, 1, "images", "(B*C, H, W, 1)")
    _, h, w, _ = shape
    x = ops.reshape(images, (-1, channels, h, w))
    return ops.transpose(x, (0, 2, 3, 1))


def flatten_offsets(offsets: Tensor):
    """Offsets ``(B, 1, 2, C)`` → ``(B*C, 2)`` rows ``[x, y]``, row ``b*C + c``."""
    shape = check_rank(offsets, 4, "offsets", "(B, 1, 2, C)")
    check_dim(shape, 2, 2, "offsets", "(B, 1, 2, C)")
    check_dim(shape, 1, 1, "offsets", "(B, 1, 2, C)")
    return ops.reshape(ops.transpose(offsets, (0, 3, 1, 2)), (-1, 2))


def to_grid(images: Tensor, gridsize: int):
    """Flat ``(B*C, N, N, 1)`` → grid ``(B, g, g, N, N, 1)``."""
    shape = check_rank(images, 4, "images", "(B*C, N, N, 1)")
    return ops.reshape(images, (-1, gridsize, gridsize, shape[1], shape[2], 1))


def from_grid(grid: Tensor):
    """Grid ``(B, g, g, N, N, 1)`` → flat ``(B*C, N, N, 1)``."""
    shape = check_rank(grid, 6, "grid", "(B, g, g, N, N, 1)")
    return ops.reshape(grid, (-1, shape[3], shape[4], 1))


def grid_to_channel(grid: Tensor):
    """Grid ``(B, g, g, N, N, 1)`` → channel ``(B, N, N, g*g)``."""
    shape = check_rank(grid, 6, "grid", "(B, g, g, N, N, 1)")
    _, g1, g2, h, w, _ = shape
    x = ops.transpose(grid, (0, 3, 4, 1, 2, 5))
    return ops.reshape(x, (-1, h, w, g1 * g2))
