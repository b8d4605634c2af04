"""Framework pieces of data-parallel training: device discovery and set-up, one function per backend.

* JAX: ``keras.distribution.DataParallel`` over ``jax.devices()`` (GPUs, or virtual CPU devices from
  ``XLA_FLAGS=--xla_force_host_platform_device_count=N``, which must be set before JAX is imported).
* TensorFlow: ``tf.distribute.MirroredStrategy`` over the GPUs, or over logical CPU devices made with
  ``tf.config.set_logical_device_configuration`` (possible only before TensorFlow's runtime starts).
* torch: ``torch.distributed`` process groups (gloo on CPU, NCCL on GPUs), one spawned process per device; the
  training loop itself is in :mod:`ptycho_core.parallel`.

Only :mod:`ptycho_core.parallel` calls these; every framework import is inside a function.
"""

from __future__ import annotations

import contextlib
import datetime
import os
from typing import Any, Iterator, List

import keras

XLA_DEVICE_FLAG = "--xla_force_host_platform_device_count"
#: A torch rank waiting this long for the others in one collective gives up (an error, not a hang).
COLLECTIVE_TIMEOUT_S = 600
#: Seconds the other torch ranks get to exit once rank 0 has finished cleanly.
RANK_EXIT_GRACE_S = 30


def accelerator_count() -> int:
    """GPUs visible to the active backend (0 on a CPU-only machine)."""
    backend = keras.backend.backend()
    if backend == "torch":
        import torch

        return torch.cuda.device_count()
    if backend == "tensorflow":
        import tensorflow as tf

        return len(tf.config.list_physical_devices("GPU"))
    if backend == "jax":
        import jax

        return len([d for d in jax.devices() if d.platform != "cpu"])
    return 0


def request_virtual_cpu_devices(count: int) -> None:
    """Ask the backend for ``count`` CPU devices, to run data-parallel code on a machine without GPUs.

    JAX: sets ``XLA_FLAGS`` (effective only if JAX has not been imported yet); TensorFlow: splits the CPU into
    ``count`` logical devices (before its runtime starts); torch: nothing to do (one process per device).
    """
    backend = keras.backend.backend()
    if backend == "jax":
        flags = os.environ.get("XLA_FLAGS", "")
        if XLA_DEVICE_FLAG not in flags:
            os.environ["XLA_FLAGS"] = f"{flags} {XLA_DEVICE_FLAG}={count}".strip()
    elif backend == "tensorflow":
        import tensorflow as tf

        cpus = tf.config.list_physical_devices("CPU")
        try:
            tf.config.set_logical_device_configuration(cpus[0], [tf.config.LogicalDeviceConfiguration()] * count)
        except RuntimeError:  # runtime already started: keep what exists; the caller checks the count
            pass


def data_parallel_devices(count: int) -> List[Any]:
    """The first ``count`` devices data-parallel training will use (GPUs first, else CPU devices).

    Raises:
        ValueError: fewer than ``count`` devices, with what to do about it.
    """
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        gpus = [d for d in jax.devices() if d.platform != "cpu"]
        devices = gpus or jax.devices("cpu")
        hint = (
            f"set XLA_FLAGS={XLA_DEVICE_FLAG}={count} before starting Python for virtual CPU devices"
            if not gpus
            else "use fewer devices"
        )
    elif backend == "tensorflow":
        import tensorflow as tf

        gpus = tf.config.list_logical_devices("GPU")
        devices = [d.name for d in (gpus or tf.config.list_logical_devices("CPU"))]
        hint = (
            "split the CPU with ptycho_core.parallel.request_virtual_cpu_devices before TensorFlow starts"
            if not gpus
            else "use fewer devices"
        )
    else:
        raise ValueError(f"data_parallel_devices is for jax and tensorflow; the {backend} backend uses processes")
    if len(devices) < count:
        raise ValueError(
            f"{count} devices requested but the {backend} backend sees {len(devices)} "
            f"({', '.join(map(str, devices))}); {hint}"
        )
    return list(devices[:count])


@contextlib.contextmanager
def jax_data_parallel(devices: List[Any]) -> Iterator[None]:
    """Within: every Keras variable is replicated and every batch split over ``devices`` (JAX)."""
    previous = keras.distribution.distribution()
    keras.distribution.set_distribution(keras.distribution.DataParallel(devices=devices))
    try:
        yield
    finally:
        keras.distribution.set_distribution(previous)


