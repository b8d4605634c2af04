"""Real detector data through Ptychodus: each bad input gives a clear error before training, and no bundle is lost.

Each case builds a Ptychodus product with one defect, exports it with Ptychodus 1.7.0's
``save_ptychopinn_training_data`` and runs Ptychodus 1.7.0's child entry point ``run_train`` into an output
folder that already holds a model bundle. The run must raise a ``ValueError`` that names the problem and the fix,
must not reach training (``ptycho_core.training.train`` is replaced by a tripwire) and must leave the existing
bundle byte for byte as it was. The same defective inputs given to the git reconstructor's ``reconstruct`` fail
the same way before any model is used.

Defects: non-square patterns, NaN/inf pixels, negative counts, a probe whose size is not N, fewer scan points
than the grouping needs (gridsize 2 with Ptychodus's fixed 512 training groups; a 3-point scan with gridsize 2).
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Dict

import numpy as np
import pytest
from ptychodus.api.io import save_ptychopinn_training_data
from ptychodus.api.reconstruct import prepare_reconstruct_input
from ptychodus.api.settings import SettingsRegistry
from ptychodus.model.ptychopinn import reconstructor as pd_reconstructor
from ptychodus.model.ptychopinn._payload import TrainPayload
from ptychodus.model.ptychopinn._subprocess import run_train
from ptychodus.model.ptychopinn.core import PtychoPINNReconstructorLibrary
from ptychodus_git_reconstructor import GitPtychoPINNReconstructor
from ptychodus_product import Scene, assemble, build_product, make_scene


class ListQueue(list):
    def put(self, item) -> None:
        self.append(item)


@pytest.fixture(scope="module")
def scene() -> Scene:
    return make_scene(40, object_size=128)  # a 6 x 7 raster: 42 points


def _non_square(scene: Scene):
    return scene.counts[:, :, 2:62], scene.product.probes.get_array()[0]


def _non_finite(scene: Scene):
    counts = scene.counts.astype(np.float32)
    counts[3, 10, 10] = np.nan
    counts[5, 0, 0] = np.inf
    return counts, scene.product.probes.get_array()[0]


def _negative(scene: Scene):
    counts = scene.counts.astype(np.int32)
    counts[0, 0, :4] = -3  # e.g. an over-subtracted dark frame
    return counts, scene.product.probes.get_array()[0]


def _small_probe(scene: Scene):
    return scene.counts, scene.product.probes.get_array()[0][:, 8:56, 8:56]


CASES: Dict[str, tuple] = {
    "non-square patterns": (_non_square, r"must be square .*\(\d+, 64, 60\).*crop or pad them"),
    "NaN/inf pixels": (_non_finite, r"diff3d contains 2 non-finite value\(s\) \(NaN or inf\); repair them"),
    "negative counts": (_negative, r"diff3d contains 4 negative value\(s\) \(minimum -3\).*must be >= 0.*np\.clip"),
    "probe size not N": (_small_probe, r"probeGuess is 48x48 but the diffraction patterns are 64x64.*Resample"),
}


def _export(folder: Path, scene: Scene, counts: np.ndarray, probe_stack: np.ndarray, indexes=None) -> Path:
    """``train_data.npz`` / ``test_data.npz`` from a product with these patterns and this probe (even / odd points)."""
    folder.mkdir(parents=True, exist_ok=True)
    positions = scene.positions_px if indexes is None else scene.positions_px[indexes]
    counts = counts if indexes is None else counts[indexes]
    product = build_product(scene.object_true, probe_stack, positions)
    parameters = prepare_reconstruct_input(assemble(counts), product)
    save_ptychopinn_training_data(folder / "train_data.npz", parameters)
    save_ptychopinn_training_data(folder / "test_data.npz", parameters)
    return folder


def _training_config(gridsize: int = 1):
    library = PtychoPINNReconstructorLibrary(SettingsRegistry(), is_developer_mode_enabled=False)
    library.model_settings.gridsize.set_value(gridsize)
    library.model_settings.n_filters_scale.set_value(1)
    library.training_settings.nepochs.set_value(1)
    return pd_reconstructor._build_training_config(library.model_settings, library.training_settings, "PINN")


@pytest.fixture
def existing_bundle(tmp_path: Path) -> Callable[[], Dict[str, bytes]]:
    """An output folder already holding a bundle; returns a snapshot function of the folder's files."""
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "wts.h5.zip").write_bytes(b"PK\x05\x06" + bytes(18) + b"a model trained earlier")
    (folder / "reconstructed_amplitude.npy").write_bytes(b"earlier output")

    def snapshot() -> Dict[str, bytes]:
        return {p.name: p.read_bytes() for p in folder.iterdir()}

    snapshot.folder = folder
    return snapshot


@pytest.fixture
def no_training(monkeypatch):
    """Fail loudly if anything reaches the training loop."""
    import ptycho_core.training

    def tripwire(*args, **kwargs):
        raise AssertionError("training started although the input is invalid")

    monkeypatch.setattr(ptycho_core.training, "train", tripwire)


def _run_train_expecting(data: Path, config, existing_bundle, match: str) -> ValueError:
    before = existing_bundle()
    queue = ListQueue()
    with pytest.raises(ValueError, match=match) as info:
        run_train(TrainPayload(training_config=config, input_path=data, output_path=existing_bundle.folder), queue)
    assert queue == []  # nothing reported as saved
    assert existing_bundle() == before  # the earlier bundle and outputs are untouched
    return info.value


@pytest.mark.parametrize("case", list(CASES))
def test_bad_detector_data_fails_before_training(case, scene, tmp_path, existing_bundle, no_training) -> None:
    make, match = CASES[case]
    counts, probe = make(scene)
    data = _export(tmp_path / "data", scene, counts, probe)
    _run_train_expecting(data, _training_config(), existing_bundle, match)


@pytest.mark.parametrize("case", list(CASES))
def test_bad_detector_data_fails_in_git_reconstruct(case, scene) -> None:
    make, match = CASES[case]
    counts, probe = make(scene)
    product = build_product(scene.object_true, probe, scene.positions_px)
    if case == "non-square patterns":  # git checks this itself before calling ptycho
        match = "Model requires square diffraction patterns"
    with pytest.raises(ValueError, match=match):
        GitPtychoPINNReconstructor().reconstruct(prepare_reconstruct_input(assemble(counts), product))


def test_gridsize2_with_fewer_points_than_ptychodus_groups(scene, tmp_path, existing_bundle, no_training) -> None:
    """Ptychodus 1.7.0 always asks for 512 training groups; with gridsize 2 that needs 512 scan points."""
    data = _export(tmp_path / "data", scene, scene.counts, scene.product.probes.get_array()[0])
    config = _training_config(gridsize=2)
    assert config.n_groups == 512
    error = _run_train_expecting(data, config, existing_bundle, "OVERSAMPLING-001")
    message = str(error)
    assert f"Requesting 512 groups but only {len(scene.positions_px)} points" in message
    assert "at least 512 scan points" in message and "gridsize=1" in message


def test_scan_smaller_than_one_group(scene, tmp_path, existing_bundle, no_training) -> None:
    data = _export(tmp_path / "data", scene, scene.counts, scene.product.probes.get_array()[0], indexes=[0, 1, 2])
    config = _training_config(gridsize=2)
    config.n_groups = 2
    _run_train_expecting(data, config, existing_bundle, "Dataset has only 3 points but 4 coordinates per group")
