"""The engine's front door: train a model on a scan, reconstruct a scan's object with a model.

::

    scan = read_scan("data.npz").validate()
    model = train(scan, spec_for(scan, gridsize=1), TrainOptions(epochs=50))
    model.save("model/")                          # model/wts.h5.zip, readable by the ptycho API and Ptychodus
    result = reconstruct(load_model("model/"), "data.npz")   # result.image: complex64 (H, W)

Everything is explicit: nothing reads or writes global state (the caller seeds Keras' own RNG, e.g. with
``keras.utils.set_random_seed``, if it wants training to repeat exactly). Training groups the scan
(:func:`~ptycho_core.data.group_scan`), normalises the amplitudes and multiplies them by the model's
intensity scale ``s``, normalises the probe (``probe / (probe_scale · mean|mask·probe|)``) and fits the
autoencoder (:func:`ptycho_core.training.train`, or data parallel with :func:`ptycho_core.parallel.train_models`).
Reconstruction groups the scan the same way, predicts the object patches and stitches them at the group centres
(:func:`~ptycho_core.physics.reassemble_position`); a scan whose diffraction is over
:data:`STREAM_AUTO_BYTES`, or given as rows on disk, is streamed (:mod:`ptycho_core.streaming`) with the same
result to float32 rounding.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Tuple

import keras
import numpy as np

from . import training
from .archive import read_archive, write_archive
from .atomic import Existing
from .data import Scan, group_scan
from .factory import create_compiled_models, intensity_scale_of, probe_layer
from .physics import intensity_scale as photon_intensity_scale
from .physics import normalize_probe, poisson_nll_floor
from .reconstruction import STREAM_AUTO_BYTES, Reconstruction, reconstruct
from .spec import ModelSpec, legacy_params_from_spec, spec_from_legacy_params
from .types import PathLike

if TYPE_CHECKING:
    from .distributed import Session

logger = logging.getLogger(__name__)

__all__ = [
    "ARCHIVE_NAME",
    "Reconstruction",
    "STREAM_AUTO_BYTES",
    "TrainOptions",
    "TrainedModel",
    "fit",
    "load_model",
    "NLLExcess",
    "reconstruct",
    "spec_for",
    "train",
]

#: The archive's file name inside a model folder (the original's).
ARCHIVE_NAME = "wts.h5.zip"
#: Photons per pattern assumed when neither the caller nor the scan's metadata says.
DEFAULT_NPHOTONS = 1e9


def spec_for(scan: Scan, *, nphotons: Optional[float] = None, **fields: Any) -> ModelSpec:
    """A :class:`ModelSpec` for ``scan``: ``N`` its pattern size, ``intensity_scale = sqrt(nphotons)/(N/2)``.

    ``nphotons`` defaults to the scan's metadata (``physics_parameters.nphotons``), else 1e9. ``fields`` are
    other ModelSpec fields (``gridsize``, ``n_filters_scale``, ``probe_trainable``, ...).
    """
    photons = nphotons if nphotons is not None else (scan.nphotons or DEFAULT_NPHOTONS)
    size = int(fields.pop("N", scan.N))
    return ModelSpec(N=size, intensity_scale=float(photon_intensity_scale(photons, size)), **fields)


@dataclass(frozen=True)
class TrainOptions:
    """How to train (what is trained is the :class:`ModelSpec`).

    Attributes:
        epochs, batch_size: as in Keras (``batch_size`` is the global batch with ``devices > 1``).
        n_groups: groups of ``gridsize²`` scan points to train on (default: one per scan point).
        neighbours: ``K``, the nearest neighbours a group is drawn from (``>= gridsize²``).
        seed: grouping seed (the original's groups for ``np.random.seed(seed)``) and batch-order seed.
        probe_scale: the probe is normalised to ``mean|mask·probe| = 1/probe_scale``.
        validation_split: fraction of the groups, from the end, held out for validation (0: none).
        devices: data-parallel training on this many devices.
        verbose: Keras' progress output (0 silent, 1 bar, 2 one line per epoch).
        callbacks: extra Keras callbacks.
        streaming_threshold: above this many groups, batches are built on the fly (no validation split).
        session: a multi-process run (:func:`ptycho_core.distributed.initialize`): each process trains on its
            shard of the groups, reading only their patterns (:mod:`ptycho_core.distributed`); ``devices`` is
            then per process and ``batch_size`` the global batch. Only the chief should save the model.
    """

    epochs: int = 50
    batch_size: int = 16
    n_groups: Optional[int] = None
    neighbours: int = 4
    seed: Optional[int] = 0
    probe_scale: float = 4.0
    validation_split: float = 0.05
    devices: int = 1
    verbose: int = 1
    callbacks: tuple = ()
    streaming_threshold: int = training.STREAMING_THRESHOLD
    session: Optional[Session] = None

    def replace(self, **changes: Any) -> TrainOptions:
        return dataclasses.replace(self, **changes)


@dataclass
class TrainedModel:
    """A trained (or loaded) model: its spec, both Keras models, the training history and its parameters.

    ``params`` are the parameters stored in the archive: the original's cfg keys (so the ``ptycho`` face and
    Ptychodus read the model), including the normalised ``probe`` ``(N, N, 1)``.
    """

    spec: ModelSpec
    autoencoder: keras.Model
    diffraction_to_obj: keras.Model
    history: Dict[str, List[float]] = field(default_factory=dict)
    params: Dict[str, Any] = field(default_factory=dict)

    @property
    def intensity_scale(self) -> float:
        """The model's current ``s = exp(log_scale)``: inputs are ``X · s``."""
        return intensity_scale_of(self.autoencoder)

    @property
    def probe(self) -> np.ndarray:
        """The model's probe, complex64 ``(N, N)``."""
        layer = probe_layer(self.autoencoder)
        real = keras.ops.convert_to_numpy(layer.probe_real)[0, :, :, 0]
        imag = keras.ops.convert_to_numpy(layer.probe_imag)[0, :, :, 0]
        return (real + 1j * imag).astype(np.complex64)

    def save(self, folder: PathLike, existing: Existing = "replace") -> Path:
        """Write ``folder/wts.h5.zip`` (atomically); returns its path.

        ``existing``: an archive already there is ``"replace"``-d, kept as a numbered ``"backup"``
        (``wts.h5.~1~.zip``), or the save is ``"refuse"``-d (``FileExistsError``)."""
        params = legacy_params_from_spec(self.spec, self.params)
        models = {"autoencoder": self.autoencoder, "diffraction_to_obj": self.diffraction_to_obj}
        return write_archive(Path(folder) / ARCHIVE_NAME, models, params, self.intensity_scale, existing)


