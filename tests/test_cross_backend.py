"""Cross-backend agreement: the same saved inputs through torch, tensorflow and jax, one subprocess each.

Every pair of backends must agree to 1e-5 relative (max-norm) on every physics output and gradient, and every
backend must match the independent NumPy reference to REF_RTOL; the test prints both tables.
All three backends must be installed: a missing one fails this test, it is never skipped.
"""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ptycho_testing import reference as ref
from ptycho_testing.arrays import rel_err

BACKENDS = ("torch", "tensorflow", "jax")
WORKER = Path(__file__).resolve().parent / "_lib" / "ptycho_testing" / "cross_backend_worker.py"
RTOL = 1e-5
REF_RTOL = 2e-6

pytestmark = pytest.mark.cross_backend


def _inputs() -> dict:
    rng = np.random.default_rng(2026)
    cplx = lambda *s: (rng.standard_normal(s) + 1j * rng.standard_normal(s)).astype(np.complex64)
    off = rng.uniform(-3, 3, (3, 1, 2, 4)).astype(np.float32)
    off -= off.mean(axis=3, keepdims=True)
    grid = np.stack(np.meshgrid(np.arange(10) * 6.0, np.arange(10) * 6.0), -1).reshape(-1, 2)
    rates = (rng.random((2, 16, 16, 1)) * 50 + 0.5).astype(np.float32)
    return {
        "images": rng.standard_normal((5, 24, 24, 2)).astype(np.float32),
        "translations": rng.uniform(-4, 4, (5, 2)).astype(np.float32),
        "canvas": cplx(3, 42, 42, 1),
        "offsets": off,
        "obj": cplx(3, 32, 32, 4),
        "psi": cplx(4, 32, 32, 1),
        "probe": cplx(32, 32, 1),
        "mask": (rng.random((32, 32, 1)) > 0.3).astype(np.float32),
        "counts": rng.poisson(rates).astype(np.float32),
        "rates": rates,
        "stitch_patches": cplx(100, 64, 64, 1),
        "stitch_offsets": (grid + rng.uniform(-0.4, 0.4, grid.shape) + 50).reshape(-1, 1, 2, 1),
        "weights": rng.standard_normal((5, 24, 24, 1)).astype(np.float32),
    }


def _run_backend(backend: str, inputs_path: Path, out_dir: Path) -> dict:
    out_path = out_dir / f"{backend}.npz"
    env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="2")
    proc = subprocess.run(
        [sys.executable, str(WORKER), str(inputs_path), str(out_path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, f"{backend} worker failed:\n{proc.stderr[-4000:]}"
    with np.load(out_path) as data:
        assert str(data["__backend__"]) == backend
        return {k: data[k] for k in data.files if k != "__backend__"}


def test_backends_agree(tmp_path: Path) -> None:
    inputs_path = tmp_path / "inputs.npz"
    np.savez(inputs_path, **_inputs())
    results = {b: _run_backend(b, inputs_path, tmp_path) for b in BACKENDS}
    rows, worst = [], 0.0
    for a, b in itertools.combinations(BACKENDS, 2):
        for key in sorted(results[a]):
            err = rel_err(results[a][key], results[b][key])
            worst = max(worst, err)
            rows.append((f"{a}-{b}", key, err))
    print("\n".join(f"{pair:18s} {key:24s} {err:.2e}" for pair, key, err in rows))
    bad = [r for r in rows if not r[2] <= RTOL]
    assert not bad, "backends disagree:\n" + "\n".join(f"{p} {k} {e:.3e}" for p, k, e in bad)

    expected = _reference(np.load(inputs_path))
    print(f"\n{'function':18s} " + " ".join(f"{b:>11s}" for b in BACKENDS) + "   (max-norm relative error vs NumPy)")
    worst_ref = []
    for key, want in expected.items():
        errs = [rel_err(results[b][key], want) for b in BACKENDS]
        worst_ref.extend((b, key, e) for b, e in zip(BACKENDS, errs, strict=True))
        print(f"{key:18s} " + " ".join(f"{e:11.2e}" for e in errs))
    bad = [r for r in worst_ref if not r[2] <= REF_RTOL]
    assert not bad, "backend differs from the NumPy reference:\n" + "\n".join(f"{b} {k} {e:.3e}" for b, k, e in bad)


def _reference(data) -> dict:
    """The NumPy reference (tests/_lib/ptycho_testing/reference.py) on the same inputs as the workers."""
    off, obj, psi = data["offsets"], data["obj"], data["psi"]
    return {
        "translate": ref.translate(data["images"], data["translations"]),
        "extract": ref.extract(data["canvas"], off, 32),
        "reassemble": ref.reassemble_layer(obj, off, 46),
        "center_channels": ref.center_channels(np.abs(obj), off),
        "diffract": ref.pad_and_diffract(psi),
        "smooth": ref.gaussian_filter_3x3(psi, 0.7),
        "illuminate": ref.illuminate(psi, data["probe"], data["mask"], 0.5),
        "poisson_nll": ref.negloglik(data["counts"], data["rates"]),
        "stitched": ref.reassemble_position(data["stitch_patches"], data["stitch_offsets"], M=20),
    }
