"""Speed of the physics core on each Keras backend: diffraction, translation and ``reassemble_position``.

Run from the repository root::

    python -m benchmarks.bench_physics                      # all backends, full sizes, median of 3
    python -m benchmarks.bench_physics --quick              # tiny sizes, 1 repeat (CI smoke run)
    python -m benchmarks.bench_physics --backends jax --repeats 5 --json /tmp/physics.json
    python -m benchmarks.bench_physics --torch-threads 1    # shared machine: avoid OpenMP oversubscription

Each backend runs in its own subprocess (``KERAS_BACKEND`` must be set before Keras is imported): the parent
spawns ``python -m benchmarks.bench_physics --worker BACKEND --out FILE``, the worker writes its figures as JSON
to ``FILE``, and the parent prints one table for all backends and writes every figure to ``--json``
(default ``benchmarks/results/physics.json``, git-ignored).

Measurements (float32, data from ``numpy.random.default_rng(SEED)``):

* ``diffraction fwd+bwd``: ``sum(diffract((re, im)))`` for a batch of 64 ``N=64`` exit waves and its gradient
  with respect to ``re`` and ``im``; patterns/s. Also ``diffraction fwd`` (forward only).
* ``translation fwd+bwd``: ``sum(translate(images, t)**2)`` for 64 ``74×74×2`` images with random sub-pixel
  translations, gradient with respect to the images and the translations; patterns/s. Also ``translation fwd``.
* ``reassemble_position``: 1,024 and 4,096 complex ``N=64`` patches on a raster scan (step 6 px = 70% overlap
  of the ``M=20`` window, ±0.3 px jitter), ``M=20``; seconds per call, seconds per 1,000 patches and the
  speed-up against the original TF implementation (:data:`REFERENCE_TF_SECONDS`). 16,384 patches are added in
  full runs when one call is expected to take under a minute.

Autodiff is backend specific: ``torch.autograd`` (eager), ``tf.GradientTape`` inside
``tf.function(jit_compile=False)`` (graph mode), ``jax.value_and_grad`` under ``jax.jit``. The forward-only
figures use the same modes. ``reassemble_position`` is host-orchestrated (NumPy index maths, backend gathers and
``segment_sum`` per chunk) and runs eagerly on every backend. Speed targets live here, never in unit tests.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

BACKENDS: Tuple[str, ...] = ("torch", "tensorflow", "jax")
SEED = 0
REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_JSON = Path(__file__).resolve().parent / "results" / "physics.json"

#: Original PtychoPINN (TF) ``reassemble_position(M=20)`` seconds for N=64 patches, raster scan, ~70% overlap.
REFERENCE_TF_SECONDS: Dict[int, float] = {1024: 5.0, 4096: 127.0}
#: Issue target: stitching at least this many times faster than the original at 4,096 patches.
TARGET_SPEEDUP = 50.0
TARGET_SPEEDUP_PATCHES = 4096
#: An optional larger stitching size runs only if one call is expected to take less than this (seconds).
OPTIONAL_STITCH_LIMIT_S = 60.0


@dataclass(frozen=True)
class Sizes:
    """Problem sizes of one run.

    Attributes:
        batch: patterns per diffraction / translation call.
        n: exit-wave and patch side ``N`` (pixels).
        image: translated image side (pixels); images have 2 channels.
        max_shift: translations are uniform in ``[-max_shift, max_shift]`` pixels on each axis.
        window: stitching window ``M`` (pixels, even).
        step: raster scan step (pixels); overlap of neighbouring windows is ``1 - step / window``.
        jitter: scan positions get uniform noise in ``[-jitter, jitter]`` pixels.
        stitch_counts: patch counts always stitched.
        optional_counts: larger counts stitched only when a call is expected under the limit.
        repeat_s: target duration of one throughput repeat (seconds); iterations per repeat follow from it.
    """

    batch: int = 64
    n: int = 64
    image: int = 74
    max_shift: float = 4.0
    window: int = 20
    step: float = 6.0
    jitter: float = 0.3
    stitch_counts: Tuple[int, ...] = (1024, 4096)
    optional_counts: Tuple[int, ...] = (16384,)
    repeat_s: float = 1.0


FULL = Sizes()
QUICK = Sizes(batch=8, stitch_counts=(64, 256), optional_counts=(), repeat_s=0.05)


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


# --------------------------------------------------------------------------------------------- data (NumPy)


def exit_waves(rng: np.random.Generator, batch: int, n: int) -> Tuple[np.ndarray, np.ndarray]:
    """Random exit waves as ``(re, im)``, each float32 ``(batch, n, n, 1)`` (standard normal, arbitrary units)."""
    re = rng.standard_normal((batch, n, n, 1), dtype=np.float32)
    im = rng.standard_normal((batch, n, n, 1), dtype=np.float32)
    return re, im


def shifted_images(rng: np.random.Generator, batch: int, size: int,
                   max_shift: float) -> Tuple[np.ndarray, np.ndarray]:
    """Images float32 ``(batch, size, size, 2)`` and translations float32 ``(batch, 2)`` rows ``[dx, dy]`` (px)."""
    images = rng.standard_normal((batch, size, size, 2), dtype=np.float32)
    shifts = rng.uniform(-max_shift, max_shift, size=(batch, 2)).astype(np.float32)
    return images, shifts


def raster_scan(rng: np.random.Generator, count: int, step: float, jitter: float) -> np.ndarray:
    """Raster scan of ``count`` positions, float32 ``(count, 1, 2, 1)`` holding ``[x, y]`` in pixels.

    Positions fill rows of ``ceil(sqrt(count))`` columns ``step`` pixels apart, each with uniform jitter in
    ``[-jitter, jitter]`` on both axes (the original's ``global_offsets`` layout).
    """
    side = int(math.ceil(math.sqrt(count)))
    index = np.arange(count)
    grid = np.stack([index % side, index // side], axis=1).astype(np.float64) * step
    grid += rng.uniform(-jitter, jitter, size=grid.shape)
    return grid.astype(np.float32).reshape(count, 1, 2, 1)


def object_patches(rng: np.random.Generator, count: int, n: int) -> np.ndarray:
    """Random complex patches, complex64 ``(count, n, n, 1)`` (unit-ish amplitude, arbitrary phase)."""
    amplitude = rng.uniform(0.5, 1.0, size=(count, n, n, 1)).astype(np.float32)
    phase = rng.uniform(-np.pi, np.pi, size=(count, n, n, 1)).astype(np.float32)
    return (amplitude * np.exp(1j * phase)).astype(np.complex64)


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


def make_engine(backend: str, torch_threads: Optional[int] = None) -> Engine:
    """Engine for the backend Keras was imported with (``KERAS_BACKEND``); ``torch_threads`` sets torch's pool."""
    if backend == "torch":
        return TorchEngine(torch_threads)
    return {"tensorflow": TensorFlowEngine, "jax": JaxEngine}[backend]()


# ------------------------------------------------------------------------------------------------ timing


def time_throughput(step: Callable[..., Any], args: Sequence[Any], engine: Engine, repeats: int,
                    repeat_s: float) -> Tuple[List[float], int, float]:
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


def throughput_record(engine: Engine, measurement: str, mode: str, size: str, batch: int,
                      step: Callable[..., Any], args: Sequence[Any], repeats: int, repeat_s: float) -> Record:
    """Time ``step`` and express it as patterns/s (``batch`` patterns per call; median over repeats)."""
    samples, iters, first = time_throughput(step, args, engine, repeats, repeat_s)
    rates = [batch / s for s in samples]
    return Record(engine.name, measurement, mode, size, statistics.median(rates), "patterns/s", rates, iters,
                  first, {"ms_per_call": 1e3 * statistics.median(samples)})


# ------------------------------------------------------------------------------------------- measurements


def bench_diffraction(engine: Engine, sizes: Sizes, rng: np.random.Generator, repeats: int) -> List[Record]:
    """Diffraction of ``sizes.batch`` exit waves ``(batch, N, N, 1)``: forward+backward and forward only."""
    from keras import ops

    from ptycho_core.physics import diffract

    re, im = exit_waves(rng, sizes.batch, sizes.n)
    args = (engine.tensor(re, True), engine.tensor(im, True))

    def loss(real: Any, imag: Any) -> Any:
        return ops.sum(diffract((real, imag)))

    size = f"{sizes.batch}x{sizes.n}x{sizes.n}"
    both = throughput_record(engine, "diffraction fwd+bwd", engine.grad_mode, size, sizes.batch,
                             engine.value_and_grad(loss, 2), args, repeats, sizes.repeat_s)
    fwd = throughput_record(engine, "diffraction fwd", engine.forward_mode, size, sizes.batch,
                            engine.forward(lambda real, imag: diffract((real, imag))), args, repeats, sizes.repeat_s)
    return [both, fwd]


def bench_translation(engine: Engine, sizes: Sizes, rng: np.random.Generator, repeats: int) -> List[Record]:
    """Translation of ``sizes.batch`` images ``(batch, S, S, 2)``: forward+backward (images, shifts), forward."""
    from keras import ops

    from ptycho_core.physics import translate

    images, shifts = shifted_images(rng, sizes.batch, sizes.image, sizes.max_shift)
    args = (engine.tensor(images, True), engine.tensor(shifts, True))

    def loss(x: Any, t: Any) -> Any:
        return ops.sum(ops.square(translate(x, t)))

    size = f"{sizes.batch}x{sizes.image}x{sizes.image}x2"
    both = throughput_record(engine, "translation fwd+bwd", engine.grad_mode, size, sizes.batch,
                             engine.value_and_grad(loss, 2), args, repeats, sizes.repeat_s)
    fwd = throughput_record(engine, "translation fwd", engine.forward_mode, size, sizes.batch,
                            engine.forward(translate), args, repeats, sizes.repeat_s)
    return [both, fwd]


def stitch_once(patches: Any, offsets: np.ndarray, window: int) -> Tuple[float, np.ndarray]:
    """One timed ``reassemble_position`` call; returns ``(seconds, stitched complex64 (Pc, Pc, 1))``."""
    from ptycho_core.physics import reassemble_position

    start = time.perf_counter()
    out = reassemble_position(patches, offsets, M=window)
    return time.perf_counter() - start, out


def check_stitched(image: np.ndarray, count: int) -> None:
    """Sanity check: the stitched ``(Pc, Pc, 1)`` image is finite and, being a weighted average of patches with
    amplitude <= 1, has amplitude <= 1 (plus float32 slack)."""
    if not np.all(np.isfinite(image)) or float(np.max(np.abs(image))) > 1.0 + 1e-3:
        raise RuntimeError(f"reassemble_position returned an implausible image for {count} patches")


def stitch_record(engine: Engine, sizes: Sizes, rng: np.random.Generator, count: int,
                  repeats: int) -> Record:
    """``reassemble_position`` of ``count`` patches: one warm-up call, then the median of ``repeats`` calls.

    Patches are a backend tensor (as a model would hand them over); offsets are host NumPy. The stitched
    image is sanity-checked with :func:`check_stitched`.
    """
    patches = engine.tensor(object_patches(rng, count, sizes.n))
    offsets = raster_scan(rng, count, sizes.step, sizes.jitter)
    first, out = stitch_once(patches, offsets, sizes.window)
    samples = [stitch_once(patches, offsets, sizes.window)[0] for _ in range(repeats)]
    check_stitched(out, count)
    seconds = statistics.median(samples)
    extra: Dict[str, Any] = {
        "patches": count,
        "canvas": int(out.shape[0]),
        "s_per_1000": 1e3 * seconds / count,
        "overlap": 1.0 - sizes.step / sizes.window,
    }
    reference = REFERENCE_TF_SECONDS.get(count)
    if reference is not None:
        extra.update(reference_s=reference, speedup=reference / seconds)
    mode = "eager (host-orchestrated, chunked segment_sum)"
    return Record(engine.name, "reassemble_position", mode, f"{count}x{sizes.n}x{sizes.n} M={sizes.window}",
                  seconds, "s", samples, 1, first, extra)


def bench_stitching(engine: Engine, sizes: Sizes, rng: np.random.Generator, repeats: int,
                    progress: Callable[[str], None]) -> List[Record]:
    """``reassemble_position`` at every count of ``sizes.stitch_counts``, then the optional larger counts.

    An optional count runs only if linear extrapolation from the largest measured count (×1.5 margin)
    predicts under :data:`OPTIONAL_STITCH_LIMIT_S` per call; otherwise it is skipped (noted on stderr).
    """
    records = []
    for count in sizes.stitch_counts:
        progress(f"reassemble_position {count} patches")
        records.append(stitch_record(engine, sizes, rng, count, repeats))
    for count in sizes.optional_counts:
        last = records[-1]
        predicted = 1.5 * last.value * count / last.extra["patches"]
        if predicted >= OPTIONAL_STITCH_LIMIT_S:
            progress(f"skipping {count} patches (predicted {predicted:.0f} s per call)")
            continue
        progress(f"reassemble_position {count} patches")
        records.append(stitch_record(engine, sizes, rng, count, repeats))
    return records


# ------------------------------------------------------------------------------------------------- worker


def run_worker(backend: str, sizes: Sizes, repeats: int, out: Path, torch_threads: Optional[int] = None) -> None:
    """Measure everything on ``backend`` (already selected by ``KERAS_BACKEND``) and write JSON to ``out``."""
    import keras

    if keras.backend.backend() != backend:
        raise RuntimeError(f"KERAS_BACKEND selects {keras.backend.backend()!r}, expected {backend!r}")

    def progress(message: str) -> None:
        print(f"[{backend}] {message}", file=sys.stderr, flush=True)

    engine = make_engine(backend, torch_threads)
    records: List[Record] = []
    progress("diffraction")
    records += bench_diffraction(engine, sizes, np.random.default_rng(SEED), repeats)
    progress("translation")
    records += bench_translation(engine, sizes, np.random.default_rng(SEED + 1), repeats)
    records += bench_stitching(engine, sizes, np.random.default_rng(SEED + 2), repeats, progress)
    payload = {
        "backend": backend,
        "backend_version": engine.version(),
        "keras_version": keras.__version__,
        "device": engine.device(),
        "records": [asdict(r) for r in records],
    }
    out.write_text(json.dumps(payload, indent=1))


# ------------------------------------------------------------------------------------------------- parent


def spawn_worker(backend: str, args: argparse.Namespace, repeats: int) -> Dict[str, Any]:
    """Run one backend in a subprocess; returns its JSON payload, or ``{"backend", "error"}`` on failure."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / f"{backend}.json"
        cmd = [sys.executable, "-m", "benchmarks.bench_physics", "--worker", backend, "--out", str(out),
               "--repeats", str(repeats)]
        if args.quick:
            cmd.append("--quick")
        if args.torch_threads:
            cmd += ["--torch-threads", str(args.torch_threads)]
        env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="2")
        start = time.perf_counter()
        proc = subprocess.run(cmd, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True)
        elapsed = time.perf_counter() - start
        if proc.returncode != 0 or not out.exists():
            return {"backend": backend, "error": f"worker exited with {proc.returncode}", "log": proc.stdout}
        payload = json.loads(out.read_text())
    payload["worker_wall_s"] = elapsed
    progress_lines = [line for line in proc.stdout.splitlines() if line.startswith(f"[{backend}]")]
    print("\n".join(progress_lines + [f"[{backend}] done in {elapsed:.1f} s"]), file=sys.stderr, flush=True)
    return payload


def format_value(value: float, unit: str) -> str:
    if unit == "s":
        return f"{value:.3f} s" if value < 100 else f"{value:.0f} s"
    return f"{value:,.0f} {unit}"


def format_table(results: Sequence[Dict[str, Any]]) -> str:
    """One row per backend × measurement: mode, size, median figure, spread of repeats, iterations/repeat."""
    header = ("backend", "measurement", "size", "median", "min..max", "iters", "1st call", "mode")
    rows = [header]
    for payload in results:
        for r in payload.get("records", []):
            unit = r["unit"]
            spread = f"{format_value(min(r['samples']), unit)}..{format_value(max(r['samples']), unit)}"
            rows.append((r["backend"], r["measurement"], r["size"], format_value(r["value"], unit),
                         spread.replace(f" {unit}..", ".."), str(r["iters"]), f"{r['first_call_s']:.2f} s",
                         r["mode"]))
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def stitch_summary(payload: Dict[str, Any]) -> List[str]:
    """Speed-up and linearity lines for one backend's ``reassemble_position`` records."""
    stitch = [r for r in payload.get("records", []) if r["measurement"] == "reassemble_position"]
    if not stitch:
        return []
    backend = payload["backend"]
    lines = []
    for r in stitch:
        e = r["extra"]
        text = (f"{backend:<10} reassemble_position {e['patches']:>6} patches (canvas {e['canvas']}): "
                f"{r['value']:.3f} s = {e['s_per_1000']:.3f} s per 1,000 patches")
        if "speedup" in e:
            text += f"; original TF {e['reference_s']:.0f} s -> {e['speedup']:.0f}x faster"
            if e["patches"] == TARGET_SPEEDUP_PATCHES:
                verdict = "MET" if e["speedup"] >= TARGET_SPEEDUP else "NOT MET"
                text += f" (target >= {TARGET_SPEEDUP:.0f}x: {verdict})"
            text += f"; first call {r['first_call_s']:.3f} s -> {e['reference_s'] / r['first_call_s']:.0f}x"
        lines.append(text)
    if len(stitch) >= 2:
        small, large = stitch[0], stitch[-1]
        count_ratio = large["extra"]["patches"] / small["extra"]["patches"]
        time_ratio = large["value"] / small["value"]
        per_k = ", ".join(f"{r['extra']['s_per_1000']:.3f}" for r in stitch)
        lines.append(f"{backend:<10} linearity: {count_ratio:.0f}x patches -> {time_ratio:.2f}x time "
                     f"(linear = {count_ratio:.0f}x); s per 1,000 patches: {per_k}")
    return lines


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


def run_parent(args: argparse.Namespace) -> int:
    """Spawn one worker per backend, print the table and summaries, write the JSON; returns the exit code."""
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    unknown = [b for b in backends if b not in BACKENDS]
    if unknown:
        raise SystemExit(f"unknown backend(s) {unknown}; choose from {', '.join(BACKENDS)}")
    repeats = args.repeats if args.repeats is not None else (1 if args.quick else 3)
    sizes = QUICK if args.quick else FULL
    load_before = load_average()
    results = [spawn_worker(b, args, repeats) for b in backends]
    load_after = load_average()

    print(f"\nPhysics benchmark ({'quick' if args.quick else 'full'}; median of {repeats}; float32; "
          f"{os.cpu_count()} CPU cores; load average before {load_before}, after {load_after})")
    for payload in results:
        if "error" not in payload:
            print(f"  {payload['backend']:<10} {payload['backend_version']:<12} device: {payload['device']}  "
                  f"(keras {payload['keras_version']}, worker {payload['worker_wall_s']:.0f} s)")
    print()
    print(format_table(results))
    print()
    for payload in results:
        for line in stitch_summary(payload):
            print(line)
    print("\nReference (original TF, issue's machine kind): reassemble_position(M=20) "
          + ", ".join(f"{v:.0f} s for {k:,} patches" for k, v in REFERENCE_TF_SECONDS.items())
          + f"; target >= {TARGET_SPEEDUP:.0f}x at {TARGET_SPEEDUP_PATCHES:,} patches, linear growth.")

    failed = [p for p in results if "error" in p]
    for payload in failed:
        print(f"\n{payload['backend']}: {payload['error']}\n{payload['log'][-4000:]}", file=sys.stderr)

    json_path = Path(args.json)
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps({
        "quick": bool(args.quick),
        "repeats": repeats,
        "sizes": asdict(sizes),
        "reference_tf_seconds": {str(k): v for k, v in REFERENCE_TF_SECONDS.items()},
        "target_speedup": TARGET_SPEEDUP,
        "machine": machine_info(),
        "load_average_before": load_before,
        "load_average_after": load_after,
        "results": results,
    }, indent=1))
    print(f"\nwrote {json_path}")
    return 1 if failed else 0


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_physics", description=__doc__.split("\n")[0])
    parser.add_argument("--backends", default=",".join(BACKENDS),
                        help="comma-separated backends to run (default: %(default)s)")
    parser.add_argument("--quick", action="store_true", help="tiny sizes and 1 repeat (CI smoke run)")
    parser.add_argument("--repeats", type=int, default=None,
                        help="timed repeats per figure, the median is reported (default 3, 1 with --quick)")
    parser.add_argument("--json", default=str(DEFAULT_JSON), help="where to write all figures (default: %(default)s)")
    parser.add_argument("--torch-threads", type=int, default=None,
                        help="torch intra-op threads (default: torch's choice). On a shared machine 1 avoids "
                             "OpenMP oversubscription, which can slow torch several-fold")
    parser.add_argument("--worker", choices=BACKENDS, help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.repeats is not None and args.repeats < 1:
        parser.error("--repeats must be >= 1")
    return args


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    if args.worker:
        if os.environ.get("KERAS_BACKEND") != args.worker:
            raise SystemExit(f"--worker {args.worker} needs KERAS_BACKEND={args.worker} in the environment")
        run_worker(args.worker, QUICK if args.quick else FULL, args.repeats or 1, Path(args.out),
                   args.torch_threads)
        return 0
    return run_parent(args)


if __name__ == "__main__":
    sys.exit(main())
