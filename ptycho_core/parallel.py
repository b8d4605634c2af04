"""Data-parallel training on several devices, one option for every backend.

:func:`train_models` builds, compiles and trains the autoencoder of a :class:`~ptycho_core.spec.ModelSpec` on
``devices`` devices; ``devices=1`` is the ordinary single-device path. With ``devices = D > 1`` every global batch
of ``batch_size`` samples is split into ``D`` equal shards, one per device, and the gradients are averaged, so
one step equals a single-device step on the whole batch (up to floating-point summation order):

* JAX: ``keras.distribution.DataParallel`` (variables replicated, batches sharded) and ``fit``;
* TensorFlow: ``tf.distribute.MirroredStrategy`` and ``fit``;
* torch: ``DistributedDataParallel`` around the Keras model in ``D`` spawned processes (gloo on CPU, NCCL on
  GPUs), with a training loop that makes ``fit``'s steps (same batches, same losses, same Adam); started with
  the ``spawn`` method, so it also works inside a spawned child such as Ptychodus's trainer, without ``torchrun``.

Equal shards need batches whose size is a multiple of ``D``: ``batch_size`` must be one, and the training and
validation sets are each cut to a multiple of ``D`` samples (at most ``D - 1`` dropped each, logged).

On a machine without GPUs, :func:`request_virtual_cpu_devices` (called before the backend starts computing)
provides ``D`` CPU devices, which is how the tests run this module. On torch, ``ReduceLROnPlateau`` and
``EarlyStopping`` are not applied with ``D > 1`` (the loop has no Keras callbacks); the per-epoch losses are
logged and returned like ``fit``'s history.
"""

from __future__ import annotations

import contextlib
import json
import logging
import pickle
import sys
import tempfile
import traceback
from pathlib import Path
from typing import Callable, ContextManager, Dict, List, Optional, Sequence, Tuple

import keras
import numpy as np

from ._backend import parallel as _bp
from .factory import build_models, compile_autoencoder
from .spec import ModelSpec
from .training import LossLogger, default_callbacks, make_targets
from .types import Tensor

logger = logging.getLogger(__name__)

request_virtual_cpu_devices = _bp.request_virtual_cpu_devices


def _check_devices(devices: int, batch_size: int) -> int:
    if isinstance(devices, bool) or int(devices) != devices or devices < 1:
        raise ValueError(f"devices must be a positive integer; got {devices!r}")
    if batch_size % devices:
        raise ValueError(
            f"batch_size {batch_size} does not split over {devices} devices; choose a batch size "
            f"that is a multiple of {devices} (the batch is the global batch, split between devices)"
        )
    return int(devices)


def split_for_devices(n: int, validation_split: float, devices: int) -> Tuple[int, int]:
    """``(n_train, n_val)``: Keras's split (validation = the last fraction), each cut to a multiple of ``devices``."""
    n_train = int(n * (1 - validation_split)) if validation_split > 0 else n
    n_val = n - n_train
    return n_train - n_train % devices, n_val - n_val % devices


