"""Speed and memory of grouping scan points into training groups (``RawData.generate_grouped_data``).

Run from the repository root::

    python -m benchmarks.bench_grouping                 # 10,000 and 100,000 points, median of 3
    python -m benchmarks.bench_grouping --quick         # 2,000 points, 1 repeat (CI smoke run)
    python -m benchmarks.bench_grouping --points 10000 --repeats 5

Grouping is NumPy and SciPy work (a KD-tree over the scan positions, then gathers), the same on every Keras
backend, so it runs under one backend only (the first of ``--backends``). Each scan size runs in its own worker
subprocess, so its peak memory is its own.

Scene (seeded): a jittered square raster of ``n`` points with 5 px steps, float32 amplitudes ``(n, 64, 64)``,
no ``objectGuess`` (PINN training needs none; Ptychodus sends none). Two measurements per size:

* ``groups``: choosing the ``(n, 4)`` index groups (gridsize 2, ``K = 7`` nearest neighbours, ``nsamples = n``,
  seeded): the KD-tree query and the per-seed draws that reproduce the original's random sequence.
* ``grouped data``: the whole ``generate_grouped_data(64, K=7, nsamples=n, gridsize=2, seed=1)`` call, i.e. the
  groups plus the gathered ``(n, 64, 64, 4)`` diffraction, the normalised ``X_full`` and the coordinates. At
  100,000 points the two ``(n, 64, 64, 4)`` outputs alone take 13 GB, so this measurement runs only up to
  ``--max-data-points`` (default 10,000).

Memory: the worker's peak resident set size during the call minus its resident set just before it (the scan
data already loaded), via ``/proc/self/clear_refs`` and ``VmHWM`` on Linux. The outputs themselves are part
of it: at 10,000 points the gathered diffraction and ``X_full`` are 655 MB each. Reference: the original
PtychoPINN's ``generate_grouped_data`` takes 5.6 s and peaks at 5.5 GB for 10,000 points (gridsize 2, K 7) on
the issue's machine kind; the target is ≥5× faster and ≤1.5 GB.
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import sys
import time
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
    default_repeats,
    load_average,
    machine_info,
    record_cells,
    render_table,
    report_failures,
    require_worker_env,
    rss_mib,
    selected_backends,
    spawn_worker,
    write_json,
)

DEFAULT_JSON = RESULTS_DIR / "grouping.json"
N = 64
GRIDSIZE = 2
K = 7
STEP_PX = 5.0
FULL_POINTS = (10_000, 100_000)
QUICK_POINTS = (2_000,)
MAX_DATA_POINTS = 10_000
#: The original's ``generate_grouped_data`` at 10,000 points (seconds, peak bytes) on the issue's machine kind.
REFERENCE = {10_000: (5.6, 5.5e9)}
TARGET_SPEEDUP = 5.0
TARGET_PEAK_BYTES = 1.5e9


def scan_data(points: int, rng: np.random.Generator):
    """``(x, y, diffraction)``: a jittered square raster (5 px steps) and random float32 ``(points, N, N)``."""
    side = int(np.ceil(np.sqrt(points)))
    rows, cols = np.divmod(np.arange(points), side)
    x = cols * STEP_PX + rng.uniform(-0.5, 0.5, points) + N
    y = rows * STEP_PX + rng.uniform(-0.5, 0.5, points) + N
    return x, y, rng.random((points, N, N), dtype=np.float32)


def measure(call, repeats: int) -> Dict[str, Any]:
    """Median seconds of ``call()`` over ``repeats`` (after one untimed call) and the largest memory rise."""
    samples, rises = [], []
    first = None
    for i in range(repeats + 1):
        gc.collect()
        before = rss_mib("now")
        Path("/proc/self/clear_refs").write_text("5")  # peak RSS := current RSS
        start = time.perf_counter()
        result = call()
        elapsed = time.perf_counter() - start
        rises.append(rss_mib("peak") - before)
        del result
        if i == 0:
            first = elapsed
        else:
            samples.append(elapsed)
    return {"samples": samples, "first": first, "peak_rise_mib": max(rises)}


def run_worker(backend: str, points: int, repeats: int, with_data: bool, out: Path) -> None:
    """Measure ``groups`` (and ``grouped data`` if ``with_data``) at ``points`` points; write JSON to ``out``."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "compat"))
    from ptycho.raw_data import RawData

    x, y, diffraction = scan_data(points, np.random.default_rng(SEED))
    raw = RawData.from_coords_without_pc(x, y, diffraction, np.ones((N, N), np.complex64), np.zeros(points, int))
    size = f"{points:,} pts gs{GRIDSIZE} K{K}"
    records: List[Record] = []

    def record(measurement: str, mode: str, m: Dict[str, Any], reference: Optional[tuple]) -> None:
        value = statistics.median(m["samples"])
        extra: Dict[str, Any] = {"points": points, "peak_rise_mib": m["peak_rise_mib"]}
        if reference is not None:
            extra.update(
                reference_s=reference[0], speedup=reference[0] / value, reference_peak_mib=reference[1] / 2**20
            )
        records.append(Record(backend, measurement, mode, size, value, "s", m["samples"], 1, m["first"], extra))

    from ptycho_core.data import group_neighbours

    groups = measure(lambda: group_neighbours(x, y, gridsize=GRIDSIZE, n_groups=points, K=K, seed=1), repeats)
    record("groups", "group_neighbours: KD-tree query + seeded per-seed draws", groups, None)
    if with_data:
        data = measure(lambda: raw.generate_grouped_data(N, K=K, nsamples=points, gridsize=GRIDSIZE, seed=1), repeats)
        record("grouped data", "generate_grouped_data (groups, gathers, X_full)", data, REFERENCE.get(points))
    import keras

    out.write_text(
        json.dumps(
            {
                "backend": backend,
                "backend_version": "-",
                "keras_version": keras.__version__,
                "device": "cpu (NumPy/SciPy)",
                "records": [asdict(r) for r in records],
            }
        )
    )


