"""The engine's front door: train → save → load → reconstruct, the original's archive, and refusals."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ptycho_core import pipeline, training
from ptycho_core.array_rows import ArrayRows
from ptycho_core.data import Scan, ScanError, group_scan, read_scan
from ptycho_core.physics import intensity_scale
from ptycho_testing import simulate

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "legacy_tf_gs1"


def _scan(nphotons=None) -> Scan:
    raw = simulate.scan(n_side=6, nphotons=1e6)
    metadata = None if nphotons is None else {"physics_parameters": {"nphotons": nphotons}}
    return Scan(
        raw["diff3d"], raw["xcoords"], raw["ycoords"], raw["probeGuess"], object=raw["objectGuess"], metadata=metadata
    )


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    scan = _scan(nphotons=1e6).validate()
    spec = pipeline.spec_for(scan, gridsize=1, n_filters_scale=1, init_seed=0)
    model = pipeline.train(scan, spec, pipeline.TrainOptions(epochs=2, batch_size=8, verbose=0))
    folder = tmp_path_factory.mktemp("model")
    model.save(folder)
    return scan, model, folder


def test_spec_for_takes_n_and_the_photon_scale_from_the_scan():
    assert pipeline.spec_for(_scan()).intensity_scale == pytest.approx(float(intensity_scale(1e9, 64)))
    spec = pipeline.spec_for(_scan(nphotons=1e6), gridsize=2)
    assert spec.N == 64 and spec.gridsize == 2
    assert spec.intensity_scale == pytest.approx(float(intensity_scale(1e6, 64)))
    assert not spec.probe_trainable and not spec.intensity_scale_trainable  # the original's choice by default


def test_train_save_load_reconstruct(trained):
    scan, model, folder = trained
    assert len(model.history["loss"]) == 2 and np.all(np.isfinite(model.history["loss"]))
    assert {w.path for w in model.autoencoder.trainable_weights}.isdisjoint(
        {"intensity_scaler/log_scale", "probe_illumination/probe_real", "probe_illumination/probe_imag"}
    )
    loaded = pipeline.load_model(folder)
    assert (folder / "wts.h5.zip").is_file()
    assert loaded.spec.replace(intensity_scale=0.5) == model.spec.replace(intensity_scale=0.5)
    assert loaded.intensity_scale == pytest.approx(model.intensity_scale, rel=1e-6)
    np.testing.assert_allclose(loaded.probe, model.probe, rtol=0, atol=0)
    assert loaded.params["N"] == 64 and loaded.params["gridsize"] == 1 and "probe" in loaded.params
    # what the training used, not the original's cfg defaults (probe_scale 10, nphotons 1e9, nepochs 60)
    assert loaded.params["probe_scale"] == 4.0 and loaded.params["nphotons"] == 1e6
    assert loaded.params["nepochs"] == 2 and loaded.params["batch_size"] == 8 and loaded.params["n_groups"] == 36
    in_memory = pipeline.reconstruct(loaded, scan, M=20)
    again = pipeline.reconstruct(model, scan, M=20)
    np.testing.assert_array_equal(in_memory.image, again.image)  # the loaded model is the trained one
    assert in_memory.image.ndim == 2 and in_memory.image.dtype == np.complex64 and not in_memory.streamed
    assert in_memory.n_patterns == len(scan) and np.all(np.isfinite(in_memory.image))
    before = (folder / "wts.h5.zip").read_bytes()
    model.save(folder, existing="backup")  # saving again keeps the previous archive
    assert (folder / "wts.h5.~1~.zip").read_bytes() == before and (folder / "wts.h5.zip").is_file()
    with pytest.raises(FileExistsError):
        model.save(folder, existing="refuse")


def test_streamed_reconstruction_equals_the_in_memory_one(trained, tmp_path):
    scan, model, _ = trained
    expected = pipeline.reconstruct(model, scan).image
    scale = np.max(np.abs(expected))
    streamed = pipeline.reconstruct(model, scan, stream="on", chunk_bytes=1 << 16, batch_size=5)
    assert streamed.streamed
    np.testing.assert_allclose(streamed.image, expected, rtol=0, atol=1e-5 * scale)
    rows = pipeline.reconstruct(model, scan.replace(diffraction=ArrayRows(scan.diffraction)))  # rows: streamed
    assert rows.streamed
    np.testing.assert_allclose(rows.image, expected, rtol=0, atol=1e-5 * scale)
    from ptycho_core.data import write_scan

    path = write_scan(tmp_path / "scan.npz", scan)
    from_file = pipeline.reconstruct(model, path, stream="on", chunk_bytes=1 << 16)
    np.testing.assert_allclose(from_file.image, expected, rtol=0, atol=1e-5 * scale)


def test_compiled_reconstruction_equals_the_eager_one(trained):
    """``compile="on"``: torch predicts with the exported, compiled model (36 groups in batches of 4, as
    ``test_torch_compile.py``, so the compiled shapes are shared); the other engines ignore it."""
    scan, model, _ = trained
    expected = pipeline.reconstruct(model, scan, compile="off", batch_size=4).image
    scale = np.max(np.abs(expected))
    for stream in ("off", "on"):
        compiled = pipeline.reconstruct(model, scan, compile="on", batch_size=4, stream=stream, chunk_bytes=1 << 16)
        np.testing.assert_allclose(compiled.image, expected, rtol=0, atol=1e-5 * scale)
    with pytest.raises(ValueError, match="compile must be one of auto, on, off"):
        pipeline.reconstruct(model, scan, compile="always")


def test_invalid_data_is_refused_before_anything_is_trained(monkeypatch, trained):
    def tripwire(*args, **kwargs):
        raise AssertionError("training started although the input is invalid")

    monkeypatch.setattr(training, "train", tripwire)
    scan = _scan()
    spec = pipeline.spec_for(scan, n_filters_scale=1)
    bad = scan.diffraction.copy()
    bad[2, 3, 4] = np.nan
    with pytest.raises(ScanError, match=r"diff3d contains 1 non-finite value\(s\)"):
        pipeline.train(scan.replace(diffraction=bad), spec)
    with pytest.raises(ScanError, match="probeGuess is 32x32 but the diffraction patterns are 64x64"):
        pipeline.train(scan.replace(probe=scan.probe[:32, :32]), spec)
    with pytest.raises(ScanError, match="gridsize 7 groups 49"):
        pipeline.train(scan, spec.replace(gridsize=7, offset=4, max_position_jitter=12))
    _, model, _ = trained
    small = Scan(scan.diffraction[:, :32, :32], scan.x, scan.y, scan.probe[:32, :32])
    with pytest.raises(ScanError, match="32x32 patterns but the model is for N=64"):
        pipeline.reconstruct(model, small)
    with pytest.raises(ValueError, match="stream must be auto, on or off"):
        pipeline.reconstruct(model, scan, stream="sometimes")


def test_the_originals_archive_predicts_its_own_output():
    """The original's wts.h5.zip through load_model: its groups (seed 5) and inputs give its prediction."""
    model = pipeline.load_model(FIXTURE / "bundle")
    expected = np.load(FIXTURE / "expected.npz")
    assert model.spec.N == 64 and model.spec.gridsize == 1
    assert not model.spec.probe_trainable and not model.spec.intensity_scale_trainable
    assert model.intensity_scale == pytest.approx(float(expected["intensity_scale"]), rel=1e-6)
    grouped = group_scan(read_scan(FIXTURE / "data.npz").validate(), gridsize=1, n_groups=64, K=7, seed=5)
    x = grouped.X * np.float32(model.intensity_scale)
    np.testing.assert_allclose(x, expected["model_input"], rtol=1e-6, atol=1e-6 * float(np.max(x)))
    np.testing.assert_array_equal(grouped.groups.relative.astype(np.float32), expected["model_positions"])
    predicted = np.asarray(model.diffraction_to_obj.predict([x, grouped.groups.relative], verbose=0))
    want = expected["diffraction_to_obj"]
    assert np.max(np.abs(predicted - want)) <= 1e-4 * np.max(np.abs(want))
