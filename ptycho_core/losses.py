"""Keras-facing losses of the model (registered so compiled models save and reload)."""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from .physics import losses as physics_losses
from .types import Tensor


@keras.saving.register_keras_serializable(package="ptycho")
def negloglik(y_true: Tensor, y_pred: Tensor):
    """Elementwise Poisson NLL without the constant term, ``ŷ - y·log ŷ`` (Keras averages it)."""
    return physics_losses.poisson_nll(y_true, y_pred)


@keras.saving.register_keras_serializable(package="ptycho")
class RealspaceLoss(keras.losses.Loss):
    """The original's real-space loss on ``trimmed_obj`` (0 unless tv_weight or realspace_mae_weight > 0).

    Only the real part of the complex prediction is seen, as in the original under Keras 3 (where Keras's
    float32 conversion drops the imaginary part); here it is taken explicitly.
    """

    def __init__(
        self,
        probe_big: bool = True,
        tv_weight: float = 0.0,
        realspace_mae_weight: float = 0.0,
        name: str = "realspace_loss",
        **kwargs: Any,
    ) -> None:
        super().__init__(name=name, **kwargs)
        self.probe_big, self.tv_weight, self.realspace_mae_weight = (
            bool(probe_big),
            float(tv_weight),
            float(realspace_mae_weight),
        )

    def __call__(self, y_true, y_pred, sample_weight=None):
        y_pred = ops.convert_to_tensor(y_pred)
        if "complex" in str(y_pred.dtype):  # what Keras's float32 conversion would keep, without its warning
            y_pred = ops.real(y_pred)
        return super().__call__(y_true, y_pred, sample_weight)

    def call(self, y_true, y_pred):
        if self.tv_weight <= 0 and self.realspace_mae_weight <= 0:
            return ops.zeros_like(y_pred[:, 0, 0, 0])
        value = physics_losses.realspace_loss(
            y_true,
            y_pred,
            probe_big=self.probe_big,
            tv_weight=self.tv_weight,
            realspace_mae_weight=self.realspace_mae_weight,
        )
        return ops.zeros_like(y_pred[:, 0, 0, 0]) + value

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "probe_big": self.probe_big,
            "tv_weight": self.tv_weight,
            "realspace_mae_weight": self.realspace_mae_weight,
        }