def load_model(path: PathLike) -> TrainedModel:
    """Open a model folder (holding ``wts.h5.zip``) or the archive itself (any backend's, or the original's)."""
    path = Path(path)
    archive = path / ARCHIVE_NAME if path.is_dir() else path
    models, params = read_archive(archive)
    if "diffraction_to_obj" not in models or "autoencoder" not in models:
        raise KeyError(f"{archive} lacks the 'autoencoder' or 'diffraction_to_obj' model (it has {list(models)})")
    autoencoder = models["autoencoder"]
    spec = spec_from_legacy_params(  # what the loaded model trains, whatever its parameters say
        params,
        intensity_scale=intensity_scale_of(autoencoder),
        intensity_scale_trainable=bool(autoencoder.get_layer("intensity_scaler").log_scale.trainable),
        probe_trainable=bool(probe_layer(autoencoder).probe_real.trainable),
    )
    return TrainedModel(spec, models["autoencoder"], models["diffraction_to_obj"], {}, dict(params))


def train(scan: Scan, spec: ModelSpec, options: TrainOptions = TrainOptions()) -> TrainedModel:
    """Train a model of ``spec`` on ``scan`` (checked first; nothing is trained on invalid data)."""
    scan.validate(N=spec.N, gridsize=spec.gridsize)
    if options.session is not None and options.session.num_processes > 1:
        from .sharding import train_scan_sharded

        return train_scan_sharded(scan, spec, options, options.session)
    grouped = group_scan(
        scan,
        gridsize=spec.gridsize,
        n_groups=options.n_groups if options.n_groups is not None else len(scan),
        K=options.neighbours,
        seed=options.seed,
    )
    assert scan.probe is not None  # validate() passed with diffraction: the probe matches it
    probe = normalize_probe(scan.probe, options.probe_scale)
    x_scaled = grouped.X * np.float32(spec.intensity_scale)
    positions = grouped.start_relative.astype(np.float32)
    y_amplitude = None if grouped.truth is None else np.abs(grouped.truth).astype(np.float32)
    logger.info("training on %d groups of %d (N=%d), %d epochs", len(grouped), spec.channels, spec.N, options.epochs)
    autoencoder, diffraction_to_obj = create_compiled_models(spec, probe=probe)
    held_out = options.validation_split if len(x_scaled) <= options.streaming_threshold else 0.0  # as training
    excess = NLLExcess(*_nll_floors(x_scaled, held_out))
    options = options.replace(callbacks=(excess, *options.callbacks))
    history = fit(autoencoder, spec, x_scaled, positions, options, y_amplitude=y_amplitude, probe=probe)
    params = {
        "probe": probe,
        # the photons per pattern the model's scale stands for (s = sqrt(nphotons) / (N/2))
        "nphotons": float(f"{(spec.intensity_scale * spec.N / 2) ** 2:.6g}"),
        "probe_scale": float(options.probe_scale),
        "nepochs": int(options.epochs),
        "batch_size": int(options.batch_size),
        "n_groups": len(grouped),
    }
    return TrainedModel(spec, autoencoder, diffraction_to_obj, history, params)


