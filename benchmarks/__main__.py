"""The whole benchmark suite in one command: physics, model, grouping, streaming reconstruction.

Run from the repository root::

    python -m benchmarks                    # every installed backend, full sizes (about 25 minutes on 2 cores,
                                            # plus 10-15 minutes per backend for 100,000 streamed patterns)
    python -m benchmarks --quick            # tiny sizes, 1 repeat: shows that everything runs (CI)
    python -m benchmarks --backends torch,jax --repeats 5 --out-dir /tmp/bench
    python -m benchmarks --parts model --original-python ENV/bin/python --original-src SRC
                                            # the original PtychoPINN measured beside ours (bench_model.py)

Each part prints its own table (see ``benchmarks/bench_physics.py``, ``bench_model.py``, ``bench_grouping.py``,
``bench_streaming.py`` for what is measured and how) and writes ``physics.json``, ``model.json``,
``grouping.json`` and ``streaming.json`` into
``--out-dir`` (default ``benchmarks/results``, git-ignored); ``suite.json`` there lists the parts, their exit
codes and wall times. The device is whatever each backend chooses (a GPU where one is visible). The exit code is
non-zero when any part failed (a worker crashed, a configuration raised, a loss was not finite).
``--original-python`` / ``--original-src`` are passed on to the model part, which then also measures the
original PtychoPINN in that interpreter (see ``benchmarks/bench_model.py``); the other parts ignore them.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
from pathlib import Path
from typing import List, Optional, Sequence

from ._common import BACKENDS, RESULTS_DIR, machine_info, write_json

PARTS = ("physics", "model", "grouping", "streaming")


def installed_backends() -> List[str]:
    """The Keras backends whose framework can be imported here (checked without importing it)."""
    import importlib.util

    modules = {"torch": "torch", "tensorflow": "tensorflow", "jax": "jax"}
    return [b for b in BACKENDS if importlib.util.find_spec(modules[b]) is not None]


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--backends",
        default=None,
        help="comma-separated backends (default: every installed one of torch, tensorflow, jax)",
    )
    parser.add_argument("--parts", default=",".join(PARTS), help="which parts to run (default: %(default)s)")
    parser.add_argument("--quick", action="store_true", help="tiny sizes, 1 repeat (CI smoke run)")
    parser.add_argument("--repeats", type=int, default=None, help="timed repeats per figure (median reported)")
    parser.add_argument("--torch-threads", type=int, default=None, help="torch intra-op threads")
    parser.add_argument("--out-dir", default=str(RESULTS_DIR), help="folder for the JSON files (default: %(default)s)")
    parser.add_argument(
        "--original-python",
        default=None,
        metavar="PATH",
        help="model part: also measure the original PtychoPINN, run by this interpreter",
    )
    parser.add_argument(
        "--original-src", default=None, metavar="DIR", help="model part: folder holding the original's ptycho/"
    )
    args = parser.parse_args(argv)
    if args.original_src and not args.original_python:
        parser.error("--original-src needs --original-python (the interpreter that runs the original)")
    unknown = [p for p in args.parts.split(",") if p not in PARTS]
    if unknown:
        parser.error(f"unknown part(s) {unknown}; choose from {', '.join(PARTS)}")
    return args


def original_argv(args: argparse.Namespace) -> List[str]:
    """The ``--original-python`` / ``--original-src`` flags of the model part (empty without them)."""
    argv = ["--original-python", args.original_python] if args.original_python else []
    return argv + (["--original-src", args.original_src] if args.original_src else [])


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    backends = args.backends or ",".join(installed_backends())
    if not backends:
        print("no Keras backend is installed: pip install torch, tensorflow-cpu or jax", file=sys.stderr)
        return 2
    out_dir = Path(args.out_dir)
    summary = []
    for part in args.parts.split(","):
        module = importlib.import_module(f"benchmarks.bench_{part}")
        part_argv = ["--backends", backends, "--json", str(out_dir / f"{part}.json")]
        part_argv += ["--quick"] if args.quick else []
        part_argv += ["--repeats", str(args.repeats)] if args.repeats else []
        part_argv += ["--torch-threads", str(args.torch_threads)] if args.torch_threads else []
        part_argv += original_argv(args) if part == "model" else []
        print(f"\n=== benchmarks.bench_{part} {' '.join(part_argv)}", flush=True)
        start = time.perf_counter()
        code = module.main(part_argv)
        summary.append({"part": part, "exit_code": code, "wall_s": time.perf_counter() - start})
    print(
        "\n=== suite: "
        + ", ".join(f"{s['part']} {'ok' if s['exit_code'] == 0 else 'FAILED'} ({s['wall_s']:.0f} s)" for s in summary)
    )
    write_json(
        out_dir / "suite.json",
        {
            "quick": bool(args.quick),
            "backends": backends.split(","),
            "original_python": args.original_python,
            "original_src": args.original_src,
            "machine": machine_info(),
            "parts": summary,
        },
    )
    return 0 if all(s["exit_code"] == 0 for s in summary) else 1


if __name__ == "__main__":
    sys.exit(main())
