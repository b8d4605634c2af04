"""Training through ``ptycho`` updates exactly what the original PtychoPINN updates: conv kernels and biases.

The original keeps the probe and the log intensity scale in ``tf.Variable`` s that Keras does not track, so it
never trains them, whatever ``probe_trainable`` / ``intensity_scale_trainable`` say (the latter defaults to True).
Reference: the original's own trained archive (tests/fixtures/legacy_tf_gs1), whose ``autoencoder/model.keras``
holds the Adam state of exactly the variables the original trained.
"""

from __future__ import annotations

import io
import logging
import re
import types
import zipfile
from pathlib import Path

import h5py
import keras
import numpy as np
import pytest

import ptycho.model as model
import ptycho_core.parallel
from ptycho import params
from ptycho.config.config import ModelConfig, TrainingConfig, update_legacy_dict
from ptycho.probe import set_probe_guess
from ptycho_core import factory, training
from ptycho_core.legacy import load_legacy_archive
from ptycho_core.spec import spec_from_legacy_params
from ptycho_testing.arrays import rel_err

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "legacy_tf_gs1"
ARCHIVE = FIXTURE / "bundle" / "wts.h5.zip"
# The configuration the fixture was trained with (its config.json); the other fields are TrainingConfig defaults.
FIXTURE_MODEL = dict(N=64, gridsize=1, n_filters_scale=1, probe_big=True, probe_mask=False)


@pytest.fixture(autouse=True)
def _isolated(clean_models, monkeypatch):
    """Fresh ``ptycho.model`` singletons and a fresh once-per-process record of the trainable-flag warning."""
    monkeypatch.setattr(model, "_ignored_trainable_warned", set())


def _original_trainable() -> list:
    """``[(layer, variable, shape)]`` the original trained, in its order, read from its archive.

    Keras 3 stores a functional model's layers as ``layers/<class>_<k>`` in ``model.layers`` order, and the
    optimizer as ``optimizer/vars``: iterations, learning rate, then (momentum, velocity) per trainable variable
    in ``model.trainable_variables`` order.
    """
    with zipfile.ZipFile(ARCHIVE) as outer, zipfile.ZipFile(io.BytesIO(outer.read("autoencoder/model.keras"))) as k:
        weights = k.read("model.weights.h5")
    with h5py.File(io.BytesIO(weights), "r") as f:
        saved = {name: group["vars"] for name, group in f["layers"].items() if len(group["vars"])}
        assert all(re.fullmatch(r"conv2d(_\d+)?", name) for name in saved), list(saved)  # no probe, no scale
        layers = sorted(saved, key=lambda name: int(name.rpartition("_")[2]) if "_" in name else 0)
        variables = [
            (name, what, tuple(saved[name][str(i)].shape))
            for name in layers
            for i, what in enumerate(("kernel", "bias"))
        ]
        opt = f["optimizer"]["vars"]
        slots = [tuple(opt[str(i)].shape) for i in range(2, len(opt))]
    assert slots == [shape for _, _, shape in variables for _ in ("momentum", "velocity")]
    return variables


def _conv_weights(autoencoder: keras.Model) -> list:
    """``[(path, shape)]`` of every Conv2D kernel and bias, in ``model.layers`` order."""
    convs = [layer for layer in autoencoder.layers if isinstance(layer, keras.layers.Conv2D)]
    return [(w.path, tuple(w.shape)) for layer in convs for w in (layer.kernel, layer.bias)]


def _trainable(autoencoder: keras.Model) -> list:
    return [(w.path, tuple(w.shape)) for w in autoencoder.trainable_weights]


def _build(gridsize: int, n_filters_scale: int, **training_fields):
    model_config = dict(FIXTURE_MODEL, gridsize=gridsize, n_filters_scale=n_filters_scale)
    update_legacy_dict(params.cfg, TrainingConfig(model=ModelConfig(**model_config), **training_fields))
    autoencoder, _ = model.create_compiled_model()
    return autoencoder


def test_the_original_default_config_trains_exactly_the_originals_variables(caplog):
    original = _original_trainable()
    caplog.set_level(logging.INFO, logger="ptycho.model")
    autoencoder = _build(1, 1)  # the fixture's configuration, TrainingConfig defaults (intensity_scale_trainable)
    ours = _conv_weights(autoencoder)
    # conv2d_k of the archive is the k-th Conv2D of model.layers: same shapes, in the same order.
    assert [shape for _, shape in ours] == [shape for _, _, shape in original]
    assert _trainable(autoencoder) == ours
    print("\n".join(f"{o[0]}/{o[1]} -> {p} {s}" for o, (p, s) in zip(original, ours, strict=True)))
    assert len(ours) == 44
    fixed = {w.path for w in autoencoder.non_trainable_weights}
    assert {"probe_illumination/probe_real", "probe_illumination/probe_imag"} <= fixed
    # The TrainingConfig default (intensity_scale_trainable=True) is ignored, said once at INFO (not a warning:
    # the user asked for nothing).
    assert params.cfg["intensity_scale.trainable"] is True
    records = [r for r in caplog.records if r.name == "ptycho.model"]
    assert len(records) == 1 and "intensity scale" in records[0].getMessage()
    assert records[0].levelno == logging.INFO


