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

This module runs the benchmark: the command line, the worker (runs every case on its backend) and the parent
(spawns the workers, prints the table and the stitching summary, writes the JSON). The sizes, data and measured
cases are in :mod:`benchmarks._physics_cases`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

import numpy as np

from ._common import (
    RECORD_HEADER,
    RESULTS_DIR,
    SEED,
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
    worker_progress,
    write_json,
)
from ._physics_cases import (
    FULL,
    QUICK,
    REFERENCE_TF_SECONDS,
    TARGET_SPEEDUP,
    TARGET_SPEEDUP_PATCHES,
    Sizes,
    bench_diffraction,
    bench_stitching,
    bench_translation,
)

DEFAULT_JSON = RESULTS_DIR / "physics.json"


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
