"""The original ``ptycho.workflows.components``: load data, train, reconstruct, load bundles, save outputs.

These are the entry points Ptychodus and the original's scripts call, with the original signatures and return
structures; the numerics live in :mod:`ptycho_core` (through ``ptycho.model``, ``ptycho.loader``,
``ptycho.tf_helper``). Importing this module binds ``ptycho.probe`` and ``ptycho.tf_helper`` on the package (the
in-process Ptychodus reconstructor uses both without importing them).

Deliberate differences from the original:

* No ``logging.basicConfig`` at import: a library must not reconfigure its host application's root logger.
  Messages go to the ``ptycho.workflows.components`` logger (and training progress to ``ptycho_core.training``).
* Results carry ``results['backend']``: the Keras backend that trained (``'torch'``, ``'tensorflow'`` or
  ``'jax'``).
* ``save_outputs`` writes each file atomically and keeps an existing file of the same name as a numbered backup
  (``reconstructed_amplitude.~1~.png``) instead of overwriting it; it also writes the amplitude and phase arrays
  (``.npy``) beside the PNGs. It never deletes anything.
* ``parse_arguments`` leaves options that were not given at ``None``, so values from a YAML file are not
  overridden by CLI defaults (the original's defaults silently won over the YAML file).
* ``load_data`` does not write ``./tmp/subsample_seed*_indices.txt``: the indices are on the returned
  ``RawData`` (``sample_indices``) — writing into the current directory was a side effect users did not ask for.
* ``load_inference_bundle`` also opens a folder that holds an *unpacked* ``wts.h5.zip`` (its ``manifest.dill``,
  ``manifest.json`` and per-model folders) when there is no ``wts.h5.zip`` in it: the files are packed again
  into a temporary archive, which is read with the usual checks. Ptychodus 1.7.0 needs this: after training,
  its "save model" copies ``wts.h5.zip`` itself to the chosen ``<name>.zip``, and opening ``<name>.zip`` unpacks
  it into a temporary folder and loads that folder (the original raised ``FileNotFoundError`` there, so the
  application could not reopen a model it had saved).
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import tempfile
import typing
import zipfile
from dataclasses import MISSING, fields
from pathlib import Path
from typing import Any, Dict, Optional, Sequence, Tuple, Union

import keras
import numpy as np

import ptycho.tf_helper  # noqa: F401  (binds ptycho.tf_helper; ``probe`` below binds ptycho.probe)
from ptycho import loader, params, probe
from ptycho.config.config import ModelConfig, TrainingConfig, load_yaml_config, update_legacy_dict
from ptycho.loader import PtychoDataContainer
from ptycho.model_manager import ModelManager
from ptycho.raw_data import RawData
from ptycho_core.images import save_npy, save_png

logger = logging.getLogger(__name__)

__all__ = [
    "DiffractionToObjectAdapter",
    "load_inference_bundle",
    "update_config_from_dict",
    "load_data",
    "parse_arguments",
    "load_yaml_config",
    "setup_configuration",
    "load_and_prepare_data",
    "create_ptycho_data_container",
    "train_cdi_model",
    "reassemble_cdi_image",
    "run_cdi_example",
    "save_outputs",
]


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


def _config_defaults() -> Tuple[Dict[str, Any], Dict[str, Any]]:
    model_defaults = {f.name: f.default for f in fields(ModelConfig)}
    training_defaults = {f.name: f.default for f in fields(TrainingConfig) if f.name != "model"}
    return model_defaults, training_defaults


def update_config_from_dict(config_updates: Dict[str, Any]) -> TrainingConfig:
    """Build configs from the defaults plus ``config_updates`` and apply them to ``params.cfg`` (notebooks).

    Unknown keys are logged and ignored. Returns the ``TrainingConfig`` (the original returned None).
    """
    model_defaults, training_defaults = _config_defaults()
    model_args, training_args = {}, {}
    for key, value in config_updates.items():
        if key in model_defaults:
            model_args[key] = value
        elif key in training_defaults:
            training_args[key] = value
        else:
            logger.warning("Configuration key %r is not a recognized parameter.", key)
    if training_args.get("train_data_file") is None:
        training_args["train_data_file"] = Path("dummy_path.npz")
    config = TrainingConfig(model=ModelConfig(**model_args), **training_args)
    update_legacy_dict(params.cfg, config)
    logger.info("Configuration updated programmatically for interactive session.")
    return config


def load_data(
    file_path: Union[str, Path],
    n_images: Optional[int] = None,
    n_subsample: Optional[int] = None,
    flip_x: bool = False,
    flip_y: bool = False,
    swap_xy: bool = False,
    n_samples: int = 1,
    coord_scale: float = 1.0,
    subsample_seed: Optional[int] = None,
) -> RawData:
    """Read an NPZ scan as :class:`RawData`, with optional coordinate flips/swap/scale and random subsampling.

    Required keys: ``xcoords``, ``ycoords``, ``xcoords_start``, ``ycoords_start``, ``probeGuess`` and
    ``diff3d`` (or ``diffraction``) as ``(n, H, W)``, ``(n, H, W, 1)`` or ``(H, W, n)``. ``objectGuess`` and a
    per-pattern ``Y`` are optional. Subsampling keeps ``n_subsample`` (else ``n_images``) patterns chosen with
    ``np.random.choice`` (seeded with ``subsample_seed`` when given), sorted.
    """
    logger.info("Loading data from %s with n_images=%s, n_subsample=%s", file_path, n_images, n_subsample)
    with np.load(file_path, allow_pickle=False) as data:
        required = ["xcoords", "ycoords", "xcoords_start", "ycoords_start", "probeGuess"]
        missing = [key for key in required if key not in data.files]
        if "diff3d" not in data.files and "diffraction" not in data.files:
            missing.append("diff3d (or diffraction)")
        if missing:
            raise KeyError(
                f"{file_path} lacks the keys {missing} (has {sorted(data.files)}); load_data needs "
                f"{required + ['diff3d']}. RawData.from_file reads files without the *_start keys."
            )
        xcoords = np.array(data["xcoords"], dtype=np.float64)
        ycoords = np.array(data["ycoords"], dtype=np.float64)
        xcoords_start = np.array(data["xcoords_start"], dtype=np.float64)
        ycoords_start = np.array(data["ycoords_start"], dtype=np.float64)
        diffraction = data["diff3d"] if "diff3d" in data.files else data["diffraction"]
        probe_guess = data["probeGuess"]
        object_guess = data["objectGuess"] if "objectGuess" in data.files else None
        y_patches = data["Y"] if "Y" in data.files else None
    if diffraction.ndim == 4 and diffraction.shape[-1] == 1:
        diffraction = diffraction[..., 0]
    if diffraction.ndim != 3:
        raise ValueError(
            f"Expected diffraction data to have rank 3 or rank 4 with singleton channel, got {diffraction.shape}"
        )
    count = int(xcoords.shape[0])
    if diffraction.shape[0] == count:
        diff3d = diffraction
    elif diffraction.shape[-1] == count:
        diff3d = np.transpose(diffraction, (2, 0, 1))
    else:
        raise ValueError(f"Unable to align diffraction shape {diffraction.shape} with xcoords length {count}.")
    if y_patches is not None and y_patches.shape[0] != count:
        logger.warning("Ignoring NPZ 'Y' with incompatible shape %s (expected first axis %d)", y_patches.shape, count)
        y_patches = None
    if flip_x:
        xcoords, xcoords_start = -xcoords, -xcoords_start
    if flip_y:
        ycoords, ycoords_start = -ycoords, -ycoords_start
    if swap_xy:
        xcoords, ycoords = ycoords, xcoords
        xcoords_start, ycoords_start = ycoords_start, xcoords_start
    xcoords, ycoords = xcoords * coord_scale, ycoords * coord_scale
    xcoords_start, ycoords_start = xcoords_start * coord_scale, ycoords_start * coord_scale
    wanted = n_subsample if n_subsample is not None else n_images
    keep = count if wanted is None else min(int(wanted), count)
    if keep < count:
        if subsample_seed is not None:
            np.random.seed(subsample_seed)
        selected = np.sort(np.random.choice(np.arange(count), size=keep, replace=False))
    else:
        selected = np.arange(count)
    raw = RawData(
        xcoords[selected],
        ycoords[selected],
        xcoords_start[selected],
        ycoords_start[selected],
        diff3d[selected],
        probe_guess,
        np.zeros(count, dtype=int)[selected],
        objectGuess=object_guess,
        Y=None if y_patches is None else y_patches[selected],
    )
    raw.sample_indices = np.array(selected, copy=True)
    raw.subsample_seed = subsample_seed
    return raw


def _optional_inner(annotation: Any) -> Any:
    if typing.get_origin(annotation) is Union:
        inner = [a for a in typing.get_args(annotation) if a is not type(None)]
        return inner[0] if inner else str
    return annotation


def _add_field_argument(parser: argparse.ArgumentParser, name: str, annotation: Any, help_text: str) -> None:
    annotation = _optional_inner(annotation)
    if typing.get_origin(annotation) is typing.Literal:
        parser.add_argument(
            f"--{name}", type=str, choices=list(typing.get_args(annotation)), default=None, help=help_text
        )
    elif annotation is bool:
        parser.add_argument(
            f"--{name}",
            type=lambda v: str(v).lower() in ("1", "true", "yes", "on"),
            default=None,
            metavar="{true,false}",
            help=help_text,
        )
    elif annotation is Path:
        parser.add_argument(f"--{name}", type=Path, default=None, help=help_text)
    elif annotation in (int, float, str):
        parser.add_argument(f"--{name}", type=annotation, default=None, help=help_text)
    else:
        parser.add_argument(f"--{name}", type=str, default=None, help=help_text)


def parse_arguments(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """Command-line options for every ``TrainingConfig`` / ``ModelConfig`` field, plus ``--config`` (YAML) and
    ``--do_stitching``. Options not given stay ``None`` so YAML values are kept."""
    parser = argparse.ArgumentParser(description="PtychoPINN training (non-grid CDI)")
    parser.add_argument("--config", type=str, help="Path to YAML configuration file")
    parser.add_argument(
        "--do_stitching",
        action="store_true",
        default=False,
        help="Perform image stitching after training (default: False)",
    )
    model_hints = typing.get_type_hints(ModelConfig)
    for field in fields(ModelConfig):
        _add_field_argument(parser, field.name, model_hints[field.name], f"Model parameter (default {field.default!r})")
    training_hints = typing.get_type_hints(TrainingConfig)
    for field in fields(TrainingConfig):
        if field.name != "model":
            default = None if field.default is MISSING else field.default
            _add_field_argument(
                parser, field.name, training_hints[field.name], f"Training parameter (default {default!r})"
            )
    return parser.parse_args(argv)


def setup_configuration(args: argparse.Namespace, yaml_path: Optional[Union[str, Path]]) -> TrainingConfig:
    """Merge defaults, a YAML file and CLI arguments (CLI wins where given) into a ``TrainingConfig``.

    ``params.cfg`` is updated from it and then sealed, as in the original.
    """
    params.unseal()
    merged: Dict[str, Any] = dict(load_yaml_config(yaml_path) or {}) if yaml_path else {}
    for key, value in vars(args).items():
        if value is not None:
            merged[key] = value
    for key in ("train_data_file", "test_data_file", "output_dir"):
        if merged.get(key) is not None:
            merged[key] = Path(merged[key])
    model_defaults, training_defaults = _config_defaults()
    model_args = {k: v for k, v in merged.items() if k in model_defaults}
    if isinstance(merged.get("model"), dict):
        model_args.update({k: v for k, v in merged["model"].items() if k in model_defaults})
    training_args = {k: v for k, v in merged.items() if k in training_defaults}
    config = TrainingConfig(model=ModelConfig(**model_args), **training_args)
    update_legacy_dict(params.cfg, config)
    params.seal()
    logger.info("Configuration setup complete: %s", config)
    return config


def load_and_prepare_data(data_file_path: Union[str, Path]) -> Any:
    """Deprecated: :func:`ptycho.loader.load_xpp_npz` of an existing file."""
    if not os.path.exists(data_file_path):
        raise FileNotFoundError(f"Data file not found: {data_file_path}")
    return loader.load_xpp_npz(data_file_path)


def create_ptycho_data_container(
    data: Union[RawData, PtychoDataContainer], config: TrainingConfig
) -> PtychoDataContainer:
    """A container as is, or a :class:`RawData` grouped with the config's N, gridsize and sampling settings."""
    if isinstance(data, PtychoDataContainer):
        return data
    if isinstance(data, RawData):
        dataset = data.generate_grouped_data(
            config.model.N,
            K=config.neighbor_count,
            nsamples=config.n_groups,
            dataset_path=str(config.train_data_file) if config.train_data_file else None,
            sequential_sampling=config.sequential_sampling,
            gridsize=config.model.gridsize,
            enable_oversampling=config.enable_oversampling,
            neighbor_pool_size=config.neighbor_pool_size,
        )
        return loader.load(lambda: dataset, data.probeGuess, which=None, create_split=False)
    raise TypeError("data must be either RawData or PtychoDataContainer")


