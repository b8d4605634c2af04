"""Worker that times the ORIGINAL PtychoPINN (its own ``ptycho`` package) on the model benchmark's inputs.

This file is run as a script by another interpreter, one where the original PtychoPINN imports (its import
package is also called ``ptycho``, so it cannot share a process with this project)::

    ORIGINAL_PYTHON benchmarks/_original_worker.py --check
    ORIGINAL_PYTHON benchmarks/_original_worker.py --inputs case.npz --measurement train --out case.json ...

It imports only the standard library, NumPy and the original; it never imports this project. The parent
(:mod:`benchmarks._original_run`) sets ``PYTHONPATH`` to the original's source folder when one is given,
``KERAS_BACKEND=tensorflow`` and a scratch working folder. One process measures one configuration, so the
original's global state (``params.cfg``, its cached probe and ``log_scale`` variables) starts fresh each time.

``--check`` imports ``ptycho``, ``ptycho.params``, ``ptycho.config.config``, ``ptycho.probe`` and
``ptycho.model`` and prints one JSON line (versions, where ``ptycho`` lives); it exits 3 with one line naming the
problem when they do not import or when the ``ptycho`` found is this project's compat layer (which imports
``ptycho_core``) rather than the original.

What a measurement calls in the original (read from its source; nothing of it is copied here):

1. ``ptycho.config.config.update_legacy_dict(ptycho.params.cfg, TrainingConfig(model=ModelConfig(N, gridsize,
   n_filters_scale), batch_size, nphotons, intensity_scale_trainable=False, probe_trainable=False))``: the
   ``ModelConfig`` defaults are those of this project's ``ModelSpec`` (``object_big``, ``probe_big``,
   ``pad_object`` True, ``probe_mask`` False, ``probe_scale`` 4, sigmoid amplitude, no smoothing) and the loss
   weights are the defaults (Poisson NLL only);
2. ``ptycho.params.set('intensity_scale', s)`` with the benchmark's ``s`` (the ``ModelSpec`` default for
   ``N``, 988.2 at ``N=64``);
3. ``ptycho.probe.set_probe_guess(None, probe)`` with the benchmark's probe (already normalised the same way,
   so the original's normalisation leaves it unchanged up to rounding);
4. ``ptycho.model.create_compiled_model(gridsize, N)``: the original's autoencoder and ``diffraction_to_obj``,
   Adam 1e-3, its losses ``[realspace_loss, mae, negloglik]`` with weights ``[0, 0, 1]``, ``jit_compile`` from
   ``USE_XLA_COMPILE`` (unset: off);
5. ``train``: ``autoencoder.fit([X·s, positions], [ones (n, N, N, 1), X·s, (X·s)²], batch_size=batch, epochs=1,
   shuffle=False, verbose=0)``: the input and target layout of the original's ``model.prepare_inputs`` /
   ``prepare_outputs`` (the real-space target, weighted 0, is ones as in this project's benchmark);
   ``predict``: ``diffraction_to_obj.predict([X·s, positions], batch_size=batch, verbose=0)``.

Timing is the protocol of :func:`benchmarks._measure.time_throughput`, restated here because this file cannot
import the package: one warm-up call (reported as the first call), one call that sets how many calls one repeat
makes (about ``--repeat-s`` seconds, 1 to 1000), then ``--repeats`` timed repeats; the median patterns/s is
reported (``calls`` samples × ``C`` patterns per call). The worker also reports the peak resident set of the
measurement (``VmHWM``, reset before the model is built where Linux allows) and the convolution FLOPs of the
original's model (``Σ 2·H·W·kh·kw·Cin·Cout`` over its ``Conv2D`` layers), which must equal ours.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

CHECK_FAILED = 3  # exit code of --check when the original does not import


def _import_original() -> Dict[str, Any]:
    """Import the original's modules; raise ``RuntimeError`` naming the problem when that is impossible."""
    import importlib

    try:
        ptycho = importlib.import_module("ptycho")
    except Exception as exc:
        raise RuntimeError(f"'import ptycho' failed: {type(exc).__name__}: {exc}") from exc
    where = str(Path(getattr(ptycho, "__file__", None) or "?").resolve())
    try:
        importlib.import_module("ptycho.params")
    except Exception as exc:
        raise RuntimeError(f"'import ptycho.params' failed ({where}): {type(exc).__name__}: {exc}") from exc
    if "ptycho_core" in sys.modules:
        raise RuntimeError(
            f"the 'ptycho' found ({where}) is this project's compat layer (it imports ptycho_core), not the "
            "original PtychoPINN"
        )
    for name in ("ptycho.config.config", "ptycho.probe", "ptycho.model"):
        try:
            importlib.import_module(name)
        except Exception as exc:
            raise RuntimeError(f"'import {name}' failed ({where}): {type(exc).__name__}: {exc}") from exc
    import numpy as np
    import tensorflow as tf

    model = sys.modules["ptycho.model"]
    if not hasattr(model, "create_compiled_model"):
        raise RuntimeError(f"{where}: ptycho.model has no create_compiled_model (too old a version of the original)")
    return {
        "ptycho_file": where,
        "python": sys.version.split()[0],
        "tensorflow": tf.__version__,
        "keras": tf.keras.__version__ if hasattr(tf.keras, "__version__") else "?",
        "numpy": np.__version__,
    }


