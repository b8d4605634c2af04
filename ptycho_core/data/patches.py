"""Object patches at sub-pixel positions: the ground-truth patches of a group of scan points.

Patch ``c`` of group ``b`` is the ``N×N`` window of the object (zero outside it) whose pixel ``(N//2, N//2)``
sits on object pixel ``(y, x) = positions[b, 0, ::-1, c]``, bilinearly interpolated:
``patch(r, q) = obj(r + y - N//2, q + x - N//2)``, with the positions rounded to float32 (the original's
pad-by-N//2, translate-by-minus-offset, keep-top-left).
"""

from __future__ import annotations

import numpy as np
from keras import ops

from ..physics.translation import translate
from ..types import ArrayLike
from .scan import count_non_finite

__all__ = ["object_patches_at"]

#: patches sampled per backend call (bounds memory only)
PATCH_CHUNK_PIXELS = 1 << 23


def object_patches_at(obj: ArrayLike, positions: ArrayLike, N: int) -> np.ndarray:
    """complex64 ``(B, N, N, C)`` patches of ``obj`` ``(H, W)`` centred on ``positions (B, 1, 2, C)`` ``[x, y]``.

    Raises:
        ValueError: an object that is not 2-D, positions not ``(B, 1, 2, C)``, non-finite positions.
    """
    img = np.asarray(obj)
    if img.ndim == 3 and img.shape[-1] == 1:
        img = img[..., 0]
    if img.ndim != 2:
        raise ValueError(f"gt_image must be a 2-D (H, W) object; got shape {img.shape}")
    offsets = np.asarray(positions).astype(np.float32)
    if offsets.ndim != 4 or offsets.shape[1:3] != (1, 2):
        raise ValueError(f"positions must have shape (B, 1, 2, C); got {offsets.shape}")
    B, c = offsets.shape[0], offsets.shape[3]
    flat = offsets.transpose(0, 3, 1, 2).reshape(-1, 2)  # row b*C + c = [x, y] of patch c of group b
    bad = count_non_finite(flat)
    if bad:
        raise ValueError(f"patch offsets contain {bad} non-finite value(s); repair the scan positions")
    if B == 0:
        return np.zeros((0, N, N, c), np.complex64)
    # Crop (N+1)x(N+1) windows at the integer part of each position, then shift by the fractional part.
    whole = np.floor(flat)
    frac = (flat - whole).astype(np.float32)
    corner = whole.astype(np.int64) - N // 2
    span = np.arange(N + 1)
    H, W = img.shape
    src = img.astype(np.complex64 if np.iscomplexobj(img) else np.float32, copy=False)
    out = np.empty((B * c, N, N), np.complex64)
    chunk = max(1, PATCH_CHUNK_PIXELS // (N + 1) ** 2)
    for start in range(0, B * c, chunk):
        stop = min(start + chunk, B * c)
        rows = corner[start:stop, 1, None] + span
        cols = corner[start:stop, 0, None] + span
        inside = ((rows >= 0) & (rows < H))[:, :, None] & ((cols >= 0) & (cols < W))[:, None, :]
        crops = src[np.clip(rows, 0, H - 1)[:, :, None], np.clip(cols, 0, W - 1)[:, None, :]] * inside
        shifts = -frac[start:stop]
        padded = min(chunk, 1 << (stop - start - 1).bit_length())  # few distinct shapes: fewer recompiles
        if padded > stop - start:
            crops = np.concatenate([crops, np.zeros((padded - len(crops),) + crops.shape[1:], crops.dtype)])
            shifts = np.concatenate([shifts, np.zeros((padded - len(shifts), 2), np.float32)])
        shifted = ops.convert_to_numpy(translate(crops[..., None], shifts))
        out[start:stop] = shifted[: stop - start, :N, :N, 0]
    return out.reshape(B, c, N, N).transpose(0, 2, 3, 1)
