"""Suite-wide set-up: the backend named by KERAS_BACKEND must be importable, or the run fails (never skips).

The suite runs once per backend (``KERAS_BACKEND=torch|tensorflow|jax``); tests marked ``cross_backend``
spawn one subprocess per backend themselves and run once (see ci/test.sh).
"""

from __future__ import annotations

import importlib
import os

import pytest

FRAMEWORK_MODULES = {"torch": "torch", "tensorflow": "tensorflow", "jax": "jax"}


def _fail(message: str) -> None:
    pytest.exit(message, returncode=3)


def pytest_configure(config: pytest.Config) -> None:
    requested = os.environ.get("KERAS_BACKEND", "tensorflow")
    if requested not in FRAMEWORK_MODULES:
        _fail(f"KERAS_BACKEND={requested!r} is not one of {sorted(FRAMEWORK_MODULES)}")
    try:
        importlib.import_module(FRAMEWORK_MODULES[requested])
    except Exception as exc:  # a missing backend fails the run, it is never skipped
        _fail(
            f"backend {requested!r} is not installed or does not import ({exc}); install the project with ci/install.sh"
        )
    import keras

    if keras.backend.backend() != requested:
        _fail(f"keras picked backend {keras.backend.backend()!r} but KERAS_BACKEND={requested!r}")
    # Parity needs full float32 precision everywhere (no TF32 / reduced-precision matmul).
    if requested == "jax":
        import jax

        jax.config.update("jax_default_matmul_precision", "highest")
    elif requested == "tensorflow":
        import tensorflow as tf

        tf.config.experimental.enable_tensor_float_32_execution(False)
    elif requested == "torch":
        import torch

        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False


@pytest.fixture(scope="session")
def backend() -> str:
    import keras

    return keras.backend.backend()
