"""``CnnGenerator``: the PtychoPINN U-Net, built from ``params.cfg`` by :func:`ptycho.model.create_compiled_model`."""

from __future__ import annotations

from typing import Any, Tuple


class CnnGenerator:
    """Builds the compiled ``(autoencoder, diffraction_to_obj)`` pair of the CNN architecture."""

    name = "cnn"

    def __init__(self, config: Any) -> None:
        self.config = config

    def build_models(self) -> Tuple[Any, Any]:
        from .. import model

        return model.create_compiled_model()
