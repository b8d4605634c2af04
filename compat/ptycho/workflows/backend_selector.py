"""The original ``ptycho.workflows.backend_selector``: dispatch on ``config.backend``.

In the original, ``'tensorflow'`` ran the TensorFlow package and ``'pytorch'`` a separate PyTorch port. Here one
Keras 3 code base serves both and the engine is the process's ``KERAS_BACKEND``:

* ``'tensorflow'`` (the configs' default, and what Ptychodus sends) runs this package on whatever Keras backend
  the process uses — ``torch``, ``tensorflow`` or ``jax``.
* ``'pytorch'`` runs this package too, but only when Keras runs on torch; otherwise a ``RuntimeError`` says to
  start the process with ``KERAS_BACKEND=torch`` (a backend cannot change inside a running process).

As in the original, ``params.cfg`` is updated from the config first, and ``results['backend']`` is the config's
backend; ``results['keras_backend']`` names the engine that actually ran.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Dict, Optional, Tuple, Union

import keras

from ptycho import params
from ptycho.config.config import InferenceConfig, TrainingConfig, update_legacy_dict

from . import components

logger = logging.getLogger(__name__)

__all__ = ["run_cdi_example_with_backend", "train_cdi_model_with_backend", "load_inference_bundle_with_backend"]

_BACKENDS = ("tensorflow", "pytorch")


def _check_backend(config: Any) -> str:
    """Validate ``config.backend`` and that this process can honour it; returns it."""
    backend = getattr(config, "backend", "tensorflow")
    if backend not in _BACKENDS:
        raise ValueError(f"Invalid backend: {backend!r}. TrainingConfig.backend must be 'tensorflow' or 'pytorch'.")
    engine = keras.backend.backend()
    if backend == "pytorch" and engine != "torch":
        raise RuntimeError(
            f"PyTorch backend selected (config.backend='pytorch') but this process runs Keras on {engine!r}. "
            f"Start Python with KERAS_BACKEND=torch (install PyTorch with `pip install torch` or "
            f"`pip install .[torch]`), or set config.backend='tensorflow' to use the current engine."
        )
    return backend


def run_cdi_example_with_backend(
    train_data: Any,
    test_data: Any,
    config: TrainingConfig,
    flip_x: bool = False,
    flip_y: bool = False,
    transpose: bool = False,
    M: int = 20,
    do_stitching: bool = False,
    torch_execution_config: Optional[Any] = None,
) -> Tuple[Any, Any, Dict[str, Any]]:
    """:func:`components.run_cdi_example` after the backend check; ``torch_execution_config`` is accepted and
    ignored (execution settings of the original's PyTorch port)."""
    update_legacy_dict(params.cfg, config)
    backend = _check_backend(config)
    amplitude, phase, results = components.run_cdi_example(
        train_data, test_data, config, flip_x, flip_y, transpose, M, do_stitching
    )
    results["backend"] = backend
    results["keras_backend"] = keras.backend.backend()
    return amplitude, phase, results


def train_cdi_model_with_backend(train_data: Any, test_data: Any, config: TrainingConfig) -> Dict[str, Any]:
    """:func:`components.train_cdi_model` after the backend check."""
    update_legacy_dict(params.cfg, config)
    backend = _check_backend(config)
    results = components.train_cdi_model(train_data, test_data, config)
    results["backend"] = backend
    results["keras_backend"] = keras.backend.backend()
    return results


def load_inference_bundle_with_backend(
    bundle_dir: Union[str, Path], config: InferenceConfig, model_name: str = "diffraction_to_obj"
) -> Tuple[Any, Dict[str, Any]]:
    """:func:`components.load_inference_bundle` after the backend check (``params.cfg`` comes from the archive)."""
    _check_backend(config)
    if model_name != "diffraction_to_obj":
        raise KeyError(
            f"Model {model_name!r} is not served by load_inference_bundle; available: "
            f"['diffraction_to_obj'] (use ptycho.model_manager.ModelManager.load_multiple_models for "
            f"the autoencoder)"
        )
    return components.load_inference_bundle(Path(bundle_dir))
