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
file in the target folder, is fsynced and renamed over the target, so a killed save
leaves either the previous archive or the complete new one, never a partial file; a killed writer may leave its
``.wts.h5.zip.*.tmp`` file behind.

Reading (:func:`read_archive`) trusts nothing in the file: the member checks of :mod:`ptycho_core.safe_zip` run
first (no path traversal, no zip bombs, bounded reads), then every member is verified against its SHA-256 in
``manifest.json`` before any of it is interpreted (``manifest.json`` itself must be byte-identical to what
:func:`write_archive` writes for its content and agree with ``manifest.dill``), every pickle goes through the
restricted unpickler, and ``model.keras`` loads with Keras ``safe_mode=True``. Archives of the original's PyTorch
port and SavedModel-era archives are refused with errors naming their format; the original's TensorFlow
archives open through :mod:`ptycho_core.legacy`. See ``docs/archives.md`` for the bad-input matrix.
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

from .atomic import Existing, atomic_target
from .factory import compile_autoencoder, relink_loaded
from .legacy import legacy_models, read_manifest, read_pickles, spec_from_params
from .safe_pickle import ArchiveError, UnsafeArchiveError
from .safe_zip import open_zip, read_member

__all__ = ["ArchiveError", "FORMAT_VERSION", "UnsafeArchiveError", "read_archive", "write_archive"]

FORMAT_VERSION = "2.0-keras"
MANIFEST_JSON = "manifest.json"
_MANIFEST_KEYS = ("models", "version", "backend")
CUSTOM_OBJECT_NAMES = (
    "ProbeIllumination",
    "IntensityScaler",
    "IntensityScaler_inv",
    "Translation",
    "CenterMaskLayer",
    "CombineComplexLayer",
    "ExtractPatchesPositionLayer",
    "PadReconstructionLayer",
    "ReassemblePatchesLayer",
    "TrimReconstructionLayer",
    "PadAndDiffractLayer",
    "FlatToChannelLayer",
    "ScaleLayer",
    "InvScaleLayer",
    "ActivationLayer",
    "SquareLayer",
    "negloglik",
    "RealspaceLoss",
)


def _plain(value: Any) -> Any:
    """Parameters as plain data: arrays and tensors to NumPy, Paths to str."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_plain(v) for v in value)
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, np.ndarray):
        return np.asarray(value)  # plain ndarray: a subclass would be pickled by reference to its class
    if isinstance(value, (str, bytes, bool, int, float, complex, type(None), np.generic)):
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


def _manifest_bytes(manifest: Mapping[str, Any]) -> bytes:
    """The one serialisation of ``manifest.json`` (the reader requires the stored bytes to be exactly this)."""
    return json.dumps(manifest, indent=1, sort_keys=True).encode()


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


def write_archive(
    path: Union[str, Path],
    models: Mapping[str, keras.Model],
    params: Mapping[str, Any],
    intensity_scale: float,
    existing: Existing = "replace",
) -> Path:
    """Write ``models`` and ``params`` to the zip ``path`` atomically; returns ``path``.

    ``existing``: what happens to an archive already at ``path`` once the new one is complete: ``"replace"``,
    ``"backup"`` (kept as ``wts.h5.~N~.zip``) or ``"refuse"`` (``FileExistsError`` before anything is written).

    Args:
        path: target file (conventionally ``<dir>/wts.h5.zip``); its folder is created if needed.
        models: name → model (``autoencoder``, ``diffraction_to_obj``).
        params: the parameters to store (``params.cfg`` for the compat layer).
        intensity_scale: the model's trained ``exp(log_scale)``, stored as ``params['intensity_scale']``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    backend = keras.backend.backend()
    stored = {
        **_plain(dict(params)),
        "intensity_scale": float(intensity_scale),
        "_version": FORMAT_VERSION,
        "keras_backend": backend,
    }
    members: Dict[str, bytes] = {
        "manifest.dill": pickle.dumps(
            {"models": list(models), "version": FORMAT_VERSION, "backend": backend}, protocol=4
        ),
    }
    for name, model in models.items():
        members[f"{name}/model.keras"] = _model_bytes(model)
        members[f"{name}/params.dill"] = pickle.dumps(stored, protocol=4)
        members[f"{name}/params.json"] = json.dumps(_json_safe(stored), indent=1, sort_keys=True).encode()
        members[f"{name}/custom_objects.dill"] = pickle.dumps(
            {n: f"ptycho>{n}" for n in CUSTOM_OBJECT_NAMES}, protocol=4
        )
        members[f"{name}/model.h5"] = _h5_bytes(intensity_scale)
    manifest = {
        "models": list(models),
        "version": FORMAT_VERSION,
        "backend": backend,
        "sha256": {k: hashlib.sha256(v).hexdigest() for k, v in members.items()},
    }
    members[MANIFEST_JSON] = _manifest_bytes(manifest)
    with atomic_target(path, existing) as tmp:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for member, data in members.items():
                archive.writestr(member, data)
    return path


