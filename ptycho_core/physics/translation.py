"""Sub-pixel translation of images: bilinear (per-corner zero fill) or nearest-neighbour interpolation.

Canonical semantics of the original PtychoPINN (its XLA ``translate_xla`` path, which every model layer uses):

* a translation ``[dx, dy]`` (pixels) moves image content by ``+dx`` columns and ``+dy`` rows: output pixel
  ``(y, x)`` samples the input at the point ``(sy, sx) = (y - dy, x - dx)`` (float32);
* ``'bilinear'`` (default): interpolation between the four neighbouring pixels; each corner outside the image
  contributes 0 (per-corner zero fill), so content shifted out is lost and nothing wraps around;
* ``'nearest'``: the pixel at ``(round(sy), round(sx))`` with round-half-to-even (``-0.5 → 0``, ``0.5 → 0``,
  ``1.5 → 2``, ``2.5 → 2``), and 0 wherever the sample point itself lies outside ``[0, W-1] × [0, H-1]``
  (so a fractional shift zeroes the edge row/column it uncovers even where rounding would land inside);
* image ``i`` of a batch of ``n`` uses translation row ``i mod m`` (modular broadcast of ``m`` rows);
* complex images are translated as independent real and imaginary parts.

Both modes gather with flat indices (``ops.take``), so they are differentiable with respect to the images.
Bilinear is also differentiable with respect to the translations (through the interpolation weights; the
integer corner choice has zero derivative, which gives the one-sided derivative at integer shifts); nearest is
piecewise constant in the translations, so its derivative with respect to them is zero (or undefined) and it
is not meant for gradients of positions.
"""

from __future__ import annotations

from typing import Union

from keras import ops

from .._backend import compiled
from ..types import Tensor
from ._checks import check_dim, check_finite, check_rank, is_complex, real_float
from .complex import complex_from_parts


def sample_bilinear(images: Tensor, x0: Tensor, wx: Tensor, y0: Tensor, wy: Tensor):
    """Bilinear samples of ``images`` on a separable grid of points, zero outside.

    Output pixel ``(b, r, q)`` interpolates between input columns ``x0[b, 0, q]`` and ``x0 + 1`` with weight
    ``wx`` on the latter, and rows ``y0[b, r, 0]`` and ``y0 + 1`` with weight ``wy`` on the latter.

    Args:
        images: ``(n, H, W, ch)`` float tensor.
        x0, wx: ``(n, 1, Wo)`` float tensors: integer-valued left corner column, weight of the right column.
        y0, wy: ``(n, Ho, 1)`` float tensors: integer-valued top corner row, weight of the bottom row.
    Returns:
        ``(n, Ho, Wo, ch)`` tensor, ``(1-wx)(1-wy)·Ia + wx(1-wy)·Ib + (1-wx)wy·Ic + wx·wy·Id`` with
        ``Ia..Id`` the corners ``(x0,y0), (x0+1,y0), (x0,y1), (x0+1,y1)``, each 0 when outside the image.
    """
    shape = ops.shape(images)
    n = shape[0]
    h, w, ch = int(shape[1]), int(shape[2]), int(shape[3])
    dtype = images.dtype
    flat = ops.reshape(images, (-1, ch))
    base = ops.reshape(ops.arange(n, dtype="int32") * (h * w), (-1, 1, 1))

    x1 = x0 + 1.0
    y1 = y0 + 1.0
    in_x0 = ops.logical_and(x0 >= 0.0, x0 <= w - 1.0)
    in_x1 = ops.logical_and(x1 >= 0.0, x1 <= w - 1.0)
    in_y0 = ops.logical_and(y0 >= 0.0, y0 <= h - 1.0)
    in_y1 = ops.logical_and(y1 >= 0.0, y1 <= h - 1.0)
    ix0 = ops.cast(ops.clip(x0, 0.0, w - 1.0), "int32")
    ix1 = ops.cast(ops.clip(x1, 0.0, w - 1.0), "int32")
    iy0 = ops.cast(ops.clip(y0, 0.0, h - 1.0), "int32") * w
    iy1 = ops.cast(ops.clip(y1, 0.0, h - 1.0), "int32") * w

    ho, wo = int(ops.shape(y0)[1]), int(ops.shape(x0)[2])

    def corner(iy, ix, in_y, in_x):
        index = base + iy + ix  # (n, Ho, Wo)
        values = ops.take(flat, ops.reshape(index, (-1,)), axis=0)
        values = ops.reshape(values, (-1, ho, wo, ch))
        inside = ops.cast(ops.logical_and(in_y, in_x), dtype)
        return values * ops.expand_dims(inside, -1)

    ia = corner(iy0, ix0, in_y0, in_x0)
    ib = corner(iy0, ix1, in_y0, in_x1)
    ic = corner(iy1, ix0, in_y1, in_x0)
    id_ = corner(iy1, ix1, in_y1, in_x1)
    wx = ops.expand_dims(ops.cast(wx, dtype), -1)
    wy = ops.expand_dims(ops.cast(wy, dtype), -1)
    wa = (1.0 - wx) * (1.0 - wy)
    wb = wx * (1.0 - wy)
    wc = (1.0 - wx) * wy
    wd = wx * wy
    return wa * ia + wb * ib + wc * ic + wd * id_


