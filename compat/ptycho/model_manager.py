"""The original ``ptycho.model_manager``: ``save(out_prefix)`` and ``ModelManager``, on :mod:`ptycho_core.archive`.

Archives keep the original layout (``wts.h5.zip`` with ``manifest.dill`` and, per model, ``model.keras``,
``custom_objects.dill``, ``params.dill``, ``model.h5``) and add a ``backend`` entry naming the Keras backend that
wrote them, JSON copies of the metadata and member checksums. Loading restores ``params.cfg`` from the archive
(every saved key, ``intensity_scale`` and ``probe`` included), as the original does.

Archives written under one Keras backend open under the others, and the original TensorFlow archives open too;
pickles are read with a restricted unpickler and writes are atomic (README: differences).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Dict, List, Optional, Union

import keras

from ptycho_core.archive import read_archive, write_archive
from ptycho_core.factory import intensity_scale_of

from . import params

__all__ = ["ModelManager", "save"]


def _zip_path(base_path: Union[str, Path]) -> Path:
    return Path(f"{os.fspath(base_path)}.zip")


class ModelManager:
    """Static helpers of the original API."""

    @staticmethod
    def save_multiple_models(
        models_dict: Dict[str, keras.Model],
        base_path: Union[str, Path],
        custom_objects: Optional[dict] = None,
        intensity_scale: Optional[float] = None,
    ) -> None:
        """Write ``<base_path>.zip`` holding every model of ``models_dict`` and a copy of ``params.cfg``."""
        if intensity_scale is None:
            first = next(iter(models_dict.values()))
            intensity_scale = intensity_scale_of(first)
        write_archive(_zip_path(base_path), models_dict, dict(params.cfg), float(intensity_scale))

    @staticmethod
    def load_multiple_models(
        base_path: Union[str, Path], model_names: Optional[List[str]] = None
    ) -> Dict[str, keras.Model]:
        """Open ``<base_path>.zip``, restore ``params.cfg`` from it and return the requested models."""
        models, saved = read_archive(_zip_path(base_path))
        wanted = list(models) if model_names is None else list(model_names)
        missing = [name for name in wanted if name not in models]
        if missing:
            raise ValueError(f"Requested models not found in archive: {missing}")
        saved = dict(saved)
        saved.pop("_version", None)
        params.cfg.update(saved)
        return {name: models[name] for name in wanted}

    @staticmethod
    def save_model(
        model: keras.Model,
        model_dir: Union[str, Path],
        custom_objects: Optional[dict] = None,
        intensity_scale: Optional[float] = None,
    ) -> None:
        """Write one model as ``<model_dir>.zip`` (an archive holding just that model)."""
        name = Path(model_dir).name or "model"
        ModelManager.save_multiple_models({name: model}, model_dir, custom_objects, intensity_scale)

    @staticmethod
    def load_model(model_dir: Union[str, Path]) -> keras.Model:
        """Load the single model saved by :meth:`save_model` at ``model_dir`` (restores ``params.cfg``)."""
        models = ModelManager.load_multiple_models(model_dir)
        return next(iter(models.values()))


def save(out_prefix: Union[str, Path]) -> None:
    """Write ``<out_prefix>/<cfg['h5_path']>.zip`` (default ``wts.h5.zip``) from the ``ptycho.model`` singletons."""
    from . import model as model_module

    cache = model_module._lazy_cache
    autoencoder = model_module.__dict__.get("autoencoder", cache.get("autoencoder"))
    diffraction_to_obj = model_module.__dict__.get("diffraction_to_obj", cache.get("diffraction_to_obj"))
    if autoencoder is None or diffraction_to_obj is None:
        raise RuntimeError(
            "no trained or loaded model in this process to save: train with "
            "ptycho.workflows.components.train_cdi_model (or assign ptycho.model.autoencoder and "
            "ptycho.model.diffraction_to_obj) first"
        )
    scale = intensity_scale_of(autoencoder)
    params.cfg["intensity_scale"] = scale
    base = Path(out_prefix) / params.get("h5_path")
    ModelManager.save_multiple_models(
        {"autoencoder": autoencoder, "diffraction_to_obj": diffraction_to_obj}, base, intensity_scale=scale
    )
