"""The README's main job, measured: ``ptychopinn demo`` on its defaults, per backend.

Run from the repository root::

    python -m benchmarks.bench_demo                         # every backend, the demo's defaults
    python -m benchmarks.bench_demo --backends jax --demo-args "--epochs 30 --seed 2"

Each backend runs the command line exactly as a user does (a fresh process, ``ptychopinn --backend B demo``):
simulate a training scan and a held-out scan of the same kind of object, train on the first, reconstruct the
second. Reported per backend: the wall time of the whole command, the training time (the ``train`` step's
``done in`` line), the held-out reconstruction time (predict and stitch, after loading the model), and the
scores of the held-out reconstruction against its true object (``metrics.json``: amplitude and phase correlation
after alignment and removal of the global phase offset, the 1/2-bit FRC resolution). The demo's targets: training
within 5 minutes on 2 CPU cores, amplitude correlation >= 0.95 and phase correlation >= 0.9.

Not part of ``python -m benchmarks`` (it trains for minutes per backend); the figures go to README ("The main
job") and ``benchmarks/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

from ._cli import BACKENDS, RESULTS_DIR
from ._common import load_average, machine_info, write_json

KEYS = ("amplitude_correlation", "phase_correlation", "frc_half_bit_resolution_pixels")


def run_demo(backend: str, extra: Sequence[str], folder: Path) -> Dict[str, Any]:
    """One ``ptychopinn demo`` in a fresh process; its timings and held-out scores."""
    command = [sys.executable, "-m", "ptychopinn", "--backend", backend, "demo", "--out", str(folder), *extra]
    env = {**os.environ, "KERAS_BACKEND": backend}
    started = time.perf_counter()
    proc = subprocess.run(command, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - started
    row: Dict[str, Any] = {"backend": backend, "exit_code": proc.returncode, "wall_s": round(wall, 1)}
    if proc.returncode != 0:
        row["error"] = proc.stderr.strip().splitlines()[-1:] or ["(no message)"]
        return row
    # "[k/n] train 20 epochs on ... ...", then per-epoch lines, then "      done in 207.3 s — ..."
    trained = re.search(r"\] train [^\n]*\n(?:\s+epoch [^\n]*\n)*\s+done in ([\d.]+) s", proc.stdout)
    row["train_s"] = float(trained.group(1)) if trained else None
    metrics = json.loads((folder / "reconstruction" / "metrics.json").read_text())
    row["reconstruct_s"] = metrics.get("predict_and_stitch_seconds")
    row["patterns"] = metrics.get("patterns")
    row.update({key: metrics.get(key) for key in KEYS})
    return row


def _cell(value: Any, digits: int = 3) -> str:
    return "-" if value is None else (f"{value:.{digits}f}" if isinstance(value, float) else str(value))


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backends", default=",".join(BACKENDS), help="comma-separated (default: %(default)s)")
    parser.add_argument("--demo-args", default="", help="extra arguments for the demo, one quoted string")
    parser.add_argument("--json", default=str(RESULTS_DIR / "demo.json"), help="where to write the figures")
    args = parser.parse_args(argv)
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    unknown = [b for b in backends if b not in BACKENDS]
    if unknown:
        parser.error(f"unknown backend(s) {unknown}; choose from {', '.join(BACKENDS)}")
    extra = shlex.split(args.demo_args)
    before = load_average()
    rows: List[Dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for backend in backends:
            rows.append(run_demo(backend, extra, Path(tmp) / backend))
            print(json.dumps(rows[-1]), flush=True)
    print(f"\nptychopinn demo {' '.join(extra)} (load average before {before}, after {load_average()})")
    header = ("backend", "wall s", "train s", "reconstruct s", "patterns", "amplitude corr", "phase corr", "FRC px")
    print("  ".join(f"{h:>14}" for h in header))
    for row in rows:
        cells = [row["backend"], _cell(row["wall_s"], 1), _cell(row.get("train_s"), 1)]
        cells += [_cell(row.get("reconstruct_s"), 2), _cell(row.get("patterns"))]
        cells += [_cell(row.get(key)) for key in KEYS]
        print("  ".join(f"{c:>14}" for c in cells))
    write_json(Path(args.json), {"machine": machine_info(), "demo_args": extra, "rows": rows})
    return 1 if any(row["exit_code"] != 0 for row in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
