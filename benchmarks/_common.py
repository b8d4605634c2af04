"""Plumbing shared by the benchmarks: backend adapters, timing, worker subprocesses, tables, CLI and JSON.

Every benchmark runs each Keras backend in its own subprocess (``KERAS_BACKEND`` must be set before Keras is
imported): the parent spawns ``python -m benchmarks.<name> --worker BACKEND --out FILE``, the worker writes its
figures as JSON to ``FILE`` and the parent prints one table for all backends and writes every figure to ``--json``
(default ``benchmarks/results/<name>.json``, git-ignored). This module holds the parts that do not depend on what
is measured; importing it does not import Keras.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

BACKENDS: Tuple[str, ...] = ("torch", "tensorflow", "jax")
SEED = 0
REPO_ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = Path(__file__).resolve().parent / "results"


@dataclass
class Record:
    """One measured figure.

    ``value`` is the median over ``repeats`` (patterns/s or seconds, see ``unit``); ``samples`` holds every
    repeat; ``iters`` is the number of calls timed per repeat; ``first_call_s`` is the untimed warm-up call
    (includes tracing / compilation).
    """

    backend: str
    measurement: str
    mode: str
    size: str
    value: float
    unit: str
    samples: List[float]
    iters: int
    first_call_s: float
    extra: Dict[str, Any] = field(default_factory=dict)


def rss_mib(kind: str) -> float:
    """``'peak'`` (``VmHWM``) or ``'now'`` (``VmRSS``) resident set of this process in MiB, from
    ``/proc/self/status`` (Linux).

    Writing ``5`` to ``/proc/self/clear_refs`` resets the peak to the current value. ``getrusage``'s
    ``ru_maxrss`` is not used: a subprocess inherits its parent's peak through fork and exec, so a worker
    started by a parent that had just written a 1.6 GB file reported that as its own peak.
    """
    field = {"peak": "VmHWM:", "now": "VmRSS:"}[kind]
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"{field} not found in /proc/self/status")


# --------------------------------------------------------------------------------------- backend adapters


class Engine:
    """Backend-specific pieces: tensor creation, compiled gradient / forward steps, device synchronisation."""

    name = ""
    grad_mode = ""
    forward_mode = ""

    def tensor(self, array: np.ndarray, requires_grad: bool = False) -> Any:
        """Backend tensor holding ``array`` on the default device."""
        from keras import ops

        return ops.convert_to_tensor(array)

    def value_and_grad(self, fn: Callable[..., Any], argc: int) -> Callable[..., Any]:
        """Step ``(*xs) -> (fn(*xs), grads w.r.t. all argc xs)`` for a scalar ``fn`` of backend tensors."""
        raise NotImplementedError

    def forward(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        """Step ``(*xs) -> fn(*xs)`` without gradient bookkeeping."""
        raise NotImplementedError

    def sync(self, outputs: Any) -> None:
        """Block until ``outputs`` (any nest of tensors) have been computed."""

    def device(self) -> str:
        """Human-readable description of the device the backend computes on."""
        return "cpu"

    def version(self) -> str:
        return ""

    def peak_memory_bytes(self) -> Optional[int]:
        """The backend allocator's own peak-memory figure where it keeps one cheaply (accelerators); else None."""
        return None

    def reset_peak_memory(self) -> None:
        """Restart :meth:`peak_memory_bytes` from the current usage where the backend can."""