def _verify(archive: zipfile.ZipFile, where: str) -> Dict[str, Any]:
    """Check every member against ``manifest.json`` before anything in the archive is interpreted.

    ``manifest.json`` must parse, be byte-identical to :func:`_manifest_bytes` of its content (so a changed byte
    anywhere in it is caught, whitespace included) and list exactly the other members, each with its SHA-256.
    Returns the parsed ``manifest.json``.
    """
    fix = "restore the file from a backup or save the model again"
    raw = read_member(archive, MANIFEST_JSON, where)
    try:
        manifest = json.loads(raw)
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError
        raise ArchiveError(f"{where}: manifest.json is not valid JSON ({exc}): the archive is corrupt; {fix}") from exc
    if not isinstance(manifest, dict) or raw != _manifest_bytes(manifest):
        raise ArchiveError(f"{where}: manifest.json is not as written by write_archive (corrupt or edited); {fix}")
    digests = manifest.get("sha256")
    if not isinstance(digests, dict):
        raise ArchiveError(f"{where}: manifest.json has no 'sha256' table (corrupt or edited); {fix}")
    present = set(archive.namelist()) - {MANIFEST_JSON}
    if set(digests) != present:
        raise ArchiveError(
            f"{where}: members {sorted(present - set(digests))} are not in manifest.json and "
            f"{sorted(set(digests) - present)} listed there are missing (corrupt or edited); {fix}"
        )
    for member in sorted(digests):
        if hashlib.sha256(read_member(archive, member, where)).hexdigest() != digests[member]:
            raise ArchiveError(
                f"{where}: member {member} does not match its checksum in manifest.json (corrupt "
                f"or modified archive); {fix}"
            )
    return manifest


def _load_keras(data: bytes, where: str, member: str, compile: bool) -> keras.Model:
    """A ``model.keras`` member as a model: nested-zip checks, then Keras with ``safe_mode=True``."""
    label = f"{where} member {member}"
    open_zip(data, label).close()
    try:
        with tempfile.TemporaryDirectory() as tmp:  # keras.saving.load_model wants a path ending in .keras
            target = Path(tmp) / "model.keras"
            target.write_bytes(data)
            return keras.saving.load_model(target, safe_mode=True, compile=compile)
    except Exception as exc:
        raise ArchiveError(
            f"{label}: Keras refused to rebuild the model with safe_mode=True ({type(exc).__name__}: "
            f"{str(exc)[:600]}). Its configuration names something this package does not load (a Lambda layer "
            f"holding Python code, a class it does not register) or is damaged; only open archives written by "
            f"PtychoPINN, or save the model again"
        ) from exc


def read_archive(path: Union[str, Path]) -> Tuple[Dict[str, keras.Model], Dict[str, Any]]:
    """Open a ``wts.h5.zip`` written here (any backend) or by the original TensorFlow PtychoPINN.

    Returns ``(models, params)``; ``params`` is plain data (the probe as a NumPy array). Nothing in the file is
    executed, and a model is returned only when every member checked out: never a half-loaded model.

    Raises:
        FileNotFoundError: no such file.
        ArchiveError: not a zip, a refused member (path traversal, zip bomb), a damaged member or checksum
            mismatch, an archive of the original's PyTorch port, a SavedModel-era archive, a ``model.keras``
            that Keras safe mode refuses.
        UnsafeArchiveError: (an :class:`ArchiveError`) a pickle that is not plain data, naming the member.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"Model archive not found: {path}")
    where = str(path)
    with open_zip(path, where) as archive:
        checked = _verify(archive, where) if MANIFEST_JSON in archive.namelist() else None
        manifest = read_manifest(archive, where)
        version = str(manifest.get("version", ""))
        if checked is None:
            if version == FORMAT_VERSION:
                raise ArchiveError(
                    f"{where} says version {FORMAT_VERSION!r} but has no manifest.json (its "
                    f"checksums): damaged or edited; restore it from a backup or save the model "
                    f"again"
                )
            return legacy_models(archive, where, manifest)
        if {k: checked.get(k) for k in _MANIFEST_KEYS} != {k: manifest.get(k) for k in _MANIFEST_KEYS}:
            raise ArchiveError(
                f"{where}: manifest.json and manifest.dill disagree on {list(_MANIFEST_KEYS)} "
                f"(corrupt or edited); restore it from a backup or save the model again"
            )
        if version != FORMAT_VERSION:
            raise ArchiveError(
                f"{where} has version {version!r}, which this package does not write; update ptychopinn to open it"
            )
        pickles = read_pickles(archive, where, manifest["models"])
        models = {}
        for name in manifest["models"]:
            models[name] = _load_keras(
                read_member(archive, f"{name}/model.keras", where), where, f"{name}/model.keras", compile=False
            )
        params = pickles[f"{manifest['models'][-1]}/params.dill"]
    models = relink_loaded(models)
    if "autoencoder" in models:
        # A fresh Adam and the loss terms from the parameters: a compiled .keras file names the optimizer class of
        # the backend that saved it (keras.src.backend.torch.optimizers...), which breaks training elsewhere.
        compile_autoencoder(models["autoencoder"], spec_from_params(params))
    return models, params
