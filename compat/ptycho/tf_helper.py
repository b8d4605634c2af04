"""The original ``ptycho.tf_helper`` names as adapters onto ``ptycho_core.physics`` (any Keras backend).

Layouts (channels-last): *flat* ``(B*C, N, N, 1)``, *channel* ``(B, N, N, C)``, *grid* ``(B, g, g, N, N, 1)``
with ``C = g²``; offsets ``(B, 1, 2, C)`` in pixels, axis 2 = ``[x, y]`` (x = column, y = row). Arguments that
the original took from ``ptycho.params.cfg`` when omitted (``N``, ``gridsize``, the padded size) still do; sizes
that the tensors themselves carry are read from the tensors.

Translations follow the original's canonical semantics (content moves by ``+[dx, dy]``; bilinear with
per-corner zero fill, or nearest-neighbour). Tensor functions return backend tensors; the stitching functions
(:func:`reassemble_position`, :func:`shift_and_sum`) return a NumPy :class:`~ptycho._host.HostArray` (with
``.numpy()``), since the result is post-processing that callers squeeze and save. Failed preconditions raise
``ValueError`` naming the argument and the fix. Differences from the original: README.md.
"""

from __future__ import annotations

import os
from typing import Any, List, Optional, Tuple

import keras
import numpy as np
from keras import ops

from ptycho_core import physics as core
from ptycho_core.layers import Translation

from . import params as _params
from ._host import HostArray, host

__all__ = [
    "Translation",
    "translate",
    "translate_core",
    "should_use_xla",
    "combine_complex",
    "_togrid",
    "_fromgrid",
    "_grid_to_channel",
    "togrid",
    "grid_to_channel",
    "_flat_to_channel",
    "_channel_to_flat",
    "channel_to_flat",
    "flatten_offsets",
    "pad_patches",
    "pad",
    "trim_reconstruction",
    "extract_patches_position",
    "center_channels",
    "pad_and_diffract",
    "reassemble_position",
    "shift_and_sum",
]


def _cfg(key: str) -> Any:
    return _params.get(key)


def _dtype_name(x: Any) -> str:
    dtype = getattr(x, "dtype", None)
    if dtype is None:
        return np.asarray(x).dtype.name
    return keras.backend.standardize_dtype(dtype)


# ------------------------------------------------------------------------------------------- translation
def should_use_xla() -> bool:
    """The original's switch: False if env ``USE_XLA_TRANSLATE`` is 0/false/no, else ``cfg['use_xla_translate']``.

    Informational only: every translation here uses the canonical (XLA-path) semantics whatever it says.
    """
    if os.environ.get("USE_XLA_TRANSLATE", "").lower() in ("0", "false", "no"):
        return False
    value = _params.get("use_xla_translate", None)
    return True if value is None else bool(value)


def translate_core(images: Any, translations: Any, interpolation: str = "bilinear", use_xla_workaround: bool = False):
    """Shift images by sub-pixel translations (:func:`ptycho_core.physics.translate`).

    Args:
        images: ``(n, H, W, ch)`` float or complex tensor.
        translations: ``(m, 2)`` rows ``[dx, dy]`` in pixels (image ``i`` uses row ``i mod m``); content moves
            by ``+dx`` columns and ``+dy`` rows.
        interpolation: ``'bilinear'`` (out-of-image corners contribute 0) or ``'nearest'`` (the input pixel at
            ``round(x - dx), round(y - dy)``, rounding half to even; 0 where that sample point is outside the
            image; not differentiable with respect to the translations).
        use_xla_workaround: accepted and ignored: every call uses the canonical (the original's XLA) path.
    Returns:
        Tensor of the shape and dtype class of ``images``.
    Raises:
        ValueError: another ``interpolation``, or bad shapes.
    """
    return core.translate(images, translations, interpolation=interpolation)


