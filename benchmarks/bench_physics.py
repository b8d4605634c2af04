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
import statistics
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from ._common import (
    RECORD_HEADER,
    RESULTS_DIR,
    SEED,
    Engine,
    Record,
    add_common_arguments,
    check_common_arguments,
    check_worker_backend,
    common_worker_args,
    default_repeats,
    load_average,
    machine_info,
    make_engine,
    print_backend_lines,
    record_cells,
    render_table,
    report_failures,
    require_worker_env,
    selected_backends,
    spawn_worker,
    throughput_record,
    worker_progress,
    write_json,
)

DEFAULT_JSON = RESULTS_DIR / "physics.json"

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


# --------------------------------------------------------------------------------------------- data (NumPy)


def exit_waves(rng: np.random.Generator, batch: int, n: int) -> Tuple[np.ndarray, np.ndarray]:
    """Random exit waves as ``(re, im)``, each float32 ``(batch, n, n, 1)`` (standard normal, arbitrary units)."""
    re = rng.standard_normal((batch, n, n, 1), dtype=np.float32)
    im = rng.standard_normal((batch, n, n, 1), dtype=np.float32)
    return re, im


def shifted_images(rng: np.random.Generator, batch: int, size: int, max_shift: float) -> Tuple[np.ndarray, np.ndarray]:
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
    both = throughput_record(
        engine,
        "diffraction fwd+bwd",
        engine.grad_mode,
        size,
        sizes.batch,
        engine.value_and_grad(loss, 2),
        args,
        repeats,
        sizes.repeat_s,
    )
    fwd = throughput_record(
        engine,
        "diffraction fwd",
        engine.forward_mode,
        size,
        sizes.batch,
        engine.forward(lambda real, imag: diffract((real, imag))),
        args,
        repeats,
        sizes.repeat_s,
    )
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
    both = throughput_record(
        engine,
        "translation fwd+bwd",
        engine.grad_mode,
        size,
        sizes.batch,
        engine.value_and_grad(loss, 2),
        args,
        repeats,
        sizes.repeat_s,
    )
    fwd = throughput_record(
        engine,
        "translation fwd",
        engine.forward_mode,
        size,
        sizes.batch,
        engine.forward(translate),
        args,
        repeats,
        sizes.repeat_s,
    )
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


def stitch_record(engine: Engine, sizes: Sizes, rng: np.random.Generator, count: int, repeats: int) -> Record:
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
    return Record(
        engine.name,
        "reassemble_position",
        mode,
        f"{count}x{sizes.n}x{sizes.n} M={sizes.window}",
        seconds,
        "s",
        samples,
        1,
        first,
        extra,
    )


def bench_stitching(
    engine: Engine, sizes: Sizes, rng: np.random.Generator, repeats: int, progress: Callable[[str], None]
) -> List[Record]:
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

    check_worker_backend(backend)
    progress = worker_progress(backend)
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


def format_table(results: Sequence[Dict[str, Any]]) -> str:
    """One row per backend × measurement: mode, size, median figure, spread of repeats, iterations/repeat."""
    rows = [record_cells(r) + (r["mode"],) for payload in results for r in payload.get("records", [])]
    return render_table(RECORD_HEADER + ("mode",), rows)


def stitch_summary(payload: Dict[str, Any]) -> List[str]:
    """Speed-up and linearity lines for one backend's ``reassemble_position`` records."""
    stitch = [r for r in payload.get("records", []) if r["measurement"] == "reassemble_position"]
    if not stitch:
        return []
    backend = payload["backend"]
    lines = []
    for r in stitch:
        e = r["extra"]
        text = (
            f"{backend:<10} reassemble_position {e['patches']:>6} patches (canvas {e['canvas']}): "
            f"{r['value']:.3f} s = {e['s_per_1000']:.3f} s per 1,000 patches"
        )
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
        lines.append(
            f"{backend:<10} linearity: {count_ratio:.0f}x patches -> {time_ratio:.2f}x time "
            f"(linear = {count_ratio:.0f}x); s per 1,000 patches: {per_k}"
        )
    return lines


def run_parent(args: argparse.Namespace) -> int:
    """Spawn one worker per backend, print the table and summaries, write the JSON; returns the exit code."""
    backends = selected_backends(args)
    repeats = default_repeats(args)
    sizes = QUICK if args.quick else FULL
    load_before = load_average()
    results = [spawn_worker("benchmarks.bench_physics", b, common_worker_args(args, repeats)) for b in backends]
    load_after = load_average()

    print(
        f"\nPhysics benchmark ({'quick' if args.quick else 'full'}; median of {repeats}; float32; "
        f"{os.cpu_count()} CPU cores; load average before {load_before}, after {load_after})"
    )
    print_backend_lines(results)
    print()
    print(format_table(results))
    print()
    for payload in results:
        for line in stitch_summary(payload):
            print(line)
    print(
        "\nReference (original TF, issue's machine kind): reassemble_position(M=20) "
        + ", ".join(f"{v:.0f} s for {k:,} patches" for k, v in REFERENCE_TF_SECONDS.items())
        + f"; target >= {TARGET_SPEEDUP:.0f}x at {TARGET_SPEEDUP_PATCHES:,} patches, linear growth."
    )

    failed = report_failures(results)
    write_json(
        args.json,
        {
            "quick": bool(args.quick),
            "repeats": repeats,
            "sizes": asdict(sizes),
            "reference_tf_seconds": {str(k): v for k, v in REFERENCE_TF_SECONDS.items()},
            "target_speedup": TARGET_SPEEDUP,
            "machine": machine_info(),
            "load_average_before": load_before,
            "load_average_after": load_after,
            "results": results,
        },
    )
    return 1 if failed else 0


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_physics", description=__doc__.split("\n")[0])
    add_common_arguments(parser, DEFAULT_JSON)
    args = parser.parse_args(argv)
    check_common_arguments(parser, args)
    return args


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    if args.worker:
        require_worker_env(args.worker)
        run_worker(args.worker, QUICK if args.quick else FULL, args.repeats or 1, Path(args.out), args.torch_threads)
        return 0
    return run_parent(args)


if __name__ == "__main__":
    sys.exit(main())