def _broadcast_translations(translations: Tensor, n: Union[int, Tensor]):
    m = ops.shape(translations)[0]
    return ops.take(translations, ops.mod(ops.arange(n, dtype="int32"), m), axis=0)


@compiled
def _translate_real(images: Tensor, translations: Tensor):
    shape = ops.shape(images)
    n, h, w = shape[0], int(shape[1]), int(shape[2])
    t = _broadcast_translations(translations, n)
    dx = ops.reshape(t[:, 0], (-1, 1, 1))
    dy = ops.reshape(t[:, 1], (-1, 1, 1))
    sx = ops.reshape(ops.arange(w, dtype="float32"), (1, 1, w)) - dx
    sy = ops.reshape(ops.arange(h, dtype="float32"), (1, h, 1)) - dy
    x0 = ops.floor(sx)
    y0 = ops.floor(sy)
    return sample_bilinear(images, x0, sx - x0, y0, sy - y0)


@compiled
def _translate_real_nearest(images: Tensor, translations: Tensor):
    shape = ops.shape(images)
    n, h, w, ch = shape[0], int(shape[1]), int(shape[2]), int(shape[3])
    t = _broadcast_translations(translations, n)
    sx = ops.reshape(ops.arange(w, dtype="float32"), (1, 1, w)) - ops.reshape(t[:, 0], (-1, 1, 1))
    sy = ops.reshape(ops.arange(h, dtype="float32"), (1, h, 1)) - ops.reshape(t[:, 1], (-1, 1, 1))
    inside = ops.logical_and(
        ops.logical_and(sx >= 0.0, sx <= w - 1.0), ops.logical_and(sy >= 0.0, sy <= h - 1.0)
    )  # (n, H, W): the sample point, not its rounded pixel, decides the zero fill
    ix = ops.cast(ops.clip(ops.round(sx), 0.0, w - 1.0), "int32")
    iy = ops.cast(ops.clip(ops.round(sy), 0.0, h - 1.0), "int32") * w
    base = ops.reshape(ops.arange(n, dtype="int32") * (h * w), (-1, 1, 1))
    flat = ops.reshape(images, (-1, ch))
    values = ops.take(flat, ops.reshape(base + iy + ix, (-1,)), axis=0)
    values = ops.reshape(values, (-1, h, w, ch))
    return values * ops.expand_dims(ops.cast(inside, images.dtype), -1)


_MODES = {"bilinear": _translate_real, "nearest": _translate_real_nearest}


def translate(images: Tensor, translations: Tensor, interpolation: str = "bilinear"):
    """Shift each image by a sub-pixel translation (module docstring: conventions of both modes).

    Args:
        images: ``(n, H, W, ch)`` float or complex tensor (complex: real and imaginary parts shifted alike).
        translations: ``(m, 2)`` rows ``[dx, dy]`` in pixels; image ``i`` uses row ``i mod m``.
            Complex translations keep their real part; any real dtype is cast to float32.
        interpolation: ``'bilinear'`` (differentiable in images and translations) or ``'nearest'``
            (round-half-to-even sample point, zero outside the image; differentiable in the images only).
    Returns:
        Tensor of the shape and dtype class of ``images``: content moved by ``+dx`` columns, ``+dy`` rows.
    Raises:
        ValueError: wrong ranks, a translation row that is not ``[dx, dy]``, non-finite host translations, or
            another ``interpolation``.
    """
    if interpolation not in _MODES:
        raise ValueError(f"interpolation must be 'bilinear' or 'nearest'; got {interpolation!r}")
    sample = _MODES[interpolation]
    check_rank(images, 4, "images", "(n, H, W, ch)")
    t_shape = check_rank(translations, 2, "translations", "(m, 2) rows [dx, dy]")
    check_dim(t_shape, 1, 2, "translations", "(m, 2) rows [dx, dy]")
    check_finite(translations, "translations")
    t = real_float(translations)
    if is_complex(images):
        z = ops.convert_to_tensor(images)
        ch = int(ops.shape(z)[3])
        stacked = ops.concatenate([ops.real(z), ops.imag(z)], axis=-1)
        out = sample(stacked, t)
        return complex_from_parts(out[..., :ch], out[..., ch:])
    images = ops.convert_to_tensor(images)
    if "float" not in str(images.dtype):
        images = ops.cast(images, "float32")
    return sample(images, t)