def train_models(
    spec: ModelSpec,
    probe: Optional[Tensor],
    x_scaled: np.ndarray,
    positions: np.ndarray,
    *,
    epochs: int,
    batch_size: int = 16,
    devices: int = 1,
    learning_rate: float = 1e-3,
    y_amplitude: Optional[np.ndarray] = None,
    validation_split: float = 0.05,
    shuffle: bool = True,
    seed: int = 0,
    verbose: int = 0,
    initial_weights: Optional[List[np.ndarray]] = None,
) -> Tuple[keras.Model, keras.Model, Dict[str, List[float]]]:
    """Build ``(autoencoder, diffraction_to_obj)`` for ``spec`` and train on ``devices`` devices.

    Args:
        spec, probe: as for :func:`ptycho_core.factory.build_models` (set ``spec.init_seed`` for the
            same starting weights on every backend and device count).
        x_scaled: ``(n, N, N, C)`` float32 inputs ``X·s``; positions: ``(n, 1, 2, C)``.
        epochs, batch_size: global batch (all devices together).
        devices: number of devices; 1 = ordinary training.
        y_amplitude: optional ``(n, N, N, C)`` ground-truth amplitude patches.
        validation_split: fraction from the end of the data used for validation (0 for none).
        shuffle, seed: shuffle the training samples each epoch (``seed`` fixes the torch loop's order).
        initial_weights: start from these (``autoencoder.get_weights()`` of a model of the same ``spec``)
            instead of a fresh initialisation, e.g. to continue training a loaded model.
    Returns:
        ``(autoencoder, diffraction_to_obj, history)`` in this process; history as ``fit``'s (``loss``, per-output
        losses, ``val_loss`` ... per epoch).
    """
    devices = _check_devices(devices, int(batch_size))
    x_scaled = np.asarray(x_scaled, np.float32)
    positions = np.asarray(positions, np.float32)
    n_train, n_val = split_for_devices(len(x_scaled), validation_split, devices)
    if n_train < devices:
        raise ValueError(f"{len(x_scaled)} samples are too few to train on {devices} devices")
    dropped = len(x_scaled) - n_train - n_val
    if dropped:
        logger.warning(
            "Dropped %d sample(s) so that the training and validation sets split evenly over %d devices",
            dropped,
            devices,
        )
    n_val_full = len(x_scaled) - (
        int(len(x_scaled) * (1 - validation_split)) if validation_split > 0 else len(x_scaled)
    )
    train_idx = np.arange(n_train)
    val_idx = np.arange(len(x_scaled) - n_val_full, len(x_scaled) - n_val_full + n_val)
    targets = make_targets(x_scaled, positions, y_amplitude)
    backend = keras.backend.backend()
    if devices == 1 or backend in ("jax", "tensorflow"):
        return _fit_in_process(
            spec,
            probe,
            x_scaled,
            positions,
            targets,
            train_idx,
            val_idx,
            epochs=epochs,
            batch_size=int(batch_size),
            devices=devices,
            learning_rate=learning_rate,
            shuffle=shuffle,
            verbose=verbose,
            initial_weights=initial_weights,
        )
    return _fit_torch_ddp(
        spec,
        probe,
        x_scaled,
        positions,
        targets,
        train_idx,
        val_idx,
        epochs=epochs,
        batch_size=int(batch_size),
        devices=devices,
        learning_rate=learning_rate,
        shuffle=shuffle,
        seed=seed,
        initial_weights=initial_weights,
    )


def _fit_in_process(
    spec,
    probe,
    x,
    positions,
    targets,
    train_idx,
    val_idx,
    *,
    epochs,
    batch_size,
    devices,
    learning_rate,
    shuffle,
    verbose,
    initial_weights,
):
    """Single device, JAX ``DataParallel`` or TF ``MirroredStrategy``: build inside the scope, then ``fit``."""
    backend = keras.backend.backend()
    scope: ContextManager[None]
    if devices == 1:
        scope = contextlib.nullcontext()
    elif backend == "jax":
        scope = _bp.jax_data_parallel(_bp.data_parallel_devices(devices))
    else:
        scope = _bp.tf_mirrored(_bp.data_parallel_devices(devices))
    with scope:
        autoencoder, diffraction_to_obj = build_models(spec, probe)
        if initial_weights is not None:
            autoencoder.set_weights(initial_weights)
        compile_autoencoder(autoencoder, spec, learning_rate=learning_rate)
        validation = None
        if len(val_idx):
            validation = ([x[val_idx], positions[val_idx]], [t[val_idx] for t in targets])
        history = autoencoder.fit(
            [x[train_idx], positions[train_idx]],
            [t[train_idx] for t in targets],
            batch_size=batch_size,
            epochs=epochs,
            verbose=verbose,
            shuffle=shuffle,
            validation_data=validation,
            callbacks=default_callbacks(validation is not None, verbose, epochs),
        )
    return autoencoder, diffraction_to_obj, dict(history.history)


# ----------------------------------------------------------------------------------------------- torch DDP


