"""The original ``ptycho.train_pinn`` entry points: ``train``, ``train_eval``, ``eval``, ``calculate_intensity_scale``.

``train`` sets ``cfg['intensity_scale']`` to ``sqrt(nphotons)/(N/2)``, normalises the container's probe into
``cfg['probe']``, builds and compiles a model from ``params.cfg`` (registering it as the ``ptycho.model``
singletons so ``model_manager.save`` stores it) and fits it for ``cfg['nepochs']`` epochs. ``train_eval`` adds an
evaluation on the test container; ``eval`` predicts with a trained model (``model_path`` loads a ``.keras`` file).
"""

from __future__ import annotations

import logging
from typing import Any, Dict, Optional, Tuple

import numpy as np

from ptycho_core.physics import intensity_scale as _intensity_scale

from . import params

__all__ = ["train", "train_eval", "eval", "calculate_intensity_scale"]

logger = logging.getLogger(__name__)


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


def train_eval(ptycho_dataset: Any, model_instance: Any = None) -> Dict[str, Any]:
    """Train on ``ptycho_dataset.train_data`` and evaluate on ``.test_data`` (when present).

    Returns ``{'history', 'model_instance'}`` plus, with test data, ``reconstructed_obj``, ``pred_amp``,
    ``reconstructed_obj_cdi`` and ``stitched_obj`` (regular-grid stitching; None where it does not apply).
    """
    from .image import reassemble_patches

    model_instance, history = train(ptycho_dataset.train_data, model_instance=model_instance)
    results: Dict[str, Any] = {"history": history, "model_instance": model_instance}
    if ptycho_dataset.test_data is not None:
        evaluated = eval(ptycho_dataset.test_data, history, trained_model=model_instance)
        try:
            stitched = reassemble_patches(evaluated["reconstructed_obj"], params.cfg, part="complex")
        except ValueError as exc:
            logger.info("no grid stitching of the test predictions: %s", exc)
            stitched = None
        results.update({key: evaluated[key] for key in ("reconstructed_obj", "pred_amp", "reconstructed_obj_cdi")})
        results["stitched_obj"] = stitched
    return results


def eval(test_data: Any, history: Any = None, trained_model: Any = None, model_path: Any = None) -> Dict[str, Any]:
    """Predict ``(reconstructed_obj, pred_amp, reconstructed_obj_cdi)`` for a container with the autoencoder.

    ``cfg['probe']`` is set from the container's probe first, as in the original (it must match training).
    """
    import keras

    from . import probe
    from .image import reassemble_patches

    if test_data.probe is not None:
        probe.set_probe_guess(None, np.asarray(test_data.probe))
    if model_path is not None:
        trained_model = keras.saving.load_model(model_path, safe_mode=True)
    elif trained_model is None:
        raise ValueError("Either a trained model instance or a model path must be provided.")
    inputs = [np.asarray(test_data.X) * params.get("intensity_scale"), np.asarray(test_data.coords_nominal)]
    reconstructed_obj, pred_amp, reconstructed_obj_cdi = trained_model.predict(inputs, verbose=0)
    try:
        stitched = reassemble_patches(reconstructed_obj, params.cfg, part="complex")
    except (ValueError, TypeError) as exc:
        logger.info("object stitching skipped: %s", exc)
        stitched = None
    return {
        "reconstructed_obj": reconstructed_obj,
        "pred_amp": pred_amp,
        "reconstructed_obj_cdi": reconstructed_obj_cdi,
        "stitched_obj": stitched,
    }
