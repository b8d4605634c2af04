"""Intensity scaling layers: the log intensity scale ``λ`` is a real Keras weight.

``IntensityScaler`` divides the network input by ``exp(λ)``; ``IntensityScaler_inv`` multiplies the predicted
amplitude by ``exp(λ)``. In a model built by the factory both use ONE variable (:func:`tie_log_scale`), so
training moves them together; the weight is trainable only when asked (``intensity_scale.trainable``; the
original never trains it, whatever the flag says).
"""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from ._base import first, pop_dtype, register


class _LogScaleLayer(keras.layers.Layer):
    def __init__(self, log_scale: float = 0.0, log_scale_trainable: bool = False, **kwargs: Any) -> None:
        super().__init__(**pop_dtype(kwargs))
        self.initial_log_scale = float(log_scale)
        self.log_scale_trainable = bool(log_scale_trainable)
        self.log_scale = self.add_weight(
            shape=(),
            initializer=keras.initializers.Constant(self.initial_log_scale),
            trainable=self.log_scale_trainable,
            name="log_scale",
        )

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "log_scale": self.initial_log_scale,
            "log_scale_trainable": self.log_scale_trainable,
        }


@register
class IntensityScaler(_LogScaleLayer):
    """``[x]`` → ``x / exp(λ)``."""

    def call(self, inputs):
        return first(inputs) / ops.exp(self.log_scale)


@register
class IntensityScaler_inv(_LogScaleLayer):
    """``[x]`` → ``exp(λ) · x``."""

    def call(self, inputs):
        return ops.exp(self.log_scale) * first(inputs)


def tie_log_scale(scaler: _LogScaleLayer, inverse: _LogScaleLayer) -> None:
    """Make ``inverse`` use ``scaler``'s log-scale variable (one weight, trained once, saved under both)."""
    if inverse.log_scale is scaler.log_scale:
        return
    inverse._tracker.unlock()
    for bucket in (inverse._trainable_variables, inverse._non_trainable_variables):
        if inverse.log_scale in bucket:
            bucket.remove(inverse.log_scale)
    inverse.log_scale = scaler.log_scale
    inverse._tracker.lock()
    # Saved configs then describe the inverse's own (placeholder) weight as frozen, so a deserialised model has
    # the same trainable variables as the built one (its optimizer state loads) until it is tied again.
    inverse.log_scale_trainable = False


@register
class ScaleLayer(keras.layers.Layer):
    """``x / exp(log_scale)`` with its own weight (defined by the original, unused by its model)."""

    def __init__(self, log_scale_init: float = 0.0, trainable: bool = True, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.log_scale_init = float(log_scale_init)
        self.trainable_scale = bool(trainable)
        self.log_scale = self.add_weight(
            shape=(),
            initializer=keras.initializers.Constant(self.log_scale_init),
            trainable=self.trainable_scale,
            name="log_scale",
        )

    def call(self, inputs):
        return first(inputs) / ops.exp(self.log_scale)

    def get_config(self) -> dict:
        return {**super().get_config(), "log_scale_init": self.log_scale_init, "trainable": self.trainable_scale}


@register
class InvScaleLayer(keras.layers.Layer):
    """``x · exp(log_scale)`` with its own weight (defined by the original, unused by its model)."""

    def __init__(self, log_scale_init: float = 0.0, **kwargs: Any) -> None:
        kwargs.pop("scale_layer", None)
        super().__init__(**kwargs)
        self.log_scale_init = float(log_scale_init)
        self.log_scale = self.add_weight(
            shape=(), initializer=keras.initializers.Constant(self.log_scale_init), name="log_scale"
        )

    def call(self, inputs):
        return first(inputs) * ops.exp(self.log_scale)

    def get_config(self) -> dict:
        return {**super().get_config(), "log_scale_init": self.log_scale_init}
