"""Training: the Poisson NLL falls on a tiny simulated dataset; validation split, streaming, bad input."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from ptycho_core.factory import create_compiled_models
from ptycho_core.spec import ModelSpec
from ptycho_core.training import PtychoBatches, make_targets, train
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
    batches = PtychoBatches(data["x_scaled"], data["positions"], None, batch_size=7, seed=1)
    assert len(batches) == 4
    (x, pos), targets = batches[3]
    assert x.shape == (4, 64, 64, 1) and pos.shape == (4, 1, 2, 1)
    for got, want in zip(targets, make_targets(x, pos)):
        np.testing.assert_array_equal(got, want)
    history = train(_model(data), data["x_scaled"], data["positions"], epochs=1, batch_size=8, verbose=0,
                    streaming_threshold=10)
    assert "loss" in history and "val_loss" not in history


def test_bad_training_input_is_named(data):
    model = _model(data)
    with pytest.raises(ValueError, match=r"positions must have shape \(25, 1, 2, 1\)"):
        train(model, data["x_scaled"], data["positions"][:, :, :, :0], epochs=1, verbose=0)
    bad = data["x_scaled"].copy()
    bad[0, 0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN or inf"):
        train(model, bad, data["positions"], epochs=1, verbose=0)