def _peak_rss_mib() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _reset_peak_rss() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def time_calls(step: Callable[[], Any], repeats: int, repeat_s: float) -> Tuple[List[float], int, float]:
    """``(seconds per call for each repeat, calls per repeat, warm-up seconds)``: see the module docstring."""
    start = time.perf_counter()
    step()
    first = time.perf_counter() - start
    start = time.perf_counter()
    step()
    single = max(time.perf_counter() - start, 1e-6)
    iters = int(min(1000, max(1, round(repeat_s / single))))
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(iters):
            step()
        samples.append((time.perf_counter() - start) / iters)
    return samples, iters, first


def _conv_forward_flops(model: Any) -> int:
    import tensorflow as tf

    total = 0
    for layer in model.layers:
        if isinstance(layer, tf.keras.layers.Conv2D):
            kh, kw, cin, cout = (int(d) for d in layer.kernel.shape)
            _, h, w, _ = layer.output.shape
            total += 2 * int(h) * int(w) * kh * kw * cin * cout
    return total


def _build(args: argparse.Namespace, probe: Any) -> Tuple[Any, Any]:
    """Configure the original's ``params.cfg`` and probe, then ``create_compiled_model`` (module docstring)."""
    from ptycho import model, params
    from ptycho import probe as original_probe
    from ptycho.config.config import ModelConfig, TrainingConfig, update_legacy_dict

    config = TrainingConfig(
        model=ModelConfig(N=args.n, gridsize=args.gridsize, n_filters_scale=args.n_filters_scale),
        batch_size=args.batch,
        nphotons=args.nphotons,
        intensity_scale_trainable=False,
        probe_trainable=False,
    )
    update_legacy_dict(params.cfg, config)
    params.set("intensity_scale", float(args.intensity_scale))
    original_probe.set_probe_guess(None, probe)
    return model.create_compiled_model(gridsize=args.gridsize, N=args.n)


def measure(args: argparse.Namespace) -> Dict[str, Any]:
    """One ``train`` or ``predict`` measurement of the original; returns the record as a dictionary."""
    import numpy as np

    info = _import_original()
    with np.load(args.inputs) as data:
        probe, x, positions = data["probe"], data["x"], data["positions"]
    count, channels = int(x.shape[0]), int(x.shape[-1])
    per_measurement_rss = _reset_peak_rss()
    autoencoder, diffraction_to_obj = _build(args, probe)
    last: Dict[str, float] = {}
    if args.measurement == "train":
        targets = [np.ones(x.shape[:3] + (1,), np.float32), x, np.square(x)]

        def step() -> None:
            history = autoencoder.fit(
                [x, positions], targets, batch_size=args.batch, epochs=1, verbose=0, shuffle=False
            )
            last["loss"] = float(history.history["loss"][-1])

        flops = 3 * _conv_forward_flops(autoencoder) / channels
        jit = autoencoder.jit_compile
        mode = f"original fit ({count // args.batch} steps/call), jit_compile={jit}"
    else:

        def step() -> None:
            out = diffraction_to_obj.predict([x, positions], batch_size=args.batch, verbose=0)
            if out.shape[0] != count:
                raise RuntimeError(f"predict returned {out.shape[0]} rows for {count} inputs")

        flops = _conv_forward_flops(diffraction_to_obj) / channels
        jit = diffraction_to_obj.jit_compile
        mode = f"original predict ({count // args.batch} batches/call), jit_compile={jit}"
    samples, iters, first = time_calls(step, args.repeats, args.repeat_s)
    rates = [count * channels / s for s in samples]
    value = statistics.median(rates)
    return {
        "info": info,
        "record": {
            "backend": "original",
            "measurement": args.measurement,
            "mode": mode,
            "size": args.size,
            "value": value,
            "unit": "patterns/s",
            "samples": rates,
            "iters": iters,
            "first_call_s": first,
            "extra": {
                "ms_per_call": 1e3 * statistics.median(samples),
                "gridsize": args.gridsize,
                "batch": args.batch,
                "n": args.n,
                "jit_compile": str(jit),
                "final_loss": last.get("loss"),
                "gflop_per_pattern": flops / 1e9,
                "gflops": value * flops / 1e9,
                "peak_rss_mib": _peak_rss_mib(),
                "peak_rss_is_per_measurement": per_measurement_rss,
                "trainable_params": int(sum(int(np.prod(w.shape)) for w in autoencoder.trainable_weights)),
            },
        },
    }


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="only check that the original imports")
    parser.add_argument("--inputs", help=".npz with probe, x (X·s) and positions")
    parser.add_argument("--measurement", choices=("train", "predict"))
    parser.add_argument("--size", default="", help="record size label")
    parser.add_argument("--gridsize", type=int, default=1)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--n", type=int, default=64)
    parser.add_argument("--n-filters-scale", type=int, default=2)
    parser.add_argument("--nphotons", type=float, default=1e9)
    parser.add_argument("--intensity-scale", type=float, default=None)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--repeat-s", type=float, default=8.0)
    parser.add_argument("--out", help="where to write the JSON result")
    args = parser.parse_args(argv)
    if not args.check and not (args.inputs and args.measurement and args.out and args.intensity_scale):
        parser.error("a measurement needs --inputs, --measurement, --intensity-scale and --out")
    return args


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    if args.check:
        try:
            info = _import_original()
        except Exception as exc:
            print(f"ORIGINAL-CHECK-FAILED: {exc}", flush=True)
            return CHECK_FAILED
        print("ORIGINAL-CHECK-OK " + json.dumps(info), flush=True)
        return 0
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    result = measure(args)
    Path(args.out).write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
