"""Complex-number helpers.

Keras FFT and gather ops work on real tensors, and complex autodiff conventions differ between backends, so
the physics carries a complex field as a pair of float32 tensors ``(real, imag)`` wherever an op is not
complex-safe, and as ``complex64`` at public boundaries. These helpers convert between the two.
"""

from __future__ import annotations

from typing import Tuple

from keras import ops

from ..types import Tensor
from ._checks import is_complex

Pair = Tuple[Tensor, Tensor]


def complex_from_parts(real: Tensor, imag: Tensor):
    """``real + 1j * imag`` as complex64 (``ops.view_as_complex``; Keras has no ``ops.complex``).

    Args:
        real, imag: float tensors of the same shape.
    Returns:
        complex64 tensor of that shape.
    """
    real = ops.cast(real, "float32")
    imag = ops.cast(imag, "float32")
    return ops.view_as_complex(ops.stack([real, imag], axis=-1))


def split_complex(z: Tensor) -> Pair:
    """``(real, imag)`` float32 parts of ``z``; a real input gives ``(z, zeros)``."""
    z = ops.convert_to_tensor(z)
    if is_complex(z):
        return ops.real(z), ops.imag(z)
    z = ops.cast(z, "float32")
    return z, ops.zeros_like(z)


def amp_phase_to_parts(amplitude: Tensor, phase: Tensor) -> Pair:
    """``(A cos φ, A sin φ)``: the real and imaginary parts of ``A·exp(iφ)`` (phase in radians)."""
    amplitude = ops.cast(amplitude, "float32")
    phase = ops.cast(phase, "float32")
    return amplitude * ops.cos(phase), amplitude * ops.sin(phase)


def combine_complex(amplitude: Tensor, phase: Tensor):
    """``A·exp(iφ)`` as complex64 (the original's ``combine_complex``); phase in radians, same shape as A."""
    real, imag = amp_phase_to_parts(amplitude, phase)
    return complex_from_parts(real, imag)


def amplitude_phase(z: Tensor) -> Pair:
    """``(|z|, angle(z))`` of a complex tensor, both float32."""
    real, imag = split_complex(z)
    return ops.sqrt(real * real + imag * imag), ops.arctan2(imag, real)
