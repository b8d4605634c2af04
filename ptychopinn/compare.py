"""Cross-backend comparison: the same bundle and data under torch, tensorflow and jax, one process each.

:func:`compare_backends` runs a worker (``python -m ptychopinn.compare``) per backend. Each loads the bundle,
predicts the object patches of the first ``n_patterns`` scan points (grouped the same way everywhere) and,
with ``train_steps > 0``, trains the loaded autoencoder that many steps on fixed batches from the same initial
weights, recording the loss of every step. The parent tabulates, for every pair of backends, the largest
absolute and relative (max-norm: ``max|a−b| / max|b|``) differences of the complex object, its amplitude and
the losses, plus each backend's wall time, and says whether every relative difference is within ``rtol``.

Without ``bundle``/``data`` a built-in case is prepared first (under the first backend): a small simulated scan
and an untrained model with seeded weights.
"""

from __future__ import annotations

import argparse
import itertools
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence

import numpy as np

__all__ = ["compare_backends", "format_table"]

Report = Callable[[str], None]


def _run_worker(backend: str, arguments: List[str]) -> float:
    env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="2")
    started = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "ptychopinn.compare", *arguments], env=env, capture_output=True, text=True
    )
    if proc.returncode != 0:
        raise RuntimeError(f"the {backend} worker failed (exit {proc.returncode}):\n{proc.stderr[-4000:]}")
    return time.perf_counter() - started


def _relative(a: np.ndarray, b: np.ndarray) -> Dict[str, float]:
    difference = float(np.max(np.abs(a - b))) if a.size else 0.0
    scale = float(np.max(np.abs(b))) if b.size else 0.0
    return {"max_abs": difference, "max_rel": difference / scale if scale > 0 else difference}


def compare_backends(
    backends: Sequence[str],
    bundle: Optional[Path] = None,
    data: Optional[Path] = None,
    train_steps: int = 0,
    n_patterns: int = 32,
    rtol: float = 1e-4,
    report: Report = lambda message: None,
    perturb_backend: Optional[str] = None,
) -> Dict[str, Any]:
    """Run every backend on the same bundle and data; returns the comparison table (JSON-ready dict).

    Keys: ``backends``, ``seconds`` (wall time per backend, worker start-up included), ``pairs`` (one row per
    pair: ``object``, ``amplitude`` and, with training, ``loss``, each ``{max_abs, max_rel}``), ``rtol``,
    ``agree`` (every ``max_rel`` ≤ ``rtol``) and ``worst`` (the largest ``max_rel``).
    ``perturb_backend`` scales that backend's weights by 1.01 (a self-test showing the check can fail).
    """
    backends = list(backends)
    if len(backends) < 2:
        raise ValueError(f"need at least two backends to compare; got {backends}")
    with tempfile.TemporaryDirectory(prefix="ptychopinn-compare-") as tmp:
        work = Path(tmp)
        if bundle is None or data is None:
            report(f"preparing the built-in case under {backends[0]} ...")
            prepared_data = work / "data.npz"
            prepared_bundle = work / "bundle"
            _run_worker(
                backends[0],
                [
                    "--prepare",
                    "--bundle",
                    str(prepared_bundle),
                    "--data",
                    str(prepared_data),
                    "--n-patterns",
                    str(n_patterns),
                ],
            )
            bundle = bundle or prepared_bundle
            data = data or prepared_data
        seconds: Dict[str, float] = {}
        results: Dict[str, Dict[str, np.ndarray]] = {}
        for backend in backends:
            report(f"running {backend} ...")
            out = work / f"{backend}.npz"
            arguments = [
                "--bundle",
                str(bundle),
                "--data",
                str(data),
                "--out",
                str(out),
                "--n-patterns",
                str(n_patterns),
                "--train-steps",
                str(train_steps),
            ]
            if perturb_backend == backend:
                arguments.append("--perturb")
            seconds[backend] = _run_worker(backend, arguments)
            with np.load(out) as loaded:
                results[backend] = {key: loaded[key] for key in loaded.files}
    pairs = []
    for a, b in itertools.combinations(backends, 2):
        row: Dict[str, Any] = {
            "pair": f"{a} vs {b}",
            "object": _relative(results[a]["object"], results[b]["object"]),
            "amplitude": _relative(np.abs(results[a]["object"]), np.abs(results[b]["object"])),
        }
        if train_steps:
            row["loss"] = _relative(results[a]["loss"], results[b]["loss"])
        pairs.append(row)
    worst = max(v["max_rel"] for row in pairs for k, v in row.items() if k != "pair")
    return {
        "backends": backends,
        "seconds": seconds,
        "pairs": pairs,
        "rtol": rtol,
        "agree": worst <= rtol,
        "worst": worst,
        "train_steps": train_steps,
        "n_patterns": n_patterns,
    }


