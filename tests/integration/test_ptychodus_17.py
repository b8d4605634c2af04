"""Ptychodus 1.7.0 (the registry release), unchanged, trains, saves, opens and reconstructs with this package.

Everything Ptychodus-side is Ptychodus's own code: the product classes, ``prepare_reconstruct_input`` (EVEN scan
indexes → ``train_data.npz``, ODD → ``test_data.npz``, ALL → reconstruction), ``save_ptychopinn_training_data``,
its settings registry and ``PtychoPINNReconstructorLibrary`` → ``build_reconstructor`` → ``SubprocessReconstructor``
(each ``train``/``reconstruct`` in a freshly *spawned* child running ``_subprocess.run_train``/``run_reconstruct``),
its config builders and payload dataclasses, and its ``run_subprocess`` machinery. The backend of every child is
the ``KERAS_BACKEND`` of this test run.

Settings used (Ptychodus defaults unless named): ``NumFiltersScale=1``, ``NumEpochs=EPOCHS``
(``GRIDSIZE2_EPOCHS`` for gridsize 2), ``BatchSize``
default 16; for reconstruction ``NumSamples = number of scan points`` (the default of 1 reconstructs a single
randomly chosen patch, as in the original) and ``NumNearestNeighbors`` default 7.

* gridsize 1: Ptychodus's full path (factory, spawned training child, ``save_model`` → zip, a new library opening
  that zip, spawned reconstruction child). Ptychodus 1.7.0 asks for its ``TrainingConfig`` default of 512 groups;
  with 153 training points every point is used once (the original's behaviour, with a warning).
* gridsize 2: the child entry points called directly with Ptychodus's payloads: ``run_train`` in this process,
  ``run_reconstruct`` in a new process through ``run_subprocess``. Ptychodus 1.7.0 has no setting for the number of
  groups, and its default of 512 groups exceeds the 153 training points, which raises OVERSAMPLING-001 before
  training (as in the original; see ``test_ptychodus_bad_input.py``). The test therefore sets
  ``training_config.n_groups = GRIDSIZE2_GROUPS`` on the config Ptychodus built — the only deviation from
  what the application sends.
"""

from __future__ import annotations

import os
import pickle
import time
from pathlib import Path
from typing import Any, List

import numpy as np
import pytest
from ptychodus.api.io import save_ptychopinn_training_data
from ptychodus.api.reconstruct import PositionIndexFilter, ReconstructOutput, TrainOutput
from ptychodus.model.processing._subprocess_protocol import run_subprocess
from ptychodus.model.processing.subprocess_reconstructor import TAG_MODEL_SAVED, TAG_OUTPUT, TAG_TRAIN_OUTPUT
from ptychodus.model.ptychopinn import reconstructor as pd_reconstructor
from ptychodus.model.ptychopinn._payload import MODEL_FILE_NAME, ReconstructPayload, TrainPayload
from ptychodus.model.ptychopinn._subprocess import run_train
from ptychodus_product import N, Scene, amplitude_correlation, make_scene, pinn_library

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("watchdog")]

N_POSITIONS = 300  # raster 17 x 18 = 306 points on a 224 px object
EPOCHS = 2
GRIDSIZE2_GROUPS = 128
GRIDSIZE2_EPOCHS = 6
GRIDSIZE2_SEED = 7
# Amplitude correlation with the true object over the scanned area. gridsize 1 (2 epochs): 0.79-0.87 on torch,
# tensorflow and jax. gridsize 2 (128 groups = 8 steps per epoch): after 2 epochs 0.43-0.60 (best placement), but
# about one unseeded run in five had not left its starting point (0.10; seen once in CI on torch); after 6
# epochs 0.43-0.69 in 8 of 8 torch, tensorflow and jax runs, so the test trains 6 epochs, seeded (keras.utils.
# set_random_seed in this process, where run_train runs; torch's CPU kernels still vary slightly between runs).
# Negative control: the same reconstruction scored against another ``lines`` object, with the same best-of-81-
# shifts placement: 0.07 or less after 2 epochs, up to 0.22 after 6 (a sharper reconstruction shares more of the
# family's large-scale structure; seen once in CI on torch, against 0.67 for the true object). The thresholds sit
# between the two groups, and the true object must also beat the other one by a clear margin.
MIN_CORRELATION = {1: 0.5, 2: 0.3}
MAX_CORRELATION_WITH_ANOTHER_OBJECT = 0.3
MIN_MARGIN_OVER_ANOTHER_OBJECT = 0.2