def _nll_floors(x_scaled: np.ndarray, validation_split: float) -> Tuple[float, Optional[float]]:
    """Floors of the Poisson NLL (:func:`~ptycho_core.physics.poisson_nll_floor`) of the training groups and of
    the validation groups (the last ``validation_split`` of them, as Keras splits; None when there are none)."""
    n = len(x_scaled)
    split = int(n * (1 - validation_split)) if validation_split > 0 else n
    val_floor = poisson_nll_floor(x_scaled[split:]) if split < n else None
    return poisson_nll_floor(x_scaled[:split]), val_floor


class NLLExcess(keras.callbacks.Callback):
    """Adds ``poisson_nll_excess`` (and ``val_poisson_nll_excess``) to each epoch's logs, so the history and
    every later callback see them: the Poisson NLL per pixel minus its floor, ≥ 0 and 0 for a perfect model."""

    def __init__(self, floor: float, val_floor: Optional[float]):
        super().__init__()
        self.floors = {"": floor, "val_": val_floor}

    def on_epoch_end(self, epoch: int, logs: Optional[Dict[str, Any]] = None) -> None:
        if logs is None:
            return
        for prefix, floor in self.floors.items():
            value = logs.get(f"{prefix}pred_intensity_loss")
            if value is not None and floor is not None:
                logs[f"{prefix}poisson_nll_excess"] = float(value) - floor


def fit(
    autoencoder: keras.Model,
    spec: ModelSpec,
    x_scaled: np.ndarray,
    positions: np.ndarray,
    options: TrainOptions,
    *,
    y_amplitude: Optional[np.ndarray] = None,
    probe: Optional[np.ndarray] = None,
) -> Dict[str, List[float]]:
    """Fit a compiled ``autoencoder`` of ``spec`` on model-ready arrays; returns the per-epoch history.

    The step under :func:`train` (and under the ``ptycho`` face's ``model.train``): ``x_scaled (n, N, N, C)``
    float32 ``X·s``, ``positions (n, 1, 2, C)``, optional ground-truth amplitudes. With ``options.session``
    (several processes) each process trains on its rows of the arrays (:mod:`ptycho_core.distributed`), all
    processes ending with the same weights. With ``options.devices > 1``
    a copy of the model (``spec``, ``probe``) is trained data parallel from ``autoencoder``'s weights, which then
    receive the trained ones.
    """
    if options.session is not None and options.session.num_processes > 1:
        from .sharding import fit_sharded

        history = fit_sharded(autoencoder, spec, x_scaled, positions, options, options.session, y_amplitude, probe)
    elif options.devices > 1:
        from .parallel import train_models

        trained, _, history = train_models(
            spec,
            probe,
            x_scaled,
            positions,
            epochs=options.epochs,
            batch_size=options.batch_size,
            devices=options.devices,
            y_amplitude=y_amplitude,
            validation_split=options.validation_split,
            seed=options.seed or 0,
            verbose=options.verbose,
            initial_weights=autoencoder.get_weights(),
        )
        autoencoder.set_weights(trained.get_weights())
    else:
        history = training.train(
            autoencoder,
            x_scaled,
            positions,
            epochs=options.epochs,
            batch_size=options.batch_size,
            y_amplitude=y_amplitude,
            validation_split=options.validation_split,
            verbose=options.verbose,
            streaming_threshold=options.streaming_threshold,
            callbacks=options.callbacks,
            seed=options.seed or 0,
        )
    return {key: [float(v) for v in values] for key, values in history.items()}