def _fit_torch_ddp(
    spec,
    probe,
    x,
    positions,
    targets,
    train_idx,
    val_idx,
    *,
    epochs,
    batch_size,
    devices,
    learning_rate,
    shuffle,
    seed,
    initial_weights,
):
    """Spawn ``devices`` ranks that train with DDP; rank 0 writes weights and history, loaded here."""
    with tempfile.TemporaryDirectory(prefix="ptychopinn-ddp-") as tmp:
        folder = Path(tmp)
        arrays = {"x": x, "positions": positions, "train_idx": train_idx, "val_idx": val_idx}
        arrays.update({f"target{i}": t for i, t in enumerate(targets)})
        np.savez(folder / "data.npz", **arrays)
        if probe is not None:
            np.save(folder / "probe.npy", np.asarray(probe))
        if initial_weights is not None:
            np.savez(folder / "initial_weights.npz", *[np.asarray(w) for w in initial_weights])
        job = {
            "spec": spec,
            "epochs": int(epochs),
            "batch_size": batch_size,
            "learning_rate": learning_rate,
            "shuffle": bool(shuffle),
            "seed": int(seed),
            "n_targets": len(targets),
        }
        (folder / "job.pickle").write_bytes(pickle.dumps(job))  # read back only by the ranks started here
        _bp.torch_run_ranks(__name__, [str(folder)], devices)
        autoencoder, diffraction_to_obj = build_models(spec, probe)
        compile_autoencoder(autoencoder, spec, learning_rate=learning_rate)
        autoencoder.optimizer.build(autoencoder.trainable_variables)  # so Adam's moments load too
        autoencoder.load_weights(folder / "trained.weights.h5")
        history = json.loads((folder / "history.json").read_text())
    return autoencoder, diffraction_to_obj, history