@contextlib.contextmanager
def tf_mirrored(devices: List[str]) -> Iterator[None]:
    """Within: models built and compiled train under ``tf.distribute.MirroredStrategy(devices)``."""
    import tensorflow as tf

    strategy = tf.distribute.MirroredStrategy(devices=devices)
    with strategy.scope():
        yield


def torch_init_process_group(rank: int, world_size: int, init_file: str) -> Any:
    """Join the process group (gloo on CPU, NCCL with one GPU per rank); returns the rank's torch device."""
    import torch
    import torch.distributed as dist

    use_cuda = torch.cuda.is_available() and torch.cuda.device_count() >= world_size
    if use_cuda:
        torch.cuda.set_device(rank)
    dist.init_process_group(
        "nccl" if use_cuda else "gloo",
        init_method=f"file://{init_file}",
        rank=rank,
        world_size=world_size,
        timeout=datetime.timedelta(seconds=COLLECTIVE_TIMEOUT_S),
    )
    if not use_cuda:
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // world_size))
    return torch.device(f"cuda:{rank}" if use_cuda else "cpu")


def torch_run_ranks(module: str, args: List[str], world_size: int) -> None:
    """Run ``python -m module *args RANK WORLD_SIZE`` as ``world_size`` new processes and wait for all of them.

    New interpreters, not ``multiprocessing`` children: nothing of the caller's ``__main__`` is re-imported, so
    this works from any parent: a script without a ``__main__`` guard, a notebook, or a spawned child such as
    Ptychodus's trainer. If a rank fails, the others are stopped and its error output is raised. Rank 0
    writes the results and can only finish once every rank has made every collective call, so once it has
    exited cleanly the others get :data:`RANK_EXIT_GRACE_S` seconds to exit and are then stopped (a gloo rank
    was seen hanging after its work was done).
    """
    import subprocess
    import sys
    import tempfile
    import time

    env = dict(os.environ, KERAS_BACKEND="torch")
    errors: List[str] = []
    with tempfile.TemporaryDirectory(prefix="ptychopinn-ranks-") as logs:
        # error output goes to files: a pipe that nobody reads until the end blocks a rank once it is full
        err_files = [open(os.path.join(logs, f"rank{rank}.err"), "w+") for rank in range(world_size)]
        procs = [
            subprocess.Popen(
                [sys.executable, "-m", module, *args, str(rank), str(world_size)],
                env=env,
                stdout=subprocess.DEVNULL if rank else None,
                stderr=err_files[rank],
            )
            for rank in range(world_size)
        ]
        released = False  # rank 0 finished: stopping the others is not an error
        try:
            while any(p.poll() is None for p in procs):
                if any(p.returncode not in (None, 0) for p in procs):
                    break
                if procs[0].returncode == 0:
                    deadline = time.monotonic() + RANK_EXIT_GRACE_S
                    while any(p.poll() is None for p in procs) and time.monotonic() < deadline:
                        time.sleep(0.2)
                    released = True
                    break
                time.sleep(0.2)
        finally:
            for p in procs:
                if p.poll() is None:
                    p.kill()
            for rank, (p, err) in enumerate(zip(procs, err_files, strict=True)):
                p.wait()
                err.seek(0)
                if p.returncode != 0 and not (released and rank > 0 and p.returncode < 0):
                    errors.append(f"rank {rank} exited with {p.returncode}:\n{err.read()[-3000:]}")
                err.close()
    if errors:
        raise RuntimeError("data-parallel training on torch failed; " + "\n".join(errors))


def torch_exit(code: int) -> None:
    """End a rank process now: flush its output, skip process-group and interpreter teardown (``os._exit``).

    ``destroy_process_group`` and gloo's threads at interpreter exit can wait for ranks that are already gone.
    """
    import sys

    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def torch_ddp(model: Any) -> Any:
    """``DistributedDataParallel(model)``: gradients averaged over the ranks in ``backward``."""
    from torch.nn.parallel import DistributedDataParallel

    return DistributedDataParallel(model, find_unused_parameters=True)


def torch_mean_over_ranks(value: float) -> float:
    """All-reduce mean of a Python float over the process group."""
    import torch
    import torch.distributed as dist

    tensor = torch.tensor([float(value)], dtype=torch.float64)
    dist.all_reduce(tensor)
    return float(tensor.item()) / dist.get_world_size()


def torch_no_grad() -> Any:
    import torch

    return torch.no_grad()
