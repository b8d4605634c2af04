"""Opening a trained model for inference: ``load_inference_bundle`` and the model it returns.

Part of the original's ``ptycho.workflows.components`` (re-exported there). The archive is read by
:mod:`ptycho.model_manager` (which restores ``params.cfg`` from it, as the original does).

``load_inference_bundle`` also opens a folder holding an *unpacked* ``wts.h5.zip`` (how Ptychodus 1.7.0 reopens a
saved model): its files are packed again into a temporary archive, read with the usual checks.
"""

from __future__ import annotations

import json
import logging
import math
import tempfile
import zipfile
from pathlib import Path
from typing import Any, Dict, Optional, Tuple, Union

import keras
import numpy as np

from ptycho import params
from ptycho.model_manager import ModelManager

logger = logging.getLogger("ptycho.workflows.components")

__all__ = ["DiffractionToObjectAdapter", "load_inference_bundle"]


class DiffractionToObjectAdapter(keras.Model):
    """The inference model returned by :func:`load_inference_bundle`.

    It wraps the archive's ``diffraction_to_obj`` (inputs ``[X·s (B, N, N, C), local_offsets (B, 1, 2, C)]``,
    output complex64 ``(B, N, N, 1)``) and, before each call or ``predict``, sets ``cfg['gridsize']`` to
    ``sqrt(C)`` when the diffraction input has a square channel count ``C`` (bundles trained with grouped data
    may be loaded while ``cfg`` still says ``gridsize = 1``). Unknown attributes are looked up on the wrapped model.
    """

    def __init__(self, base_model: keras.Model) -> None:
        super().__init__(name=getattr(base_model, "name", "diffraction_to_obj"))
        self._model = base_model
        self.built = True  # the wrapped model is built; its weights are this model's weights

    @staticmethod
    def _channel_count(diffraction: Any) -> Optional[int]:
        shape = getattr(diffraction, "shape", None)
        if shape is not None and len(shape) > 0 and shape[-1] not in (None, -1):
            return int(shape[-1])
        try:
            array = np.asarray(diffraction)
        except Exception:
            return None
        return int(array.shape[-1]) if array.ndim >= 1 and array.size else None

    def _sync_gridsize(self, inputs: Any) -> None:
        if inputs is None:
            return
        diffraction = inputs[0] if isinstance(inputs, (list, tuple)) else inputs
        channels = self._channel_count(diffraction)
        if not channels or channels <= 0:
            return
        gridsize = int(round(math.sqrt(channels)))
        if gridsize * gridsize == channels and params.cfg.get("gridsize") != gridsize:
            params.cfg["gridsize"] = gridsize

    def call(self, inputs: Any, training: bool = False, **kwargs: Any) -> Any:
        self._sync_gridsize(inputs)
        return self._model(inputs, training=training, **kwargs)

    def predict(self, *args: Any, **kwargs: Any) -> Any:
        self._sync_gridsize(args[0] if args else kwargs.get("x"))
        return self._model.predict(*args, **kwargs)

    def __getattr__(self, item: str) -> Any:
        if item.startswith("__"):
            raise AttributeError(item)
        try:
            return super().__getattr__(item)  # torch.nn.Module's registry (holds ``_model``) on the torch backend
        except AttributeError:
            if item == "_model":
                raise
        wrapped = self.__dict__.get("_model")
        if wrapped is None:
            wrapped = self.__dict__.get("_modules", {}).get("_model")
        if wrapped is None:
            raise AttributeError(item)
        return getattr(wrapped, item)