def translate(imgs: Any, offsets: Any, **kwargs: Any):
    """Shift ``imgs (n, H, W, ch)`` by ``offsets (m, 2)`` rows ``[dx, dy]`` (pixels; content moves by ``+dx``
    columns, ``+dy`` rows), real or complex, same shape out.

    Keywords: ``interpolation`` ``'bilinear'`` (default) or ``'nearest'`` (:func:`translate_core`);
    ``use_xla_workaround`` is accepted and ignored (only the canonical path exists); others are ignored, as in
    the original.
    """
    return translate_core(imgs, offsets, interpolation=kwargs.get("interpolation", "bilinear"))


# ------------------------------------------------------------------------------------------- complex / layout
def combine_complex(amp: Any, phi: Any):
    """``amp · exp(i·phi)`` as complex64 (phase in radians; same shapes)."""
    return core.combine_complex(amp, phi)


def _check_size(images: Any, N: int, what: str) -> None:
    shape = tuple(getattr(images, "shape", np.shape(images)))
    if len(shape) >= 3 and shape[1] is not None and int(shape[1]) != int(N):
        raise ValueError(
            f"{what}: images have size {shape[1]} on axis 1 but N={N} was requested; "
            f"pass N matching the images (or set params.cfg['N'])"
        )


def _togrid(img: Any, gridsize: Optional[int] = None, N: Optional[int] = None):
    """Flat ``(B*g*g, N, N, 1)`` → grid ``(B, g, g, N, N, 1)``; ``gridsize`` and ``N`` default to cfg."""
    gridsize = _cfg("gridsize") if gridsize is None else gridsize
    N = _cfg("N") if N is None else N
    _check_size(img, N, "_togrid")
    return core.to_grid(img, int(gridsize))


def _fromgrid(img: Any):
    """Grid ``(B, g, g, N, N, 1)`` → flat ``(B*g*g, N, N, 1)``."""
    return core.from_grid(img)


def _grid_to_channel(grid: Any):
    """Grid ``(B, g, g, N, N, 1)`` → channel ``(B, N, N, g*g)`` (channel ``c = i*g + j``)."""
    return core.grid_to_channel(grid)


def togrid(*imgs: Any) -> List[Any]:
    """:func:`_togrid` of each argument (cfg gridsize and N)."""
    return [_togrid(img) for img in imgs]


def grid_to_channel(*grids: Any) -> List[Any]:
    """:func:`_grid_to_channel` of each argument."""
    return [_grid_to_channel(g) for g in grids]


def _flat_to_channel(img: Any, N: Optional[int] = None, gridsize: Optional[int] = None):
    """Flat ``(B*C, N, N, 1)`` → channel ``(B, N, N, C)`` with ``C = gridsize²``; both default to cfg."""
    gridsize = _cfg("gridsize") if gridsize is None else gridsize
    N = _cfg("N") if N is None else N
    _check_size(img, N, "_flat_to_channel")
    return core.flat_to_channel(img, int(gridsize) ** 2)


def _channel_to_flat(img: Any):
    """Channel ``(B, H, W, C)`` → flat ``(B*C, H, W, 1)``, row ``b*C + c``."""
    return core.channel_to_flat(img)


def channel_to_flat(*imgs: Any) -> List[Any]:
    """:func:`_channel_to_flat` of each argument."""
    return [_channel_to_flat(img) for img in imgs]


def flatten_offsets(channels: Any):
    """Offsets ``(B, 1, 2, C)`` → ``(B*C, 2)`` rows ``[x, y]`` in flat order."""
    return core.flatten_offsets(channels)


