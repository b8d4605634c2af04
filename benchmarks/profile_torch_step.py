"""Where the time of one torch training step of the PtychoPINN autoencoder goes.

Run from the repository root (sets ``KERAS_BACKEND=torch`` itself)::

    python -m benchmarks.profile_torch_step                          # gridsize 1, batch 16
    python -m benchmarks.profile_torch_step --gridsize 2 --torch-threads 1
    python -m benchmarks.profile_torch_step --fast-conv              # what-if: copy-free Conv2D on torch

Method: ``autoencoder.train_on_batch`` on synthetic data (the data of :mod:`benchmarks.bench_model`), two warm-up
steps, the median of ``--steps`` unprofiled steps, then ``--steps`` steps under ``torch.profiler``. Parts of the
model run inside ``record_function`` scopes (installed by wrapping, nothing in ``ptycho_core`` changes):
``Conv2D.call``, ``ptycho_core.physics.translation._translate_real`` (every sub-pixel translation: reassembly and
patch extraction), ``ptycho_core.physics.diffraction.diffract`` (FFT, ``|.|²``, fftshift, sqrt), the model's
``_compute_loss`` and ``optimizer.apply``. Each ATen op's self time goes to the scope it ran in; a backward op
goes to the scope of the forward op that created its autograd node (matched by ``sequence_nr``). Convolution
scopes are split into the convolution kernels, layout copies (Keras's torch backend transposes NHWC→NCHW with
``.contiguous()`` and then back to ``channels_last`` memory, two copies of every input, also in backward) and
bias + activation. ``Keras / Python overhead`` is the step's wall time minus all ATen time. Profiling adds some
overhead; shares are of the profiled step.

``--fast-conv`` replaces ``Conv2D.call`` on torch by ``F.conv2d(x.permute(0, 3, 1, 2), W.permute(3, 2, 0, 1),
bias, padding=k//2).permute(0, 2, 3, 1)`` (the NHWC input viewed as NCHW is already ``channels_last`` memory,
which oneDNN takes without a copy; bias fused), to measure what such a fast path would gain.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections import defaultdict
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

if os.environ.setdefault("KERAS_BACKEND", "torch") != "torch":
    raise SystemExit("profile_torch_step needs KERAS_BACKEND=torch (or unset)")

import numpy as np

from ._common import RESULTS_DIR, SEED, load_average, write_json

SCOPE_PREFIX = "bench::"
CATEGORIES = (
    "conv kernels",
    "conv layout copies",
    "conv bias+activation",
    "translation (gathers/scatters)",
    "diffraction (FFT)",
    "loss",
    "optimizer",
    "other layers",
    "Keras / Python overhead",
)


def scoped(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn`` wrapped in ``torch.profiler.record_function(bench::name)``."""
    import torch

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with torch.profiler.record_function(SCOPE_PREFIX + name):
            return fn(*args, **kwargs)

    wrapper.__wrapped__ = fn  # type: ignore[attr-defined]
    return wrapper