class ListQueue(list):
    """What the child entry points need of their ``multiprocessing.Queue``: ``put``."""

    def put(self, item: Any) -> None:
        self.append(item)


@pytest.fixture(scope="module")
def scene() -> Scene:
    return make_scene(N_POSITIONS)


@pytest.fixture(scope="module")
def training_data(scene: Scene, tmp_path_factory) -> Path:
    """``train_data.npz`` (EVEN scan indexes) and ``test_data.npz`` (ODD), exported by Ptychodus 1.7.0."""
    folder = tmp_path_factory.mktemp("ptychodus17_training_data")
    save_ptychopinn_training_data(folder / "train_data.npz", scene.reconstruct_input(PositionIndexFilter.EVEN))
    save_ptychopinn_training_data(folder / "test_data.npz", scene.reconstruct_input(PositionIndexFilter.ODD))
    return folder


def expected_canvas(positions_px: np.ndarray, M: int = 20) -> int:
    """Side of ``reassemble_position``'s canvas for gridsize-1 groups at ``positions_px``: ``M + 2·pad``."""
    offsets = positions_px.astype(np.float32)
    adjusted = offsets - offsets.mean(axis=0)
    pad = int(np.ceil(np.abs(adjusted).max()))
    return M + 2 * (pad + pad % 2)


def another_object(scene: Scene) -> np.ndarray:
    """A different ``lines`` object of the same size (negative control for the correlation score)."""
    from ptycho_core.simulation import make_object

    return make_object("lines", scene.object_true.shape[0], np.random.default_rng(12345))


def check_reconstruction(output: ReconstructOutput, scene: Scene, gridsize: int, label: str) -> float:
    """Shape, dtype, finiteness and amplitude correlation of a reconstruction returned through Ptychodus."""
    obj = output.product.object_
    array = obj.get_array()
    assert array.ndim == 3 and array.shape[0] == 1 and array.shape[1] == array.shape[2], array.shape
    if gridsize == 1:
        assert array.shape[1] == expected_canvas(scene.positions_px), array.shape
    assert np.iscomplexobj(array) and array.dtype == np.complex64, array.dtype
    assert np.isfinite(array).all()
    assert obj.get_pixel_geometry() == scene.product.object_.get_pixel_geometry()
    assert len(output.product.probe_positions) == len(scene.positions_px)
    nominal, best, shift = amplitude_correlation(array[0], scene.object_true, scene.positions_px)
    print(
        f"\n[{label}] amplitude correlation with the true object: {nominal:.3f} at the nominal placement, "
        f"{best:.3f} best (shift {shift})"
    )
    score = nominal if gridsize == 1 else best
    assert score >= MIN_CORRELATION[gridsize], (nominal, best, shift)
    _, control, _ = amplitude_correlation(array[0], another_object(scene), scene.positions_px)
    print(f"[{label}] against another lines object (negative control): {control:.3f} best")
    assert control <= MAX_CORRELATION_WITH_ANOTHER_OBJECT, control  # the score does tell objects apart
    assert score - control >= MIN_MARGIN_OVER_ANOTHER_OBJECT, (score, control)
    return score