def format_table(results: Sequence[Dict[str, Any]]) -> str:
    header = RECORD_HEADER + ("memory rise", "original", "speed-up")
    rows = []
    for payload in results:
        for r in payload.get("records", []):
            e = r["extra"]
            rows.append(
                record_cells(r)
                + (
                    f"{e['peak_rise_mib']:,.0f} MiB",
                    "-" if "reference_s" not in e else f"{e['reference_s']} s, {e['reference_peak_mib']:,.0f} MiB",
                    "-" if "speedup" not in e else f"{e['speedup']:.1f}x",
                )
            )
    return render_table(header, rows)


def target_lines(results: Sequence[Dict[str, Any]]) -> List[str]:
    lines = []
    for payload in results:
        for r in payload.get("records", []):
            e = r["extra"]
            if "speedup" in e:
                fast = e["speedup"] >= TARGET_SPEEDUP
                small = e["peak_rise_mib"] * 2**20 <= TARGET_PEAK_BYTES
                lines.append(
                    f"target grouped data at {e['points']:,} points >= {TARGET_SPEEDUP:.0f}x the original "
                    f"and <= {TARGET_PEAK_BYTES / 1e9:.1f} GB: {e['speedup']:.1f}x "
                    f"({'MET' if fast else 'NOT MET'}), {e['peak_rise_mib'] * 2**20 / 1e9:.2f} GB "
                    f"({'MET' if small else 'NOT MET'})"
                )
    return lines


def run_parent(args: argparse.Namespace) -> int:
    backend = selected_backends(args)[0]
    repeats = default_repeats(args)
    points = args.points or (QUICK_POINTS if args.quick else FULL_POINTS)
    load_before = load_average()
    results = []
    for n in points:
        worker_args = ["--repeats", str(repeats), "--points", str(n), "--max-data-points", str(args.max_data_points)]
        payload = spawn_worker("benchmarks.bench_grouping", backend, worker_args)
        results.append(payload)
    print(
        f"\nGrouping benchmark ({'quick' if args.quick else 'full'}; N={N}, gridsize {GRIDSIZE}, K={K}; "
        f"median of {repeats}; worker backend {backend}; load average before {load_before}, after "
        f"{load_average()})"
    )
    print(format_table(results))
    for line in target_lines(results):
        print(line)
    failed = report_failures(results)
    write_json(
        args.json,
        {
            "quick": bool(args.quick),
            "repeats": repeats,
            "points": list(points),
            "reference": {str(k): {"seconds": v[0], "peak_bytes": v[1]} for k, v in REFERENCE.items()},
            "machine": machine_info(),
            "results": results,
        },
    )
    return 1 if failed else 0


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_grouping", description=__doc__.split("\n")[0])
    add_common_arguments(parser, DEFAULT_JSON)
    parser.add_argument(
        "--points",
        type=lambda s: tuple(int(v) for v in s.split(",")),
        default=None,
        help="comma-separated scan sizes (default: 10000,100000; --quick: 2000)",
    )
    parser.add_argument(
        "--max-data-points",
        type=int,
        default=MAX_DATA_POINTS,
        help="largest size at which the whole generate_grouped_data call is measured "
        "(default: %(default)s; its outputs take 131 kB per point)",
    )
    args = parser.parse_args(argv)
    check_common_arguments(parser, args)
    if args.points is not None and min(args.points) < GRIDSIZE**2:
        parser.error(f"--points must be at least {GRIDSIZE**2}")
    return args


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    if args.worker:
        require_worker_env(args.worker)
        points = args.points[0]
        run_worker(args.worker, points, args.repeats or 1, points <= args.max_data_points, Path(args.out))
        return 0
    return run_parent(args)


if __name__ == "__main__":
    sys.exit(main())
