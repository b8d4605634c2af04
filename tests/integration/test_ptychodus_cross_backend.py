"""One bundle, three engines: Ptychodus 1.7.0 trains and saves under torch, then reopens it under each backend.

Run once (``-m cross_backend``), not per backend. Everything goes through Ptychodus's own factory and spawned
children; the engine of each child is chosen only by the ``KERAS_BACKEND`` it inherits from this process (set
with ``monkeypatch.setenv`` before each Ptychodus call, which is all a Ptychodus user would do). The archive
written by the torch child is the ``model.zip`` Ptychodus saved; tensorflow and jax children open it, reconstruct
all 306 scan points, and must agree with the torch child's reconstruction to ``RTOL`` (max-norm relative) and
correlate with the true object like it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from ptychodus.api.io import save_ptychopinn_training_data
from ptychodus.api.reconstruct import PositionIndexFilter
from ptychodus.model.processing._subprocess_protocol import run_subprocess
from ptychodus_product import amplitude_correlation, make_scene, pinn_library

pytestmark = [pytest.mark.cross_backend, pytest.mark.usefixtures("watchdog")]

BACKENDS = ("torch", "tensorflow", "jax")
TRAIN_BACKEND = "torch"
EPOCHS = 2
RTOL = 1e-5  # observed 2.5e-7 (tensorflow and jax against torch)
MIN_CORRELATION = 0.5


def child_backend() -> str:
    with run_subprocess("backend_probe:report", None) as events:
        tags = list(events)
    assert len(tags) == 1 and tags[0][0] == "backend", tags
    return tags[0][1]


def test_ptychodus_bundle_from_torch_reconstructs_under_tensorflow_and_jax(tmp_path: Path, monkeypatch) -> None:
    scene = make_scene(300)
    data = tmp_path / "data"
    data.mkdir()
    save_ptychopinn_training_data(data / "train_data.npz", scene.reconstruct_input(PositionIndexFilter.EVEN))
    save_ptychopinn_training_data(data / "test_data.npz", scene.reconstruct_input(PositionIndexFilter.ODD))

    monkeypatch.setenv("KERAS_BACKEND", TRAIN_BACKEND)
    assert child_backend() == TRAIN_BACKEND
    _, trainer = pinn_library(1, epochs=EPOCHS)
    assert len(list(trainer.train(data, tmp_path / "trained"))) == 1
    saved = tmp_path / "model.zip"
    trainer.save_model(saved)

    objects = {}
    for backend in BACKENDS:
        monkeypatch.setenv("KERAS_BACKEND", backend)
        assert child_backend() == backend
        _, reconstructor = pinn_library(1, epochs=EPOCHS, n_samples=len(scene.positions_px))
        reconstructor.load_model_from_file(saved)
        (output,) = list(reconstructor.reconstruct(scene.reconstruct_input()))
        array = output.product.object_.get_array()
        assert array.dtype == np.complex64 and np.isfinite(array).all()
        objects[backend] = array[0]

    reference = objects[TRAIN_BACKEND]
    for backend in BACKENDS:
        err = float(np.abs(objects[backend] - reference).max() / np.abs(reference).max())
        nominal, _, _ = amplitude_correlation(objects[backend], scene.object_true, scene.positions_px)
        print(
            f"\n[cross-backend] trained under {TRAIN_BACKEND}, reconstructed under {backend}: shape "
            f"{objects[backend].shape}, max-norm relative difference to {TRAIN_BACKEND} {err:.2e}, amplitude "
            f"correlation {nominal:.3f}"
        )
        assert objects[backend].shape == reference.shape
        assert err <= RTOL, (backend, err)
        assert nominal >= MIN_CORRELATION, (backend, nominal)
