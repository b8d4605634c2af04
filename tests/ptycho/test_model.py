"""ptycho.model: cfg-driven factory, lazy singletons, training entry point, the restored ``params`` alias."""

from __future__ import annotations

import subprocess
import sys
import types

import numpy as np
import pytest

import ptycho.model as model
from ptycho import params


@pytest.fixture(autouse=True)
def clean_cache():
    saved = dict(model._lazy_cache)
    model._lazy_cache.clear()
    for name in ("autoencoder", "diffraction_to_obj", "autoencoder_no_nll"):
        model.__dict__.pop(name, None)
    yield
    model._lazy_cache.clear()
    model._lazy_cache.update(saved)


@pytest.mark.slow
def test_import_builds_nothing_and_params_alias_is_back():
    code = (
        "import ptycho.model as m, ptycho.params as p; "
        "assert m._lazy_cache == {} and not m._model_construction_done; assert m.params is p.params"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
    params.cfg["intensity_scale"] = 12.5
    assert model.params()["intensity_scale"] == 12.5


@pytest.mark.parametrize("gridsize, probe_big, expected", [(1, False, 2_252_026), (2, True, 2_340_208)])
def test_create_model_with_gridsize_reads_cfg(gridsize, probe_big, expected):
    params.cfg.update({"N": 64, "probe.big": probe_big, "intensity_scale": 31.25})
    autoencoder, d2o = model.create_model_with_gridsize(gridsize, 64)
    assert sum(int(np.prod(w.shape)) for w in autoencoder.trainable_weights) == expected
    assert d2o.input_shape == [(None, 64, 64, gridsize**2), (None, 1, 2, gridsize**2)]
    assert float(np.exp(np.asarray(model._get_log_scale()))) == pytest.approx(31.25, rel=1e-6)


def test_lazy_singletons_warn_and_are_assignable():
    params.cfg.update({"N": 64, "gridsize": 1, "n_filters_scale": 1, "intensity_scale": 31.25})
    with pytest.warns(DeprecationWarning):
        model.autoencoder  # noqa: B018 (the attribute access is what warns)
    assert model._model_construction_done and model.diffraction_to_obj is model._lazy_cache["diffraction_to_obj"]
    replacement = object()
    model.autoencoder = replacement
    assert model.autoencoder is replacement


def test_compiled_model_trains_on_a_container():
    params.cfg.update(
        {
            "N": 64,
            "gridsize": 1,
            "n_filters_scale": 1,
            "intensity_scale": 31.25,
            "batch_size": 4,
            "probe.big": True,
            "probe.mask": False,
        }
    )
    rng = np.random.default_rng(0)
    container = types.SimpleNamespace(
        X=rng.random((8, 64, 64, 1)).astype(np.float32) + 0.1,
        coords=np.zeros((8, 1, 2, 1), np.float32),
        Y_I=np.ones((8, 64, 64, 1), np.float32),
    )
    autoencoder, _ = model.create_compiled_model()
    inputs, outputs = model.prepare_inputs(container), model.prepare_outputs(container)
    np.testing.assert_allclose(inputs[0], container.X * 31.25, rtol=1e-6)
    assert [o.shape for o in outputs] == [(8, 64, 64, 1), (8, 64, 64, 1), (8, 64, 64, 1)]
    history = model.train(1, container, model_instance=autoencoder)
    assert set(history.history) >= {"loss", "pred_intensity_loss", "val_loss"}


def test_unknown_activation_is_named():
    params.cfg["amp_activation"] = "gelu"
    with pytest.raises(ValueError, match="amp_activation must be one of"):
        model.get_amp_activation()