def format_table(table: Dict[str, Any]) -> str:
    """The comparison as a plain-text table."""
    columns = ["object", "amplitude"] + (["loss"] if table["train_steps"] else [])
    header = f"{'pair':<24}" + "".join(f"{c + ' max abs':>18}{c + ' max rel':>18}" for c in columns)
    lines = [header, "-" * len(header)]
    for row in table["pairs"]:
        lines.append(
            f"{row['pair']:<24}" + "".join(f"{row[c]['max_abs']:>18.3e}{row[c]['max_rel']:>18.3e}" for c in columns)
        )
    lines.append("")
    lines.append("wall time: " + ", ".join(f"{b} {s:.1f} s" for b, s in table["seconds"].items()))
    verdict = "agree" if table["agree"] else "DISAGREE"
    lines.append(f"backends {verdict}: largest relative difference {table['worst']:.3e} (rtol {table['rtol']:.1e})")
    return "\n".join(lines)


# ----------------------------------------------------------------------------------------------- worker
def _prepare(bundle: Path, data: Path, n_patterns: int) -> None:
    from ptycho_core.factory import create_compiled_models
    from ptycho_core.physics import intensity_scale, normalize_probe
    from ptycho_core.pipeline import TrainedModel
    from ptycho_core.simulation import default_dataset
    from ptycho_core.spec import ModelSpec

    dataset = default_dataset(seed=0, N=64, n_positions=max(n_patterns, 16), nphotons=1e9)
    dataset.save_npz(data)
    spec = ModelSpec(N=64, gridsize=1, n_filters_scale=1, intensity_scale=float(intensity_scale(1e9, 64)), init_seed=0)
    autoencoder, diffraction_to_obj = create_compiled_models(spec, probe=normalize_probe(dataset.probe, 4.0))
    TrainedModel(spec, autoencoder, diffraction_to_obj).save(bundle)


def _work(bundle: Path, data: Path, out: Path, n_patterns: int, train_steps: int, perturb: bool) -> None:
    from ptycho_core.data import group_scan, make_targets, read_scan
    from ptycho_core.pipeline import load_model

    model = load_model(bundle)
    autoencoder, diffraction_to_obj = model.autoencoder, model.diffraction_to_obj
    if perturb:
        for variable in autoencoder.weights:
            variable.assign(variable.numpy() * 1.01 if hasattr(variable, "numpy") else variable * 1.01)
    scan = read_scan(data).validate(N=model.spec.N)
    gridsize = model.spec.gridsize
    count = min(n_patterns, len(scan))
    grouped = group_scan(scan, gridsize=gridsize, n_groups=count, K=max(7, gridsize**2 + 1), seed=0)
    x = grouped.X[:count] * np.float32(model.intensity_scale)
    offsets = grouped.groups.relative[:count]
    obj = np.asarray(diffraction_to_obj.predict([x, offsets], verbose=0))
    losses: List[float] = []
    if train_steps:
        batch = 8
        truth = None if grouped.truth is None else np.abs(grouped.truth[:count])
        targets = make_targets(x, offsets, truth)
        for step in range(train_steps):
            first = (step * batch) % max(count - batch + 1, 1)
            rows = slice(first, first + batch)
            result = autoencoder.train_on_batch([x[rows], offsets[rows]], [t[rows] for t in targets])
            losses.append(float(np.ravel(result)[0]))
    np.savez(out, object=obj.astype(np.complex64), loss=np.asarray(losses, np.float64))


def _worker_main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ptychopinn.compare")
    parser.add_argument("--prepare", action="store_true")
    parser.add_argument("--bundle", type=Path, required=True)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--n-patterns", type=int, default=32)
    parser.add_argument("--train-steps", type=int, default=0)
    parser.add_argument("--perturb", action="store_true")
    args = parser.parse_args(argv)
    if args.prepare:
        _prepare(args.bundle, args.data, args.n_patterns)
    else:
        _work(args.bundle, args.data, args.out, args.n_patterns, args.train_steps, args.perturb)
    return 0


if __name__ == "__main__":
    sys.exit(_worker_main())
