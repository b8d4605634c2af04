"""Multi-process (multi-node) training: every process trains on its shard of the data, process 0 writes.

::

    session = initialize(detect_cluster())        # first, before the backend computes anything
    rows_train, rows_val = shard_rows(n, batch_size=16, validation_split=0.05, session=session)
    autoencoder, diffraction_to_obj, history = train_sharded(session, spec, probe, x[rows], positions[rows], ...)

:func:`initialize` joins the run with the backend's own runtime (``torch.distributed``, ``jax.distributed``,
``tf.distribute.MultiWorkerMirroredStrategy``: :mod:`ptycho_core._backend.distributed`). Data parallel over
``P`` processes of ``L`` devices each: the global batch of ``batch_size`` rows is split into ``P`` consecutive
parts, one per process (:func:`~ptycho_core.cluster.batch_shard`), so one step equals a single-process step on
the whole batch up to summation order, and each process holds and reads only its rows. The gradients are
averaged over all ``P·L`` devices by the runtime (DDP's all-reduce, JAX's sharded ``jit``, the strategy's
all-reduce); the reported losses are the global ones.

Only the chief (process 0) writes results; :class:`Session` offers the collectives that sharded reconstruction
(:mod:`ptycho_core.streaming`) needs to combine the processes' partial sums.
"""

from __future__ import annotations

import logging
from typing import Dict, List, Optional, Sequence, Tuple

import keras
import numpy as np

from ._backend import distributed as _bd
from .cluster import Cluster, batch_shard
from .factory import build_models, compile_autoencoder
from .parallel import fit_steps, split_for_devices, torch_ddp_step
from .spec import ModelSpec
from .training import LossLogger, default_callbacks, make_targets
from .types import Tensor

logger = logging.getLogger(__name__)

__all__ = ["Session", "initialize", "shard_rows", "train_sharded"]


class Session:
    """A joined multi-process run (from :func:`initialize`): who this process is, and host-array collectives."""

    def __init__(self, runtime: _bd.Runtime) -> None:
        self.runtime = runtime

    @property
    def cluster(self) -> Cluster:
        return self.runtime.cluster

    @property
    def num_processes(self) -> int:
        return self.runtime.cluster.num_processes

    @property
    def process_id(self) -> int:
        return self.runtime.cluster.process_id

    @property
    def is_chief(self) -> bool:
        """Process 0: the only one that writes results."""
        return self.runtime.cluster.is_chief

    def all_reduce_sum(self, array: np.ndarray) -> np.ndarray:
        """Element-wise sum over the processes (same shape and dtype, the same on every process)."""
        return _bd.all_reduce_sum(self.runtime, np.asarray(array))

    def broadcast(self, arrays: Sequence[np.ndarray]) -> List[np.ndarray]:
        """The chief's ``arrays`` on every process: one all-reduce per dtype of the arrays laid end to end, in
        which the other processes add zeros (exact). The arrays must have the same shapes on every process."""
        arrays = [np.asarray(a) for a in arrays]
        out: List[np.ndarray] = list(arrays)
        for dtype in sorted({a.dtype.str for a in arrays}):
            picked = [i for i, a in enumerate(arrays) if a.dtype.str == dtype]
            flat = np.concatenate([arrays[i].reshape(-1) for i in picked])
            total = self.all_reduce_sum(flat if self.is_chief else np.zeros_like(flat))
            offset = 0
            for i in picked:
                out[i] = total[offset : offset + arrays[i].size].reshape(arrays[i].shape)
                offset += arrays[i].size
        return out

    def barrier(self) -> None:
        _bd.barrier(self.runtime)

    def close(self) -> None:
        """Leave the run (every process should call it at the end)."""
        _bd.shutdown(self.runtime)

    def __repr__(self) -> str:
        return f"Session({_bd.visible(self.runtime)})"


def initialize(cluster: Cluster) -> Session:
    """Join the multi-process run ``cluster`` (:func:`ptycho_core.cluster.detect_cluster`) on the active backend.

    Call it first: JAX and TensorFlow accept it only before they compute anything. Waits at most
    ``cluster.timeout_s`` for the other processes, then raises the runtime's error.
    """
    logger.info(
        "joining %d processes at %s as process %d", cluster.num_processes, cluster.coordinator, cluster.process_id
    )
    return Session(_bd.initialize(cluster))


def shard_rows(
    n: int, *, batch_size: int, validation_split: float, session: Session, devices: int = 1
) -> Tuple[np.ndarray, np.ndarray]:
    """Global row indices ``(train, val)`` this process trains and validates on (Keras's split: the last
    ``validation_split`` is validation), each part cut to a multiple of all devices (``P · devices``) and then
    split batch by batch (:func:`~ptycho_core.cluster.batch_shard`). int64 arrays."""
    total = session.num_processes * int(devices)
    if batch_size % total:
        raise ValueError(
            f"batch_size {batch_size} does not split over {session.num_processes} processes x {devices} devices; "
            f"choose a multiple of {total} (the batch is the global batch)"
        )
    n_train, n_val = split_for_devices(n, validation_split, total)
    if n_train < total:
        raise ValueError(f"{n} samples are too few to train on {total} devices")
    n_val_full = n - (int(n * (1 - validation_split)) if validation_split > 0 else n)
    if n - n_train - n_val:
        logger.warning("dropped %d sample(s) so that the data split evenly over %d devices", n - n_train - n_val, total)
    p, k = session.process_id, session.num_processes
    train = batch_shard(n_train, batch_size, k, p)
    val = (n - n_val_full) + batch_shard(n_val, batch_size, k, p)
    return train.astype(np.int64), val.astype(np.int64)


