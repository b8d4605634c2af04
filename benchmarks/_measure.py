"""Measuring inside a benchmark process: call timing, resident memory, load average and machine description.

:func:`time_throughput` times a step on an :class:`~benchmarks._engines.Engine` (warm-up, then repeats of about
a fixed duration) and :func:`throughput_record` turns that into a patterns/s :class:`~benchmarks._records.Record`;
:func:`rss_mib` reads this process's resident set; :func:`load_average` and :func:`machine_info` describe the
conditions of a run. :data:`SEED` seeds every benchmark's random data.
"""

from __future__ import annotations

import os
import platform
import statistics
import time
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from ._engines import Engine
from ._records import Record

SEED = 0


def rss_mib(kind: str) -> float:
    """``'peak'`` (``VmHWM``) or ``'now'`` (``VmRSS``) resident set of this process in MiB, from
    ``/proc/self/status`` (Linux).

    Writing ``5`` to ``/proc/self/clear_refs`` resets the peak to the current value. ``getrusage``'s
    ``ru_maxrss`` is not used: a subprocess inherits its parent's peak through fork and exec, so a worker
    started by a parent that had just written a 1.6 GB file reported that as its own peak.
    """
    field = {"peak": "VmHWM:", "now": "VmRSS:"}[kind]
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"{field} not found in /proc/self/status")


def time_throughput(
    step: Callable[..., Any], args: Sequence[Any], engine: Engine, repeats: int, repeat_s: float
) -> Tuple[List[float], int, float]:
    """Seconds per call of ``step(*args)``: one warm-up call, then ``repeats`` timed runs of ``iters`` calls.

    ``iters`` is chosen so that one repeat lasts about ``repeat_s`` seconds. Returns
    ``(seconds per call for each repeat, iters, warm-up seconds)``.
    """
    start = time.perf_counter()
    engine.sync(step(*args))
    first = time.perf_counter() - start
    start = time.perf_counter()
    engine.sync(step(*args))
    single = max(time.perf_counter() - start, 1e-6)
    iters = int(min(1000, max(1, round(repeat_s / single))))
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        out = None
        for _ in range(iters):
            out = step(*args)
        engine.sync(out)
        samples.append((time.perf_counter() - start) / iters)
    return samples, iters, first


def throughput_record(
    engine: Engine,
    measurement: str,
    mode: str,
    size: str,
    batch: int,
    step: Callable[..., Any],
    args: Sequence[Any],
    repeats: int,
    repeat_s: float,
) -> Record:
    """Time ``step`` and express it as patterns/s (``batch`` patterns per call; median over repeats)."""
    samples, iters, first = time_throughput(step, args, engine, repeats, repeat_s)
    rates = [batch / s for s in samples]
    return Record(
        engine.name,
        measurement,
        mode,
        size,
        statistics.median(rates),
        "patterns/s",
        rates,
        iters,
        first,
        {"ms_per_call": 1e3 * statistics.median(samples)},
    )


def load_average() -> Optional[Tuple[float, float, float]]:
    """1, 5 and 15 minute load averages (``None`` where the OS has none); other jobs make timings noisy."""
    try:
        return tuple(round(x, 2) for x in os.getloadavg())  # type: ignore[return-value]
    except (AttributeError, OSError):
        return None


def machine_info() -> Dict[str, Any]:
    return {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
    }