def _torch_rank(folder: str, rank: int, world_size: int) -> None:
    """One DDP rank: the same batches as ``fit`` (shuffled with ``seed``), this rank's shard of each."""
    folder_path = Path(folder)
    job = pickle.loads((folder_path / "job.pickle").read_bytes())  # written by _fit_torch_ddp in this run
    _bp.torch_init_process_group(rank, world_size, str(folder_path / "rendezvous"))
    data = np.load(folder_path / "data.npz")
    x, positions = data["x"], data["positions"]
    targets = [data[f"target{i}"] for i in range(job["n_targets"])]
    train_idx, val_idx = data["train_idx"], data["val_idx"]
    probe_file = folder_path / "probe.npy"
    probe = np.load(probe_file) if probe_file.exists() else None
    spec: ModelSpec = job["spec"]
    autoencoder, _ = build_models(spec, probe)
    weights_file = folder_path / "initial_weights.npz"
    if weights_file.exists():
        with np.load(weights_file) as weights:
            autoencoder.set_weights([weights[f"arr_{i}"] for i in range(len(weights.files))])
    compile_autoencoder(autoencoder, spec, learning_rate=job["learning_rate"])
    ddp = _bp.torch_ddp(autoencoder)  # broadcasts rank 0's weights
    rng = np.random.default_rng(job["seed"])
    batch = job["batch_size"]

    def mine(idx: np.ndarray) -> np.ndarray:
        return idx[rank * len(idx) // world_size : (rank + 1) * len(idx) // world_size]

    def train_batches(epoch: int) -> List[np.ndarray]:
        order = rng.permutation(train_idx) if job["shuffle"] else train_idx
        return [mine(order[s : s + batch]) for s in range(0, len(order), batch)]

    val_batches = [mine(val_idx[s : s + batch]) for s in range(0, len(val_idx), batch)]
    step = torch_ddp_step(autoencoder, ddp, [x, positions], targets, _bp.torch_mean_over_ranks)
    history = fit_steps(
        autoencoder,
        step,
        train_batches,
        val_batches,
        epochs=job["epochs"],
        callbacks=[LossLogger(job["epochs"])] if rank == 0 else [],
    )
    if rank == 0:
        autoencoder.save_weights(folder_path / "trained.weights.h5")
        (folder_path / "history.json").write_text(json.dumps(history))


def torch_ddp_step(
    autoencoder: keras.Model,
    ddp: object,
    inputs: List[np.ndarray],
    targets: List[np.ndarray],
    mean_over_ranks: Callable[[float], float],
) -> Callable[[np.ndarray, bool], float]:
    """torch: ``step(rows, train)``, one of ``fit``'s steps on this rank's ``rows`` of ``inputs``/``targets``
    (``[X·s, positions]``), through the ``DistributedDataParallel`` wrapper ``ddp`` (gradients averaged over the
    ranks in ``backward``); returns the step's loss averaged over the ranks (``mean_over_ranks``, all-reduce)."""
    variables = autoencoder.trainable_variables
    autoencoder.optimizer.build(variables)

    def step(idx: np.ndarray, train: bool) -> float:
        x = [keras.ops.convert_to_tensor(a[idx]) for a in inputs]
        y = [keras.ops.convert_to_tensor(t[idx]) for t in targets]
        if train:
            y_pred = ddp(x, training=True)  # type: ignore[operator]
            loss = autoencoder.compute_loss(x=x, y=y, y_pred=y_pred, training=True)
            autoencoder.zero_grad()
            loss.backward()
            with _bp.torch_no_grad():
                autoencoder.optimizer.apply([v.value.grad for v in variables], variables)
        else:
            with _bp.torch_no_grad():
                y_pred = autoencoder(x, training=False)
                loss = autoencoder.compute_loss(x=x, y=y, y_pred=y_pred, training=False)
        return mean_over_ranks(float(loss.detach()))

    return step


def fit_steps(
    autoencoder: keras.Model,
    step: Callable[[np.ndarray, bool], float],
    train_batches: Callable[[int], List[np.ndarray]],
    val_batches: List[np.ndarray],
    *,
    epochs: int,
    callbacks: Sequence[keras.callbacks.Callback] = (),
) -> Dict[str, List[float]]:
    """``fit``'s epochs over explicit batches: ``step(rows, train)`` runs one global step (every process its part)
    and returns its global loss; ``train_batches(epoch)`` gives this process's rows of each training batch,
    ``val_batches`` of each validation batch (every process the same number of equal parts). Returns the
    history as ``fit`` reports it (batch-size weighted epoch means of ``loss``, ``val_loss``; ``learning_rate``).
    ``callbacks`` see only ``on_epoch_begin``/``on_epoch_end`` (progress, logging; no learning-rate schedule or
    early stopping).
    """
    history: Dict[str, List[float]] = {}
    for callback in callbacks:
        callback.set_model(autoencoder)
    for epoch in range(epochs):
        for callback in callbacks:
            callback.on_epoch_begin(epoch)
        logs = _epoch(train_batches(epoch), lambda idx: {"loss": step(idx, True)})
        if val_batches:
            logs.update({f"val_{k}": v for k, v in _epoch(val_batches, lambda i: {"loss": step(i, False)}).items()})
        logs["learning_rate"] = float(keras.ops.convert_to_numpy(autoencoder.optimizer.learning_rate))
        for key, value in logs.items():
            history.setdefault(key, []).append(value)
        for callback in callbacks:
            callback.on_epoch_end(epoch, dict(logs))
    return history


def _epoch(batches: List[np.ndarray], step: Callable[[np.ndarray], Dict[str, float]]) -> Dict[str, float]:
    """Run ``step`` on each batch; the epoch's losses as ``fit`` reports them (batch-size weighted)."""
    totals: Dict[str, float] = {}
    count = 0
    for idx in batches:
        for key, value in step(idx).items():
            totals[key] = totals.get(key, 0.0) + value * len(idx)
        count += len(idx)
    return {key: value / count for key, value in totals.items()}


if __name__ == "__main__":  # a torch rank: python -m ptycho_core.parallel FOLDER RANK WORLD_SIZE
    try:
        _torch_rank(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))
    except BaseException:
        traceback.print_exc()
        _bp.torch_exit(1)
    _bp.torch_exit(0)
