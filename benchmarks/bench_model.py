"""Speed of the PtychoPINN model on each Keras backend: training and inference patterns/s, memory, roofline.

Run from the repository root::

    python -m benchmarks.bench_model                        # all backends, full sizes, median of 3
    python -m benchmarks.bench_model --quick                # tiny sizes, 1 repeat (CI smoke run)
    python -m benchmarks.bench_model --backends torch --torch-threads 1 --repeats 5
    python -m benchmarks.bench_model --backends tensorflow --jit on    # XLA on TF (jit_compile=True)
    python -m benchmarks.bench_model --train 1x16,2x8 --predict 1x16     # only the like-for-like configurations

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
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import json
import os
import resource
import statistics
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from ._common import (
    RECORD_HEADER,
    RESULTS_DIR,
    SEED,
    Engine,
    Record,
    add_common_arguments,
    check_common_arguments,
    check_worker_backend,
    common_worker_args,
    default_repeats,
    load_average,
    machine_info,
    make_engine,
    print_backend_lines,
    record_cells,
    render_table,
    report_failures,
    require_worker_env,
    selected_backends,
    spawn_worker,
    throughput_record,
    worker_progress,
    write_json,
)

DEFAULT_JSON = RESULTS_DIR / "model.json"

#: Original PtychoPINN (TF) patterns/s on the issue's machine kind, keyed by (measurement, gridsize, batch).
REFERENCE_PATTERNS_S: Dict[Tuple[str, int, int], float] = {
    ("train", 1, 16): 9.25,
    ("train", 2, 8): 36.7,
    ("predict", 1, 16): 52.0,
}
#: The original's convolution GFLOP per pattern, keyed by (pass, gridsize): "fwd+bwd" or "fwd".
REFERENCE_CONV_GFLOP: Dict[Tuple[str, int], float] = {("fwd+bwd", 1): 4.83, ("fwd+bwd", 2): 1.25, ("fwd", 1): 1.61}
#: float32 matmul peak of the issue's machine kind (GFLOP/s).
REFERENCE_MATMUL_GFLOPS = 140.0
#: Issue targets, as speed-ups over the original.
TARGET_TRAIN_BEST = 1.5
TARGET_TRAIN_TORCH = 1.2
TARGET_PREDICT_BEST = 1.3
#: Forward + backward convolution FLOPs as a multiple of forward (input and weight gradients ≈ 2 × forward).
BACKWARD_FACTOR = 3
#: Simulated data: photons per pattern (sets the intensity scale, as ``ModelSpec``'s default) and probe_scale.
NPHOTONS = 1e9
PROBE_SCALE = 4.0
JIT_CHOICES = {"auto": "auto", "on": True, "off": False}


#: One measured configuration: ``(gridsize, batch, N)``.
Config = Tuple[int, int, int]
DEFAULT_N = 64


def config_label(gridsize: int, batch: int, n: int) -> str:
    """Record size label: ``gs1 b16`` at the default ``N=64`` (the original's figures), else ``N128 gs1 b16``."""
    return f"gs{gridsize} b{batch}" if n == DEFAULT_N else f"N{n} gs{gridsize} b{batch}"


@dataclass(frozen=True)
class Sizes:
    """Problem sizes of one run.

    Attributes:
        n_filters_scale: ``ModelSpec.n_filters_scale``.
        train: ``(gridsize, batch, N)`` training configurations (``N`` the patch size).
        train_steps: train steps per ``fit`` call.
        predict: ``(gridsize, batch, N)`` inference configurations.
        predict_batches: batches per ``predict`` call.
        repeat_s: target duration of one repeat (seconds); calls per repeat follow from it (at least 1).
        matmul: side of the square float32 matmul that measures the peak.
    """

    n_filters_scale: int = 2
    train: Tuple[Config, ...] = ((1, 16, 64), (2, 16, 64), (2, 8, 64), (1, 16, 128), (2, 8, 128))
    train_steps: int = 4
    predict: Tuple[Config, ...] = ((1, 16, 64), (1, 64, 64), (1, 256, 64))
    predict_batches: int = 2
    repeat_s: float = 8.0
    matmul: int = 2048


FULL = Sizes()
QUICK = Sizes(train=((2, 2, 64),), train_steps=1, predict=((1, 4, 64),), predict_batches=1, repeat_s=0.05, matmul=512)


# --------------------------------------------------------------------------------------------- data (NumPy)


def smooth_objects(rng: np.random.Generator, count: int, n: int) -> np.ndarray:
    """Complex ``(count, n, n)`` objects: smooth random amplitude in [0.3, 1] and phase in [-1, 1] rad."""
    k = np.fft.fftfreq(n)
    lowpass = np.exp(-(k[:, None] ** 2 + k[None, :] ** 2) / (2 * 0.05**2))
    fields = np.real(np.fft.ifft2(np.fft.fft2(rng.standard_normal((2, count, n, n))) * lowpass))
    low = fields.min(axis=(2, 3), keepdims=True)
    fields = (fields - low) / (fields.max(axis=(2, 3), keepdims=True) - low)
    return ((0.3 + 0.7 * fields[0]) * np.exp(1j * (2 * fields[1] - 1))).astype(np.complex64)


def benchmark_probe(n: int) -> np.ndarray:
    """The default probe normalised as the original's ``set_probe`` does (probe_scale 4): complex64 ``(n, n, 1)``."""
    from ptycho_core.physics import default_probe, normalize_probe

    return normalize_probe(default_probe(n).astype(np.complex64), PROBE_SCALE)


def synthetic_inputs(
    rng: np.random.Generator, count: int, n: int, gridsize: int, probe: np.ndarray
) -> Tuple[np.ndarray, np.ndarray]:
    """Simulated model inputs: ``X·s`` float32 ``(count, n, n, C)`` and positions ``(count, 1, 2, C)``.

    Each of the ``count·C`` patterns is the far-field amplitude of ``probe ×`` a smooth random object, normalised
    to mean pattern energy ``(N/2)²`` (:func:`ptycho_core.physics.normalize_diffraction`), scaled by
    ``s = intensity_scale(NPHOTONS, N)`` (the ``ModelSpec`` default) and given Poisson noise. Positions are
    uniform in ``±2`` px. Data of this scale keep the Poisson NLL finite; arbitrary numbers can make it ``inf``
    on the first step (``log 0``) and every later step NaN.
    """
    from ptycho_core.physics import intensity_scale, normalize_diffraction

    c = gridsize**2
    waves = smooth_objects(rng, count * c, n) * probe[None, :, :, 0]
    amplitude = np.abs(np.fft.fftshift(np.fft.fft2(waves), axes=(1, 2))) / n
    x, _ = normalize_diffraction(amplitude[..., None], n)
    counts = rng.poisson((x[..., 0].astype(np.float64) * float(intensity_scale(NPHOTONS, n))) ** 2)
    x_scaled = np.sqrt(counts).astype(np.float32).reshape(count, c, n, n).transpose(0, 2, 3, 1)
    positions = rng.uniform(-2.0, 2.0, size=(count, 1, 2, c)).astype(np.float32)
    return np.ascontiguousarray(x_scaled), positions


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
    record.extra.update(
        gflop_per_pattern=flops_per_pattern / 1e9,
        gflops=record.value * flops_per_pattern / 1e9,
        peak_rss_mib=peak_rss_mib(),
        backend_peak_mib=None if engine.peak_memory_bytes() is None else engine.peak_memory_bytes() / 2**20,
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

    spec, probe, autoencoder, _ = _models(sizes, gridsize, n, jit)
    count = sizes.train_steps * batch
    x, positions = synthetic_inputs(np.random.default_rng(SEED + gridsize), count, n, gridsize, probe)
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
    spec, probe, _, diffraction_to_obj = _models(sizes, gridsize, n, jit)
    count = sizes.predict_batches * batch
    x, positions = synthetic_inputs(np.random.default_rng(SEED + 10 + gridsize), count, n, gridsize, probe)

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


# ------------------------------------------------------------------------------------------------- worker


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


# ------------------------------------------------------------------------------------------------- parent


def _fmt(value: Optional[float], spec: str, suffix: str = "") -> str:
    return "-" if value is None else f"{value:{spec}}{suffix}"


def format_table(results: Sequence[Dict[str, Any]]) -> str:
    """One row per backend × measurement with roofline, memory and the original's figure beside ours."""
    header = (
        RECORD_HEADER[:1]
        + ("what", "config")
        + RECORD_HEADER[3:]
        + ("GFLOP/s", "% peak", "peak RSS", "original", "ratio", "mode")
    )
    rows = []
    for payload in results:
        for r in payload.get("records", []):
            e = r["extra"]
            cells = record_cells(r)
            rss = _fmt(e.get("peak_rss_mib"), ",.0f", " MiB")
            if e.get("backend_peak_mib") is not None:
                rss += f" ({e['backend_peak_mib']:,.0f} MiB backend)"
            rows.append(
                cells
                + (
                    _fmt(e.get("gflops"), ".1f"),
                    _fmt(e.get("pct_peak"), ".0f", "%"),
                    rss,
                    _fmt(e.get("reference"), ".2f"),
                    _fmt(e.get("ratio"), ".2f", "x"),
                    r["mode"],
                )
            )
    return render_table(header, rows)


def flop_check(results: Sequence[Dict[str, Any]]) -> List[str]:
    """Our convolution GFLOP per pattern against the original's figures (same for every backend)."""
    seen: Dict[Tuple[str, int], float] = {}
    for payload in results:
        for r in payload.get("records", []):
            if r["extra"].get("n", DEFAULT_N) != DEFAULT_N:
                continue
            key = ("fwd+bwd" if r["measurement"] == "train" else "fwd", r["extra"]["gridsize"])
            seen.setdefault(key, r["extra"]["gflop_per_pattern"])
    lines = []
    for key, ours in sorted(seen.items()):
        text = f"conv GFLOP per pattern, {key[0]}, gridsize {key[1]}: {ours:.3f}"
        reference = REFERENCE_CONV_GFLOP.get(key)
        if reference is not None:
            verdict = "agrees" if abs(ours - reference) <= 0.01 * reference + 0.005 else "DIFFERS"
            text += f" (original {reference:.2f}: {verdict})"
        lines.append(text)
    return lines


def _best(
    results: Sequence[Dict[str, Any]], measurement: str, size: str, backends: Optional[Sequence[str]] = None
) -> Optional[Dict[str, Any]]:
    candidates = [
        r
        for p in results
        for r in p.get("records", [])
        if r["measurement"] == measurement and r["size"] == size and (backends is None or r["backend"] in backends)
    ]
    return max(candidates, key=lambda r: r["value"]) if candidates else None


def target_lines(results: Sequence[Dict[str, Any]]) -> List[str]:
    """Verdicts on the issue's targets for every like-for-like configuration that ran."""
    lines = []
    checks = [
        ("train", None, TARGET_TRAIN_BEST, "best backend"),
        ("train", ("torch",), TARGET_TRAIN_TORCH, "torch"),
        ("predict", None, TARGET_PREDICT_BEST, "best backend"),
    ]
    for measurement, backends, target, who in checks:
        for (m, gridsize, batch), reference in REFERENCE_PATTERNS_S.items():
            if m != measurement:
                continue
            best = _best(results, measurement, f"gs{gridsize} b{batch}", backends)
            if best is None:
                continue
            ratio = best["value"] / reference
            verdict = "MET" if ratio >= target else "NOT MET"
            lines.append(
                f"target {measurement} gs{gridsize} b{batch} >= {target}x original on {who}: "
                f"{best['backend']} {best['value']:.2f} vs {reference} patterns/s = {ratio:.2f}x "
                f"-> {verdict}"
            )
    return lines


def backend_lines(results: Sequence[Dict[str, Any]]) -> List[str]:
    """Per backend: matmul peaks, peak RSS, failed configurations and non-finite training losses."""
    lines = []
    for p in results:
        if "error" in p:
            continue
        runs = "; ".join(f"NumPy {m['numpy']:.0f}, {p['backend']} {m['backend']:.0f}" for m in p["matmul_gflops"])
        lines.append(
            f"{p['backend']:<10} matmul float32 GFLOP/s (start; end): {runs} -> peak "
            f"{p['matmul_peak_gflops']:.0f} (original machine kind ~{REFERENCE_MATMUL_GFLOPS:.0f}); "
            f"worker peak RSS {p['worker_peak_rss_mib']:,.0f} MiB"
        )
        for err in p.get("errors", []):
            lines.append(f"{p['backend']:<10} {err['measurement']} {err['size']} FAILED: {err['error'][:400]}")
        for r in p["records"]:
            loss = r["extra"].get("final_loss")
            if loss is not None and not np.isfinite(loss):
                lines.append(
                    f"{p['backend']:<10} {r['measurement']} {r['size']}: WARNING final loss {loss} "
                    "(the figures are of a diverged model)"
                )
    return lines


def run_parent(args: argparse.Namespace) -> int:
    """Spawn one worker per backend, print the table and summaries, write the JSON; returns the exit code."""
    backends = selected_backends(args)
    repeats = default_repeats(args)
    sizes = chosen_sizes(args)
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
    load_after = load_average()

    print(
        f"\nModel benchmark ({'quick' if args.quick else 'full'}; n_filters_scale="
        f"{sizes.n_filters_scale}; median of {repeats}; float32; --jit {args.jit}; {os.cpu_count()} CPU cores; "
        f"load average before {load_before}, after {load_after})"
    )
    print_backend_lines(results)
    print()
    print(format_table(results))
    print()
    for line in backend_lines(results) + flop_check(results) + target_lines(results):
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
        },
    )
    return 1 if failed or any(p.get("errors") for p in results) else 0


def parse_configs(text: str) -> Tuple[Config, ...]:
    """``"1x16,2x8@128"`` → ``((1, 16, 64), (2, 8, 128))`` (gridsize x batch [@N], N 64 when omitted);
    ``"none"`` → ``()``."""
    if text.strip().lower() == "none":
        return ()
    configs = []
    for item in text.split(","):
        head, at, n = item.strip().partition("@")
        gridsize, _, batch = head.partition("x")
        n = n if at else str(DEFAULT_N)
        if not all(v.isdigit() and int(v) >= 1 for v in (gridsize, batch, n)):
            raise argparse.ArgumentTypeError(
                f"expected GRIDSIZExBATCH[@N] items like 1x16 or 1x16@128, or none; got {item!r}"
            )
        configs.append((int(gridsize), int(batch), int(n)))
    return tuple(configs)


def format_configs(configs: Sequence[Config]) -> str:
    """Inverse of :func:`parse_configs`."""
    return ",".join(f"{g}x{b}" + ("" if n == DEFAULT_N else f"@{n}") for g, b, n in configs) or "none"


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
    args = parser.parse_args(argv)
    check_common_arguments(parser, args)
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
