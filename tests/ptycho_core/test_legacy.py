"""Archives of the original TensorFlow PtychoPINN: same predictions on every backend, no code from the file."""

from __future__ import annotations

import os
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest

from ptycho_core.factory import intensity_scale_of
from ptycho_core.legacy import load_legacy_archive
from ptycho_core.safe_pickle import ClassReference, UnsafeArchiveError, safe_load
from ptycho_testing.arrays import rel_err

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "legacy_tf_gs1"


@pytest.fixture(scope="module")
def legacy():
    return load_legacy_archive(FIXTURE / "bundle" / "wts.h5.zip")


def test_diffraction_to_obj_reproduces_the_original(legacy):
    models, params = legacy
    data = np.load(FIXTURE / "expected.npz")
    out = models["diffraction_to_obj"].predict([data["model_input"], data["model_positions"]], batch_size=8, verbose=0)
    err = rel_err(out, data["diffraction_to_obj"])
    print(f"legacy TF archive, diffraction_to_obj vs the original's output: rel {err:.2e}")
    assert out.dtype == np.complex64 and err <= 1e-5


def test_intensity_scale_and_probe_come_from_params(legacy):
    models, params = legacy
    assert params["intensity_scale"] == pytest.approx(31.250001907348633)
    assert intensity_scale_of(models["autoencoder"]) == pytest.approx(31.25, rel=1e-6)
    probe = models["autoencoder"].get_layer("probe_illumination")
    np.testing.assert_array_equal(np.asarray(probe.probe_real)[0, ..., 0], np.asarray(params["probe"]).real[..., 0])
    assert isinstance(params["probe"], np.ndarray)


class _Payload:
    def __reduce__(self):
        return (os.system, ("touch PAYLOAD_RAN",))


def test_a_pickle_that_runs_code_is_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    crafted = tmp_path / "wts.h5.zip"
    with zipfile.ZipFile(FIXTURE / "bundle" / "wts.h5.zip") as src, zipfile.ZipFile(crafted, "w") as dst:
        for item in src.infolist():
            data = src.read(item.filename)
            if item.filename == "diffraction_to_obj/params.dill":
                data = pickle.dumps({"N": 64, "gridsize": 1, "x": _Payload()}, protocol=4)
            dst.writestr(item, data)
    with pytest.raises(UnsafeArchiveError, match=r"diffraction_to_obj/params.dill asks to load posix.system"):
        load_legacy_archive(crafted)
    assert not (tmp_path / "PAYLOAD_RAN").exists()


def test_safe_load_keeps_plain_data_and_references():
    data = {"a": [1, 2.5, "s", None, True], "b": np.arange(3), "c": (1j, {1, 2})}
    out = safe_load(pickle.dumps(data, protocol=4))
    assert out["a"] == data["a"] and out["c"] == data["c"]
    np.testing.assert_array_equal(out["b"], data["b"])
    with zipfile.ZipFile(FIXTURE / "bundle" / "wts.h5.zip") as z:
        refs = safe_load(z.read("autoencoder/custom_objects.dill"), "custom_objects.dill")
    assert isinstance(refs["ProbeIllumination"], ClassReference)
    assert refs["ProbeIllumination"] == "ptycho.model.ProbeIllumination"
    with pytest.raises(UnsafeArchiveError, match="not a readable pickle"):
        safe_load(b"\x80\x04garbage", "x.dill")


def test_archive_without_the_models_is_named(tmp_path):
    broken = tmp_path / "wts.h5.zip"
    with zipfile.ZipFile(broken, "w") as z:
        z.writestr("manifest.dill", pickle.dumps({"models": ["other"], "version": "1.0"}, protocol=4))
    with pytest.raises(ValueError, match="expected \\['autoencoder', 'diffraction_to_obj'\\]"):
        load_legacy_archive(broken)