def train_cdi_model(
    train_data: Union[RawData, PtychoDataContainer],
    test_data: Optional[Union[RawData, PtychoDataContainer]],
    config: TrainingConfig,
) -> Dict[str, Any]:
    """Group the data, build the model named by ``config.model.architecture`` and train it.

    Returns the ``train_pinn.train_eval`` results with ``history`` as a dict of per-epoch lists (``loss``,
    ``val_loss``, per-output losses, and ``train_loss`` = ``loss``), ``history_epochs``, ``train_container``,
    ``test_container`` and ``backend`` (the Keras backend). The trained models become the ``ptycho.model``
    singletons, so ``ptycho.model_manager.save`` stores them.
    """
    from ptycho import model, train_pinn
    from ptycho.generators.registry import resolve_generator

    train_container = create_ptycho_data_container(train_data, config)
    test_container = create_ptycho_data_container(test_data, config) if test_data is not None else None
    probe.set_probe_guess(None, np.asarray(train_container.probe))
    if "intensity_scale" not in params.cfg:
        params.set("intensity_scale", train_pinn.calculate_intensity_scale(train_container))
    generator = resolve_generator(config)
    logger.info("Using generator: %s", generator.name)
    autoencoder, diffraction_to_obj = generator.build_models()
    model.autoencoder = autoencoder
    model.diffraction_to_obj = diffraction_to_obj
    results = train_pinn.train_eval(loader.PtychoDataset(train_container, test_container), model_instance=autoencoder)
    history = results.get("history")
    history_dict = dict(history) if isinstance(history, dict) else dict(getattr(history, "history", None) or {})
    if history_dict and "train_loss" not in history_dict and "loss" in history_dict:
        history_dict["train_loss"] = history_dict["loss"]
    results["history"] = history_dict
    if history is not None and hasattr(history, "epoch"):
        results["history_epochs"] = list(history.epoch)
    results["train_container"] = train_container
    results["test_container"] = test_container
    results["backend"] = keras.backend.backend()
    return results


