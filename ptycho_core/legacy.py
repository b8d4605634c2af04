"""Opening ``wts.h5.zip`` archives written by the original TensorFlow PtychoPINN, on any backend.

The original's ``model.keras`` holds only the Conv2D kernels and biases (its probe and log intensity scale were
untracked variables); the probe and the trained intensity scale live in ``params.dill``. So a model is rebuilt
from the saved parameters with :func:`ptycho_core.factory.build_models` (same layers, same order), its Conv2D
weights are copied from ``model.weights.h5`` (Keras saves them under ``layers/conv2d[_k]/vars/{0,1}``, ``k``
counting the Conv2D layers in model order), and the probe and log-scale weights are set from ``params.dill``.
Nothing in the archive is executed: pickles go through :func:`ptycho_core.safe_pickle.safe_load` and the
weights are read with h5py. TensorFlow is not needed.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import Any, Dict, Mapping, Tuple, Union

import h5py
import keras
import numpy as np

from .factory import build_models
from .safe_pickle import safe_load
from .spec import ModelSpec, spec_from_legacy_params

MODEL_NAMES = ("autoencoder", "diffraction_to_obj")


def spec_from_params(params: Mapping[str, Any]) -> ModelSpec:
    """The :class:`ModelSpec` an original ``params.dill`` describes."""
    missing = [k for k in ("N", "gridsize") if k not in params]
    if missing:
        raise ValueError(f"params.dill lacks {missing}: not a PtychoPINN model archive")
    return spec_from_legacy_params(params)


def conv_weights(model_keras: bytes, member: str) -> list:
    """``[(kernel, bias), …]`` of the Conv2D layers in a ``model.keras`` (Keras 3 format), in model order."""
    try:
        with zipfile.ZipFile(io.BytesIO(model_keras)) as inner:
            names = set(inner.namelist())
            if "model.weights.h5" not in names:
                raise ValueError(f"{member} has no model.weights.h5 (members: {sorted(names)})")
            weights = inner.read("model.weights.h5")
    except zipfile.BadZipFile as exc:
        raise ValueError(f"{member} is not a Keras 3 .keras file ({exc})") from exc
    out = []
    with h5py.File(io.BytesIO(weights), "r") as h5:
        k = 0
        while f"layers/{'conv2d' if k == 0 else f'conv2d_{k}'}/vars/0" in h5:
            group = h5[f"layers/{'conv2d' if k == 0 else f'conv2d_{k}'}/vars"]
            out.append((group["0"][()], group["1"][()]))
            k += 1
    return out


def _set_conv_weights(model: keras.Model, weights: list, member: str) -> None:
    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    if len(convs) != len(weights):
        raise ValueError(f"{member} holds {len(weights)} Conv2D layers but the configuration in params.dill "
                         f"builds {len(convs)}: the archive does not match its own parameters")
    for layer, (kernel, bias) in zip(convs, weights):
        if tuple(layer.kernel.shape) != kernel.shape:
            raise ValueError(f"{member}: {layer.name} kernel has shape {kernel.shape}, expected "
                             f"{tuple(layer.kernel.shape)}")
        layer.set_weights([kernel, bias])


def read_member(archive: zipfile.ZipFile, name: str) -> bytes:
    try:
        return archive.read(name)
    except KeyError as exc:
        raise ValueError(f"archive has no member {name!r} (members: {sorted(archive.namelist())[:12]})") from exc


def load_legacy_archive(path: Union[str, Path]) -> Tuple[Dict[str, keras.Model], Dict[str, Any]]:
    """Rebuild ``autoencoder`` and ``diffraction_to_obj`` from an original TensorFlow ``wts.h5.zip``.

    Returns ``(models, params)`` where ``params`` is the archive's ``params.dill`` (plain data; the probe as
    a NumPy array). The models share their layers, exactly as when freshly built.
    """
    path = Path(path)
    with zipfile.ZipFile(path) as archive:
        manifest = safe_load(read_member(archive, "manifest.dill"), "manifest.dill")
        names = list(manifest.get("models", [])) if isinstance(manifest, dict) else []
        if not set(MODEL_NAMES) <= set(names):
            raise ValueError(f"{path} lists models {names}; expected {list(MODEL_NAMES)}")
        params = safe_load(read_member(archive, "diffraction_to_obj/params.dill"), "diffraction_to_obj/params.dill")
        spec = spec_from_params(params)
        probe = params.get("probe")
        autoencoder, diffraction_to_obj = build_models(spec, probe=None if probe is None else np.asarray(probe))
        member = "autoencoder/model.keras"
        _set_conv_weights(autoencoder, conv_weights(read_member(archive, member), member), member)
    return {"autoencoder": autoencoder, "diffraction_to_obj": diffraction_to_obj}, dict(params)
