"""Patch geometry: padding, trimming, extraction of patches at positions, and re-centring.

Sign convention (from the original): the model's position input for patch ``c`` of a group is
``o_c = group_centre - position_c`` (``[x, y]`` pixels). Patch ``c`` is the ``N×N`` window of the group canvas
centred at ``canvas_centre - o_c``; extraction shifts the canvas by ``+o_c``, re-centring shifts by ``-o_c``.
"""

from __future__ import annotations

from keras import ops

from ..types import Tensor
from ._checks import check_dim, check_rank
from .layout import channel_to_flat, flat_to_channel, flatten_offsets
from .translation import translate


def pad(images: Tensor, size: int):
    """Zero-pad ``size`` pixels on each side of H and W: ``(n, H, W, ch)`` → ``(n, H+2s, W+2s, ch)``."""
    check_rank(images, 4, "images", "(n, H, W, ch)")
    if int(size) != size or size < 0:
        raise ValueError(f"size must be a non-negative integer number of pixels; got {size!r}")
    size = int(size)
    return ops.pad(images, [[0, 0], [size, size], [size, size], [0, 0]])


def pad_to(images: Tensor, padded_size: int):
    """Symmetric zero padding of ``(n, N, N, ch)`` images to ``(n, P, P, ch)``, ``P = padded_size``.

    Raises:
        ValueError: if ``P < N`` or ``P - N`` is odd (the original silently mis-sizes the canvas then).
    """
    shape = check_rank(images, 4, "images", "(n, N, N, ch)")
    n_pix = shape[1]
    if n_pix is None:
        raise ValueError("images must have a known spatial size to pad; got shape with unknown H")
    diff = int(padded_size) - n_pix
    if diff < 0 or diff % 2:
        raise ValueError(
            f"padded_size - N must be even and >= 0; got padded_size={padded_size}, N={n_pix} "
            f"(choose padded_size = N + an even number)"
        )
    return pad(images, diff // 2)


def trim(images: Tensor, size: int):
    """Centre crop ``(n, M, M, ch)`` → ``(n, size, size, ch)``; ``M - size`` must be even and >= 0."""
    shape = check_rank(images, 4, "images", "(n, M, M, ch)")
    m = shape[1]
    if m is None:
        raise ValueError("images must have a known spatial size to trim; got shape with unknown H")
    clip = m - int(size)
    if clip < 0 or clip % 2:
        raise ValueError(f"images of size M={m} cannot be centre-cropped to N={size}: M - N must be even and >= 0")
    clip //= 2
    return images[:, clip : m - clip, clip : m - clip, :]


def _check_offsets(offsets: Tensor, channels: int | None = None) -> tuple:
    layout = "(B, 1, 2, C) with axis 2 = [x, y]"
    shape = check_rank(offsets, 4, "offsets", layout)
    check_dim(shape, 1, 1, "offsets", layout)
    check_dim(shape, 2, 2, "offsets", layout)
    if channels is not None:
        check_dim(shape, 3, channels, "offsets", layout)
    return shape


def extract_patches_position(canvas: Tensor, offsets: Tensor, size: int):
    """Cut the ``C`` patches of each group out of its canvas.

    Args:
        canvas: ``(B, M, M, 1)`` float or complex, one padded canvas per group (``M >= size``).
        offsets: ``(B, 1, 2, C)`` positions ``o_c = group_centre - position_c`` in pixels, ``[x, y]``.
        size: patch size ``N``.
    Returns:
        Flat ``(B*C, N, N, 1)``: patch ``b*C + c`` is the window of canvas ``b`` centred at
        ``canvas_centre - o_c`` (the canvas translated by ``+o_c`` and centre-cropped).
    """
    c_shape = check_rank(canvas, 4, "canvas", "(B, M, M, 1)")
    check_dim(c_shape, 3, 1, "canvas", "(B, M, M, 1)")
    o_shape = _check_offsets(offsets)
    if c_shape[0] is not None and o_shape[0] is not None and c_shape[0] != o_shape[0]:
        raise ValueError(
            f"canvas and offsets must have the same batch size; got canvas {c_shape} and offsets {o_shape}"
        )
    channels = o_shape[3]
    stacked = ops.repeat(canvas, channels, axis=3)
    shifted = translate(channel_to_flat(stacked), flatten_offsets(offsets))
    return trim(shifted, size)


def center_channels(channels: Tensor, offsets: Tensor):
    """Undo the patch offsets: shift patch ``c`` of ``(B, N, N, C)`` by ``-o_c``; returns ``(B, N, N, C)``."""
    shape = check_rank(channels, 4, "channels", "(B, N, N, C)")
    _check_offsets(offsets, shape[3])
    shifted = translate(channel_to_flat(channels), -flatten_offsets(offsets))
    return flat_to_channel(shifted, shape[3])