def train_sharded(
    session: Session,
    spec: ModelSpec,
    probe: Optional[Tensor],
    x_local: np.ndarray,
    positions_local: np.ndarray,
    *,
    n_train_local: int,
    epochs: int,
    batch_size: int,
    devices: int = 1,
    learning_rate: float = 1e-3,
    y_amplitude_local: Optional[np.ndarray] = None,
    shuffle: bool = True,
    seed: int = 0,
    verbose: int = 0,
    initial_weights: Optional[List[np.ndarray]] = None,
    callbacks: Sequence[keras.callbacks.Callback] = (),
) -> Tuple[keras.Model, keras.Model, Dict[str, List[float]]]:
    """Train data parallel over the session's processes, each on its own rows; the same model on every process.

    Args:
        x_local: ``(n_local, N, N, C)`` float32 ``X·s`` of this process's rows (:func:`shard_rows`: its training
            rows, then its validation rows); positions_local ``(n_local, 1, 2, C)``; y_amplitude_local optional.
        n_train_local: how many of the local rows are training rows.
        batch_size: the global batch (all processes and devices together); each process steps through its rows
            ``batch_size / P`` at a time, so every process must hold the same number of rows.
        devices: devices per process (JAX: local devices; TensorFlow: the strategy's; torch: 1).
        shuffle, seed: shuffle each process's rows every epoch (the parts of the global batches change; with
            ``shuffle=False`` the steps equal a single process's ``fit`` on the whole data without shuffling).
        initial_weights: start from these; otherwise from a model built from ``spec`` (the chief's weights are
            used on every process in both cases).
    Returns:
        ``(autoencoder, diffraction_to_obj, history)``: ordinary (not distributed) models holding the trained
        weights and optimizer state, identical on every process, and the global per-epoch losses.
    """
    k = session.num_processes
    local_batch = batch_size // k
    x_local = np.asarray(x_local, np.float32)
    positions_local = np.asarray(positions_local, np.float32)
    backend = keras.backend.backend()
    available = _bd.local_device_count(session.runtime)
    if backend != "jax" and devices != available:
        raise ValueError(
            f"{backend} trains on {available} device(s) per process here (got devices={devices}); "
            + (
                "start one process per device (torchrun --nproc-per-node)"
                if backend == "torch"
                else "MultiWorkerMirroredStrategy uses every local GPU, or one CPU device, per worker"
            )
        )
    if devices > available:
        raise ValueError(f"{devices} devices per process requested but this process has {available}")
    targets = make_targets(x_local, positions_local, y_amplitude_local)
    train = slice(0, n_train_local)
    val = slice(n_train_local, len(x_local))
    has_val = len(x_local) > n_train_local
    log = [LossLogger(epochs)] if session.is_chief else []
    if initial_weights is None:  # built outside the distribution (JAX's fresh replicated arrays cannot be read)
        initial_weights = [np.asarray(w) for w in build_models(spec, probe)[0].get_weights()]
    weights = session.broadcast(initial_weights)  # every process starts from the chief's weights
    if backend == "jax":
        # JAX requires replicated variables to start equal on every process (checked at creation, before the
        # chief's weights are set): the same seed everywhere, as keras.distribution.initialize does
        keras.utils.set_random_seed(int(session.broadcast([np.array([seed], np.int64)])[0][0]))
    with _bd.data_parallel_scope(session.runtime, devices):
        autoencoder, diffraction_to_obj = build_models(spec, probe)
        autoencoder.set_weights(weights)
        compile_autoencoder(autoencoder, spec, learning_rate=learning_rate)
        inputs = [x_local, positions_local]
        if backend == "jax":
            fitted = autoencoder.fit(
                [a[train] for a in inputs],
                [t[train] for t in targets],
                batch_size=local_batch,
                epochs=epochs,
                verbose=verbose,
                shuffle=shuffle,
                validation_data=([a[val] for a in inputs], [t[val] for t in targets]) if has_val else None,
                callbacks=default_callbacks(has_val, verbose, epochs)[:-1] + log + list(callbacks),
            )
            history = dict(fitted.history)
        else:  # torch DDP; TensorFlow: Keras 3's fit does not run under MultiWorkerMirroredStrategy (see README)
            if backend == "torch":
                step = torch_ddp_step(
                    autoencoder, _bd.torch_ddp(autoencoder), inputs, targets, _bd.torch_mean_over_processes
                )
            else:
                step = _bd.tf_strategy_step(session.runtime, autoencoder, inputs, targets)
            rng = np.random.default_rng([seed, session.process_id])

            def batches(order: np.ndarray) -> List[np.ndarray]:
                return [order[s : s + local_batch] for s in range(0, len(order), local_batch)]

            history = fit_steps(
                autoencoder,
                step,
                lambda epoch: batches(rng.permutation(n_train_local) if shuffle else np.arange(n_train_local)),
                batches(np.arange(n_train_local, len(x_local))),
                epochs=epochs,
                callbacks=log + list(callbacks),
            )
            if backend == "torch":
                return autoencoder, diffraction_to_obj, history
        trained = _bd.host_values(autoencoder.weights)
        optimizer_state = _bd.host_values(autoencoder.optimizer.variables)
    autoencoder, diffraction_to_obj = build_models(spec, probe)  # ordinary models, outside the distribution
    compile_autoencoder(autoencoder, spec, learning_rate=learning_rate)
    autoencoder.set_weights(trained)
    autoencoder.optimizer.build(autoencoder.trainable_variables)
    if len(autoencoder.optimizer.variables) == len(optimizer_state):
        for variable, value in zip(autoencoder.optimizer.variables, optimizer_state, strict=True):
            variable.assign(value)
    return autoencoder, diffraction_to_obj, {key: [float(v) for v in vs] for key, vs in history.items()}
