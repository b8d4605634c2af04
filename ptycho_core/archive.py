"""``wts.h5.zip`` model archives: the original PtychoPINN layout, written atomically, read safely.

Layout (the original's member names)::

    manifest.dill                  {'models': [...], 'version': '2.0-keras', 'backend': <keras backend>}
    manifest.json                  the same as JSON, plus a SHA-256 per member
    <model>/model.keras            Keras 3 file with ALL weights (convs, probe, log intensity scale)
    <model>/params.dill            the parameters (plain data; the probe as a NumPy array), 'intensity_scale'
    <model>/params.json            the JSON-representable parameters
    <model>/custom_objects.dill    {class name: 'ptycho>ClassName'} (names only; nothing to import)
    <model>/model.h5               HDF5 with the root attribute intensity_scale

Pickles are written with protocol 4 and hold plain data only, so they read back with
:func:`ptycho_core.safe_pickle.safe_load` (and with the original's ``dill.load``). Writing goes to a temporary
file in the target folder, is fsynced and renamed over the target, so a killed save leaves any previous archive
intact. Reading verifies the checksums, refuses archives of the original's PyTorch port and opens the original's
TensorFlow archives through :mod:`ptycho_core.legacy`.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import pickle
import tempfile
import zipfile
from pathlib import Path
from typing import Any, Dict, Mapping, Tuple, Union

import h5py
import keras
import numpy as np

from .legacy import load_legacy_archive, read_member
from .safe_pickle import safe_load

FORMAT_VERSION = "2.0-keras"
CUSTOM_OBJECT_NAMES = (
    "ProbeIllumination", "IntensityScaler", "IntensityScaler_inv", "Translation", "CenterMaskLayer",
    "CombineComplexLayer", "ExtractPatchesPositionLayer", "PadReconstructionLayer", "ReassemblePatchesLayer",
    "TrimReconstructionLayer", "PadAndDiffractLayer", "FlatToChannelLayer", "ScaleLayer", "InvScaleLayer",
    "ActivationLayer", "SquareLayer", "negloglik", "RealspaceLoss",
)


class ArchiveError(ValueError):
    """An archive that cannot be opened here: corrupt, foreign, or from another program."""


def _plain(value: Any) -> Any:
    """Parameters as plain data: arrays and tensors to NumPy, Paths to str."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_plain(v) for v in value)
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, (str, bytes, bool, int, float, complex, type(None), np.ndarray, np.generic)):
        return value
    if hasattr(value, "shape") and hasattr(value, "dtype"):
        return np.asarray(keras.ops.convert_to_numpy(value))
    return str(value)


def _json_safe(params: Mapping[str, Any]) -> Dict[str, Any]:
    out = {}
    for key, value in params.items():
        if isinstance(value, np.generic):
            value = value.item()
        if isinstance(value, (str, bool, int, float, type(None))):
            out[key] = value
    return out


def _model_bytes(model: keras.Model) -> bytes:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.keras"
        model.save(path)
        return path.read_bytes()


def _h5_bytes(intensity_scale: float) -> bytes:
    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as h5:
        h5.attrs["intensity_scale"] = float(intensity_scale)
    return buffer.getvalue()


def write_archive(path: Union[str, Path], models: Mapping[str, keras.Model], params: Mapping[str, Any],
                  intensity_scale: float) -> Path:
    """Write ``models`` and ``params`` to the zip ``path`` atomically; returns ``path``.

    Args:
        path: target file (conventionally ``<dir>/wts.h5.zip``); its folder is created if needed.
        models: name → model (``autoencoder``, ``diffraction_to_obj``).
        params: the parameters to store (``params.cfg`` for the compat layer).
        intensity_scale: the model's trained ``exp(log_scale)``, stored as ``params['intensity_scale']``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    backend = keras.backend.backend()
    stored = {**_plain(dict(params)), "intensity_scale": float(intensity_scale), "_version": FORMAT_VERSION,
              "keras_backend": backend}
    members: Dict[str, bytes] = {
        "manifest.dill": pickle.dumps({"models": list(models), "version": FORMAT_VERSION, "backend": backend},
                                      protocol=4),
    }
    for name, model in models.items():
        members[f"{name}/model.keras"] = _model_bytes(model)
        members[f"{name}/params.dill"] = pickle.dumps(stored, protocol=4)
        members[f"{name}/params.json"] = json.dumps(_json_safe(stored), indent=1, sort_keys=True).encode()
        members[f"{name}/custom_objects.dill"] = pickle.dumps({n: f"ptycho>{n}" for n in CUSTOM_OBJECT_NAMES},
                                                              protocol=4)
        members[f"{name}/model.h5"] = _h5_bytes(intensity_scale)
    manifest = {"models": list(models), "version": FORMAT_VERSION, "backend": backend,
                "sha256": {k: hashlib.sha256(v).hexdigest() for k, v in members.items()}}
    members["manifest.json"] = json.dumps(manifest, indent=1, sort_keys=True).encode()
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            with zipfile.ZipFile(handle, "w", compression=zipfile.ZIP_DEFLATED) as archive:
                for member, data in members.items():
                    archive.writestr(member, data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return path


def _verify(archive: zipfile.ZipFile, path: Path) -> Dict[str, Any]:
    manifest = json.loads(read_member(archive, "manifest.json"))
    for member, digest in manifest.get("sha256", {}).items():
        if hashlib.sha256(read_member(archive, member)).hexdigest() != digest:
            raise ArchiveError(f"{path}: member {member} does not match its checksum (corrupt or modified archive)")
    return manifest


def read_archive(path: Union[str, Path]) -> Tuple[Dict[str, keras.Model], Dict[str, Any]]:
    """Open a ``wts.h5.zip`` written here (any backend) or by the original TensorFlow PtychoPINN.

    Returns ``(models, params)``; ``params`` is plain data (the probe as a NumPy array).

    Raises:
        FileNotFoundError: no such file.
        ArchiveError: not a zip, a checksum mismatch, an archive of the original's PyTorch port, a SavedModel-era
            archive, or a pickle that is not plain data.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"Model archive not found: {path}")
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile as exc:
        raise ArchiveError(f"{path} is not a zip archive (truncated or not a wts.h5.zip): {exc}") from exc
    with archive:
        names = set(archive.namelist())
        manifest = safe_load(read_member(archive, "manifest.dill"), "manifest.dill")
        version = str(manifest.get("version", "")) if isinstance(manifest, dict) else ""
        if "pytorch" in version or (isinstance(manifest, dict) and manifest.get("backend") == "pytorch"):
            raise ArchiveError(f"{path} was written by the original's PyTorch port (version {version!r}, "
                               f"Lightning checkpoint inside); this loader reads Keras archives only")
        if any(n.endswith("saved_model.pb") for n in names):
            raise ArchiveError(f"{path} holds TensorFlow SavedModel directories (PtychoPINN before its Keras 3 "
                               f"upgrade); re-save it with that PtychoPINN version as model.keras to open it here")
        if version != FORMAT_VERSION:
            return load_legacy_archive(path)
        _verify(archive, path)
        models = {}
        params: Dict[str, Any] = {}
        for name in manifest["models"]:
            params = safe_load(read_member(archive, f"{name}/params.dill"), f"{name}/params.dill")
            with tempfile.TemporaryDirectory() as tmp:
                target = Path(tmp) / "model.keras"
                target.write_bytes(read_member(archive, f"{name}/model.keras"))
                models[name] = keras.saving.load_model(target, safe_mode=True, compile=name == "autoencoder")
    return models, params
