"""``ptychopinn info``: versions, the active backend and its devices."""

from __future__ import annotations

import sys
from typing import Any, Dict, List


def info(installed: List[str]) -> Dict[str, Any]:
    """Versions, the active Keras backend and its devices (``installed``: the importable backends)."""
    from importlib import metadata

    import keras

    versions = {}
    for dist in ("ptychopinn", "keras", "numpy", "torch", "tensorflow", "tensorflow-cpu", "jax"):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            pass
    backend = keras.backend.backend()
    devices: List[str] = []
    try:
        if backend == "torch":
            import torch

            devices = ["cpu"] + [f"cuda:{i} {torch.cuda.get_device_name(i)}" for i in range(torch.cuda.device_count())]
        elif backend == "tensorflow":
            import tensorflow as tf

            devices = [d.name for d in tf.config.list_logical_devices()]
        elif backend == "jax":
            import jax

            devices = [str(d) for d in jax.devices()]
    except Exception as exc:
        devices = [f"(could not list devices: {exc})"]
    return {
        "backend": backend,
        "installed_backends": installed,
        "devices": devices,
        "versions": versions,
        "python": sys.version.split()[0],
    }
