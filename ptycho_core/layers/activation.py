"""Head activations, ``SquareLayer`` and the complex object from amplitude and phase."""

from __future__ import annotations

import math
from typing import Any, Sequence

import keras
from keras import ops

from ..physics.complex import combine_complex, complex_from_parts
from ..types import Tensor
from ._base import first, pop_dtype, register

ACTIVATIONS = ("sigmoid", "swish", "softplus", "relu", "tanh")


@register
class ActivationLayer(keras.layers.Layer):
    """Named activation: sigmoid, swish, softplus, relu, or ``scale·tanh`` (the phase head uses ``π·tanh``).

    As in the original, ``scale`` multiplies only the tanh branch.
    """

    def __init__(self, activation_name: str = "sigmoid", scale: float = 1.0, **kwargs: Any) -> None:
        if activation_name not in ACTIVATIONS:
            raise ValueError(f"activation_name must be one of {ACTIVATIONS}; got {activation_name!r}")
        super().__init__(**kwargs)
        self.activation_name = activation_name
        self.scale = float(scale)

    def call(self, inputs):
        x = first(inputs)
        if self.activation_name == "tanh":
            return self.scale * ops.tanh(x)
        return getattr(keras.activations, "silu" if self.activation_name == "swish" else self.activation_name)(x)

    def get_config(self) -> dict:
        return {**super().get_config(), "activation_name": self.activation_name, "scale": self.scale}


PHASE_SCALE = math.pi


@register
class SquareLayer(keras.layers.Layer):
    """Elementwise square (predicted intensity from predicted amplitude)."""

    def call(self, inputs):
        return ops.square(first(inputs))


@register
class CombineComplexLayer(keras.layers.Layer):
    """``[amplitude, phase]`` → complex64 ``A·cos φ + i·A·sin φ`` (``use_polar=False``: ``A + i·φ``)."""

    def __init__(self, use_polar: bool = True, **kwargs: Any) -> None:
        super().__init__(**pop_dtype(kwargs))
        self.use_polar = bool(use_polar)

    def call(self, inputs: Sequence[Tensor]):
        amplitude, phase = inputs
        if ops.is_tensor(amplitude) and "complex" in str(amplitude.dtype):
            amplitude = ops.real(amplitude)
        if ops.is_tensor(phase) and "complex" in str(phase.dtype):
            phase = ops.real(phase)
        if self.use_polar:
            return combine_complex(amplitude, phase)
        return complex_from_parts(amplitude, phase)

    def compute_output_spec(self, inputs):
        return keras.KerasTensor(inputs[0].shape, dtype="complex64")

    def get_config(self) -> dict:
        return {**super().get_config(), "use_polar": self.use_polar}