# ------------------------------------------------------------------------------------------- pad / trim / extract
def pad_patches(imgs: Any, padded_size: Optional[int] = None, N: Optional[int] = None):
    """Zero-pad ``(n, N, N, ch)`` by ``(padded_size - N)//2`` per side (defaults: cfg padded size and N).

    Raises ``ValueError`` if ``padded_size - N`` is odd or negative.
    """
    N = _cfg("N") if N is None else int(N)
    padded_size = _params.get_padded_size() if padded_size is None else int(padded_size)
    diff = padded_size - N
    if diff < 0 or diff % 2:
        raise ValueError(f"padded_size - N must be even and >= 0; got padded_size={padded_size}, N={N}")
    return core.pad(imgs, diff // 2)


def pad(imgs: Any, size: int):
    """Zero-pad ``size`` pixels on each side of H and W of ``(n, H, W, ch)``."""
    return core.pad(imgs, size)


def trim_reconstruction(x: Any, N: Optional[int] = None):
    """Centre crop ``(n, M, M, ch)`` → ``(n, N, N, ch)``, ``N`` from cfg when omitted (``M - N`` even, >= 0)."""
    N = _cfg("N") if N is None else int(N)
    return core.trim(x, N)


def extract_patches_position(
    imgs: Any, offsets_xy: Any, jitter: float = 0.0, N: Optional[int] = None, gridsize: Optional[int] = None
):
    """Cut the ``C = gridsize²`` patches of each group out of its padded canvas.

    Args:
        imgs: ``(B, M, M, 1)`` canvases (``M >= N``), real or complex.
        offsets_xy: ``(B, 1, 2, C)`` offsets ``group_centre - position`` in pixels (complex: real part used).
        jitter: standard deviation in pixels of Gaussian noise added to the offsets (as the original's
            ``Translation(jitter_stddev=jitter)``); non-numeric values count as 0.
        N, gridsize: patch size and grid size, default cfg.
    Returns:
        FLAT ``(B*C, N, N, 1)`` patches (patch ``b*C + c`` centred at ``canvas_centre - o_{b,c}``).
    """
    N = _cfg("N") if N is None else int(N)
    gridsize = _cfg("gridsize") if gridsize is None else int(gridsize)
    shape = tuple(getattr(offsets_xy, "shape", np.shape(offsets_xy)))
    if len(shape) != 4 or (shape[3] is not None and int(shape[3]) != gridsize**2):
        raise ValueError(f"offsets_xy must have shape (B, 1, 2, {gridsize**2}) for gridsize={gridsize}; got {shape}")
    offsets = core.real_float(ops.convert_to_tensor(offsets_xy))
    if isinstance(jitter, (int, float)) and not isinstance(jitter, bool) and jitter > 0:
        offsets = offsets + keras.random.normal(ops.shape(offsets), stddev=float(jitter))
    return core.extract_patches_position(imgs, offsets, N)


def center_channels(channels: Any, offsets_xy: Any):
    """Undo patch offsets: shift patch ``c`` of ``(B, N, N, C)`` by ``-o_c``; returns ``(B, N, N, C)``."""
    return core.center_channels(channels, offsets_xy)


def pad_and_diffract(input: Any, h: int, w: int, pad: bool = True) -> Tuple[Any, Any]:
    """Far-field amplitude of exit waves ``(n, h, w, 1)``: returns ``(padded_input, amplitude)``.

    ``amplitude = sqrt(fftshift(|FFT2(ψ)|² / (h·w)))`` (float32, zero frequency at ``(h//2, w//2)``). With
    ``pad=True`` the input is first zero-padded by ``h//4``, ``w//4`` per side and the intensity is still
    divided by the unpadded ``h·w`` (the original's quirk).
    """
    shape = tuple(getattr(input, "shape", np.shape(input)))
    if len(shape) != 4 or shape[3] != 1 or (shape[1], shape[2]) != (h, w):
        raise ValueError(f"input must have shape (n, {h}, {w}, 1); got {shape}")
    return core.pad_and_diffract(input, pad=pad)


# ------------------------------------------------------------------------------------------- stitching
_MAX_CHUNK_FACTOR = 128  # never more than 128× the original's patches per chunk


def _stitch_inputs(obj_tensor: Any, global_offsets: Any, M: int, chunk_size: int):
    """Check the original's preconditions, crop the central M×M window about cfg N, pick the core chunk."""
    obj_shape = tuple(getattr(obj_tensor, "shape", np.shape(obj_tensor)))
    off_shape = tuple(getattr(global_offsets, "shape", np.shape(global_offsets)))
    if len(obj_shape) != 4:
        raise ValueError(f"obj_tensor must be 4-D (n, N, N, 1); got shape {obj_shape}")
    if _dtype_name(obj_tensor) != "complex64":
        raise ValueError(
            f"obj_tensor must be complex64; got {_dtype_name(obj_tensor)} "
            f"(convert with np.asarray(obj, dtype=np.complex64))"
        )
    if len(off_shape) != 4:
        raise ValueError(f"global_offsets must be 4-D, e.g. (n, 1, 2, 1); got shape {off_shape}")
    if _dtype_name(global_offsets) != "float64":
        raise ValueError(
            f"global_offsets must be float64; got {_dtype_name(global_offsets)} "
            f"(pass np.asarray(global_offsets, dtype=np.float64))"
        )
    if int(M) != M or M <= 0 or int(M) % 2:
        raise ValueError(f"M must be a positive even integer (the central window kept per patch); got {M!r}")
    M = int(M)
    N = int(_cfg("N"))
    lo, hi = N // 2 - M // 2, N // 2 + M // 2
    if lo < 0 or hi > obj_shape[1] or hi > obj_shape[2]:
        raise ValueError(
            f"the central {M}x{M} window about cfg N={N} (rows/cols {lo}:{hi}) does not fit "
            f"patches of shape {obj_shape[1:3]}; set params.cfg['N'] to the patch size or lower M"
        )
    crop = obj_tensor[:, lo:hi, lo:hi, :]
    # The original translated chunk_size full Pc×Pc canvases at once; the core touches only (M+1)² pixels
    # per patch, so the same memory holds proportionally more patches.
    canvas = core.stitch_canvas_size(np.asarray(host(global_offsets)), M)
    per_canvas = max(1, (canvas * canvas) // ((M + 1) * (M + 1)))
    chunk = max(1, int(chunk_size)) * min(per_canvas, _MAX_CHUNK_FACTOR)
    return crop, M, chunk


def shift_and_sum(obj_tensor: Any, global_offsets: Any, M: int = 10, chunk_size: int = 32) -> HostArray:
    """Sum of the central ``M×M`` windows shifted to their positions (numerator of :func:`reassemble_position`).

    Same inputs and preconditions as :func:`reassemble_position`; returns complex64 ``(Pc, Pc, 1)``.
    """
    crop, M, chunk = _stitch_inputs(obj_tensor, global_offsets, M, chunk_size)
    return host(core.shift_and_sum(crop, global_offsets, M=M, chunk_size=chunk), np.complex64)


def reassemble_position(obj_tensor: Any, global_offsets: Any, M: int = 10, chunk_size: int = 32) -> HostArray:
    """Stitch complex patches into one image by global position, averaging overlaps.

    Args:
        obj_tensor: ``(n, N, N, 1)`` complex64 patches (NumPy or backend tensor).
        global_offsets: ``(n, 1, 2, 1)`` (or ``(n, 1, 1, 2)``) float64 positions ``[x, y]`` in pixels.
        M: central window kept per patch, even; cropped about ``cfg['N']//2`` as in the original.
        chunk_size: the original's memory bound (patches whose full canvases were translated at once); here
            it only bounds memory, the result does not depend on it beyond float32 summation order.
    Returns:
        :class:`HostArray` complex64 ``(Pc, Pc, 1)``, ``Pc = M + 2·pad`` with ``pad`` the even ceiling of the
        largest offset from the centre of mass; position ``g`` lands at pixel ``Pc/2 + (g - mean g)``.
    Raises:
        ValueError: patches not 4-D complex64, offsets not 4-D float64 (the original asserted both), odd M,
            or a window that does not fit the patches.
    """
    crop, M, chunk = _stitch_inputs(obj_tensor, global_offsets, M, chunk_size)
    return host(core.reassemble_position(crop, global_offsets, M=M, chunk_size=chunk), np.complex64)
