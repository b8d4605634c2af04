"""``PadAndDiffractLayer``: exit waves → far-field amplitudes."""

from __future__ import annotations

from typing import Any

import keras

from ..physics.diffraction import pad_and_diffract
from ._base import first, register


@register
class PadAndDiffractLayer(keras.layers.Layer):
    """``(n,h,w,1)`` complex exit waves → ``(padded_field, amplitude (n,h,w,1) float32)``.

    ``pad=True`` zero-pads by ``h//4`` first and keeps the unpadded ``h·w`` normalisation (the original's quirk);
    the model uses ``pad=False``.
    """

    def __init__(self, h: int, w: int, pad: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.h, self.w, self.pad = int(h), int(w), bool(pad)

    def call(self, inputs):
        return pad_and_diffract(first(inputs), pad=self.pad)

    def compute_output_spec(self, inputs):
        x = first(inputs)
        grow = 2 * (self.h // 4) if self.pad else 0
        padded = keras.KerasTensor((x.shape[0], self.h + grow, self.w + grow, 1), dtype="complex64")
        return padded, keras.KerasTensor((x.shape[0], self.h + grow, self.w + grow, 1), dtype="float32")

    def get_config(self) -> dict:
        return {**super().get_config(), "h": self.h, "w": self.w, "pad": self.pad}