def fast_conv_call(self: Any, inputs: Any) -> Any:
    """Copy-free ``Conv2D.call`` on torch for channels_last, stride 1, dilation 1, odd kernels, 'same' padding."""
    import torch.nn.functional as F
    from keras import ops

    kh, kw = self.kernel_size
    if (
        self.data_format != "channels_last"
        or self.padding != "same"
        or tuple(self.strides) != (1, 1)
        or tuple(self.dilation_rate) != (1, 1)
        or kh % 2 == 0
        or kw % 2 == 0
        or self.groups != 1
    ):
        return type(self)._original_call(self, inputs)
    x = ops.convert_to_tensor(inputs).permute(0, 3, 1, 2)
    weight = self.kernel.value.permute(3, 2, 0, 1)
    bias = self.bias.value if self.use_bias else None
    out = F.conv2d(x, weight, bias, padding=(kh // 2, kw // 2)).permute(0, 2, 3, 1)
    return self.activation(out) if self.activation is not None else out


def install_scopes(autoencoder: Any, fast_conv: bool) -> None:
    import keras

    from ptycho_core.physics import diffraction, translation

    conv_cls = keras.layers.Conv2D
    if fast_conv:
        conv_cls._original_call = conv_cls.call
        conv_cls.call = fast_conv_call
    conv_cls.call = scoped("conv", conv_cls.call)
    translation._translate_real = scoped("translation", translation._translate_real)
    diffraction.diffract = scoped("diffraction", diffraction.diffract)
    autoencoder._compute_loss = scoped("loss", autoencoder._compute_loss)
    autoencoder.optimizer.apply = scoped("optimizer", autoencoder.optimizer.apply)


def _scope_of(event: Any) -> Optional[str]:
    node = event
    while node is not None:
        if node.name.startswith(SCOPE_PREFIX):
            return node.name[len(SCOPE_PREFIX) :]
        node = node.cpu_parent
    return None


def _backward_node(event: Any) -> Optional[Any]:
    node = event
    while node is not None:
        if node.name.startswith("autograd::engine::evaluate_function:"):
            return node
        node = node.cpu_parent
    return None


CONV_KERNELS = (
    "aten::mkldnn_convolution",
    "aten::convolution_backward",
    "aten::_convolution",
    "aten::convolution",
    "aten::conv2d",
    "aten::_nnpack_spatial_convolution",
    "aten::slow_conv",
)
LAYOUT_OPS = ("aten::copy_", "aten::clone", "aten::contiguous", "aten::empty_like", "aten::empty_strided")


def categorise(events: Sequence[Any], wall_us: float) -> Tuple[Dict[str, float], Dict[str, Dict[str, float]]]:
    """Microseconds per category (see module docstring) over all profiled steps, and per category per op."""
    forward_scope: Dict[int, Optional[str]] = {}
    for ev in events:
        if ev.name.startswith("aten::") and ev.sequence_nr >= 0 and _backward_node(ev) is None:
            forward_scope.setdefault(ev.sequence_nr, _scope_of(ev))
    totals: Dict[str, float] = defaultdict(float)
    by_op: Dict[str, Dict[str, float]] = defaultdict(lambda: defaultdict(float))
    aten_total = 0.0
    for ev in events:
        if not ev.name.startswith("aten::"):
            continue
        self_us = ev.self_cpu_time_total
        aten_total += self_us
        scope = _scope_of(ev)
        if scope is None:
            node = _backward_node(ev)
            if node is not None:
                scope = forward_scope.get(node.sequence_nr)
        if scope == "conv":
            if ev.name in CONV_KERNELS:
                category = "conv kernels"
            elif ev.name in LAYOUT_OPS:
                category = "conv layout copies"
            else:
                category = "conv bias+activation"
        else:
            category = {
                "translation": "translation (gathers/scatters)",
                "diffraction": "diffraction (FFT)",
                "loss": "loss",
                "optimizer": "optimizer",
            }.get(scope or "", "other layers")
        totals[category] += self_us
        by_op[category][ev.name] += self_us
    totals["Keras / Python overhead"] = max(0.0, wall_us - aten_total)
    return {c: totals.get(c, 0.0) for c in CATEGORIES}, {c: dict(ops) for c, ops in by_op.items()}


def top_ops(events: Sequence[Any], count: int = 12) -> List[Dict[str, Any]]:
    by_name: Dict[str, List[float]] = defaultdict(list)
    for ev in events:
        if ev.name.startswith("aten::"):
            by_name[ev.name].append(ev.self_cpu_time_total)
    rows = sorted(by_name.items(), key=lambda kv: -sum(kv[1]))[:count]
    return [{"op": k, "self_ms": sum(v) / 1e3, "calls": len(v)} for k, v in rows]


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.profile_torch_step", description=__doc__.split("\n")[0])
    parser.add_argument("--gridsize", type=int, default=1)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--steps", type=int, default=3, help="timed and profiled steps (default: %(default)s)")
    parser.add_argument("--torch-threads", type=int, default=None, help="torch intra-op threads")
    parser.add_argument("--fast-conv", action="store_true", help="what-if: copy-free Conv2D call on torch")
    parser.add_argument("--json", default=str(RESULTS_DIR / "profile_torch_step.json"))
    args = parser.parse_args(argv)

    import torch

    if args.torch_threads:
        torch.set_num_threads(args.torch_threads)
    from ptycho_core.training import make_targets

    from ._model_cases import _models, conv_forward_flops
    from ._model_config import DEFAULT_N, FULL
    from ._model_data import synthetic_inputs

    spec, probe, autoencoder, _ = _models(FULL, args.gridsize, DEFAULT_N, "auto")
    install_scopes(autoencoder, args.fast_conv)
    x, positions = synthetic_inputs(np.random.default_rng(SEED), args.batch, spec.N, args.gridsize, probe)
    targets = make_targets(x, positions)

    def step() -> float:
        out = autoencoder.train_on_batch([x, positions], targets)
        return float(out[0] if isinstance(out, (list, tuple)) else out)

    for _ in range(2):
        step()
    times = []
    for _ in range(args.steps):
        start = time.perf_counter()
        loss = step()
        times.append(time.perf_counter() - start)
    step_s = statistics.median(times)

    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        start = time.perf_counter()
        for _ in range(args.steps):
            step()
        wall_us = (time.perf_counter() - start) * 1e6
    events = prof.events()
    split, by_op = categorise(events, wall_us)
    conv_flops = 3 * conv_forward_flops(autoencoder) * args.batch  # per step, forward + backward
    conv_kernel_s = split["conv kernels"] / 1e6 / args.steps

    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads; gridsize {args.gridsize}, batch "
        f"{args.batch}; fast conv: {args.fast_conv}; load average {load_average()}"
    )
    print(
        f"unprofiled step: {1e3 * step_s:.0f} ms (median of {args.steps}: "
        f"{', '.join(f'{1e3 * t:.0f}' for t in times)} ms) = {args.batch * spec.channels / step_s:.1f} "
        f"patterns/s; loss {loss:.4g}"
    )
    print(f"profiled: {wall_us / 1e3 / args.steps:.0f} ms per step")
    width = max(len(c) for c in CATEGORIES)
    for category, us in split.items():
        ops = sorted(by_op.get(category, {}).items(), key=lambda kv: -kv[1])[:4]
        detail = ", ".join(f"{name[6:]} {v / 1e3 / args.steps:.0f}" for name, v in ops)
        print(
            f"  {category:<{width}}  {us / 1e3 / args.steps:8.1f} ms/step  {100 * us / wall_us:5.1f}%"
            + (f"   ({detail} ms)" if detail else "")
        )
    print(
        f"conv kernels: {conv_flops / 1e9:.1f} GFLOP per step in {1e3 * conv_kernel_s:.0f} ms = "
        f"{conv_flops / 1e9 / max(conv_kernel_s, 1e-9):.0f} GFLOP/s"
    )
    print("top ATen ops by self time (all profiled steps):")
    for row in top_ops(events):
        print(f"  {row['op']:<40} {row['self_ms']:9.1f} ms  {row['calls']:6d} calls")
    write_json(
        args.json,
        {
            "torch": torch.__version__,
            "threads": torch.get_num_threads(),
            "gridsize": args.gridsize,
            "batch": args.batch,
            "fast_conv": args.fast_conv,
            "load_average": load_average(),
            "step_ms": [1e3 * t for t in times],
            "profiled_step_ms": wall_us / 1e3 / args.steps,
            "split_ms_per_step": {c: us / 1e3 / args.steps for c, us in split.items()},
            "split_ops_ms_per_step": {c: {k: v / 1e3 / args.steps for k, v in ops.items()} for c, ops in by_op.items()},
            "conv_gflop_per_step": conv_flops / 1e9,
            "top_ops": top_ops(events),
        },
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
