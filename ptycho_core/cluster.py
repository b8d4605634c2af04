"""Who takes part in a multi-process run, from flags or from the launcher's environment; how data is sharded.

A :class:`Cluster` says how many processes cooperate (``num_processes``), which one this is (``process_id``, 0 is
the chief: the one that writes results) and where they meet (``coordinator``, ``host:port``; for TensorFlow
every worker's address). :func:`detect_cluster` fills it from, in this order of precedence:

1. explicit values (``ptychopinn train --coordinator --num-processes --process-id``, ``TrainingConfig``), each
   of which wins over the environment;
2. ``TF_CONFIG`` (TensorFlow's own: ``{"cluster": {"worker": [...]}, "task": {"type": "worker", "index": i}}``);
3. ``torchrun``'s ``RANK``, ``WORLD_SIZE``, ``MASTER_ADDR``, ``MASTER_PORT`` (``LOCAL_RANK`` picks the GPU);
4. Slurm's ``SLURM_PROCID``, ``SLURM_NTASKS`` and the first node of ``SLURM_STEP_NODELIST`` (or
   ``SLURM_JOB_NODELIST``), port ``PTYCHOPINN_COORDINATOR_PORT`` (default :data:`DEFAULT_PORT`).

It returns None for an ordinary single-process run. The sharding helpers split a global batch order or a list
of scan groups between processes. Standard library and NumPy only (no framework): the launch logic is testable
without one.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from typing import Mapping, Optional, Tuple

import numpy as np

__all__ = [
    "Cluster",
    "ClusterError",
    "DEFAULT_PORT",
    "DEFAULT_TIMEOUT_S",
    "batch_shard",
    "contiguous_shard",
    "detect_cluster",
    "first_slurm_host",
]

#: Coordinator port under Slurm when ``PTYCHOPINN_COORDINATOR_PORT`` is not set.
DEFAULT_PORT = 12355
#: Seconds a process waits for the others to join, for one collective, or for a silent peer's heartbeat.
DEFAULT_TIMEOUT_S = 300.0


class ClusterError(ValueError):
    """An inconsistent or incomplete description of a multi-process run (the message names the fix)."""


@dataclass(frozen=True)
class Cluster:
    """One process's view of a multi-process run.

    Attributes:
        num_processes: processes taking part (``>= 2``).
        process_id: this process, ``0 <= process_id < num_processes``; 0 is the chief.
        coordinator: ``host:port`` where the processes meet (process 0's address for torch and JAX).
        workers: every worker's ``host:port`` in process order (TensorFlow needs them all; empty otherwise).
        timeout_s: seconds to wait for the others to join, for one collective, or for a peer's heartbeat
            before giving up with an error (no hang).
        source: where the description came from (``flags``, ``TF_CONFIG``, ``torchrun``, ``slurm``).
        local_rank: the process's index on its node (GPU choice), ``LOCAL_RANK`` / ``SLURM_LOCALID``.
    """

    num_processes: int
    process_id: int
    coordinator: str
    workers: Tuple[str, ...] = ()
    timeout_s: float = DEFAULT_TIMEOUT_S
    source: str = "flags"
    local_rank: int = field(default=0)

    def __post_init__(self) -> None:
        if self.num_processes < 1:
            raise ClusterError(f"num_processes must be >= 1; got {self.num_processes}")
        if not 0 <= self.process_id < self.num_processes:
            raise ClusterError(
                f"process_id must be in 0..{self.num_processes - 1} for {self.num_processes} processes; "
                f"got {self.process_id} (from {self.source})"
            )
        _check_address(self.coordinator, "coordinator")
        if self.workers and len(self.workers) != self.num_processes:
            raise ClusterError(
                f"{len(self.workers)} worker addresses for {self.num_processes} processes (from {self.source}); "
                "give one host:port per process"
            )
        if not self.timeout_s > 0:
            raise ClusterError(f"timeout must be > 0 seconds; got {self.timeout_s}")

    @property
    def is_chief(self) -> bool:
        """Process 0: the one that writes the bundle and the images."""
        return self.process_id == 0


def _check_address(address: str, what: str) -> Tuple[str, int]:
    host, sep, port = str(address).rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ClusterError(f"{what} must be host:port (e.g. node01:12355); got {address!r}")
    return host, int(port)


def _int(env: Mapping[str, str], key: str) -> int:
    try:
        return int(env[key])
    except ValueError:
        raise ClusterError(f"environment variable {key}={env[key]!r} is not an integer") from None


def first_slurm_host(nodelist: str) -> str:
    """The first host of a Slurm node list: ``node[07-09,12],gpu1`` gives ``node07``."""
    match = re.match(r"([^,\[]+)(?:\[([^\]]+)\])?", nodelist.strip())
    if not match or not match.group(1):
        raise ClusterError(f"cannot read a host from the Slurm node list {nodelist!r}")
    prefix, ranges = match.group(1), match.group(2)
    if ranges is None:
        return prefix
    return prefix + ranges.split(",")[0].split("-")[0]


def _from_tf_config(text: str) -> Tuple[int, int, Tuple[str, ...]]:
    try:
        config = json.loads(text)
        workers = list(config["cluster"].get("chief", [])) + list(config["cluster"]["worker"])
        task = config["task"]
        index = int(task["index"]) + (len(config["cluster"].get("chief", [])) if task["type"] == "worker" else 0)
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ClusterError(
            f"TF_CONFIG is not valid ({exc!r}); expected "
            '{"cluster": {"worker": ["host0:port", "host1:port"]}, "task": {"type": "worker", "index": 0}}'
        ) from None
    return len(workers), index, tuple(str(w) for w in workers)


def _from_environment(env: Mapping[str, str]) -> Optional[dict]:
    """The launcher's description of the run, or None when no launcher's variables are set."""
    if env.get("TF_CONFIG"):
        count, index, workers = _from_tf_config(env["TF_CONFIG"])
        return {"num_processes": count, "process_id": index, "workers": workers, "source": "TF_CONFIG"}
    if "RANK" in env and "WORLD_SIZE" in env:
        found = {"num_processes": _int(env, "WORLD_SIZE"), "process_id": _int(env, "RANK"), "source": "torchrun"}
        if "MASTER_ADDR" in env and "MASTER_PORT" in env:
            found["coordinator"] = f"{env['MASTER_ADDR']}:{env['MASTER_PORT']}"
        if "LOCAL_RANK" in env:
            found["local_rank"] = _int(env, "LOCAL_RANK")
        return found
    if "SLURM_PROCID" in env and "SLURM_NTASKS" in env:
        found = {"num_processes": _int(env, "SLURM_NTASKS"), "process_id": _int(env, "SLURM_PROCID"), "source": "slurm"}
        nodes = env.get("SLURM_STEP_NODELIST") or env.get("SLURM_JOB_NODELIST")
        if nodes:
            port = env.get("PTYCHOPINN_COORDINATOR_PORT", str(DEFAULT_PORT))
            found["coordinator"] = f"{first_slurm_host(nodes)}:{port}"
        if "SLURM_LOCALID" in env:
            found["local_rank"] = _int(env, "SLURM_LOCALID")
        return found
    return None


def detect_cluster(
    *,
    coordinator: Optional[str] = None,
    num_processes: Optional[int] = None,
    process_id: Optional[int] = None,
    timeout_s: Optional[float] = None,
    env: Optional[Mapping[str, str]] = None,
) -> Optional[Cluster]:
    """The run's :class:`Cluster` from explicit values and the environment (module docstring); None if single.

    ``coordinator`` may be one ``host:port`` (torch, JAX: process 0's address) or every worker's address,
    comma-separated, in process order (TensorFlow needs them all; the first is the coordinator).
    Raises:
        ClusterError: a description that is incomplete (naming what is missing and how to give it) or
            inconsistent.
    """
    env = os.environ if env is None else env
    found = _from_environment(env) or {}
    if coordinator is not None:
        addresses = tuple(a.strip() for a in str(coordinator).split(",") if a.strip())
        found["coordinator"] = addresses[0] if addresses else ""
        found["workers"] = addresses if len(addresses) > 1 else ()
        found["source"] = "flags"
    if num_processes is not None:
        found["num_processes"] = int(num_processes)
        found["source"] = "flags"
    if process_id is not None:
        found["process_id"] = int(process_id)
        found["source"] = "flags"
    if not found or found.get("num_processes", 1) == 1 and not found.get("workers"):
        if found.get("process_id", 0) not in (0, None):
            raise ClusterError(f"process id {found['process_id']} given for a single-process run")
        return None
    workers = tuple(found.get("workers", ()))
    if "coordinator" not in found and workers:
        found["coordinator"] = workers[0]
    missing = [name for name in ("num_processes", "process_id", "coordinator") if name not in found]
    if missing:
        flags = {"num_processes": "--num-processes", "process_id": "--process-id", "coordinator": "--coordinator"}
        raise ClusterError(
            f"a multi-process run (from {found.get('source', 'flags')}) needs "
            + ", ".join(f"{name} ({flags[name]})" for name in missing)
            + "; give them as options or start the processes with torchrun, srun or TF_CONFIG"
        )
    return Cluster(
        num_processes=int(found["num_processes"]),
        process_id=int(found["process_id"]),
        coordinator=str(found["coordinator"]),
        workers=workers,
        timeout_s=float(timeout_s) if timeout_s is not None else DEFAULT_TIMEOUT_S,
        source=str(found.get("source", "flags")),
        local_rank=int(found.get("local_rank", 0)),
    )


def batch_shard(n: int, batch_size: int, num_shards: int, shard: int) -> np.ndarray:
    """Rows of ``range(n)`` that shard ``shard`` of ``num_shards`` holds when batches are split between shards.

    The global order is cut into batches of ``batch_size`` (the last one may be shorter); each batch is split
    into ``num_shards`` equal consecutive parts and shard ``s`` gets part ``s`` of every batch, so its local
    batches of ``batch_size / num_shards`` rows are its parts of the global batches, in order. ``n`` and
    ``batch_size`` must be multiples of ``num_shards``. Returns int64 ``(n / num_shards,)``.
    """
    if n % num_shards or batch_size % num_shards:
        raise ValueError(f"{n} rows in batches of {batch_size} do not split into {num_shards} equal shards")
    parts = []
    for start in range(0, n, batch_size):
        part = (min(n, start + batch_size) - start) // num_shards
        parts.append(np.arange(start + shard * part, start + (shard + 1) * part))
    return np.concatenate(parts) if parts else np.zeros(0, np.int64)


def contiguous_shard(n: int, num_shards: int, shard: int) -> Tuple[int, int]:
    """``(first, stop)``: shard ``shard``'s consecutive part of ``range(n)``, sizes differing by at most 1."""
    return shard * n // num_shards, (shard + 1) * n // num_shards
