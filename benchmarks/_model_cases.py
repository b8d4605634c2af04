"""The measured cases of the model benchmark: ``fit`` and ``predict`` throughput with memory and roofline figures.

:func:`bench_training` and :func:`bench_inference` build a fresh compiled model for one configuration, time it
with :func:`~benchmarks._common.throughput_record` and add the convolution FLOPs (:func:`conv_forward_flops`),
the peak resident set (:func:`peak_rss_mib`, reset per measurement by :func:`reset_peak_rss`), the backend's
peak where it keeps one and the original's figure; :func:`matmul_gflops` measures the float32 peak the
roofline is taken against. They run inside a worker process whose ``KERAS_BACKEND`` is already set.
"""

from __future__ import annotations

import gc
import resource
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Dict, Optional, Tuple

import numpy as np

from ._common import SEED, Engine, Record, throughput_record
from ._model_config import BACKWARD_FACTOR, DEFAULT_N, REFERENCE_PATTERNS_S, Sizes, config_label
from ._model_data import NPHOTONS, benchmark_probe, measurement_inputs

# --------------------------------------------------------------------------------------------- memory


def _rss_units_to_mib(value: int) -> float:
    return value / 2**20 if sys.platform == "darwin" else value / 1024  # bytes on macOS, KiB on Linux


