"""``Translation`` layer: :func:`ptycho_core.physics.translation.translate` with optional position jitter."""

from __future__ import annotations

from typing import Any, Sequence

import keras

from ..physics._checks import real_float
from ..physics.translation import translate
from ..types import Tensor


@keras.saving.register_keras_serializable(package="ptycho")
class Translation(keras.layers.Layer):
    """Shift images by per-image sub-pixel translations (content moves by ``+[dx, dy]``).

    Call with ``[images (n, H, W, ch), translations (m, 2)]``; image ``i`` uses row ``i mod m``.

    Args:
        jitter_stddev: standard deviation (pixels) of Gaussian noise added to the translations at every call;
            0 (the model's setting) disables it.
        use_xla: accepted for compatibility with the original's saved configs and ignored (the original
            ignores it too: its layer always uses the canonical translation).
        seed: seed of the jitter noise.
    """

    def __init__(
        self, jitter_stddev: float = 0.0, use_xla: bool = True, seed: int | None = None, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.jitter_stddev = float(jitter_stddev)
        self.use_xla = True
        self.seed = seed
        self._seed_generator = keras.random.SeedGenerator(seed) if self.jitter_stddev > 0 else None

    def call(self, inputs: Sequence[Tensor]):
        if not isinstance(inputs, (list, tuple)) or len(inputs) < 2:
            raise ValueError("Translation expects a list [images (n, H, W, ch), translations (m, 2)]")
        images, translations = inputs[0], real_float(inputs[1])
        if self.jitter_stddev > 0:
            translations = translations + keras.random.normal(
                keras.ops.shape(translations), stddev=self.jitter_stddev, seed=self._seed_generator
            )
        return translate(images, translations)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[0])

    def get_config(self) -> dict:
        config = super().get_config()
        config.update({"jitter_stddev": self.jitter_stddev, "use_xla": self.use_xla, "seed": self.seed})
        return config