def test_factory_trains_saves_opens_and_reconstructs_in_subprocesses(
    scene: Scene, training_data: Path, tmp_path: Path, backend: str
) -> None:
    """gridsize 1 via ``build_reconstructor``: train child → save zip → new library opens it → reconstruct child."""
    _, pinn = pinn_library(1, epochs=EPOCHS)
    assert pinn.is_trainable and not pinn.is_model_loaded()
    trained = tmp_path / "trained"
    tic = time.perf_counter()
    outputs = list(pinn.train(training_data, trained))
    train_s = time.perf_counter() - tic
    assert len(outputs) == 1 and isinstance(outputs[0], TrainOutput)
    assert pinn.is_model_loaded() and (trained / MODEL_FILE_NAME).is_file()
    assert {p.name for p in trained.iterdir()} >= {MODEL_FILE_NAME}

    saved = tmp_path / "saved" / "model.zip"
    saved.parent.mkdir()
    pinn.save_model(saved)  # Ptychodus zips the bundle folder
    assert saved.is_file()

    _, reopened = pinn_library(1, epochs=EPOCHS, n_samples=len(scene.positions_px))  # as after an application restart
    reopened.load_model_from_file(saved)
    tic = time.perf_counter()
    results = list(reopened.reconstruct(scene.reconstruct_input()))
    reconstruct_s = time.perf_counter() - tic
    assert len(results) == 1
    check_reconstruction(results[0], scene, 1, f"1.7.0 factory, gridsize 1, {backend}")
    print(
        f"[timing] {backend}: Ptychodus 1.7.0 train child {train_s:.1f} s + reconstruct child {reconstruct_s:.1f} s"
        f" = {train_s + reconstruct_s:.1f} s ({len(scene.positions_px)} points, {EPOCHS} epoch(s))"
    )


def test_entry_points_gridsize2_train_here_reconstruct_in_new_process(
    scene: Scene, training_data: Path, tmp_path: Path, backend: str
) -> None:
    """gridsize 2: ``run_train`` with Ptychodus's ``TrainPayload``; ``run_reconstruct`` in a spawned process."""
    import keras

    library, _ = pinn_library(2, epochs=GRIDSIZE2_EPOCHS, n_samples=len(scene.positions_px))
    training_config = pd_reconstructor._build_training_config(library.model_settings, library.training_settings, "PINN")
    assert training_config.model.N == 0 and training_config.n_groups == 512  # what Ptychodus sends
    training_config.n_groups = GRIDSIZE2_GROUPS  # see the module docstring
    output = tmp_path / "gs2"
    queue = ListQueue()
    keras.utils.set_random_seed(GRIDSIZE2_SEED)  # initial weights, group draws and shuffling (see MIN_CORRELATION)
    run_train(TrainPayload(training_config=training_config, input_path=training_data, output_path=output), queue)
    assert [item[0] for item in queue] == [TAG_TRAIN_OUTPUT, TAG_MODEL_SAVED]
    assert isinstance(pickle.loads(queue[0][1]), TrainOutput)
    assert queue[1][1] == str(output / MODEL_FILE_NAME) and (output / MODEL_FILE_NAME).is_file()
    assert training_config.model.N == N  # Ptychodus assigned it (a frozen ModelConfig would have raised)

    payload = ReconstructPayload(
        inference_config=pd_reconstructor._build_inference_config(
            library.model_settings, "PINN", N, is_developer_mode_enabled=False
        ),
        model_bundle_dir=output,
        n_nearest_neighbors=library.inference_settings.n_nearest_neighbors.get_value(),
        n_samples=library.inference_settings.n_samples.get_value(),
        reconstruct_input=scene.reconstruct_input(),
    )
    events: List[tuple] = []
    with run_subprocess(pd_reconstructor._RECONSTRUCT_ENTRY, payload) as stream:
        events.extend(stream)
    assert [event[0] for event in events] == [TAG_OUTPUT]
    check_reconstruction(pickle.loads(events[0][1]), scene, 2, f"1.7.0 entry points, gridsize 2, {backend}")


def test_parent_side_imports_no_framework() -> None:
    """The Ptychodus parent builds its configs with ``ptycho.config.config`` alone (no Keras, no backend)."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from ptychodus.api.settings import SettingsRegistry\n"
        "from ptychodus.model.ptychopinn.core import PtychoPINNReconstructorLibrary\n"
        "from ptychodus.model.ptychopinn import reconstructor as r\n"
        "lib = PtychoPINNReconstructorLibrary(SettingsRegistry(), False)\n"
        "assert [x.name for x in lib] == ['PINN', 'Supervised'], list(lib)\n"
        "tc = r._build_training_config(lib.model_settings, lib.training_settings, 'PINN')\n"
        "import pickle; pickle.loads(pickle.dumps(tc))\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('keras', 'torch', 'tensorflow', 'jax')]\n"
        "assert not bad, bad\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=dict(os.environ), timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
