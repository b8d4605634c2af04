"""Multi-process training from a scan or from model-ready arrays: which rows each process reads and trains on.

:func:`train_scan_sharded` is :func:`ptycho_core.pipeline.train` on several processes: every process groups the
scan points identically (positions only), keeps its rows (:func:`~ptycho_core.distributed.shard_rows`) and reads
only their patterns; the normalisation factor is that of all groups (each process sums the energy of a contiguous
shard of them, summed over the processes with the runtime's all-reduce). :func:`fit_sharded` is
:func:`ptycho_core.pipeline.fit` on several processes, from arrays every process holds.
"""

from __future__ import annotations

from typing import Dict, List, Optional, Tuple

import keras
import numpy as np

from .array_rows import ArrayRows
from .cluster import contiguous_shard
from .data.grouped import gather_truth
from .data.grouping import Groups, group_coordinates, group_neighbours, relative_coordinates
from .data.scan import Scan, check_diffraction_rows
from .distributed import Session, shard_rows, train_sharded
from .physics import normalize_probe
from .physics.scaling import factor_for_energy
from .pipeline import TrainedModel, TrainOptions
from .spec import ModelSpec
from .streaming import grouped_energy

__all__ = ["fit_sharded", "sharded_training_arrays", "train_scan_sharded"]


def sharded_training_arrays(
    session: Session,
    scan: Scan,
    spec: ModelSpec,
    *,
    n_groups: Optional[int],
    neighbours: int,
    seed: Optional[int],
    batch_size: int,
    validation_split: float,
    devices: int = 1,
) -> Tuple[np.ndarray, np.ndarray, Optional[np.ndarray], int]:
    """This process's model inputs, read from ``scan`` (its diffraction in memory, or rows on disk: only the rows
    it needs are read), as :func:`ptycho_core.data.group_scan` and ``X·s`` would give them for these groups.

    Every process groups the scan points identically (positions only), takes its rows (:func:`shard_rows`) and
    reads their patterns; the normalisation factor is that of all groups: each process sums the energy of a
    contiguous shard of them and the sums are all-reduced. Returns ``(x_scaled (n, N, N, C) float32,
    positions (n, 1, 2, C) float32, y_amplitude or None, n_train)``.
    """
    groups = group_neighbours(
        scan.x,
        scan.y,
        gridsize=spec.gridsize,
        n_groups=len(scan) if n_groups is None else n_groups,
        K=neighbours,
        seed=seed,
    )
    reader = scan.diffraction if not isinstance(scan.diffraction, np.ndarray) else ArrayRows(scan.diffraction)
    assert isinstance(reader, ArrayRows)
    first, stop = contiguous_shard(len(groups), session.num_processes, session.process_id)
    energy = grouped_energy(reader, groups.indices[first:stop]) if stop > first else 0.0
    total = float(session.all_reduce_sum(np.array([energy], np.float64))[0])
    factor = factor_for_energy(total, groups.indices.size, spec.N)
    train_rows, val_rows = shard_rows(
        len(groups), batch_size=batch_size, validation_split=validation_split, session=session, devices=devices
    )
    mine = np.concatenate([train_rows, val_rows])
    indices = groups.indices[mine]
    patterns = reader.read(indices.reshape(-1))
    check_diffraction_rows(patterns, indices.reshape(-1))
    diffraction = np.transpose(patterns.reshape(indices.shape + patterns.shape[1:]), (0, 2, 3, 1))
    x = factor * diffraction.astype(np.float32)  # normalize_diffraction's float32 product, then ·s
    x *= np.float32(spec.intensity_scale)
    x_start = scan.x if scan.x_start is None else scan.x_start
    y_start = scan.y if scan.y_start is None else scan.y_start
    _, relative = relative_coordinates(group_coordinates(x_start, y_start, indices))
    subset = Groups(indices, groups.coords[mine], groups.offsets[mine], groups.relative[mine])
    truth = gather_truth(scan, subset, spec.N)
    y_amplitude = None if truth is None else np.abs(truth).astype(np.float32)
    return x.astype(np.float32, copy=False), relative.astype(np.float32), y_amplitude, len(train_rows)


def train_scan_sharded(scan: Scan, spec: ModelSpec, options: TrainOptions, session: Session) -> TrainedModel:
    """:func:`train` over the processes of ``session``, each on its shard (:mod:`ptycho_core.distributed`)."""
    x_local, positions, y_amplitude, n_train = sharded_training_arrays(
        session,
        scan,
        spec,
        n_groups=options.n_groups,
        neighbours=options.neighbours,
        seed=options.seed,
        batch_size=options.batch_size,
        validation_split=options.validation_split,
        devices=options.devices,
    )
    assert scan.probe is not None
    probe = normalize_probe(scan.probe, options.probe_scale)
    autoencoder, diffraction_to_obj, history = train_sharded(
        session,
        spec,
        probe,
        x_local,
        positions,
        n_train_local=n_train,
        epochs=options.epochs,
        batch_size=options.batch_size,
        devices=options.devices,
        y_amplitude_local=y_amplitude,
        seed=options.seed or 0,
        verbose=options.verbose if session.is_chief else 0,
        callbacks=options.callbacks if session.is_chief else (),
    )
    params = {
        "probe": probe,
        "nphotons": float(f"{(spec.intensity_scale * spec.N / 2) ** 2:.6g}"),
        "probe_scale": float(options.probe_scale),
        "nepochs": int(options.epochs),
        "batch_size": int(options.batch_size),
        "n_groups": int(options.n_groups if options.n_groups is not None else len(scan)),
    }
    return TrainedModel(spec, autoencoder, diffraction_to_obj, history, params)


def fit_sharded(
    autoencoder: keras.Model,
    spec: ModelSpec,
    x_scaled: np.ndarray,
    positions: np.ndarray,
    options: TrainOptions,
    session: Session,
    y_amplitude: Optional[np.ndarray] = None,
    probe: Optional[np.ndarray] = None,
) -> Dict[str, List[float]]:
    """:func:`ptycho_core.pipeline.fit` over the processes: each trains on its rows of the (identical) arrays;
    ``autoencoder`` receives the trained weights (the same on every process). Returns the global history."""
    train_rows, val_rows = shard_rows(
        len(x_scaled),
        batch_size=options.batch_size,
        validation_split=options.validation_split,
        session=session,
        devices=options.devices,
    )
    rows = np.concatenate([train_rows, val_rows])
    trained, _, history = train_sharded(
        session,
        spec,
        probe,
        np.asarray(x_scaled)[rows],
        np.asarray(positions)[rows],
        n_train_local=len(train_rows),
        epochs=options.epochs,
        batch_size=options.batch_size,
        devices=options.devices,
        y_amplitude_local=None if y_amplitude is None else np.asarray(y_amplitude)[rows],
        seed=options.seed or 0,
        verbose=options.verbose if session.is_chief else 0,
        initial_weights=autoencoder.get_weights(),
        callbacks=options.callbacks if session.is_chief else (),
    )
    autoencoder.set_weights(trained.get_weights())
    return history
