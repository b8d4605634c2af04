"""Data-parallel training (ptycho_core.parallel) on 2 virtual CPU devices gives single-device training's losses.

The training runs in a subprocess (``parallel_worker.py``): virtual CPU devices must be requested before the
backend starts (JAX ``XLA_FLAGS``, TensorFlow logical devices), and that subprocess trains inside a ``spawn``
child of itself, as Ptychodus does (torch: 2 gloo ranks started from that child, no ``torchrun``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

from ptycho_core.parallel import split_for_devices, train_models
from ptycho_core.spec import ModelSpec

WORKER = Path(__file__).with_name("parallel_worker.py")
REPO = Path(__file__).resolve().parents[2]
EPOCHS = 2
#: Observed: 0 to 4e-6 relative (summation order differs between one batch of 8 and two shards of 4).
RTOL = 1e-4


@pytest.mark.slow
def test_two_devices_give_single_device_losses_from_a_spawned_child():
    backend = keras.backend.backend()
    env = dict(
        os.environ,
        KERAS_BACKEND=backend,
        PYTHONPATH=os.pathsep.join([str(REPO), str(REPO / "compat"), os.environ.get("PYTHONPATH", "")]),
    )
    proc = subprocess.run(
        [sys.executable, str(WORKER), "2", str(EPOCHS), "spawned"], capture_output=True, text=True, env=env, timeout=900
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    line = next(line for line in proc.stdout.splitlines() if line.startswith("RESULT "))
    result = json.loads(line[len("RESULT ") :])
    if backend != "torch":
        assert len(set(result["devices_seen"])) == 2, result["devices_seen"]
    single, double = result["1"], result["2"]
    for key in ("loss", "val_loss"):
        assert len(single[key]) == len(double[key]) == EPOCHS
        np.testing.assert_allclose(double[key], single[key], rtol=RTOL, err_msg=key)
    worst = max(
        abs(a - b) / abs(a) for key in ("loss", "val_loss") for a, b in zip(single[key], double[key], strict=True)
    )
    print(
        f"\n[{backend}] 2 devices vs 1: max relative loss difference over {EPOCHS} epochs {worst:.2e}; "
        f"wall {single['seconds']:.1f} s (1 device), {double['seconds']:.1f} s (2 devices)"
    )
    assert single["loss"][-1] < single["loss"][0]  # it did train


def test_split_for_devices_cuts_each_part_to_a_multiple():
    assert split_for_devices(40, 0.2, 2) == (32, 8)
    assert split_for_devices(41, 0.05, 2) == (38, 2)  # Keras: 38 train, 3 validation -> 2
    assert split_for_devices(41, 0.0, 4) == (40, 0)


def test_batch_must_split_over_the_devices():
    x = np.ones((8, 64, 64, 1), np.float32)
    with pytest.raises(ValueError, match="batch_size 5 does not split over 2 devices"):
        train_models(ModelSpec(N=64), None, x, np.zeros((8, 1, 2, 1), np.float32), epochs=1, batch_size=5, devices=2)
    with pytest.raises(ValueError, match="devices must be a positive integer"):
        train_models(ModelSpec(N=64), None, x, np.zeros((8, 1, 2, 1), np.float32), epochs=1, devices=0)


def test_too_many_devices_says_how_to_get_them():
    """JAX and TensorFlow name the devices they see and the fix; torch needs no device list (one process each)."""
    from ptycho_core._backend.parallel import data_parallel_devices

    expected = "uses processes" if keras.backend.backend() == "torch" else "64 devices requested .* sees"
    with pytest.raises(ValueError, match=expected):
        data_parallel_devices(64)
