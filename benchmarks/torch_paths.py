"""Ways to run the PtychoPINN model on torch, side by side: eager Keras, exported, compiled, CUDA graphs, bf16.

An experiment for issue 17, run on a GPU machine (and on CPU for the compile times)::

    python -m benchmarks.torch_paths --json paths.json                       # predict and train, this device
    python -m benchmarks.torch_paths --predict 16,1024,4096 --train none

Model and data as :mod:`benchmarks.bench_model` (``ModelSpec(N=64, n_filters_scale=2)``, gridsize 1, the
benchmark's simulated patterns). Every variant gets the same inputs, already on the device, and is timed in
``--repeat-s`` seconds per repeat, median of ``--repeats``, after a warm-up call that is reported as ``first``
(export and compilation included). ``diff`` is ``max|out - eager| / max|eager|`` of the complex object patches.

Inference variants (``diffraction_to_obj``, no gradients):

* ``keras-predict``: ``Model.predict`` on host arrays (the user's path; host↔device copies included);
* ``eager``: the Keras model called on device tensors;
* ``exported``: ``torch.export.export`` of the Keras model (non-strict, static shapes; Keras's own
  ``format="torch"`` export does the same), its ``module()`` run eagerly: the same ATen ops without Keras's
  Python layer machinery;
* ``compiled``: ``torch.compile`` (Inductor) of the exported module;
* ``compiled-graphs``: the same with ``mode="reduce-overhead"`` (CUDA graphs; GPU only);
* ``compiled-bf16``: ``compiled`` under ``torch.autocast("cuda", torch.bfloat16)`` (GPU only);
* ``engine-eager`` / ``engine-compiled…``: :class:`ptycho_core._backend.torch_compile.CompiledPredictor` with
  ``compile="off"`` / ``"on"`` on host arrays (what reconstruction runs).

Training variants (``autoencoder``, Adam, Poisson NLL): ``fit-eager`` (``fit`` with ``--train-steps`` steps per
call) and ``fit-jit`` (``jit_compile=True``: Keras wraps the train step in ``torch.compile``), the latter in a
subprocess stopped after ``--jit-limit-s`` seconds. ``--jax`` adds JAX's ``fit`` (XLA) in a subprocess for the
ratio torch / JAX.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

N = 64
SEED = 7


def _setup(backend: str) -> None:
    os.environ["KERAS_BACKEND"] = backend
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _timed(call: Callable[[], Any], sync: Callable[[], None], repeat_s: float, repeats: int) -> Dict[str, float]:
    """``first`` call seconds, then calls per repeat sized to ``repeat_s``; median seconds per call."""
    start = time.perf_counter()
    call()
    sync()
    first = time.perf_counter() - start
    start = time.perf_counter()
    call()
    sync()
    once = max(time.perf_counter() - start, 1e-6)
    calls = max(1, int(repeat_s / once))
    per_call: List[float] = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(calls):
            call()
        sync()
        per_call.append((time.perf_counter() - start) / calls)
    return {"first_s": first, "seconds_per_call": statistics.median(per_call), "calls_per_repeat": calls}


def _models(gridsize: int = 1, jit: Any = "auto"):
    import keras  # noqa: F401

    from benchmarks._model_data import NPHOTONS, benchmark_probe
    from ptycho_core.factory import create_compiled_models
    from ptycho_core.physics import intensity_scale
    from ptycho_core.spec import ModelSpec

    spec = ModelSpec(N=N, gridsize=gridsize, n_filters_scale=2, intensity_scale=float(intensity_scale(NPHOTONS, N)))
    probe = benchmark_probe(N)
    return spec, probe, create_compiled_models(spec, probe=probe, jit_compile=jit)


def _on_device(predictor: Callable[..., Any], x: Any, positions: Any, device: str) -> Any:
    import torch

    return torch.as_tensor(predictor(x, positions), device=device)


def _profile(call: Callable[[], Any]) -> Dict[str, Any]:
    """GPU kernel time against wall time of 3 calls, and the 12 kernels with the most GPU time."""
    import torch
    from torch.profiler import ProfilerActivity, profile

    with torch.no_grad():
        call()
        torch.cuda.synchronize()
        with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
            start = time.perf_counter()
            for _ in range(3):
                call()
            torch.cuda.synchronize()
            wall = (time.perf_counter() - start) / 3
    events = [e for e in prof.key_averages() if e.device_type == torch.autograd.DeviceType.CUDA]
    total = sum(e.self_device_time_total for e in events) / 3e6
    top = sorted(events, key=lambda e: -e.self_device_time_total)[:12]
    cpu = {
        e.key: e.count / 3
        for e in prof.key_averages()
        if e.key in ("cudaMemcpyAsync", "cudaStreamSynchronize", "cudaLaunchKernel", "aten::copy_")
    }
    return dict(
        wall_s=wall,
        kernel_s=total,
        calls_per_step=cpu,
        top=[(e.key[:70], round(e.self_device_time_total / 3e3, 3), e.count // 3) for e in top],
    )


def predict_variants(
    batches: List[int],
    repeat_s: float,
    repeats: int,
    emit: Callable[[Dict], None],
    profile: bool = False,
    engine: bool = True,
) -> None:
    """Every inference variant at every batch size (see the module docstring)."""
    import numpy as np
    import torch

    from benchmarks._model_data import synthetic_inputs

    cuda = torch.cuda.is_available()
    device = "cuda" if cuda else "cpu"
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    spec, probe, (_, d2o) = _models()

    def one_batch(batch: int) -> None:
        x, positions = synthetic_inputs(np.random.default_rng(SEED), batch, N, 1, probe)
        inputs = [torch.as_tensor(x, device=device), torch.as_tensor(positions, device=device)]
        with torch.no_grad():
            reference = d2o(inputs, training=False)
        scale = float(reference.abs().max())

        def record(name: str, call: Callable[[], Any], extra: Optional[Dict] = None) -> None:
            try:
                with torch.no_grad():
                    start = time.perf_counter()
                    out = call()
                    sync()
                    first = time.perf_counter() - start
                    timing = _timed(call, sync, repeat_s, repeats)
                timing["first_s"] = first
                diff = float((out.to(reference.dtype) - reference).abs().max()) / scale
                row = dict(measurement="predict", variant=name, batch=batch, device=device, diff=diff, **timing)
                row["patterns_per_s"] = batch / timing["seconds_per_call"]
            except Exception as error:  # an experiment: every variant is reported, failures too
                row = dict(measurement="predict", variant=name, batch=batch, device=device, error=repr(error)[:400])
            row.update(extra or {})
            emit(row)

        record(
            "keras-predict",
            lambda: torch.as_tensor(d2o.predict([x, positions], batch_size=batch, verbose=0), device=device),
        )
        record("eager", lambda: d2o(inputs, training=False))
        if cuda:
            torch.backends.cudnn.benchmark = True
            record("eager-cudnn-benchmark", lambda: d2o(inputs, training=False))
            torch.backends.cudnn.benchmark = False
            if profile and batch == max(batches):
                emit(dict(measurement="profile", batch=batch, **_profile(lambda: d2o(inputs, training=False))))
        if engine:
            from ptycho_core._backend.torch_compile import CompiledPredictor

            for predictor in (CompiledPredictor(d2o, batch, compile=choice) for choice in ("off", "on")):
                record(f"engine-{predictor.mode}", functools.partial(_on_device, predictor, x, positions, device))
        start = time.perf_counter()
        try:
            exported = torch.export.export(d2o, (inputs,), strict=False).module()
        except Exception as error:
            emit(dict(measurement="predict", variant="export", batch=batch, error=repr(error)[:400]))
            return
        export_s = time.perf_counter() - start
        record("exported", lambda: exported(inputs), {"export_s": export_s})
        compiled = torch.compile(exported)
        record("compiled", lambda: compiled(inputs), {"export_s": export_s})
        if cuda:
            graphs = torch.compile(exported, mode="reduce-overhead")
            record("compiled-graphs", lambda: graphs(inputs).clone(), {"export_s": export_s})

            def bf16() -> Any:
                with torch.autocast("cuda", dtype=torch.bfloat16):
                    return compiled(inputs)

            record("compiled-bf16", bf16, {"export_s": export_s})

    for batch in batches:
        one_batch(batch)


def train_variant(jit: bool, batch: int, steps: int, repeat_s: float, repeats: int) -> Dict:
    """``autoencoder.fit`` throughput on this backend, ``steps`` steps per call."""
    import keras
    import numpy as np

    from benchmarks._model_data import synthetic_inputs
    from ptycho_core.training import make_targets

    if jit:
        import torch

        torch._dynamo.config.cache_size_limit = 64
    spec, probe, (autoencoder, _) = _models(jit=True if jit else "auto")
    x, positions = synthetic_inputs(np.random.default_rng(SEED), steps * batch, N, 1, probe)
    targets = make_targets(x, positions)

    def call() -> None:
        autoencoder.fit([x, positions], targets, batch_size=batch, epochs=1, verbose=0, shuffle=False)

    backend = keras.backend.backend()
    sync: Callable[[], None] = lambda: None  # fit returns after its last step's loss is read
    timing = _timed(call, sync, repeat_s, repeats)
    return dict(
        measurement="train",
        variant=f"fit-{'jit' if jit else 'eager'}",
        backend=backend,
        batch=batch,
        steps_per_call=steps,
        patterns_per_s=steps * batch / timing["seconds_per_call"],
        **timing,
    )


def _subprocess_train(backend: str, jit: bool, batch: int, args: argparse.Namespace, limit_s: float) -> Dict:
    cmd = [sys.executable, "-m", "benchmarks.torch_paths", "--worker-train", f"{backend},{int(jit)},{batch}"]
    cmd += ["--train-steps", str(args.train_steps), "--repeat-s", str(args.repeat_s), "--repeats", str(args.repeats)]
    env = dict(os.environ, KERAS_BACKEND=backend)
    start = time.perf_counter()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=limit_s, env=env)
    except subprocess.TimeoutExpired:
        return dict(
            measurement="train",
            variant=f"fit-{'jit' if jit else 'eager'}",
            backend=backend,
            batch=batch,
            error=f"stopped after {limit_s:.0f} s (compilation not finished)",
        )
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode or not lines:
        return dict(measurement="train", backend=backend, batch=batch, jit=jit, error=proc.stderr[-600:])
    row = json.loads(lines[-1])
    row["wall_s"] = time.perf_counter() - start
    return row


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.torch_paths", description=__doc__.split("\n")[0])
    parser.add_argument("--predict", default="16,1024,4096", help="inference batch sizes, or none")
    parser.add_argument("--train", default="16,64", help="training batch sizes, or none")
    parser.add_argument("--train-steps", type=int, default=16, help="train steps per fit call")
    parser.add_argument("--jit", action="store_true", help="also fit with jit_compile=True (torch.compile)")
    parser.add_argument("--jit-limit-s", type=float, default=150.0)
    parser.add_argument("--jax", action="store_true", help="also JAX's fit at the same batch sizes")
    parser.add_argument("--repeat-s", type=float, default=1.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--profile", action="store_true", help="GPU: profile eager predict at the largest batch")
    parser.add_argument("--worker-train", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker_train:
        backend, jit, batch = args.worker_train.split(",")
        _setup(backend)
        row = train_variant(jit == "1", int(batch), args.train_steps, args.repeat_s, args.repeats)
        print(json.dumps(row), flush=True)
        return 0
    _setup("torch")
    rows: List[Dict] = []

    def emit(row: Dict) -> None:
        rows.append(row)
        print(json.dumps(row), flush=True)
        if args.json:
            args.json.write_text(json.dumps(rows, indent=1))

    if args.predict != "none":
        batches = [int(b) for b in args.predict.split(",")]
        predict_variants(batches, args.repeat_s, args.repeats, emit, profile=args.profile)
    for batch in [] if args.train == "none" else [int(b) for b in args.train.split(",")]:
        emit(_subprocess_train("torch", False, batch, args, 600))
        if args.jax:
            emit(_subprocess_train("jax", False, batch, args, 600))
        if args.jit:
            emit(_subprocess_train("torch", True, batch, args, args.jit_limit_s))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