@pytest.mark.parametrize("gridsize", [1, 2])
def test_trainable_flags_in_the_config_are_ignored_with_one_warning(gridsize, caplog):
    caplog.set_level(logging.WARNING, logger="ptycho.model")
    plain_model = _build(gridsize, 2, probe_trainable=False, intensity_scale_trainable=False)
    assert not [r for r in caplog.records if r.name == "ptycho.model"]
    plain = _trainable(plain_model)
    assert len(plain) == 44 and plain == _conv_weights(plain_model)
    assert not any("probe" in path or "log_scale" in path for path, _ in plain)
    asked = _build(gridsize, 2, probe_trainable=True, intensity_scale_trainable=True)  # reads the spec twice
    assert _trainable(asked) == plain
    spec = model.spec_from_cfg()  # and once more: still one warning (once per process)
    assert not spec.probe_trainable and not spec.intensity_scale_trainable
    records = [r for r in caplog.records if r.name == "ptycho.model"]
    assert len(records) == 1 and records[0].levelno == logging.WARNING
    message = records[0].getMessage()
    for part in (
        "probe.trainable=True",
        "intensity_scale.trainable=True",
        "ignored",
        "ptycho_core.spec.ModelSpec(probe_trainable=..., intensity_scale_trainable=...)",
        "ptychopinn train --train-probe / --train-intensity-scale",
    ):
        assert part in message, message


def test_three_adam_steps_match_the_engine_with_a_fixed_probe_and_scale():
    """From the original's trained weights and the same batches, the ``ptycho`` model and the engine's model
    with ``probe_trainable=False, intensity_scale_trainable=False`` stay equal to float32 round-off."""
    legacy, legacy_params = load_legacy_archive(ARCHIVE)
    data = np.load(FIXTURE / "expected.npz")
    update_legacy_dict(params.cfg, TrainingConfig(model=ModelConfig(**FIXTURE_MODEL), nphotons=1e6))
    params.cfg["intensity_scale"] = float(data["intensity_scale"])
    set_probe_guess(None, legacy_params["probe"])
    autoencoder, diffraction_to_obj = model.create_compiled_model()
    for layer in autoencoder.layers:  # start from the original's trained conv weights
        if isinstance(layer, keras.layers.Conv2D):
            layer.set_weights(legacy["autoencoder"].get_layer(layer.name).get_weights())
    spec = spec_from_legacy_params(params.params(), probe_trainable=False, intensity_scale_trainable=False)
    core, core_d2o = factory.create_compiled_models(spec, probe=params.cfg["probe"])
    core.set_weights(autoencoder.get_weights())
    assert [w.path for w in core.weights] == [w.path for w in autoencoder.weights]
    for ours, theirs in zip(autoencoder.weights, core.weights, strict=True):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(ours), keras.ops.convert_to_numpy(theirs))
    assert float(keras.ops.convert_to_numpy(autoencoder.optimizer.learning_rate)) == pytest.approx(1e-3)
    assert float(keras.ops.convert_to_numpy(core.optimizer.learning_rate)) == pytest.approx(1e-3)
    fixed_before = {w.path: keras.ops.convert_to_numpy(w) for w in autoencoder.non_trainable_weights}

    x_scaled, positions = data["model_input"], data["model_positions"]
    targets = training.make_targets(x_scaled, positions)
    for step in range(3):
        rows = slice(16 * step, 16 * (step + 1))
        batch, batch_targets = [x_scaled[rows], positions[rows]], [t[rows] for t in targets]
        ours = np.asarray(autoencoder.train_on_batch(batch, batch_targets), np.float64)
        theirs = np.asarray(core.train_on_batch(batch, batch_targets), np.float64)
        np.testing.assert_allclose(ours, theirs, rtol=1e-5, err_msg=f"loss of step {step}")

    probe_batch = [x_scaled[48:], positions[48:]]
    ours = keras.ops.convert_to_numpy(diffraction_to_obj(probe_batch))
    theirs = keras.ops.convert_to_numpy(core_d2o(probe_batch))
    err = rel_err(ours, theirs)
    print(f"ptycho vs ptycho_core after 3 Adam steps: relative difference {err:.2e}")
    assert err <= 1e-5
    for w in autoencoder.non_trainable_weights:  # the probe and the log scale did not move
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(w), fixed_before[w.path], err_msg=w.path)
    assert factory.intensity_scale_of(autoencoder) == pytest.approx(float(data["intensity_scale"]), rel=1e-6)


def test_data_parallel_training_gets_a_spec_with_a_fixed_probe_and_scale(monkeypatch):
    """``ptycho.model.train`` with ``n_devices > 1`` builds its copy from ``spec_from_cfg`` too."""
    autoencoder = _build(1, 1, probe_trainable=True, intensity_scale_trainable=True, n_devices=2)
    params.cfg["intensity_scale"] = 31.25
    seen = {}

    def fake_train_models(spec, probe, x_scaled, positions, **kwargs):
        seen["spec"] = spec
        return autoencoder, None, {"loss": [0.0]}

    monkeypatch.setattr(ptycho_core.parallel, "train_models", fake_train_models)
    trainset = types.SimpleNamespace(
        X=np.zeros((4, 64, 64, 1), np.float32), coords=np.zeros((4, 1, 2, 1), np.float32), Y_I=np.ones((4, 64, 64, 1))
    )
    model.train(1, trainset, model_instance=autoencoder)
    assert not seen["spec"].probe_trainable and not seen["spec"].intensity_scale_trainable
