"""Framework pieces of multi-process runs: joining the run, collectives on host arrays, data-parallel scopes.

Each backend uses its own distributed runtime, nothing home-made:

* torch: ``torch.distributed.init_process_group`` at ``tcp://coordinator`` (gloo on CPU, NCCL with a GPU per
  process, chosen by ``LOCAL_RANK``); collectives ``all_reduce``; training with ``DistributedDataParallel``.
* JAX: ``jax.distributed.initialize`` (CPU collectives over gloo), ``keras.distribution.DataParallel`` over every
  process's devices; host arrays are combined with ``multihost_utils.process_allgather``.
* TensorFlow: ``tf.distribute.MultiWorkerMirroredStrategy`` (``TF_CONFIG``); collectives through the strategy.

Timeouts (``Cluster.timeout_s``) bound joining, each collective and the silence of a dead peer, so a process
whose peer died or never came ends with an error instead of hanging. Every framework import is inside a
function.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
from typing import Any, Iterator, List, Optional

import keras
import numpy as np

from ..cluster import Cluster


class Runtime:
    """A joined multi-process run of one backend (what :func:`initialize` returns).

    Attributes:
        backend: ``torch``, ``tensorflow`` or ``jax``.
        cluster: the run's description.
        strategy: TensorFlow's ``MultiWorkerMirroredStrategy`` (None on the other backends).
    """

    def __init__(self, backend: str, cluster: Cluster, strategy: Any = None) -> None:
        self.backend, self.cluster, self.strategy = backend, cluster, strategy


def initialize(cluster: Cluster) -> Runtime:
    """Join the run described by ``cluster`` with the active backend's runtime (before it computes anything).

    Raises:
        RuntimeError: the others did not join within ``cluster.timeout_s`` (the runtime's own message).
        ValueError: TensorFlow without every worker's address.
    """
    backend = keras.backend.backend()
    if backend == "torch":
        return Runtime(backend, cluster, _torch_initialize(cluster))
    if backend == "jax":
        _jax_initialize(cluster)
        return Runtime(backend, cluster)
    if backend == "tensorflow":
        return Runtime(backend, cluster, _tf_initialize(cluster))
    raise ValueError(f"multi-process runs need the torch, tensorflow or jax backend; got {backend}")


def _torch_initialize(cluster: Cluster) -> Any:
    import torch
    import torch.distributed as dist

    use_cuda = torch.cuda.is_available()
    if use_cuda:
        torch.cuda.set_device(cluster.local_rank % torch.cuda.device_count())
    dist.init_process_group(
        "nccl" if use_cuda else "gloo",
        init_method=f"tcp://{cluster.coordinator}",
        rank=cluster.process_id,
        world_size=cluster.num_processes,
        timeout=datetime.timedelta(seconds=cluster.timeout_s),
    )
    return None


def _jax_initialize(cluster: Cluster) -> None:
    import jax

    jax.config.update("jax_cpu_collectives_implementation", "gloo")  # CPU collectives across processes
    timeout = max(1, int(round(cluster.timeout_s)))
    jax.distributed.initialize(
        coordinator_address=cluster.coordinator,
        num_processes=cluster.num_processes,
        process_id=cluster.process_id,
        initialization_timeout=timeout,
        heartbeat_timeout_seconds=timeout,
        shutdown_timeout_seconds=timeout,
    )


def _tf_initialize(cluster: Cluster) -> Any:
    import tensorflow as tf

    workers = list(cluster.workers)
    if not workers:
        config = os.environ.get("TF_CONFIG")
        if not config:
            raise ValueError(
                "TensorFlow needs every worker's address: set TF_CONFIG, or give --coordinator as the "
                "comma-separated host:port of all processes in process order"
            )
    else:
        os.environ["TF_CONFIG"] = json.dumps(
            {"cluster": {"worker": workers}, "task": {"type": "worker", "index": cluster.process_id}}
        )
    timeout_ms = int(cluster.timeout_s * 1000)
    _tf_coordination_service(cluster.num_processes, timeout_ms)
    options = tf.distribute.experimental.CommunicationOptions(timeout_seconds=cluster.timeout_s)
    return _wait_for_every_tensorflow_worker(cluster, options)


def _wait_for_every_tensorflow_worker(cluster: Cluster, options: Any) -> Any:
    """``MultiWorkerMirroredStrategy(options)``, or the end of the process after ``cluster.timeout_s``.

    The strategy's start (``context.ensure_initialized``) waits for every worker with no deadline when one never
    starts, whatever the coordination service's registration timeout (observed with TF 2.21: over 120 s with a
    4 s timeout), and holds the GIL, so no Python thread or signal handler can interrupt it: ``faulthandler``'s
    watchdog (a C thread) ends the process with exit code 1, printing ``Timeout`` and this function's name.
    """
    import faulthandler
    import sys

    import tensorflow as tf

    faulthandler.dump_traceback_later(cluster.timeout_s, exit=True, file=sys.stderr)
    try:
        return tf.distribute.MultiWorkerMirroredStrategy(communication_options=options)
    finally:
        faulthandler.cancel_dump_traceback_later()


def _tf_coordination_service(num_workers: int, timeout_ms: int) -> None:
    """TensorFlow's coordination service with bounded registration and heartbeat times.

    ``MultiWorkerMirroredStrategy`` starts the service itself with the defaults (registration may wait an hour)
    unless it is already configured; there is no public API for the timeouts, so this sets them as it would.
    """
    from tensorflow.compiler.xla.tsl.protobuf import coordination_config_pb2
    from tensorflow.python.eager import context

    context.context().configure_coordination_service(
        service_type="standalone",
        service_leader="/job:worker/replica:0/task:0",
        cluster_register_timeout_in_ms=timeout_ms,
        heartbeat_timeout_in_ms=timeout_ms,
        shutdown_barrier_timeout_in_ms=timeout_ms,
        coordinated_jobs=[coordination_config_pb2.CoordinatedJob(name="worker", num_tasks=num_workers)],
    )


def all_reduce_sum(runtime: Runtime, array: np.ndarray) -> np.ndarray:
    """Element-wise sum of ``array`` over the processes, the same result on every process (same dtype/shape).

    torch: ``torch.distributed.all_reduce``. JAX: ``process_allgather`` of the raw bytes (exact for any dtype,
    float64 included, which JAX would otherwise narrow), then a NumPy sum in process order. TensorFlow: the
    strategy's ``reduce`` (a collective all-reduce over the workers). Every process must call it with the same
    shape and dtype.
    """
    shape = np.shape(array)
    array = np.ascontiguousarray(array).reshape(shape)  # (ascontiguousarray makes a 0-d array 1-d)
    if runtime.backend == "torch":
        import torch
        import torch.distributed as dist

        tensor = torch.from_numpy(array.copy())
        if dist.get_backend() == "nccl":
            tensor = tensor.cuda()
        dist.all_reduce(tensor)
        return tensor.cpu().numpy().reshape(array.shape)
    if runtime.backend == "jax":
        from jax.experimental import multihost_utils

        raw = array.reshape(-1).view(np.uint8)
        gathered = np.asarray(multihost_utils.process_allgather(raw))  # (P, nbytes)
        parts = [np.ascontiguousarray(row).view(array.dtype).reshape(array.shape) for row in gathered]
        total = parts[0].copy()
        for part in parts[1:]:
            total += part
        return total
    import tensorflow as tf

    strategy = runtime.strategy
    value = strategy.experimental_distribute_values_from_function(lambda context: tf.constant(array))
    total = strategy.reduce(tf.distribute.ReduceOp.SUM, value, axis=None)  # across every worker's replicas
    return np.asarray(total).reshape(array.shape)


def barrier(runtime: Runtime) -> None:
    """Wait until every process has reached this point (or the timeout passed: an error)."""
    all_reduce_sum(runtime, np.zeros(1, np.float32))


def shutdown(runtime: Runtime) -> None:
    """Leave the run (after a final barrier, so no process tears down while another still needs it)."""
    if runtime.backend == "torch":
        import torch.distributed as dist

        if dist.is_initialized():
            dist.destroy_process_group()
    elif runtime.backend == "jax":
        import jax

        jax.distributed.shutdown()


def local_device_count(runtime: Runtime) -> int:
    """Devices one process trains on: JAX its local devices, TensorFlow the strategy's, torch 1."""
    if runtime.backend == "jax":
        import jax

        return jax.local_device_count()
    if runtime.backend == "tensorflow":
        return len(runtime.strategy.extended.worker_devices)
    return 1


