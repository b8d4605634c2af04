"""ptycho.model_manager: save(out_prefix) → wts.h5.zip; load in a fresh process restores cfg and predictions."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile

import numpy as np
import pytest

import ptycho.model as model
from ptycho import model_manager, params


@pytest.fixture(autouse=True)
def _clean(clean_models):
    yield


@pytest.mark.slow
def test_save_then_load_in_a_fresh_process(tmp_path):
    params.cfg.update(
        {
            "N": 64,
            "gridsize": 1,
            "n_filters_scale": 1,
            "intensity_scale": 31.25,
            "probe.big": True,
            "probe.mask": False,
            "nphotons": 1e6,
        }
    )
    autoencoder, d2o = model.create_compiled_model()
    model.autoencoder, model.diffraction_to_obj = autoencoder, d2o
    model_manager.save(tmp_path)
    archive = tmp_path / "wts.h5.zip"
    with zipfile.ZipFile(archive) as z:
        assert "manifest.dill" in z.namelist() and "diffraction_to_obj/model.h5" in z.namelist()
    x = np.random.default_rng(0).random((2, 64, 64, 1)).astype(np.float32) * 31.25
    pos = np.zeros((2, 1, 2, 1), np.float32)
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "expected.npy", d2o.predict([x, pos], verbose=0))
    code = f"""
import numpy as np
from ptycho import params
from ptycho.model_manager import ModelManager
models = ModelManager.load_multiple_models({str(tmp_path / "wts.h5")!r}, ['diffraction_to_obj'])
assert abs(params.cfg['intensity_scale'] - 31.25) < 1e-4
assert params.cfg['n_filters_scale'] == 1 and params.cfg['nphotons'] == 1e6
x = np.load({str(tmp_path / "x.npy")!r})
out = models['diffraction_to_obj'].predict([x, np.zeros((2, 1, 2, 1), np.float32)], verbose=0)
exp = np.load({str(tmp_path / "expected.npy")!r})
assert np.abs(out - exp).max() <= 1e-6 * np.abs(exp).max(), np.abs(out - exp).max()
"""
    proc = subprocess.run([sys.executable, "-c", code], env=dict(os.environ), capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]


def test_missing_models_and_untrained_save_are_named(tmp_path):
    with pytest.raises(RuntimeError, match="no trained or loaded model"):
        model_manager.save(tmp_path)
    params.cfg.update({"N": 64, "gridsize": 1, "n_filters_scale": 1, "intensity_scale": 10.0})
    autoencoder, d2o = model.create_model_with_gridsize(1, 64)
    model_manager.ModelManager.save_multiple_models({"diffraction_to_obj": d2o}, tmp_path / "one")
    with pytest.raises(ValueError, match="Requested models not found in archive"):
        model_manager.ModelManager.load_multiple_models(tmp_path / "one", ["autoencoder"])
    with pytest.raises(FileNotFoundError, match="Model archive not found"):
        model_manager.ModelManager.load_multiple_models(tmp_path / "nothing")