def peak_rss_mib() -> float:
    """``ru_maxrss`` of this process in MiB (since the last :func:`reset_peak_rss` where that worked)."""
    return _rss_units_to_mib(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


def reset_peak_rss() -> bool:
    """Reset the peak RSS to the current RSS (Linux ``/proc/self/clear_refs``); False where impossible."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


# -------------------------------------------------------------------------------------------- roofline


def conv_forward_flops(model: Any) -> int:
    """Forward FLOPs per sample of the model's ``Conv2D`` layers: ``Σ 2·H·W·kh·kw·Cin·Cout`` (output H×W)."""
    import keras

    total = 0
    for layer in model.layers:
        if isinstance(layer, keras.layers.Conv2D):
            kh, kw, cin, cout = (int(d) for d in layer.kernel.shape)
            _, h, w, _ = layer.output.shape
            total += 2 * int(h) * int(w) * kh * kw * cin * cout
    return total


def matmul_gflops(engine: Engine, n: int, repeats: int = 5) -> Dict[str, float]:
    """Median GFLOP/s of an ``n × n`` float32 matmul in NumPy and in the backend (``keras.ops.matmul``)."""
    from keras import ops

    rng = np.random.default_rng(SEED)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    flops = 2.0 * n**3

    def rate(fn) -> float:
        fn()
        samples = []
        for _ in range(repeats):
            start = time.perf_counter()
            fn()
            samples.append(time.perf_counter() - start)
        return flops / statistics.median(samples) / 1e9

    ta, tb = engine.tensor(a), engine.tensor(b)
    return {"numpy": rate(lambda: a @ b), "backend": rate(lambda: engine.sync(ops.matmul(ta, tb)))}


# ------------------------------------------------------------------------------------------- measurements


def _fresh_session() -> None:
    import keras

    keras.backend.clear_session()
    gc.collect()


def _models(sizes: Sizes, gridsize: int, n: int, jit: Any):
    """``(spec, probe, autoencoder, diffraction_to_obj)``: compiled with ``jit_compile=jit`` (also set for predict)."""
    from ptycho_core.factory import create_compiled_models
    from ptycho_core.physics import intensity_scale
    from ptycho_core.spec import ModelSpec

    spec = ModelSpec(
        N=n,
        gridsize=gridsize,
        n_filters_scale=sizes.n_filters_scale,
        intensity_scale=float(intensity_scale(NPHOTONS, n)),
    )
    probe = benchmark_probe(n)
    autoencoder, diffraction_to_obj = create_compiled_models(spec, probe=probe, jit_compile=jit)
    if jit != "auto":
        diffraction_to_obj.jit_compile = jit
    return spec, probe, autoencoder, diffraction_to_obj


def _finish(
    record: Record, flops_per_pattern: float, reference_key: Optional[Tuple[str, int, int]], engine: Engine
) -> Record:
    """Add FLOPs, achieved GFLOP/s, memory peaks and the original's figure to ``record.extra``."""
    backend_peak = engine.peak_memory_bytes()
    record.extra.update(
        gflop_per_pattern=flops_per_pattern / 1e9,
        gflops=record.value * flops_per_pattern / 1e9,
        peak_rss_mib=peak_rss_mib(),
        backend_peak_mib=None if backend_peak is None else backend_peak / 2**20,
    )
    reference = None if reference_key is None else REFERENCE_PATTERNS_S.get(reference_key)
    if reference is not None:
        record.extra.update(reference=reference, ratio=record.value / reference)
    return record


def bench_training(engine: Engine, sizes: Sizes, gridsize: int, batch: int, n: int, jit: Any, repeats: int) -> Record:
    """``autoencoder.fit`` throughput at ``(gridsize, batch, N)``: ``sizes.train_steps`` steps per call."""
    _fresh_session()
    reset_peak_rss()
    engine.reset_peak_memory()
    from ptycho_core.training import make_targets

    spec, _, autoencoder, _ = _models(sizes, gridsize, n, jit)
    count = sizes.train_steps * batch
    _, x, positions = measurement_inputs("train", gridsize, batch, n, sizes.train_steps)
    targets = make_targets(x, positions)
    last: Dict[str, float] = {}

    def step() -> None:
        history = autoencoder.fit([x, positions], targets, batch_size=batch, epochs=1, verbose=0, shuffle=False)
        last["loss"] = float(history.history["loss"][-1])

    mode = f"fit ({sizes.train_steps} steps/call), jit_compile={autoencoder.jit_compile}"
    record = throughput_record(
        engine,
        "train",
        mode,
        config_label(gridsize, batch, n),
        count * spec.channels,
        step,
        (),
        repeats,
        sizes.repeat_s,
    )
    record.extra.update(
        gridsize=gridsize,
        batch=batch,
        n=n,
        steps_per_call=sizes.train_steps,
        jit_compile=autoencoder.jit_compile,
        final_loss=last.get("loss"),
    )
    flops = BACKWARD_FACTOR * conv_forward_flops(autoencoder) / spec.channels
    return _finish(record, flops, ("train", gridsize, batch) if n == DEFAULT_N else None, engine)


def bench_inference(engine: Engine, sizes: Sizes, gridsize: int, batch: int, n: int, jit: Any, repeats: int) -> Record:
    """``diffraction_to_obj.predict`` throughput at ``(gridsize, batch, N)``: ``sizes.predict_batches`` per call."""
    _fresh_session()
    reset_peak_rss()
    engine.reset_peak_memory()
    spec, _, _, diffraction_to_obj = _models(sizes, gridsize, n, jit)
    count = sizes.predict_batches * batch
    _, x, positions = measurement_inputs("predict", gridsize, batch, n, sizes.predict_batches)

    def step() -> None:
        out = diffraction_to_obj.predict([x, positions], batch_size=batch, verbose=0)
        if out.shape[0] != count:
            raise RuntimeError(f"predict returned {out.shape[0]} rows for {count} inputs")

    mode = f"predict ({sizes.predict_batches} batches/call), jit_compile={diffraction_to_obj.jit_compile}"
    record = throughput_record(
        engine,
        "predict",
        mode,
        config_label(gridsize, batch, n),
        count * spec.channels,
        step,
        (),
        repeats,
        sizes.repeat_s,
    )
    record.extra.update(
        gridsize=gridsize,
        batch=batch,
        n=n,
        batches_per_call=sizes.predict_batches,
        jit_compile=diffraction_to_obj.jit_compile,
    )
    flops = conv_forward_flops(diffraction_to_obj) / spec.channels
    return _finish(record, flops, ("predict", gridsize, batch) if n == DEFAULT_N else None, engine)