@contextlib.contextmanager
def data_parallel_scope(runtime: Runtime, devices_per_process: int) -> Iterator[None]:
    """Within: models are built and trained data parallel over every process (JAX, TensorFlow).

    JAX: ``keras.distribution.DataParallel`` over the first ``devices_per_process`` devices of every process
    (inputs are this process's part of each global batch: ``auto_shard_dataset=False``). TensorFlow: the
    ``MultiWorkerMirroredStrategy`` scope.
    """
    if runtime.backend == "jax":
        import jax

        devices = [
            d
            for p in range(jax.process_count())
            for d in [d for d in jax.devices() if d.process_index == p][:devices_per_process]
        ]
        previous = keras.distribution.distribution()
        keras.distribution.set_distribution(keras.distribution.DataParallel(devices=devices, auto_shard_dataset=False))
        try:
            yield
        finally:
            keras.distribution.set_distribution(previous)
    elif runtime.backend == "tensorflow":
        with runtime.strategy.scope():
            yield
    else:
        yield


def host_values(variables: List[Any]) -> List[np.ndarray]:
    """NumPy copies of (replicated) variables: a JAX array spanning other processes is read from a local shard."""
    out = []
    for variable in variables:
        value = variable.value if hasattr(variable, "value") else variable
        shards = getattr(value, "addressable_shards", None)
        if shards is not None and not getattr(value, "is_fully_addressable", True):
            out.append(np.asarray(shards[0].data))
        elif hasattr(value, "read_value"):  # a TensorFlow (mirrored) variable: its value on this worker
            out.append(np.asarray(value.read_value()))
        else:
            out.append(np.asarray(keras.ops.convert_to_numpy(value)))
    return out


