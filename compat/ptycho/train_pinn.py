"""The original ``ptycho.train_pinn`` training entry points (``train``, ``calculate_intensity_scale``).

``train`` sets ``cfg['intensity_scale']`` to ``sqrt(nphotons)/(N/2)``, normalises the container's probe into
``cfg['probe']``, builds and compiles a model from ``params.cfg`` (registering it as the ``ptycho.model``
singletons so ``model_manager.save`` stores it) and fits it for ``cfg['nepochs']`` epochs.
"""

from __future__ import annotations

from typing import Any, Optional, Tuple

import numpy as np

from ptycho_core.physics import intensity_scale as _intensity_scale

from . import params

__all__ = ["train", "calculate_intensity_scale"]


def calculate_intensity_scale(ptycho_data_container: Any = None) -> np.float32:
    """``float32(sqrt(nphotons) / (N/2))`` from ``cfg`` (the container is not used, as in the original)."""
    return _intensity_scale(params.get("nphotons"), int(params.get("N")))


def train(train_data: Any, intensity_scale: Optional[float] = None, model_instance: Any = None) -> Tuple[Any, Any]:
    """Train on a ``PtychoDataContainer``; returns ``(model, history)`` (``history.history`` is the loss dict)."""
    from . import model, probe

    if intensity_scale is None:
        intensity_scale = calculate_intensity_scale(train_data)
    params.set("intensity_scale", float(intensity_scale))
    probe.set_probe_guess(None, np.asarray(train_data.probe))
    if model_instance is None:
        model_instance, diffraction_to_obj = model.create_compiled_model()
        model.autoencoder = model_instance
        model.diffraction_to_obj = diffraction_to_obj
    return model_instance, model.train(params.cfg["nepochs"], train_data, model_instance=model_instance)
