"""One import point for the plumbing the benchmarks share; importing it does not import Keras.

Every benchmark runs each Keras backend in its own subprocess (``KERAS_BACKEND`` must be set before Keras is
imported): the parent spawns ``python -m benchmarks.<name> --worker BACKEND --out FILE``, the worker writes its
figures as JSON to ``FILE`` and the parent prints one table for all backends and writes every figure to ``--json``
(default ``benchmarks/results/<name>.json``, git-ignored). The parts that do not depend on what is measured live in

* :mod:`benchmarks._engines`: backend adapters (:class:`Engine`, :func:`make_engine`);
* :mod:`benchmarks._measure`: timing, resident memory, load average, machine description, :data:`SEED`;
* :mod:`benchmarks._records`: the :class:`Record`, tables, console lines, JSON output;
* :mod:`benchmarks._workers`: spawning the worker subprocess, the worker's checks and progress lines;
* :mod:`benchmarks._cli`: the shared command-line options and the flags passed on to workers.

This module re-exports all of them, so a benchmark imports its plumbing from here.
"""

from __future__ import annotations

from ._cli import (
    BACKENDS,
    RESULTS_DIR,
    add_common_arguments,
    check_common_arguments,
    common_worker_args,
    default_repeats,
    selected_backends,
)
from ._engines import Engine, JaxEngine, TensorFlowEngine, TorchEngine, make_engine
from ._measure import SEED, load_average, machine_info, rss_mib, throughput_record, time_throughput
from ._records import (
    RECORD_HEADER,
    Record,
    format_value,
    print_backend_lines,
    record_cells,
    render_table,
    report_failures,
    write_json,
)
from ._workers import REPO_ROOT, check_worker_backend, require_worker_env, spawn_worker, worker_progress

__all__ = [
    "BACKENDS",
    "RECORD_HEADER",
    "REPO_ROOT",
    "RESULTS_DIR",
    "SEED",
    "Engine",
    "JaxEngine",
    "Record",
    "TensorFlowEngine",
    "TorchEngine",
    "add_common_arguments",
    "check_common_arguments",
    "check_worker_backend",
    "common_worker_args",
    "default_repeats",
    "format_value",
    "load_average",
    "machine_info",
    "make_engine",
    "print_backend_lines",
    "record_cells",
    "render_table",
    "report_failures",
    "require_worker_env",
    "rss_mib",
    "selected_backends",
    "spawn_worker",
    "throughput_record",
    "time_throughput",
    "worker_progress",
    "write_json",
]
