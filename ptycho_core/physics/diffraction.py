"""Far-field (Fraunhofer) diffraction of an exit wave.

``A = sqrt(fftshift(|FFT2(ψ)|² / (h·w)))``: unnormalised forward DFT over the two spatial axes (NumPy
``fft2`` convention, no input ifftshift), intensity divided by ``h·w`` so that Parseval gives
``Σ A² = Σ |ψ|²``, zero frequency moved to index ``(h//2, w//2)`` before the square root. There is no epsilon:
the derivative of the square root is infinite where the intensity is exactly 0 (as in the original).
"""

from __future__ import annotations

from typing import Sequence, Tuple, Union

from keras import ops

from ..types import Tensor
from ._checks import check_dim, check_rank
from .complex import split_complex


def fftshift2d(x: Tensor, axes: Sequence[int] = (-2, -1)):
    """NumPy ``fftshift`` over two axes (a roll by ``size//2`` on each)."""
    shape = ops.shape(x)
    shifts = tuple(int(shape[a]) // 2 for a in axes)
    return ops.roll(x, shift=shifts, axis=tuple(axes))


def ifftshift2d(x: Tensor, axes: Sequence[int] = (-2, -1)):
    """NumPy ``ifftshift`` over two axes (a roll by ``-(size//2)`` on each)."""
    shape = ops.shape(x)
    shifts = tuple(-(int(shape[a]) // 2) for a in axes)
    return ops.roll(x, shift=shifts, axis=tuple(axes))


def far_field_intensity(real: Tensor, imag: Tensor, area: float | None = None):
    """``|FFT2(re + i·im)|² / area`` over the last two axes, not shifted (float32, same shape).

    ``area`` defaults to ``h·w`` of the input (the unitary normalisation).
    """
    shape = ops.shape(real)
    if area is None:
        area = int(shape[-2]) * int(shape[-1])
    f_re, f_im = ops.fft2((ops.cast(real, "float32"), ops.cast(imag, "float32")))
    return (f_re * f_re + f_im * f_im) / float(area)


def diffract(field: Union[Tensor, Tuple[Tensor, Tensor]], area: float | None = None):
    """Diffraction amplitude of exit waves.

    Args:
        field: ``(n, h, w, 1)`` complex tensor, or a ``(real, imag)`` pair of such float tensors.
        area: intensity normalisation, default ``h·w``.
    Returns:
        float32 ``(n, h, w, 1)`` amplitude with zero frequency at ``(h//2, w//2)``.
    """
    if isinstance(field, (tuple, list)):
        real, imag = field
    else:
        real, imag = split_complex(field)
    shape = check_rank(real, 4, "field", "(n, h, w, 1)")
    check_dim(shape, 3, 1, "field", "(n, h, w, 1)")
    intensity = far_field_intensity(real[..., 0], imag[..., 0], area)
    return ops.expand_dims(ops.sqrt(fftshift2d(intensity)), -1)


def pad_and_diffract(field: Tensor, pad: bool = False):
    """The original's ``pad_and_diffract``: optional zero padding by ``h//4`` per side, then :func:`diffract`.

    With ``pad=True`` the intensity is still divided by the UNPADDED ``h·w`` (the original's quirk).
    Returns ``(padded_field, amplitude)``.
    """
    if isinstance(field, (tuple, list)):
        raise ValueError("pad_and_diffract takes a complex tensor; use diffract() for (real, imag) pairs")
    shape = check_rank(field, 4, "field", "(n, h, w, 1)")
    check_dim(shape, 3, 1, "field", "(n, h, w, 1)")
    field = ops.convert_to_tensor(field)
    if "complex" not in str(field.dtype):
        field = ops.cast(field, "complex64")
    if not pad:
        return field, diffract(field)
    h, w = shape[1], shape[2]
    padded = ops.pad(field, [[0, 0], [h // 4, h // 4], [w // 4, w // 4], [0, 0]])
    return padded, diffract(padded, area=h * w)
