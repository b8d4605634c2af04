"""Speed of the PtychoPINN model on each Keras backend: training and inference patterns/s, memory, roofline.

Run from the repository root::

    python -m benchmarks.bench_model                        # all backends, full sizes, median of 3
    python -m benchmarks.bench_model --quick                # tiny sizes, 1 repeat (CI smoke run)
    python -m benchmarks.bench_model --backends torch --torch-threads 1 --repeats 5
    python -m benchmarks.bench_model --backends tensorflow --jit on    # XLA on TF (jit_compile=True)
    python -m benchmarks.bench_model --train 1x16,2x8 --predict 1x16     # only the like-for-like configurations
    python -m benchmarks.bench_model --original-python ENV/bin/python --original-src SRC --train 1x16 --predict 1x16
                                                            # the original PtychoPINN measured beside ours

Each backend runs in its own subprocess (see :mod:`benchmarks._common`); figures go to ``--json`` (default
``benchmarks/results/model.json``, git-ignored). A full run takes about 5 minutes per backend on 2 CPU cores.
``--quick`` runs one small configuration of each kind (1 step / batch per call); such a run is mostly start-up
and compilation and its figures only show that everything runs. On a machine shared with other jobs torch's
OpenMP threads can stall each other several-fold: use ``--torch-threads 1`` or ``OMP_WAIT_POLICY=PASSIVE``.

Model: ``ModelSpec(N=64, n_filters_scale=2)`` with the defaults ``object_big=True``, ``probe_big=True``
(``create_compiled_models``: Adam 1e-3, Poisson NLL), float32, the default probe normalised with probe_scale 4.
Simulated data (:func:`synthetic_inputs`, seeded): far-field amplitudes of the probe times smooth random objects,
normalised and scaled for 1e9 photons per pattern (intensity scale 988.2, the ``ModelSpec`` default), Poisson
noise, ``(n, 64, 64, C)`` with ``C = gridsize²``; positions uniform in ``±2`` px; targets from
:func:`ptycho_core.training.make_targets`. The final training loss is kept in the JSON (it must be finite).

Measurements:

* ``train``: ``autoencoder.fit`` (``epochs=1, shuffle=False, verbose=0``) on ``steps × batch`` samples, i.e. one
  call = ``steps`` full train steps plus Keras's per-``fit`` set-up (data adapter, callbacks; a few ms). The
  first call (tracing / XLA or torch.compile compilation + ``steps`` steps) is the warm-up and is reported as
  ``1st call``; the second call sets how many calls one repeat makes (about ``repeat_s`` seconds); then
  ``repeats`` timed repeats. Patterns/s = ``steps × batch × C / seconds per call``: the batch counts groups of
  ``C = gridsize²`` diffraction patterns, and patterns/s counts single patterns, as the original's figures do.
  Configurations ``(gridsize, batch)``: (1, 16), (2, 16) and (2, 8) (the original could not run gridsize 2 at
  batch 16, so (2, 8) is the like-for-like one).
* ``predict``: ``diffraction_to_obj.predict`` (gridsize 1) on ``batches × batch`` samples with
  ``batch_size=batch``, timed like ``train``; batches 16 (like-for-like with the original), 64 and 256.
* peak memory: the worker's peak resident set size (``resource.getrusage(RUSAGE_SELF).ru_maxrss``) during each
  measurement, model build included. On Linux the peak is reset before each measurement (writing ``5`` to
  ``/proc/self/clear_refs``), so each figure is that measurement's peak; elsewhere it is cumulative. The
  backend's own peak figure is added where it is cheap (accelerators only; on CPU none of the three keeps one).
* roofline: float32 matmul peak measured in the worker (``n × n`` matmul in NumPy and in the backend, median of 5,
  at the start and at the end of the worker; the best of these is the peak) and the convolution FLOPs of the
  built model (``Σ 2·H·W·k·k·Cin·Cout`` over its ``Conv2D`` layers, per sample, divided by ``C`` per pattern;
  training counts forward + backward ≈ 3 × forward). Achieved GFLOP/s = patterns/s × FLOPs per pattern, and its
  share of the measured peak. Non-convolution work (translation, FFT, element-wise ops) is not counted.

``--jit auto|on|off`` is passed as ``jit_compile`` to ``compile`` (and set on ``diffraction_to_obj`` for
``predict``); ``auto`` resolves to False on torch and on CPU-only TF and to True on JAX. The resolved value is
reported per measurement. Reference figures of the original TF implementation on the issue's machine kind are
printed beside ours with the ratios; speed targets live here, never in unit tests.

``--original-python PATH`` (with ``--original-src DIR``, the folder holding the original's ``ptycho/``, put on
its ``PYTHONPATH``) also measures the ORIGINAL PtychoPINN in the same run: its import package is also ``ptycho``,
so it runs in that other interpreter (:mod:`benchmarks._original_run`, :mod:`benchmarks._original_worker`), one
process per configuration, after our workers. It gets the same configurations and the same arrays (written to
``.npz`` by :mod:`benchmarks._original_inputs`), is built by its ``ptycho.model.create_compiled_model`` after
``update_legacy_dict(params.cfg, TrainingConfig(ModelConfig(N, gridsize, n_filters_scale), ...))``,
``params.set('intensity_scale', s)`` and ``probe.set_probe_guess(None, probe)``, and is timed with the same
protocol (``autoencoder.fit`` / ``diffraction_to_obj.predict``). The table then shows its rows, the original
measured in this run beside each of ours and the ratio to it, besides the issue's figures; the targets are
judged against both. The interpreter is checked first: one where the original does not import stops the run with
one message naming the problem and the fix. An environment for it (outside this repository)::

    python3.11 -m venv ENV
    ENV/bin/pip install tensorflow-cpu==2.21.0 tensorflow-probability tf-keras scipy scikit-image matplotlib
    ENV/bin/pip install pandas dill pyyaml
    # SRC: a checkout of the original's source (github hoidn/PtychoPINN), the folder that holds ptycho/

This module is the benchmark's command line and parent process (spawns one worker per backend, prints, writes
the JSON). The parts: :mod:`benchmarks._model_config` (configurations, sizes, the original's figures, targets),
:mod:`benchmarks._model_data` (simulated inputs), :mod:`benchmarks._model_cases` (the measurements),
:mod:`benchmarks._model_worker` (the worker process) and :mod:`benchmarks._model_report` (table and summary
lines).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Optional, Sequence

from ._common import (
    RESULTS_DIR,
    add_common_arguments,
    check_common_arguments,
    common_worker_args,
    default_repeats,
    load_average,
    machine_info,
    print_backend_lines,
    report_failures,
    require_worker_env,
    selected_backends,
    spawn_worker,
    write_json,
)
from ._model_cases import conv_forward_flops
from ._model_config import (
    BACKWARD_FACTOR,
    FULL,
    QUICK,
    REFERENCE_CONV_GFLOP,
    REFERENCE_MATMUL_GFLOPS,
    REFERENCE_PATTERNS_S,
    TARGET_PREDICT_BEST,
    TARGET_TRAIN_BEST,
    TARGET_TRAIN_TORCH,
    Sizes,
    config_label,
    format_configs,
    parse_configs,
)
from ._model_data import benchmark_probe, synthetic_inputs
from ._model_report import backend_lines, flop_check, format_table, original_lines, target_lines
from ._model_worker import run_worker
from ._original_run import OriginalUnavailable, check_original, run_original

__all__ = [
    "DEFAULT_JSON",
    "FULL",
    "JIT_CHOICES",
    "QUICK",
    "Sizes",
    "benchmark_probe",
    "chosen_sizes",
    "config_label",
    "conv_forward_flops",
    "format_configs",
    "format_table",
    "main",
    "parse_args",
    "parse_configs",
    "run_parent",
    "run_worker",
    "synthetic_inputs",
]

DEFAULT_JSON = RESULTS_DIR / "model.json"
JIT_CHOICES = {"auto": "auto", "on": True, "off": False}


def run_parent(args: argparse.Namespace) -> int:
    """Spawn one worker per backend, print the table and summaries, write the JSON; returns the exit code."""
    backends = selected_backends(args)
    repeats = default_repeats(args)
    sizes = chosen_sizes(args)
    original_info = None
    if args.original_python:
        try:  # before anything is measured: a wrong interpreter stops the run at once
            original_info = check_original(args.original_python, args.original_src)
        except OriginalUnavailable as exc:
            raise SystemExit(f"error: {exc}") from None
    worker_args = common_worker_args(args, repeats) + ["--jit", args.jit]
    worker_args += [
        "--train",
        format_configs(sizes.train),
        "--predict",
        format_configs(sizes.predict),
        "--repeat-s",
        str(sizes.repeat_s),
    ]
    load_before = load_average()
    results = [spawn_worker("benchmarks.bench_model", b, worker_args) for b in backends]
    original = None
    if args.original_python:
        original = run_original(args.original_python, args.original_src, sizes, repeats, backends[0])
        original["info"] = original["info"] or original_info  # every configuration failed: keep the check's
    load_after = load_average()

    print(
        f"\nModel benchmark ({'quick' if args.quick else 'full'}; n_filters_scale="
        f"{sizes.n_filters_scale}; median of {repeats}; float32; --jit {args.jit}; {os.cpu_count()} CPU cores; "
        f"load average before {load_before}, after {load_after})"
    )
    print_backend_lines(results)
    print()
    print(format_table(results, original))
    print()
    for line in (
        backend_lines(results) + original_lines(original) + flop_check(results) + target_lines(results, original)
    ):
        print(line)
    print(
        "\nReference (original TF, issue's machine kind): "
        + ", ".join(f"{m} gridsize {g} batch {b} {v} patterns/s" for (m, g, b), v in REFERENCE_PATTERNS_S.items())
        + f"; matmul peak ~{REFERENCE_MATMUL_GFLOPS:.0f} GFLOP/s. GFLOP/s counts convolutions only "
        f"(train: {BACKWARD_FACTOR}x forward); % peak is of the best matmul figure measured in that worker."
    )

    failed = report_failures(results)
    write_json(
        args.json,
        {
            "quick": bool(args.quick),
            "repeats": repeats,
            "jit": args.jit,
            "torch_threads": args.torch_threads,
            "sizes": asdict(sizes),
            "reference_patterns_s": {" ".join(map(str, k)): v for k, v in REFERENCE_PATTERNS_S.items()},
            "reference_conv_gflop": {" ".join(map(str, k)): v for k, v in REFERENCE_CONV_GFLOP.items()},
            "reference_matmul_gflops": REFERENCE_MATMUL_GFLOPS,
            "targets": {
                "train_best": TARGET_TRAIN_BEST,
                "train_torch": TARGET_TRAIN_TORCH,
                "predict_best": TARGET_PREDICT_BEST,
            },
            "machine": machine_info(),
            "load_average_before": load_before,
            "load_average_after": load_after,
            "results": results,
            "original": original,
        },
    )
    return 1 if failed or any(p.get("errors") for p in results + ([original] if original else [])) else 0


def chosen_sizes(args: argparse.Namespace) -> Sizes:
    """:data:`QUICK` or :data:`FULL`, with ``--train`` / ``--predict`` replacing their configurations."""
    sizes = QUICK if args.quick else FULL
    if args.train is not None:
        sizes = dataclasses.replace(sizes, train=args.train)
    if args.predict is not None:
        sizes = dataclasses.replace(sizes, predict=args.predict)
    if args.repeat_s is not None:
        sizes = dataclasses.replace(sizes, repeat_s=args.repeat_s)
    return sizes


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_model", description=__doc__.split("\n")[0])
    add_common_arguments(parser, DEFAULT_JSON)
    parser.add_argument(
        "--train",
        type=parse_configs,
        default=None,
        metavar="GxB[@N],...",
        help="training configurations gridsize x batch [@ patch size N, default 64], or none "
        "(default: 1x16,2x16,2x8,1x16@128,2x8@128; --quick: 2x2)",
    )
    parser.add_argument(
        "--predict",
        type=parse_configs,
        default=None,
        metavar="GxB[@N],...",
        help="inference configurations, or none (default: 1x16,1x64,1x256; --quick: 1x4)",
    )
    parser.add_argument(
        "--repeat-s", type=float, default=None, help="target seconds of one timed repeat (default 8, --quick 0.05)"
    )
    parser.add_argument(
        "--jit",
        choices=tuple(JIT_CHOICES),
        default="auto",
        help="jit_compile passed to compile / set for predict (default: %(default)s; auto = "
        "Keras's choice: off on torch and CPU-only TF, XLA on JAX)",
    )
    parser.add_argument(
        "--original-python",
        default=None,
        metavar="PATH",
        help="also measure the original PtychoPINN, run by this interpreter (one where its ptycho imports), on "
        "the same configurations and data; the table adds its figures and our ratios to them",
    )
    parser.add_argument(
        "--original-src",
        default=None,
        metavar="DIR",
        help="folder holding the original's ptycho/ package, put on PYTHONPATH for --original-python",
    )
    args = parser.parse_args(argv)
    check_common_arguments(parser, args)
    if args.original_src and not args.original_python:
        parser.error("--original-src needs --original-python (the interpreter that runs the original)")
    return args


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    if args.worker:
        require_worker_env(args.worker)
        run_worker(
            args.worker,
            chosen_sizes(args),
            args.repeats or 1,
            Path(args.out),
            JIT_CHOICES[args.jit],
            args.torch_threads,
        )
        return 0
    return run_parent(args)


if __name__ == "__main__":
    sys.exit(main())
