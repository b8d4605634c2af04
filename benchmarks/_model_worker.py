"""The model benchmark's worker process: every configuration on one backend, figures written as JSON.

``python -m benchmarks.bench_model --worker BACKEND --out FILE`` calls :func:`run_worker` with ``KERAS_BACKEND``
already set: matmul peak, each ``train`` and ``predict`` configuration (a failing one is recorded and the rest
still run), matmul peak again, then the payload the parent reads.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any, Dict, List, Optional

from ._common import Record, check_worker_backend, make_engine, worker_progress
from ._model_cases import bench_inference, bench_training, matmul_gflops, peak_rss_mib, reset_peak_rss
from ._model_config import Sizes, config_label


def run_worker(
    backend: str, sizes: Sizes, repeats: int, out: Path, jit: Any, torch_threads: Optional[int] = None
) -> None:
    """Measure everything on ``backend`` (already selected by ``KERAS_BACKEND``) and write JSON to ``out``."""
    import keras

    check_worker_backend(backend)
    relay, start = worker_progress(backend), time.perf_counter()

    def progress(message: str) -> None:
        relay(f"{message} (at {time.perf_counter() - start:.0f} s)")

    engine = make_engine(backend, torch_threads)
    lifetime_peak = peak_rss_mib()
    progress(f"matmul peak ({sizes.matmul}x{sizes.matmul})")
    matmul = [matmul_gflops(engine, sizes.matmul)]
    records: List[Record] = []
    errors: List[Dict[str, str]] = []
    plan = [("train", g, b, n, bench_training) for g, b, n in sizes.train]
    plan += [("predict", g, b, n, bench_inference) for g, b, n in sizes.predict]
    lifetime_peak = max(lifetime_peak, peak_rss_mib())
    per_measurement_rss = reset_peak_rss()  # each measurement resets the peak again after freeing the last model
    for measurement, gridsize, batch, n, bench in plan:
        progress(f"{measurement} N {n} gridsize {gridsize} batch {batch}")
        lifetime_peak = max(lifetime_peak, peak_rss_mib())
        try:
            records.append(bench(engine, sizes, gridsize, batch, n, jit, repeats))
        except Exception as exc:  # one failing configuration (e.g. torch.compile) must not lose the others
            errors.append(
                {
                    "measurement": measurement,
                    "size": config_label(gridsize, batch, n),
                    "error": f"{type(exc).__name__}: {exc}"[:2000],
                }
            )
            progress(f"FAILED: {errors[-1]['error'][:300]}")
    lifetime_peak = max(lifetime_peak, peak_rss_mib())
    progress("matmul peak again")
    matmul.append(matmul_gflops(engine, sizes.matmul))
    peak = max(max(m.values()) for m in matmul)
    for r in records:  # every record against the best matmul figure seen in this worker
        r.extra["pct_peak"] = 100.0 * r.extra["gflops"] / peak
    payload = {
        "backend": backend,
        "backend_version": engine.version(),
        "keras_version": keras.__version__,
        "device": engine.device(),
        "jit": {"requested": str(jit)},
        "matmul_gflops": matmul,
        "matmul_peak_gflops": peak,
        "peak_rss_is_per_measurement": per_measurement_rss,
        "worker_peak_rss_mib": lifetime_peak,
        "records": [asdict(r) for r in records],
        "errors": errors,
    }
    out.write_text(json.dumps(payload, indent=1))