def reassemble_cdi_image(
    test_data: Union[RawData, PtychoDataContainer],
    config: TrainingConfig,
    flip_x: bool = False,
    flip_y: bool = False,
    transpose: bool = False,
    M: int = 20,
    coord_scale: float = 1.0,
) -> Tuple[np.ndarray, np.ndarray, Dict[str, Any]]:
    """Predict object patches for ``test_data`` with the trained model and stitch them at their scan positions.

    Returns ``(amplitude (P, P, 1), phase (P, P, 1) in radians, {'obj_tensor_full', 'global_offsets',
    'recon_amp', 'recon_phase'})``. ``flip_x``/``flip_y`` negate the x/y offsets and ``coord_scale`` scales them
    (in place on the container's ``global_offsets``, as in the original); ``transpose`` swaps patch rows/columns.
    """
    from ptycho import nbutils, tf_helper

    container = create_ptycho_data_container(test_data, config)
    obj_tensor_full, global_offsets = nbutils.reconstruct_image(container)
    logger.info("Shape of global_offsets: %s", np.shape(global_offsets))
    if obj_tensor_full.ndim != 4:
        raise ValueError(f"Expected obj_tensor_full to be a 4D tensor, but got shape {obj_tensor_full.shape}")
    if transpose:
        obj_tensor_full = np.transpose(obj_tensor_full, (0, 2, 1, 3))
    if flip_x:
        global_offsets[:, 0, 0, :] = -global_offsets[:, 0, 0, :]
    if flip_y:
        global_offsets[:, 0, 1, :] = -global_offsets[:, 0, 1, :]
    global_offsets *= coord_scale
    image = np.asarray(tf_helper.reassemble_position(obj_tensor_full, global_offsets, M=M))
    amplitude, phase = np.absolute(image), np.angle(image)
    return (
        amplitude,
        phase,
        {
            "obj_tensor_full": obj_tensor_full,
            "global_offsets": global_offsets,
            "recon_amp": amplitude,
            "recon_phase": phase,
        },
    )