def tf_strategy_step(runtime: Runtime, autoencoder: Any, inputs: List[np.ndarray], targets: List[np.ndarray]) -> Any:
    """TensorFlow: ``step(rows, train)``, one global step under ``MultiWorkerMirroredStrategy`` on this worker's
    ``rows``; returns the global loss.

    The model was built and compiled in the strategy's scope. Each replica computes Keras's loss on its rows
    (``compute_loss`` scales it by ``1 / replicas``), the optimizer sums the replicas' gradients (the strategy's
    all-reduce) and the step's loss is the sum of the scaled losses over the replicas (``strategy.reduce``):
    the mean over the global batch, as ``fit`` steps under ``MirroredStrategy``. Keras 3's ``fit`` itself fails
    under this strategy (its symbolic build reduces a nest of inputs: keras-team/keras#20585).
    """
    import tensorflow as tf

    strategy = runtime.strategy
    trainable = autoencoder.trainable_weights
    first = [tf.constant(a[:1]) for a in inputs], [tf.constant(t[:1]) for t in targets]
    autoencoder.compute_loss(x=first[0], y=first[1], y_pred=autoencoder(first[0]), training=False)  # builds it
    autoencoder.optimizer.build(trainable)  # variables are made here, in the cross-replica context

    def train_replica(x: Any, y: Any) -> Any:
        with tf.GradientTape() as tape:
            y_pred = autoencoder(x, training=True)
            loss = autoencoder.compute_loss(x=x, y=y, y_pred=y_pred, training=True)
        autoencoder.optimizer.apply_gradients(zip(tape.gradient(loss, trainable), trainable, strict=True))
        return loss

    def test_replica(x: Any, y: Any) -> Any:
        return autoencoder.compute_loss(x=x, y=y, y_pred=autoencoder(x, training=False), training=False)

    compiled = {True: tf.function(train_replica), False: tf.function(test_replica)}

    def step(rows: np.ndarray, train: bool) -> float:
        x = [a[rows] for a in inputs]
        y = [t[rows] for t in targets]
        values = strategy.experimental_distribute_values_from_function(
            lambda context: ([tf.constant(a) for a in x], [tf.constant(t) for t in y])
        )
        per_replica = strategy.run(compiled[train], args=values)
        return float(strategy.reduce(tf.distribute.ReduceOp.SUM, per_replica, axis=None))

    return step


def torch_ddp(model: Any) -> Any:
    """``DistributedDataParallel(model)`` in the joined process group."""
    from torch.nn.parallel import DistributedDataParallel

    return DistributedDataParallel(model, find_unused_parameters=True)


def torch_mean_over_processes(value: float) -> float:
    import torch
    import torch.distributed as dist

    tensor = torch.tensor([float(value)], dtype=torch.float64)
    dist.all_reduce(tensor)
    return float(tensor.item()) / dist.get_world_size()


def visible(runtime: Optional[Runtime]) -> str:
    """A short description of the run for log lines."""
    if runtime is None:
        return "single process"
    c = runtime.cluster
    return f"process {c.process_id} of {c.num_processes} ({runtime.backend}, coordinator {c.coordinator}, {c.source})"
