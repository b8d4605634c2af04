"""Opening ``wts.h5.zip`` archives written by the original TensorFlow PtychoPINN, on any backend.

Every zip (the archive and the ``model.keras`` zips inside it) is opened and read through the member checks of
:mod:`ptycho_core.safe_zip` (re-exported here: :func:`open_zip`, :func:`read_member`, :func:`check_member` and
the size limits). :func:`read_manifest` refuses SavedModel-era archives and archives of the original's PyTorch
port with an error naming their format.

The original's ``model.keras`` holds only the Conv2D kernels and biases (its probe and log intensity scale
were untracked variables); the probe and the trained intensity scale live in ``params.dill``.
So a model is rebuilt from the saved parameters with :func:`ptycho_core.factory.build_models` (same layers, same
order), its Conv2D weights are copied from ``model.weights.h5`` (Keras saves them under
``layers/conv2d[_k]/vars/{0,1}``, ``k`` counting the Conv2D layers in model order), and the probe and log-scale
weights are set from ``params.dill``. Nothing in the archive is executed: every pickle of the format
(``manifest.dill``, ``params.dill``, ``custom_objects.dill``) goes through
:func:`ptycho_core.safe_pickle.safe_load` and the weights are read with h5py. TensorFlow is not needed.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import Any, Dict, List, Mapping, Tuple, Union

import h5py
import keras
import numpy as np

from .factory import build_models
from .safe_pickle import ArchiveError, safe_load
from .safe_zip import (
    _MODELS_DOC,
    _RESAVE,
    MAX_MEMBER_BYTES,
    MAX_RATIO,
    MAX_TOTAL_BYTES,
    RATIO_MIN_BYTES,
    check_member,
    open_zip,
    read_member,
)
from .spec import ModelSpec, spec_from_legacy_params

__all__ = [
    "ArchiveError",
    "MAX_MEMBER_BYTES",
    "MAX_RATIO",
    "MAX_TOTAL_BYTES",
    "MODEL_NAMES",
    "RATIO_MIN_BYTES",
    "check_member",
    "load_legacy_archive",
    "open_zip",
    "read_manifest",
    "read_member",
    "read_pickles",
]

MODEL_NAMES = ("autoencoder", "diffraction_to_obj")


def read_manifest(archive: zipfile.ZipFile, where: str) -> Dict[str, Any]:
    """``manifest.dill`` (read safely), after refusing archives this package cannot open.

    Raises:
        ArchiveError: a SavedModel-era archive, an archive of the original's PyTorch port, no ``manifest.dill``,
            or a manifest that is not ``{'models': [str, ...], 'version': ...}``.
        UnsafeArchiveError: ``manifest.dill`` asks for anything but plain data.
    """
    names = archive.namelist()
    saved_models = [n for n in names if n.rsplit("/", 1)[-1] == "saved_model.pb"]
    if saved_models:
        raise ArchiveError(
            f"{where} holds TensorFlow SavedModel directories ({saved_models[0]}): the format of PtychoPINN "
            f"before its Keras 3 upgrade (TensorFlow < 2.18), which Keras 3 cannot read and this package does not "
            f"open. To convert it, with TensorFlow installed load it with tf.saved_model.load, copy its Conv2D "
            f"weights into a model built by PtychoPINN after the upgrade, and save that with "
            f"ptycho.model_manager.save (writes model.keras); or retrain the model"
        )
    if "manifest.dill" not in names:
        raise ArchiveError(f"{where} has no manifest.dill: not {_MODELS_DOC} (members: {sorted(names)[:12]})")
    manifest = safe_load(read_member(archive, "manifest.dill", where), f"{where} member manifest.dill")
    if not isinstance(manifest, dict):
        raise ArchiveError(f"{where}: manifest.dill holds a {type(manifest).__name__}, not a dict: not {_MODELS_DOC}")
    version = str(manifest.get("version", ""))
    torch_files = [n for n in names if n.endswith(".pth")]
    if "pytorch" in version or manifest.get("backend") == "pytorch" or torch_files:
        raise ArchiveError(
            f"{where} was written by ptycho_torch, the original PtychoPINN's PyTorch backend (version {version!r}, "
            f"Lightning checkpoint {torch_files[0] if torch_files else 'model.pth'} inside); this loader "
            f"(Keras backend {keras.backend.backend()!r}) reads Keras and TensorFlow PtychoPINN archives only: "
            f"open it with ptycho_torch, or train the model with this package"
        )
    models = manifest.get("models")
    if not isinstance(models, list) or not models or not all(isinstance(m, str) and m for m in models):
        raise ArchiveError(
            f"{where}: manifest.dill lists models {models!r}, expected a list of model names: "
            f"damaged or not {_MODELS_DOC}"
        )
    return manifest


def read_pickles(archive: zipfile.ZipFile, where: str, models: List[str]) -> Dict[str, Dict[str, Any]]:
    """``params.dill`` and ``custom_objects.dill`` of each model, read with the restricted unpickler.

    Both are read even where only the parameters are used, so that a crafted ``custom_objects.dill`` is refused
    rather than silently skipped. Returns ``{member name: dict}``.

    Raises:
        UnsafeArchiveError: a pickle asks for anything but plain data (naming the member).
        ArchiveError: a missing member, or one that is not a dict.
    """
    out = {}
    for model in models:
        for member in (f"{model}/params.dill", f"{model}/custom_objects.dill"):
            value = safe_load(read_member(archive, member, where), f"{where} member {member}")
            if not isinstance(value, dict):
                raise ArchiveError(
                    f"{where}: {member} holds a {type(value).__name__}, expected a dict: damaged or not {_MODELS_DOC}"
                )
            out[member] = value
    return out


def spec_from_params(params: Mapping[str, Any]) -> ModelSpec:
    """The :class:`ModelSpec` an original ``params.dill`` describes."""
    missing = [k for k in ("N", "gridsize") if k not in params]
    if missing:
        raise ArchiveError(f"params.dill lacks {missing}: not a PtychoPINN model archive")
    return spec_from_legacy_params(params)


def conv_weights(model_keras: bytes, member: str) -> list:
    """``[(kernel, bias), …]`` of the Conv2D layers in a ``model.keras`` (Keras 3 format), in model order.

    ``member`` names the file in errors. The nested zip goes through the same checks as the archive.
    """
    with open_zip(model_keras, member) as inner:
        if "model.weights.h5" not in inner.namelist():
            raise ArchiveError(
                f"{member} has no model.weights.h5 (members: {sorted(inner.namelist())}): not a Keras 3 .keras file"
            )
        weights = read_member(inner, "model.weights.h5", member)
    out = []
    try:
        with h5py.File(io.BytesIO(weights), "r") as h5:
            k = 0
            while f"layers/{'conv2d' if k == 0 else f'conv2d_{k}'}/vars/0" in h5:
                group = h5[f"layers/{'conv2d' if k == 0 else f'conv2d_{k}'}/vars"]
                out.append((np.asarray(group["0"][()]), np.asarray(group["1"][()])))
                k += 1
    except (OSError, KeyError, ValueError, TypeError) as exc:
        raise ArchiveError(
            f"{member}: model.weights.h5 is not readable HDF5 ({type(exc).__name__}: {exc}); {_RESAVE}"
        ) from exc
    return out


def _set_conv_weights(model: keras.Model, weights: list, member: str) -> None:
    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    if len(convs) != len(weights):
        raise ArchiveError(
            f"{member} holds {len(weights)} Conv2D layers but the configuration in params.dill "
            f"builds {len(convs)}: the archive does not match its own parameters"
        )
    for layer, (kernel, bias) in zip(convs, weights, strict=True):
        for what, value, variable in (("kernel", kernel, layer.kernel), ("bias", bias, layer.bias)):
            if tuple(variable.shape) != value.shape or not np.issubdtype(value.dtype, np.floating):
                raise ArchiveError(
                    f"{member}: {layer.name} {what} is {value.dtype} {value.shape}, expected "
                    f"float {tuple(variable.shape)}: the archive does not match its parameters"
                )
        layer.set_weights([kernel, bias])


def legacy_models(
    archive: zipfile.ZipFile, where: str, manifest: Mapping[str, Any]
) -> Tuple[Dict[str, keras.Model], Dict[str, Any]]:
    """Rebuild the two models from an opened original archive whose manifest :func:`read_manifest` returned."""
    names = list(manifest["models"])
    if not set(MODEL_NAMES) <= set(names):
        raise ArchiveError(f"{where} lists models {names}; expected {list(MODEL_NAMES)}")
    pickles = read_pickles(archive, where, names)
    params = pickles["diffraction_to_obj/params.dill"]
    # the original kept the probe and the log scale out of its trained variables, whatever its flags said
    spec = spec_from_params(params).replace(probe_trainable=False, intensity_scale_trainable=False)
    probe = params.get("probe")
    try:
        probe = None if probe is None else np.asarray(probe, dtype=np.complex64)
    except (TypeError, ValueError) as exc:
        raise ArchiveError(f"{where}: the probe in diffraction_to_obj/params.dill is not a complex array") from exc
    autoencoder, diffraction_to_obj = build_models(spec, probe=probe)
    member = "autoencoder/model.keras"
    _set_conv_weights(
        autoencoder, conv_weights(read_member(archive, member, where), f"{where} member {member}"), member
    )
    return {"autoencoder": autoencoder, "diffraction_to_obj": diffraction_to_obj}, dict(params)


def load_legacy_archive(path: Union[str, Path]) -> Tuple[Dict[str, keras.Model], Dict[str, Any]]:
    """Rebuild ``autoencoder`` and ``diffraction_to_obj`` from an original TensorFlow ``wts.h5.zip``.

    Returns ``(models, params)`` where ``params`` is the archive's ``params.dill`` (plain data; the probe as
    a NumPy array). The models share their layers, exactly as when freshly built.

    Raises:
        ArchiveError: see :func:`open_zip`, :func:`read_manifest` and :func:`read_member`; also a model list or
            weights that do not match the parameters.
        UnsafeArchiveError: a pickle that is not plain data (nothing from it ran).
    """
    where = str(path)
    with open_zip(Path(path), where) as archive:
        manifest = read_manifest(archive, where)
        return legacy_models(archive, where, manifest)