def load_inference_bundle(model_dir: Union[str, Path]) -> Tuple[DiffractionToObjectAdapter, Dict[str, Any]]:
    """Load ``model_dir/wts.h5.zip`` for inference; returns ``(model, copy of params.cfg)``.

    A folder without ``wts.h5.zip`` that holds the files of an unpacked one (``manifest.dill`` at its top, as
    Ptychodus 1.7.0 leaves it when it opens a saved ``<name>.zip``) is loaded from those files.

    ``params.cfg`` is overwritten with the archive's parameters (``N``, ``gridsize``, ``intensity_scale``,
    ``probe``, ...), as in the original.

    Raises:
        ValueError: ``model_dir`` does not exist or is not a directory.
        FileNotFoundError: there is no ``wts.h5.zip`` in it (nor a complete unpacked one).
        KeyError: the archive has no ``diffraction_to_obj`` model.
    """
    model_dir = Path(model_dir)
    if not model_dir.exists():
        raise ValueError(f"Model directory does not exist: {model_dir}")
    if not model_dir.is_dir():
        raise ValueError(f"Model path is not a directory: {model_dir} (pass the folder that holds wts.h5.zip)")
    base = model_dir / "wts.h5"
    archive = Path(f"{base}.zip")
    if not archive.exists():
        members = _unpacked_archive_members(model_dir)
        if members is None:
            raise FileNotFoundError(
                f"Model archive not found at: {archive}. Expected 'wts.h5.zip' in {model_dir}; "
                f"it is written by training (ptycho.model_manager.save or `ptychopinn train`)."
            )
        missing = [name for name in members if not (model_dir / name).is_file()]
        if missing:
            raise FileNotFoundError(
                f"{model_dir} holds an unpacked wts.h5.zip but lacks {missing}; unpack the "
                f"whole archive again, or pass the folder that holds wts.h5.zip itself"
            )
        logger.info("Loading model from %s: it holds an unpacked wts.h5.zip (%d files)", model_dir, len(members))
        with tempfile.TemporaryDirectory(prefix="ptychopinn-repacked-") as scratch:
            repacked = Path(scratch) / "wts.h5"
            with zipfile.ZipFile(f"{repacked}.zip", "w", zipfile.ZIP_DEFLATED) as out:
                for name in members:
                    out.write(model_dir / name, arcname=name)
            return _load_bundle(repacked, model_dir)
    logger.info("Loading model from: %s", model_dir)
    return _load_bundle(base, model_dir)


def _unpacked_archive_members(model_dir: Path) -> Optional[list]:
    """Member names of a ``wts.h5.zip`` unpacked into ``model_dir`` (``manifest.dill`` at its top), else None.

    With a ``manifest.json`` (archives written by this package) the members are the files it lists plus itself;
    otherwise (the original's archives) every file below ``model_dir``.
    """
    if not (model_dir / "manifest.dill").is_file():
        return None
    listed = None
    try:
        listed = json.loads((model_dir / "manifest.json").read_text(encoding="utf-8")).get("sha256")
    except (OSError, ValueError, AttributeError):
        listed = None
    if isinstance(listed, dict):
        names = sorted(str(name) for name in listed)
        outside = [n for n in names if n.startswith(("/", "\\")) or ".." in n.replace("\\", "/").split("/")]
        if outside:
            raise ValueError(
                f"{model_dir}/manifest.json lists members outside the folder {outside}: not an "
                f"unpacked wts.h5.zip written by ptychopinn (corrupt or edited); save the model again"
            )
        return ["manifest.json"] + names
    return sorted(p.relative_to(model_dir).as_posix() for p in model_dir.rglob("*") if p.is_file())


def _load_bundle(base: Path, model_dir: Path) -> Tuple[DiffractionToObjectAdapter, Dict[str, Any]]:
    archive = Path(f"{base}.zip")
    try:
        models = ModelManager.load_multiple_models(str(base))
        if "diffraction_to_obj" not in models:
            raise KeyError(
                f"No 'diffraction_to_obj' model found in saved models archive {archive}. "
                f"Available models: {list(models)}."
            )
        model = DiffractionToObjectAdapter(models["diffraction_to_obj"])
        return model, params.cfg.copy()
    except Exception as exc:
        logger.error("Failed to load model from %s: %s", model_dir, exc)
        raise
