"""Streaming reconstruction: time and peak memory against the number of diffraction patterns.

Run from the repository root::

    python -m benchmarks.bench_streaming                         # 10,000 and 100,000 patterns, N=64, jax
    python -m benchmarks.bench_streaming --quick                 # 192 patterns in 3 chunks (CI smoke run)
    python -m benchmarks.bench_streaming --patterns 10000,30000 --backends torch,jax --n-filters-scale 2

What runs is :func:`ptycho_core.streaming.reconstruct_streaming` with an untrained (seeded) gridsize-1 model,
``ModelSpec(N=64, n_filters_scale=…)``: the patterns are read from a ``.npy`` file on disk a chunk at a time
(``--chunk-mb``, default 64), normalised, predicted (``diffraction_to_obj.predict``, ``--batch-size``) and
stitched (``M = 20``) into one canvas. The scan has the same extent at every count (random positions in a
256 × 256 px square), so the canvas is the same size and only the number of patterns changes; the diffraction
file holds random float32 amplitudes (``n × 16 KiB``: 1.6 GB at 100,000), written once per count by the parent.

Each (backend, count) runs in its own worker subprocess. Memory: the worker's resident set just before the
reconstruction (model built, one chunk predicted once to warm it up) and its peak during the reconstruction
(``/proc/self/clear_refs`` then ``VmHWM``, Linux); the *rise* is the difference. Target (issue 8): 100,000
patterns of N=64 reconstruct with a peak that does not depend on the count beyond a fixed working set, i.e. the
rise at the largest count is within 10% (plus two chunks of allocator slack) of the rise at the smallest.
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

import numpy as np

from ._common import (
    RESULTS_DIR,
    SEED,
    add_common_arguments,
    check_common_arguments,
    load_average,
    machine_info,
    render_table,
    report_failures,
    require_worker_env,
    rss_mib,
    selected_backends,
    spawn_worker,
    write_json,
)

DEFAULT_JSON = RESULTS_DIR / "streaming.json"
N = 64
M = 20
SCAN_EXTENT_PX = 256.0
FULL_PATTERNS = (10_000, 100_000)
QUICK_PATTERNS = (192,)  # 3 chunks of 1 MiB: every code path (first, middle, last chunk), in seconds
NPHOTONS = 1e9
#: The target: rise(largest) <= rise(smallest) * (1 + RISE_TOLERANCE) + RISE_SLACK_CHUNKS * chunk MiB (the
#: allocators' high-water mark drifts by up to about a chunk over many chunks; the data grows by 1.4 GB).
RISE_TOLERANCE = 0.10
RISE_SLACK_CHUNKS = 2


def positions(n: int) -> np.ndarray:
    """``(n, 1, 2, 1)`` float64 ``[x, y]``: uniform in a ``SCAN_EXTENT_PX`` square (seeded)."""
    xy = np.random.default_rng(SEED).uniform(N, N + SCAN_EXTENT_PX, (n, 2))
    return xy.reshape(n, 1, 2, 1)


def write_patterns(path: Path, n: int, block: int = 4096) -> None:
    """``(n, N, N)`` random float32 amplitudes as a ``.npy`` file, written a block at a time."""
    rng = np.random.default_rng(SEED)
    stack = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(n, N, N))
    for first in range(0, n, block):
        last = min(n, first + block)
        stack[first:last] = rng.random((last - first, N, N), dtype=np.float32)
    stack.flush()
    del stack


def run_worker(backend: str, data: Path, n_filters_scale: int, batch_size: int, chunk_mb: int, out: Path) -> None:
    """Reconstruct the patterns in ``data`` by streaming; write time and memory to ``out`` as JSON."""
    import keras

    from ptycho_core.array_rows import open_rows
    from ptycho_core.factory import create_compiled_models
    from ptycho_core.physics import intensity_scale
    from ptycho_core.spec import ModelSpec
    from ptycho_core.streaming import reconstruct_streaming, rows_per_chunk

    from ._model_data import benchmark_probe

    keras.utils.set_random_seed(SEED)
    scale = float(intensity_scale(NPHOTONS, N))
    spec = ModelSpec(N=N, gridsize=1, n_filters_scale=n_filters_scale, intensity_scale=scale)
    _, diffraction_to_obj = create_compiled_models(spec, probe=benchmark_probe(N))

    def predict(x: np.ndarray, offsets: np.ndarray) -> Any:
        return diffraction_to_obj.predict_on_batch([x, offsets])

    chunk_bytes = int(chunk_mb) << 20
    with open_rows(data) as rows:
        n = rows.shape[0]
        groups = np.arange(n).reshape(n, 1)
        global_offsets = positions(n)
        local_offsets = np.zeros((n, 1, 2, 1))
        warm = min(n, rows_per_chunk((N, N), 1, chunk_bytes))  # one chunk, so every buffer size has been used
        reconstruct_streaming(
            predict,
            rows,
            groups[:warm],
            global_offsets[:warm],
            local_offsets[:warm],
            intensity_scale=scale,
            M=M,
            chunk_bytes=chunk_bytes,
            batch_size=batch_size,
        )
        gc.collect()
        before = rss_mib("now")
        Path("/proc/self/clear_refs").write_text("5")  # peak RSS := current RSS
        start = time.perf_counter()
        image = reconstruct_streaming(
            predict,
            rows,
            groups,
            global_offsets,
            local_offsets,
            intensity_scale=scale,
            M=M,
            chunk_bytes=chunk_bytes,
            batch_size=batch_size,
        )
        seconds = time.perf_counter() - start
        peak = rss_mib("peak")
    out.write_text(
        json.dumps(
            {
                "backend": backend,
                "keras_version": keras.__version__,
                "patterns": n,
                "seconds": seconds,
                "patterns_per_s": n / seconds,
                "rss_before_mib": before,
                "peak_rss_mib": peak,
                "rise_mib": peak - before,
                "canvas": list(image.shape),
                "finite": bool(np.isfinite(image).all()),
                "n_filters_scale": n_filters_scale,
                "batch_size": batch_size,
                "chunk_mb": chunk_mb,
                "data_mib": n * N * N * 4 / 2**20,
            }
        )
    )


def target_line(results: Sequence[Dict[str, Any]], backend: str) -> Optional[str]:
    mine = sorted((r for r in results if r.get("backend") == backend and "rise_mib" in r), key=lambda r: r["patterns"])
    if len(mine) < 2:
        return None
    small, large = mine[0], mine[-1]
    limit = small["rise_mib"] * (1 + RISE_TOLERANCE) + RISE_SLACK_CHUNKS * large["chunk_mb"]
    met = large["rise_mib"] <= limit
    return (
        f"target {backend}: peak rise at {large['patterns']:,} patterns {large['rise_mib']:,.0f} MiB vs "
        f"{small['rise_mib']:,.0f} MiB at {small['patterns']:,} (limit {limit:,.0f} MiB; the data is "
        f"{large['data_mib']:,.0f} MiB): {'MET' if met else 'NOT MET'}"
    )


def run_parent(args: argparse.Namespace) -> int:
    backends = selected_backends(args)
    counts = args.patterns or (QUICK_PATTERNS if args.quick else FULL_PATTERNS)
    chunk_mb = args.chunk_mb if args.chunk_mb is not None else (1 if args.quick else 64)
    load_before = load_average()
    results: List[Dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench-streaming-", dir=args.data_dir) as tmp:
        for n in counts:
            data = Path(tmp) / f"patterns-{n}.npy"
            write_patterns(data, n)
            for backend in backends:
                worker_args = [
                    "--data",
                    str(data),
                    "--n-filters-scale",
                    str(args.n_filters_scale),
                    "--batch-size",
                    str(args.batch_size),
                    "--chunk-mb",
                    str(chunk_mb),
                ]
                results.append(spawn_worker("benchmarks.bench_streaming", backend, worker_args))
            data.unlink()
    print(
        f"\nStreaming reconstruction benchmark ({'quick' if args.quick else 'full'}; N={N}, gridsize 1, "
        f"n_filters_scale {args.n_filters_scale}, batch {args.batch_size}, {chunk_mb} MiB chunks, M={M}; "
        f"load average before {load_before}, after {load_average()})"
    )
    header = ("backend", "patterns", "data", "seconds", "patterns/s", "RSS before", "peak RSS", "rise", "canvas")
    rows = [
        (
            r["backend"],
            f"{r['patterns']:,}",
            f"{r['data_mib']:,.0f} MiB",
            f"{r['seconds']:.1f}",
            f"{r['patterns_per_s']:,.0f}",
            f"{r['rss_before_mib']:,.0f} MiB",
            f"{r['peak_rss_mib']:,.0f} MiB",
            f"{r['rise_mib']:,.0f} MiB",
            "x".join(str(s) for s in r["canvas"][:2]),
        )
        for r in results
        if "rise_mib" in r
    ]
    print(render_table(header, rows))
    for backend in backends:
        line = target_line(results, backend)
        if line and args.quick:
            print(f"(quick sizes do not reach the allocators' steady peak; not judged) {line}")
        elif line:
            print(line)
    failed = report_failures(results)
    failed = failed or any(not r.get("finite", True) for r in results)
    write_json(
        args.json,
        {
            "quick": bool(args.quick),
            "patterns": list(counts),
            "chunk_mb": chunk_mb,
            "machine": machine_info(),
            "results": results,
        },
    )
    return 1 if failed else 0


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_streaming", description=__doc__.split("\n")[0])
    add_common_arguments(parser, DEFAULT_JSON)
    parser.set_defaults(backends="jax")
    parser.add_argument(
        "--patterns",
        type=lambda s: tuple(int(v) for v in s.split(",")),
        default=None,
        help="comma-separated pattern counts (default 10000,100000; --quick 192)",
    )
    parser.add_argument("--n-filters-scale", type=int, default=1, help="network width (default 1)")
    parser.add_argument(
        "--batch-size", type=int, default=64, help="prediction batch (default 64, as `ptychopinn reconstruct`)"
    )
    parser.add_argument("--chunk-mb", type=int, default=None, help="MiB of patterns per chunk (default 64; quick 1)")
    parser.add_argument("--data-dir", default=None, help="where the pattern files are written (default: temp)")
    parser.add_argument("--data", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    check_common_arguments(parser, args)
    if args.patterns is not None and min(args.patterns) < 1:
        parser.error("--patterns must be positive")
    return args


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    if args.worker:
        require_worker_env(args.worker)
        run_worker(args.worker, Path(args.data), args.n_filters_scale, args.batch_size, args.chunk_mb, Path(args.out))
        return 0
    return run_parent(args)


if __name__ == "__main__":
    sys.exit(main())
