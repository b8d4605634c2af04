"""ptycho.train_pinn: intensity scale from cfg, training registers the model for model_manager.save."""

from __future__ import annotations

import types

import numpy as np
import pytest

import ptycho.model as model
from ptycho import custom_layers, params, train_pinn
from ptycho_core import layers


@pytest.fixture(autouse=True)
def _clean(clean_models):
    yield


def test_calculate_intensity_scale_is_the_original_formula():
    params.cfg.update({"nphotons": 1e9, "N": 64})
    assert train_pinn.calculate_intensity_scale(None) == pytest.approx(988.2118, rel=1e-6)


def test_train_sets_scale_probe_and_singletons():
    params.cfg.update(
        {
            "N": 64,
            "gridsize": 1,
            "n_filters_scale": 1,
            "nphotons": 1e6,
            "nepochs": 1,
            "batch_size": 4,
            "probe_scale": 4.0,
        }
    )
    rng = np.random.default_rng(0)
    probe = (np.ones((64, 64)) * np.exp(0.1j)).astype(np.complex64)
    container = types.SimpleNamespace(
        X=rng.random((8, 64, 64, 1)).astype(np.float32) + 0.1,
        coords=np.zeros((8, 1, 2, 1), np.float32),
        Y_I=np.ones((8, 64, 64, 1), np.float32),
        probe=probe,
    )
    trained, history = train_pinn.train(container)
    assert params.cfg["intensity_scale"] == pytest.approx(31.25, rel=1e-6)
    assert np.asarray(params.cfg["probe"]).shape == (64, 64, 1)
    assert model.autoencoder is trained and "loss" in history.history


def test_custom_layers_names_are_the_engine_classes():
    assert issubclass(custom_layers.ReassemblePatchesLayer, layers.ReassemblePatchesLayer)
    assert len(custom_layers.__all__) == 11
