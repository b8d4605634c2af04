"""Training: the Poisson NLL falls on a tiny simulated dataset; validation split, streaming, bad input."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from ptycho_core.data import TrainingBatches, make_targets
from ptycho_core.factory import create_compiled_models
from ptycho_core.spec import ModelSpec
from ptycho_core.training import train
from ptycho_testing import simulate


@pytest.fixture(scope="module")
def data():
    return simulate.dataset(n_side=5, step=8.0)


def _model(data):
    keras.utils.set_random_seed(0)
    spec = ModelSpec(n_filters_scale=1, intensity_scale=float(data["intensity_scale"]))
    return create_compiled_models(spec, probe=data["probe"])[0]


def test_poisson_nll_decreases(data):
    history = train(_model(data), data["x_scaled"], data["positions"], epochs=3, batch_size=8, verbose=0)
    nll = history["pred_intensity_loss"]
    print("pred_intensity_loss per epoch:", [round(v, 2) for v in nll])
    assert nll[-1] < nll[0]
    assert "val_loss" in history and len(history["loss"]) == 3


def test_streaming_batches_build_targets_on_the_fly(data):
    batches = TrainingBatches(data["x_scaled"], data["positions"], None, batch_size=7, seed=1)
    assert len(batches) == 4
    (x, pos), targets = batches[3]
    assert x.shape == (4, 64, 64, 1) and pos.shape == (4, 1, 2, 1)
    for got, want in zip(targets, make_targets(x, pos), strict=True):
        np.testing.assert_array_equal(got, want)
    history = train(
        _model(data), data["x_scaled"], data["positions"], epochs=1, batch_size=8, verbose=0, streaming_threshold=10
    )
    assert "loss" in history and "val_loss" not in history


def test_bad_training_input_is_named(data):
    model = _model(data)
    with pytest.raises(ValueError, match=r"positions must have shape \(25, 1, 2, 1\)"):
        train(model, data["x_scaled"], data["positions"][:, :, :, :0], epochs=1, verbose=0)
    bad = data["x_scaled"].copy()
    bad[0, 0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN or inf"):
        train(model, bad, data["positions"], epochs=1, verbose=0)


def _logged_transfers(steps: int):
    """``(arrays per batch, {kind: count})`` of the transfers JAX logs while fitting one epoch of ``steps``."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parents[2]
    # TF_CPP_MIN_LOG_LEVEL=0: the guard logs at warning level, which the CI's level 2 would hide
    env = dict(
        os.environ,
        KERAS_BACKEND="jax",
        TF_CPP_MIN_LOG_LEVEL="0",
        PYTHONPATH=os.pathsep.join([str(repo), str(repo / "compat"), os.environ.get("PYTHONPATH", "")]),
    )
    proc = subprocess.run(
        [sys.executable, str(Path(__file__).with_name("transfer_worker.py")), str(steps)],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert proc.returncode == 0 and "DONE" in proc.stdout, proc.stderr[-3000:]
    arrays = int(next(line.split()[1] for line in proc.stdout.splitlines() if line.startswith("ARRAYS")))
    guarded = proc.stderr.split("GUARD-START", 1)[1]
    kinds = ("host-to-device", "device-to-host", "device-to-device")
    return arrays, {kind: guarded.count(f"{kind} transfer") for kind in kinds}


#: Host-to-device transfers JAX logs per training step: the batch (Keras puts the inputs and targets on the
#: device as 4 buffers for the 5 arrays x·s, positions, real-space target, x·s, (x·s)²). Anything the step
#: itself moved (a constant, a variable written from Python, a host callback) would add to it: a callback that
#: assigns the learning rate every batch gives 5.
BATCH_TRANSFERS_PER_STEP = 4


@pytest.mark.once
def test_a_training_step_moves_only_its_batch_to_the_device():
    """JAX's transfer guard logs every host-to-device transfer during ``train``; per extra step only the batch
    goes to the device. (On CPU, JAX's guard does not see device-to-host reads, which are zero-copy there, and
    there is only one device: those two are checked here only in that none is logged.)"""
    arrays, two = _logged_transfers(2)
    _, six = _logged_transfers(6)
    per_step = (six["host-to-device"] - two["host-to-device"]) / 4
    print(
        f"\ntransfers in one epoch: 2 steps {two}, 6 steps {six}; per step {per_step:g} host-to-device "
        f"(batch of {arrays} arrays: inputs and targets)"
    )
    assert 1 <= per_step <= BATCH_TRANSFERS_PER_STEP
    assert two["device-to-host"] == six["device-to-host"] == 0
    assert two["device-to-device"] == six["device-to-device"] == 0