class TorchEngine(Engine):
    name = "torch"
    grad_mode = "eager torch.autograd"
    forward_mode = "eager, torch.no_grad"

    def __init__(self, threads: Optional[int] = None) -> None:
        import torch

        if threads:
            torch.set_num_threads(threads)
        self.torch = torch

    def tensor(self, array: np.ndarray, requires_grad: bool = False) -> Any:
        t = super().tensor(array)
        return t.detach().requires_grad_(True) if requires_grad else t

    def value_and_grad(self, fn: Callable[..., Any], argc: int) -> Callable[..., Any]:
        torch = self.torch

        def step(*xs: Any) -> Any:
            loss = fn(*xs)
            return loss, torch.autograd.grad(loss, xs)

        return step

    def forward(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        torch = self.torch

        def step(*xs: Any) -> Any:
            with torch.no_grad():
                return fn(*xs)

        return step

    def sync(self, outputs: Any) -> None:
        if self.torch.cuda.is_available():
            self.torch.cuda.synchronize()

    def device(self) -> str:
        torch = self.torch
        if torch.cuda.is_available():
            return f"cuda ({torch.cuda.get_device_name(0)})"
        return f"cpu ({torch.get_num_threads()} threads)"

    def version(self) -> str:
        return self.torch.__version__

    def peak_memory_bytes(self) -> Optional[int]:
        if self.torch.cuda.is_available():
            return int(self.torch.cuda.max_memory_allocated())
        return None

    def reset_peak_memory(self) -> None:
        if self.torch.cuda.is_available():
            self.torch.cuda.reset_peak_memory_stats()


class TensorFlowEngine(Engine):
    name = "tensorflow"
    grad_mode = "tf.function graph (jit_compile=False) + GradientTape"
    forward_mode = "tf.function graph (jit_compile=False)"

    def __init__(self) -> None:
        import tensorflow as tf

        self.tf = tf

    def value_and_grad(self, fn: Callable[..., Any], argc: int) -> Callable[..., Any]:
        tf = self.tf

        @tf.function(jit_compile=False)
        def step(*xs: Any) -> Any:
            with tf.GradientTape() as tape:
                tape.watch(xs)
                loss = fn(*xs)
            return loss, tape.gradient(loss, xs)

        return step

    def forward(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        return self.tf.function(fn, jit_compile=False)

    def sync(self, outputs: Any) -> None:
        self.tf.test.experimental.sync_devices()

    def device(self) -> str:
        gpus = self.tf.config.list_physical_devices("GPU")
        return f"gpu ({len(gpus)})" if gpus else "cpu"

    def version(self) -> str:
        return self.tf.__version__

    def peak_memory_bytes(self) -> Optional[int]:
        if not self.tf.config.list_physical_devices("GPU"):
            return None
        try:
            return int(self.tf.config.experimental.get_memory_info("GPU:0")["peak"])
        except (ValueError, RuntimeError, KeyError):
            return None

    def reset_peak_memory(self) -> None:
        if self.tf.config.list_physical_devices("GPU"):
            try:
                self.tf.config.experimental.reset_memory_stats("GPU:0")
            except (ValueError, RuntimeError):
                pass


class JaxEngine(Engine):
    name = "jax"
    grad_mode = "jax.jit(jax.value_and_grad)"
    forward_mode = "jax.jit"

    def __init__(self) -> None:
        import jax

        self.jax = jax

    def value_and_grad(self, fn: Callable[..., Any], argc: int) -> Callable[..., Any]:
        return self.jax.jit(self.jax.value_and_grad(fn, argnums=tuple(range(argc))))

    def forward(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        return self.jax.jit(fn)

    def sync(self, outputs: Any) -> None:
        self.jax.block_until_ready(outputs)

    def device(self) -> str:
        return ", ".join(str(d) for d in self.jax.devices())

    def version(self) -> str:
        return self.jax.__version__

    def peak_memory_bytes(self) -> Optional[int]:
        stats = self.jax.devices()[0].memory_stats()  # None on CPU
        return int(stats["peak_bytes_in_use"]) if stats and "peak_bytes_in_use" in stats else None


def make_engine(backend: str, torch_threads: Optional[int] = None) -> Engine:
    """Engine for the backend Keras was imported with (``KERAS_BACKEND``); ``torch_threads`` sets torch's pool."""
    if backend == "torch":
        return TorchEngine(torch_threads)
    return {"tensorflow": TensorFlowEngine, "jax": JaxEngine}[backend]()


# ------------------------------------------------------------------------------------------------ timing


def time_throughput(
    step: Callable[..., Any], args: Sequence[Any], engine: Engine, repeats: int, repeat_s: float
) -> Tuple[List[float], int, float]:
    """Seconds per call of ``step(*args)``: one warm-up call, then ``repeats`` timed runs of ``iters`` calls.

    ``iters`` is chosen so that one repeat lasts about ``repeat_s`` seconds. Returns
    ``(seconds per call for each repeat, iters, warm-up seconds)``.
    """
    start = time.perf_counter()
    engine.sync(step(*args))
    first = time.perf_counter() - start
    start = time.perf_counter()
    engine.sync(step(*args))
    single = max(time.perf_counter() - start, 1e-6)
    iters = int(min(1000, max(1, round(repeat_s / single))))
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        out = None
        for _ in range(iters):
            out = step(*args)
        engine.sync(out)
        samples.append((time.perf_counter() - start) / iters)
    return samples, iters, first


def throughput_record(
    engine: Engine,
    measurement: str,
    mode: str,
    size: str,
    batch: int,
    step: Callable[..., Any],
    args: Sequence[Any],
    repeats: int,
    repeat_s: float,
) -> Record:
    """Time ``step`` and express it as patterns/s (``batch`` patterns per call; median over repeats)."""
    samples, iters, first = time_throughput(step, args, engine, repeats, repeat_s)
    rates = [batch / s for s in samples]
    return Record(
        engine.name,
        measurement,
        mode,
        size,
        statistics.median(rates),
        "patterns/s",
        rates,
        iters,
        first,
        {"ms_per_call": 1e3 * statistics.median(samples)},
    )


# ----------------------------------------------------------------------------------------- worker process


def worker_progress(backend: str) -> Callable[[str], None]:
    """``progress(message)``: one ``[backend] message`` line on stderr (the parent relays these lines)."""

    def progress(message: str) -> None:
        print(f"[{backend}] {message}", file=sys.stderr, flush=True)

    return progress


def check_worker_backend(backend: str) -> None:
    """Raise unless Keras was imported with ``backend`` (the parent sets ``KERAS_BACKEND`` for the worker)."""
    import keras

    if keras.backend.backend() != backend:
        raise RuntimeError(f"KERAS_BACKEND selects {keras.backend.backend()!r}, expected {backend!r}")


def spawn_worker(module: str, backend: str, worker_args: Sequence[str]) -> Dict[str, Any]:
    """Run ``python -m module --worker backend --out FILE *worker_args`` with ``KERAS_BACKEND=backend``.

    Returns the worker's JSON payload plus ``worker_wall_s``, or ``{"backend", "error", "log"}`` on failure. The
    worker's ``[backend] ...`` progress lines are relayed to stderr.
    """
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / f"{backend}.json"
        cmd = [sys.executable, "-m", module, "--worker", backend, "--out", str(out), *worker_args]
        env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="2")
        start = time.perf_counter()
        proc = subprocess.run(cmd, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        elapsed = time.perf_counter() - start
        if proc.returncode != 0 or not out.exists():
            return {"backend": backend, "error": f"worker exited with {proc.returncode}", "log": proc.stdout}
        payload = json.loads(out.read_text())
    payload["worker_wall_s"] = elapsed
    progress_lines = [line for line in proc.stdout.splitlines() if line.startswith(f"[{backend}]")]
    print("\n".join(progress_lines + [f"[{backend}] done in {elapsed:.1f} s"]), file=sys.stderr, flush=True)
    return payload


def common_worker_args(args: argparse.Namespace, repeats: int) -> List[str]:
    """The worker flags every benchmark passes on: ``--repeats``, ``--quick``, ``--torch-threads``."""
    cmd = ["--repeats", str(repeats)]
    if args.quick:
        cmd.append("--quick")
    if args.torch_threads:
        cmd += ["--torch-threads", str(args.torch_threads)]
    return cmd


# ------------------------------------------------------------------------------------------------ output


def format_value(value: float, unit: str) -> str:
    if unit == "s":
        return f"{value:.3f} s" if value < 100 else f"{value:.0f} s"
    return f"{value:,.0f} {unit}"


def record_cells(r: Dict[str, Any]) -> Tuple[str, ...]:
    """Standard cells of one record: backend, measurement, size, median, min..max, iters, 1st call."""
    unit = r["unit"]
    spread = f"{format_value(min(r['samples']), unit)}..{format_value(max(r['samples']), unit)}"
    return (
        r["backend"],
        r["measurement"],
        r["size"],
        format_value(r["value"], unit),
        spread.replace(f" {unit}..", ".."),
        str(r["iters"]),
        f"{r['first_call_s']:.2f} s",
    )


RECORD_HEADER: Tuple[str, ...] = ("backend", "measurement", "size", "median", "min..max", "iters", "1st call")


def render_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Left-aligned columns separated by two spaces, a dashed rule under the header, trailing blanks stripped."""
    rows = [tuple(header)] + [tuple(row) for row in rows]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=False)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def load_average() -> Optional[Tuple[float, float, float]]:
    """1, 5 and 15 minute load averages (``None`` where the OS has none); other jobs make timings noisy."""
    try:
        return tuple(round(x, 2) for x in os.getloadavg())  # type: ignore[return-value]
    except (AttributeError, OSError):
        return None


def machine_info() -> Dict[str, Any]:
    return {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
    }


def print_backend_lines(results: Sequence[Dict[str, Any]]) -> None:
    """One line per backend that ran: version, device, Keras version, worker wall time."""
    for payload in results:
        if "error" not in payload:
            print(
                f"  {payload['backend']:<10} {payload['backend_version']:<12} device: {payload['device']}  "
                f"(keras {payload['keras_version']}, worker {payload['worker_wall_s']:.0f} s)"
            )


def report_failures(results: Sequence[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """Print the error and the log tail of every failed worker to stderr; returns the failed payloads."""
    failed = [p for p in results if "error" in p]
    for payload in failed:
        print(f"\n{payload['backend']}: {payload['error']}\n{payload['log'][-4000:]}", file=sys.stderr)
    return failed


def write_json(path: str | Path, payload: Dict[str, Any]) -> Path:
    """Write ``payload`` (indented JSON) to ``path``, creating folders, and print ``wrote PATH``."""
    json_path = Path(path)
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(payload, indent=1))
    print(f"\nwrote {json_path}")
    return json_path


# --------------------------------------------------------------------------------------------------- CLI


def add_common_arguments(parser: argparse.ArgumentParser, default_json: Path) -> None:
    """``--backends --quick --repeats --json --torch-threads`` and the hidden ``--worker --out``."""
    parser.add_argument(
        "--backends", default=",".join(BACKENDS), help="comma-separated backends to run (default: %(default)s)"
    )
    parser.add_argument("--quick", action="store_true", help="tiny sizes and 1 repeat (CI smoke run)")
    parser.add_argument(
        "--repeats",
        type=int,
        default=None,
        help="timed repeats per figure, the median is reported (default 3, 1 with --quick)",
    )
    parser.add_argument("--json", default=str(default_json), help="where to write all figures (default: %(default)s)")
    parser.add_argument(
        "--torch-threads",
        type=int,
        default=None,
        help="torch intra-op threads (default: torch's choice). On a shared machine 1 avoids "
        "OpenMP oversubscription, which can slow torch several-fold",
    )
    parser.add_argument("--worker", choices=BACKENDS, help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)


def check_common_arguments(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    if args.repeats is not None and args.repeats < 1:
        parser.error("--repeats must be >= 1")


def selected_backends(args: argparse.Namespace) -> List[str]:
    """The ``--backends`` list; exits with a message on an unknown name."""
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    unknown = [b for b in backends if b not in BACKENDS]
    if unknown:
        raise SystemExit(f"unknown backend(s) {unknown}; choose from {', '.join(BACKENDS)}")
    return backends


def default_repeats(args: argparse.Namespace) -> int:
    """``--repeats``, else 1 with ``--quick`` and 3 otherwise."""
    return args.repeats if args.repeats is not None else (1 if args.quick else 3)


def require_worker_env(backend: str) -> None:
    """Exit unless the environment selects ``backend`` (checked before Keras is imported)."""
    if os.environ.get("KERAS_BACKEND") != backend:
        raise SystemExit(f"--worker {backend} needs KERAS_BACKEND={backend} in the environment")
