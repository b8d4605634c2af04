"""Archives written here: same predictions after reload, atomic replacement, checksums, foreign archives; the
original's TensorFlow archive opens with TensorFlow unimportable.

Attacks (code in pickles or configs, zip bombs, path traversal) are in test_archive_attacks.py; faults (killed
saves, flipped bytes, truncation, foreign files) in test_archive_faults.py.
"""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from ptycho_core.archive import ArchiveError, read_archive, write_archive
from ptycho_core.factory import create_compiled_models, intensity_scale_of
from ptycho_core.spec import ModelSpec
from ptycho_testing.arrays import rel_err


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    spec = ModelSpec(gridsize=2, n_filters_scale=1, intensity_scale=50.0, probe_mask=True)
    autoencoder, d2o = create_compiled_models(spec)
    path = tmp_path_factory.mktemp("arch") / "out" / "wts.h5.zip"
    write_archive(
        path,
        {"autoencoder": autoencoder, "diffraction_to_obj": d2o},
        {"N": 64, "gridsize": 2, "probe": np.ones((64, 64, 1), np.complex64), "output_prefix": Path("x")},
        intensity_scale=intensity_scale_of(autoencoder),
    )
    rng = np.random.default_rng(0)
    x = rng.random((3, 64, 64, 4)).astype(np.float32) * 50
    pos = rng.uniform(-2, 2, (3, 1, 2, 4)).astype(np.float32)
    return path, d2o.predict([x, pos], verbose=0), (x, pos)


def test_round_trip_gives_the_same_object(saved):
    path, before, inputs = saved
    models, params = read_archive(path)
    after = models["diffraction_to_obj"].predict(list(inputs), verbose=0)
    assert rel_err(after, before) <= 1e-6
    assert params["intensity_scale"] == pytest.approx(50.0, rel=1e-6) and params["output_prefix"] == "x"
    assert isinstance(params["probe"], np.ndarray)
    with zipfile.ZipFile(path) as z:
        names = set(z.namelist())
    assert {
        "manifest.dill",
        "autoencoder/model.keras",
        "autoencoder/params.dill",
        "autoencoder/custom_objects.dill",
        "autoencoder/model.h5",
        "diffraction_to_obj/model.keras",
    } <= names


def test_corrupt_member_is_detected(saved, tmp_path):
    path = saved[0]
    bad = tmp_path / "wts.h5.zip"
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(bad, "w") as dst:
        for item in src.infolist():
            data = src.read(item.filename)
            if item.filename == "diffraction_to_obj/params.dill":
                data = pickle.dumps({"N": 64, "gridsize": 2}, protocol=4)
            dst.writestr(item, data)
    with pytest.raises(ArchiveError, match="does not match its checksum"):
        read_archive(bad)
    truncated = tmp_path / "short.zip"
    truncated.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(ArchiveError, match="not a zip archive"):
        read_archive(truncated)
    with pytest.raises(FileNotFoundError, match="Model archive not found"):
        read_archive(tmp_path / "missing.zip")


def test_pytorch_archives_are_named(tmp_path):
    torch_archive = tmp_path / "wts.h5.zip"
    with zipfile.ZipFile(torch_archive, "w") as z:
        z.writestr("manifest.dill", pickle.dumps({"models": ["diffraction_to_obj"], "version": "2.0-pytorch"}))
    with pytest.raises(ArchiveError, match="written by ptycho_torch, the original PtychoPINN's PyTorch backend"):
        read_archive(torch_archive)


def test_failed_save_keeps_the_previous_archive(saved, tmp_path):
    path = tmp_path / "wts.h5.zip"
    path.write_bytes(saved[0].read_bytes())
    before = path.read_bytes()

    class Broken:
        def save(self, *args, **kwargs):
            raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        write_archive(path, {"autoencoder": Broken()}, {"N": 64}, 1.0)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["wts.h5.zip"]


LEGACY = Path(__file__).resolve().parents[1] / "fixtures" / "legacy_tf_gs1"
_WITHOUT_TENSORFLOW = r"""
import json, sys

# None in sys.modules: `import tensorflow` raises ModuleNotFoundError and importlib.util.find_spec says "not
# installed", exactly as if TensorFlow were absent (a finder that raises would break torch's own probing)
sys.modules["tensorflow"] = None
try:
    import tensorflow  # noqa: F401
except ImportError:
    pass
else:
    raise SystemExit("tensorflow is still importable")
import keras
import numpy as np
from ptycho_core.archive import read_archive

fixture = sys.argv[1]
models, params = read_archive(fixture + "/bundle/wts.h5.zip")
data = np.load(fixture + "/expected.npz")
out = models["diffraction_to_obj"].predict([data["model_input"], data["model_positions"]], batch_size=8, verbose=0)
expected = data["diffraction_to_obj"]
rel = float(np.max(np.abs(out - expected)) / np.max(np.abs(expected)))
loaded = sorted(m for m, mod in sys.modules.items() if m.split(".")[0] == "tensorflow" and mod is not None)
print("@@" + json.dumps({"backend": keras.backend.backend(), "rel": rel, "dtype": str(out.dtype),
                         "tensorflow_modules": loaded}))
"""


@pytest.mark.cross_backend
@pytest.mark.parametrize("backend", ["torch", "jax"])
def test_original_archive_opens_without_tensorflow(backend):
    """The original's archive (probe pickled as a TensorFlow tensor) loads and predicts with TF unimportable."""
    env = dict(os.environ, KERAS_BACKEND=backend)
    proc = subprocess.run(
        [sys.executable, "-c", _WITHOUT_TENSORFLOW, str(LEGACY)], env=env, capture_output=True, text=True, timeout=900
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    result = json.loads(next(line[2:] for line in proc.stdout.splitlines() if line.startswith("@@")))
    print(f"{backend} without tensorflow: diffraction_to_obj vs the original's output: rel {result['rel']:.2e}")
    assert result["backend"] == backend and result["tensorflow_modules"] == []
    assert result["dtype"] == "complex64" and result["rel"] <= 1e-5
