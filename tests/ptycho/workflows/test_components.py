"""ptycho.workflows.components: bundle loading contract, adapter, data helpers, save_outputs, train → infer."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import ptycho.model as model
from ptycho import params
from ptycho.config.config import ModelConfig, TrainingConfig, update_legacy_dict
from ptycho.loader import PtychoDataContainer
from ptycho.model_manager import ModelManager
from ptycho.raw_data import RawData
from ptycho.workflows import components
from ptycho_testing import simulate


@pytest.fixture(autouse=True)
def _clean(clean_models):
    yield


def _raw(n_side: int = 10, seed: int = 0) -> RawData:
    s = simulate.scan(n_side=n_side, step=4.0, seed=seed)
    return RawData.from_coords_without_pc(
        s["xcoords"], s["ycoords"], s["diff3d"], s["probeGuess"], s["scan_index"], s["objectGuess"]
    )


def _config(gridsize: int = 1, **overrides) -> TrainingConfig:
    settings = dict(train_data_file=Path(), nepochs=1, batch_size=8, n_groups=48, nphotons=1e6, neighbor_count=6)
    settings.update(overrides)
    return TrainingConfig(model=ModelConfig(N=64, gridsize=gridsize, n_filters_scale=1), **settings)


# ------------------------------------------------------------------------------------------ load_inference_bundle
def test_bundle_errors_name_the_problem(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        components.load_inference_bundle(tmp_path / "missing")
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match="not a directory"):
        components.load_inference_bundle(tmp_path / "file")
    with pytest.raises(FileNotFoundError, match="wts.h5.zip"):
        components.load_inference_bundle(tmp_path)


def test_bundle_without_inference_model_is_a_key_error(tmp_path):
    params.cfg.update({"N": 64, "gridsize": 1, "n_filters_scale": 1, "intensity_scale": 10.0})
    autoencoder, _ = model.create_model_with_gridsize(1, 64)
    ModelManager.save_multiple_models({"autoencoder": autoencoder}, tmp_path / "wts.h5")
    with pytest.raises(KeyError, match="diffraction_to_obj"):
        components.load_inference_bundle(str(tmp_path))


def test_bundle_calls_the_manager_with_the_base_path_and_passes_errors_through(tmp_path, monkeypatch):
    (tmp_path / "wts.h5.zip").write_bytes(b"")
    calls = []

    def fake_load(base_path, model_names=None):
        calls.append(base_path)
        raise RuntimeError("boom")

    monkeypatch.setattr(ModelManager, "load_multiple_models", staticmethod(fake_load))
    with pytest.raises(RuntimeError, match="boom"):
        components.load_inference_bundle(str(tmp_path))
    assert calls == [str(tmp_path / "wts.h5")]


def test_adapter_syncs_gridsize_and_forwards_attributes():
    params.cfg.update({"N": 64, "gridsize": 2, "n_filters_scale": 1, "intensity_scale": 10.0})
    _, d2o = model.create_model_with_gridsize(2, 64)
    adapter = components.DiffractionToObjectAdapter(d2o)
    assert adapter._model is d2o and adapter.name == d2o.name
    d2o.study_label = "run-7"  # an attribute only the wrapped model has
    assert adapter.study_label == "run-7"
    with pytest.raises(AttributeError):
        adapter.no_such_attribute  # noqa: B018
    assert adapter.count_params() == d2o.count_params()
    params.cfg["gridsize"] = 1
    x = np.ones((2, 64, 64, 4), np.float32)
    out = adapter.predict([x, np.zeros((2, 1, 2, 4))], verbose=0)
    assert params.cfg["gridsize"] == 2
    assert out.shape == (2, 64, 64, 1) and out.dtype == np.complex64
    np.testing.assert_allclose(out, d2o.predict([x, np.zeros((2, 1, 2, 4))], verbose=0), rtol=1e-6, atol=1e-6)
    params.cfg["gridsize"] = 1
    adapter._sync_gridsize([np.ones((1, 64, 64, 3))])  # 3 channels: not a square, left alone
    assert params.cfg["gridsize"] == 1


# ------------------------------------------------------------------------------------------------ data helpers
def test_container_factory(tmp_path):
    raw = _raw(6)
    config = _config(n_groups=10)
    update_legacy_dict(params.cfg, config)
    container = components.create_ptycho_data_container(raw, config)
    assert isinstance(container, PtychoDataContainer) and len(container) == 10
    assert components.create_ptycho_data_container(container, config) is container
    with pytest.raises(TypeError, match="RawData or PtychoDataContainer"):
        components.create_ptycho_data_container({"diff3d": 1}, config)


def _write_npz(path: Path, transpose: bool = False, drop: str = "") -> dict:
    s = simulate.scan(n_side=5, step=4.0)
    arrays = {
        "xcoords": s["xcoords"],
        "ycoords": s["ycoords"],
        "xcoords_start": s["xcoords"],
        "ycoords_start": s["ycoords"],
        "probeGuess": s["probeGuess"],
        "objectGuess": s["objectGuess"],
        "diffraction": np.transpose(s["diff3d"], (1, 2, 0)) if transpose else s["diff3d"],
    }
    arrays.pop(drop, None)
    np.savez(path, **arrays)
    return arrays


def test_load_data_layouts_subsampling_and_flips(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    arrays = _write_npz(tmp_path / "a.npz", transpose=True)
    raw = components.load_data(tmp_path / "a.npz", n_subsample=7, subsample_seed=3, flip_x=True, coord_scale=2.0)
    expected = np.sort(np.random.RandomState(3).choice(np.arange(25), 7, replace=False))
    np.testing.assert_array_equal(raw.sample_indices, expected)
    np.testing.assert_allclose(raw.xcoords, -2.0 * arrays["xcoords"][expected])
    np.testing.assert_allclose(raw.ycoords, 2.0 * arrays["ycoords"][expected])
    np.testing.assert_allclose(raw.diff3d, np.transpose(arrays["diffraction"], (2, 0, 1))[expected])
    assert components.load_data(tmp_path / "a.npz").diff3d.shape == (25, 64, 64)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.npz"]  # nothing written into the working folder


def test_load_data_names_missing_keys(tmp_path):
    _write_npz(tmp_path / "b.npz", drop="xcoords_start")
    with pytest.raises(KeyError, match="xcoords_start"):
        components.load_data(tmp_path / "b.npz")


# ------------------------------------------------------------------------------------------------ save_outputs
def test_save_outputs_writes_images_and_keeps_old_files(tmp_path):
    import matplotlib.image

    components.save_outputs(None, None, {}, str(tmp_path / "none"))
    assert (tmp_path / "none").is_dir() and list((tmp_path / "none").iterdir()) == []
    amplitude = np.random.default_rng(0).random((30, 30, 1))
    phase = np.random.default_rng(1).random((30, 30, 1))
    components.save_outputs(amplitude, phase, {}, str(tmp_path / "out"))
    names = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert names == [
        "reconstructed_amplitude.npy",
        "reconstructed_amplitude.png",
        "reconstructed_phase.npy",
        "reconstructed_phase.png",
    ]
    assert matplotlib.image.imread(tmp_path / "out" / "reconstructed_amplitude.png").ndim == 3
    np.testing.assert_array_equal(np.load(tmp_path / "out" / "reconstructed_phase.npy"), phase[..., 0])
    components.save_outputs(2 * amplitude, phase, {}, str(tmp_path / "out"))
    backup = tmp_path / "out" / "reconstructed_amplitude.~1~.npy"
    np.testing.assert_array_equal(np.load(backup), amplitude[..., 0])
    np.testing.assert_array_equal(np.load(tmp_path / "out" / "reconstructed_amplitude.npy"), 2 * amplitude[..., 0])


@pytest.mark.slow
def test_importing_components_binds_probe_and_tf_helper():
    code = (
        "import ptycho, ptycho.workflows.components\n"
        "assert hasattr(ptycho, 'probe') and hasattr(ptycho, 'tf_helper')\n"
        "assert callable(ptycho.probe.set_probe_guess) and callable(ptycho.tf_helper.reassemble_position)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=dict(os.environ))
    assert proc.returncode == 0, proc.stderr[-2000:]


# ------------------------------------------------------------------------------------- train → save → load → infer
@pytest.mark.slow
@pytest.mark.parametrize("gridsize", [1, 2])
def test_train_save_load_infer(tmp_path, gridsize, caplog):
    raw, test_raw = _raw(10, seed=0), _raw(8, seed=1)
    config = _config(gridsize, n_groups=40 if gridsize == 1 else 24)
    with caplog.at_level(logging.INFO, logger="ptycho_core.training"):
        amplitude, phase, results = components.run_cdi_example(raw, test_raw, config, do_stitching=True)
    for key in (
        "history",
        "history_epochs",
        "model_instance",
        "pred_amp",
        "reconstructed_obj",
        "reconstructed_obj_cdi",
        "stitched_obj",
        "test_container",
        "train_container",
        "backend",
    ):
        assert key in results, key
    import keras

    assert results["backend"] == keras.backend.backend()
    history = results["history"]
    assert set(history) >= {"loss", "val_loss", "train_loss"} and results["history_epochs"] == [0]
    assert all(np.isfinite(history["loss"])) and history["train_loss"] == history["loss"]
    assert any("epoch 1/1:" in r.getMessage() and "val_loss" in r.getMessage() for r in caplog.records)
    c = gridsize**2
    n_test = len(results["test_container"])
    assert results["reconstructed_obj"].dtype == np.complex64
    assert results["reconstructed_obj"].shape == (n_test, 64, 64, 1)
    assert results["pred_amp"].shape == (n_test, 64, 64, c)
    assert amplitude.ndim == 3 and amplitude.shape[-1] == 1 and np.isfinite(amplitude).all()
    assert np.all(np.abs(phase) <= np.pi + 1e-6)

    from ptycho import model_manager

    model_manager.save(tmp_path / "bundle")
    scale = params.cfg["intensity_scale"]
    container = results["test_container"]
    x = np.asarray(container.X) * scale
    offsets = np.asarray(container.local_offsets)
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "offsets.npy", offsets)
    np.save(tmp_path / "global.npy", np.asarray(container.global_offsets))
    np.save(tmp_path / "expected.npy", model.diffraction_to_obj.predict([x, offsets], verbose=0))
    code = f"""
import numpy as np
from ptycho import params
from ptycho.workflows.components import load_inference_bundle, DiffractionToObjectAdapter
params.cfg['gridsize'] = 1
m, cfg = load_inference_bundle({str(tmp_path / "bundle")!r})
assert isinstance(m, DiffractionToObjectAdapter)
assert abs(cfg['intensity_scale'] - {float(scale)!r}) < 1e-5 * {float(scale)!r}, cfg['intensity_scale']
assert cfg['N'] == 64 and cfg['n_filters_scale'] == 1
x, off = np.load({str(tmp_path / "x.npy")!r}), np.load({str(tmp_path / "offsets.npy")!r})
out = m.predict([x, off], verbose=0)
assert params.cfg['gridsize'] == {gridsize}
exp = np.load({str(tmp_path / "expected.npy")!r})
err = np.abs(out - exp).max() / np.abs(exp).max()
assert err <= 1e-5, err
import ptycho.tf_helper
img = np.squeeze(ptycho.tf_helper.reassemble_position(out, np.load({str(tmp_path / "global.npy")!r}), M=20))
assert img.dtype == np.complex64 and img.ndim == 2 and np.isfinite(img).all()
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=dict(os.environ))
    assert proc.returncode == 0, proc.stderr[-3000:]
