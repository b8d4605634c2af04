"""The original ``ptycho.workflows.components``: load data, train, reconstruct, load bundles, save outputs.

These are the entry points Ptychodus and the original's scripts call, with the original signatures and return
structures; the numerics live in :mod:`ptycho_core` (through ``ptycho.model``, ``ptycho.loader``,
``ptycho.tf_helper``). Importing this module binds ``ptycho.probe`` and ``ptycho.tf_helper`` on the package (the
in-process Ptychodus reconstructor uses both without importing them).

Differences from the original (logging, ``results['backend']``, backups in ``save_outputs``): README.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any, Dict, Optional, Tuple, Union

import keras
import numpy as np

import ptycho.tf_helper  # noqa: F401  (binds ptycho.tf_helper; ``probe`` below binds ptycho.probe)
from ptycho import loader, params, probe
from ptycho.config.config import TrainingConfig, load_yaml_config, update_legacy_dict
from ptycho.loader import PtychoDataContainer
from ptycho.raw_data import RawData, _global_rng
from ptycho.workflows.bundles import DiffractionToObjectAdapter, load_inference_bundle
from ptycho.workflows.configure import parse_arguments, setup_configuration, update_config_from_dict
from ptycho_core.data.grouping import subsample_rows
from ptycho_core.data.npz import read_scan, read_truth_patches
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

    The file is read with the original's rules (``ptycho_core.data.read_scan(rules="workflow")``: ``*_start``
    keys required, ``diffraction`` alias, three layouts) plus its optional per-pattern ``Y``; subsampling keeps
    ``n_subsample`` (else ``n_images``) points drawn from NumPy's global RNG (seeded with ``subsample_seed`` when
    given), sorted (``ptycho_core.data.grouping.subsample_rows``).
    """
    logger.info("Loading data from %s with n_images=%s, n_subsample=%s", file_path, n_images, n_subsample)
    scan = read_scan(file_path, rules="workflow")
    truth = read_truth_patches(file_path, len(scan))
    scan = scan.oriented(flip_x=flip_x, flip_y=flip_y, swap_xy=swap_xy, scale=coord_scale)
    wanted = n_subsample if n_subsample is not None else n_images
    rows = subsample_rows(len(scan), wanted, _global_rng(subsample_seed))
    raw = RawData.from_scan(scan.subset(rows))
    raw.Y = None if truth is None else truth[rows]
    raw.sample_indices = np.array(rows, copy=True)
    raw.subsample_seed = subsample_seed
    return raw


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
