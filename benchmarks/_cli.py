"""The command-line options every benchmark shares, and the flags the parent passes on to its workers.

``--backends --quick --repeats --json --torch-threads`` (plus the hidden ``--worker --out`` of the worker
process), their checks and defaults, and :data:`RESULTS_DIR`, where the JSON files go by default.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import List, Tuple

BACKENDS: Tuple[str, ...] = ("torch", "tensorflow", "jax")
RESULTS_DIR = Path(__file__).resolve().parent / "results"


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


def common_worker_args(args: argparse.Namespace, repeats: int) -> List[str]:
    """The worker flags every benchmark passes on: ``--repeats``, ``--quick``, ``--torch-threads``."""
    cmd = ["--repeats", str(repeats)]
    if args.quick:
        cmd.append("--quick")
    if args.torch_threads:
        cmd += ["--torch-threads", str(args.torch_threads)]
    return cmd