def run_cdi_example(
    train_data: Union[RawData, PtychoDataContainer],
    test_data: Optional[Union[RawData, PtychoDataContainer]],
    config: TrainingConfig,
    flip_x: bool = False,
    flip_y: bool = False,
    transpose: bool = False,
    M: int = 20,
    do_stitching: bool = False,
) -> Tuple[Optional[np.ndarray], Optional[np.ndarray], Dict[str, Any]]:
    """Apply ``config`` to ``params.cfg``, train, and (with ``do_stitching`` and test data) stitch the test image.

    Returns ``(amplitude or None, phase or None, results)`` where ``results`` is :func:`train_cdi_model`'s dict
    (plus :func:`reassemble_cdi_image`'s when stitching ran).
    """
    update_legacy_dict(params.cfg, config)
    results = train_cdi_model(train_data, test_data, config)
    amplitude = phase = None
    if do_stitching and test_data is not None and "reconstructed_obj" in results:
        logger.info("Performing image stitching...")
        amplitude, phase, stitched = reassemble_cdi_image(test_data, config, flip_x, flip_y, transpose, M=M)
        results.update(stitched)
    else:
        logger.info("Skipping image stitching (disabled or no test data available)")
    return amplitude, phase, results


def save_outputs(
    amplitude: Optional[np.ndarray],
    phase: Optional[np.ndarray],
    results: Dict[str, Any],
    output_prefix: Union[str, Path],
) -> None:
    """Create ``output_prefix`` and, when both are given, write the amplitude and phase images and arrays.

    Files: ``reconstructed_amplitude.png`` (gray), ``reconstructed_phase.png`` (viridis, radians) and the
    squeezed arrays as ``reconstructed_amplitude.npy`` / ``reconstructed_phase.npy``. Each is written atomically;
    a file already there is kept as a numbered backup, never overwritten or deleted. ``results`` is not used.
    """
    folder = Path(output_prefix)
    folder.mkdir(parents=True, exist_ok=True)
    if amplitude is not None and phase is not None:
        amplitude, phase = np.squeeze(np.asarray(amplitude)), np.squeeze(np.asarray(phase))
        save_png(folder / "reconstructed_amplitude.png", amplitude, cmap="gray")
        save_png(folder / "reconstructed_phase.png", phase, cmap="viridis")
        save_npy(folder / "reconstructed_amplitude.npy", amplitude)
        save_npy(folder / "reconstructed_phase.npy", phase)
    logger.info("Outputs saved to %s", folder)
