"""ptycho.model: cfg-driven factory, lazy singletons, training entry point, the restored ``params`` alias, and
the layer classes that take their settings from cfg (against a NumPy/SciPy rendering of the original's layer)."""

from __future__ import annotations

import subprocess
import sys
import types

import keras
import numpy as np
import pytest
from keras import ops

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


# ------------------------------------------------------------------------------------------- cfg-configured layers
def _original_exit_wave(obj: np.ndarray, probe: np.ndarray, sigma: float, mask_on: bool) -> np.ndarray:
    """The original's ProbeIllumination (model.py:208-229) in NumPy/SciPy, float64, from its documented steps.

    ``ψ = P·O``; if σ ≠ 0, each of Re ψ and Im ψ is correlated with ``outer(k, k)``, ``k ∝ exp(-t²/2σ²)`` on
    ``t = -1, 0, 1`` (gaussian_filter.py: 3×3 kernel, REFLECT borders = SciPy's 'mirror'); then, if
    ``cfg['probe.mask']``, times the disc ``hypot(i - c, j - c) < N//4``, ``c = N/2 - 0.5`` (probe.py:38-44).
    """
    from scipy import ndimage

    psi = probe[None, :, :, None].astype(np.complex128) * obj
    if sigma:
        t = np.array([-1.0, 0.0, 1.0])
        k = np.exp(-(t**2) / (2 * sigma**2))
        kernel = np.outer(k, k)[None, :, :, None] / k.sum() ** 2

        def smooth(part: np.ndarray) -> np.ndarray:
            return ndimage.correlate(part, kernel, mode="mirror")

        psi = smooth(psi.real) + 1j * smooth(psi.imag)
    if mask_on:
        psi = psi * _disc(probe.shape[0])[None, :, :, None]
    return psi


def _disc(size: int) -> np.ndarray:
    u = np.arange(size) - size // 2 + 0.5
    return np.hypot(u[:, None], u[None, :]) < size // 4


def _probe_and_patches(size: int = 64):
    rng = np.random.default_rng(7)
    probe = (rng.standard_normal((size, size)) + 1j * rng.standard_normal((size, size))).astype(np.complex64)
    obj = (rng.standard_normal((2, size, size, 1)) + 1j * rng.standard_normal((2, size, size, 1))).astype(np.complex64)
    return probe, obj


@pytest.mark.parametrize("sigma, mask_on", [(0.5, False), (1.0, True), (0.0, False)])
def test_probe_illumination_takes_sigma_and_mask_from_cfg_as_the_original(sigma, mask_on):
    assert _disc(64).sum() == 812  # the original's mask pixel count for N = 64
    probe, obj = _probe_and_patches()
    params.cfg.update({"N": 64, "gaussian_smoothing_sigma": sigma, "probe.mask": mask_on})
    layer = model.ProbeIllumination(initial_probe=probe[..., None], N=64)
    psi, probe_out = (np.asarray(ops.convert_to_numpy(t)) for t in layer([obj]))
    expected = _original_exit_wave(obj, probe, sigma, mask_on)
    err = np.linalg.norm(psi - expected) / np.linalg.norm(expected)
    assert err < 1e-6, f"exit wave differs from the original's by {err:.2e} (relative)"
    plain = probe[None, :, :, None] * obj  # what a layer ignoring cfg returns
    if sigma or mask_on:
        assert np.linalg.norm(plain - expected) / np.linalg.norm(expected) > 0.3  # the check has power
    shown = probe * _disc(64) if mask_on else probe
    np.testing.assert_array_equal(probe_out, shown[None, None, :, :, None])


def test_probe_illumination_explicit_arguments_win_and_probe_comes_from_cfg():
    probe, obj = _probe_and_patches()
    params.cfg.update({"N": 64, "gaussian_smoothing_sigma": 1.0, "probe.mask": True, "probe": probe[..., None]})
    layer = model.ProbeIllumination(smoothing_sigma=0.0, probe_mask=False)  # probe and N from cfg
    psi, _ = layer([obj])
    np.testing.assert_allclose(ops.convert_to_numpy(psi), probe[None, :, :, None] * obj, rtol=1e-6)
    assert (layer.N, layer.use_probe_mask, layer.smoothing_sigma) == (64, False, 0.0)


def test_probe_illumination_never_trains_from_cfg_and_round_trips_its_config(caplog):
    params.cfg.update({"N": 64, "probe.trainable": True, "probe.mask": True, "gaussian_smoothing_sigma": 0.5})
    model._ignored_trainable_warned.clear()
    layer = model.ProbeIllumination(N=64)
    assert not layer.trainable_weights and "asks to train the probe" in caplog.text
    assert model.ProbeIllumination(N=64, probe_trainable=True).trainable_weights
    params.cfg.update({"probe.mask": False, "gaussian_smoothing_sigma": 0.0})
    saved = keras.saving.get_registered_object("ptycho.model>ProbeIllumination")
    assert saved is model.ProbeIllumination and keras.saving.get_registered_name(saved) != "ptycho>ProbeIllumination"
    back = saved.from_config(layer.get_config())  # its saved config is explicit: cfg no longer matters
    assert (back.use_probe_mask, back.smoothing_sigma, back.probe_trainable) == (True, 0.5, False)


def test_intensity_scalers_start_from_the_cfg_scale_unless_given():
    params.cfg.update({"N": 64, "intensity_scale": 31.25, "intensity_scale.trainable": True})
    x = np.full((1, 4, 4, 1), 62.5, np.float32)
    scaler, inverse = model.IntensityScaler(), model.IntensityScaler_inv()
    np.testing.assert_allclose(ops.convert_to_numpy(scaler([x])), 2.0, rtol=1e-6)
    np.testing.assert_allclose(ops.convert_to_numpy(inverse([x])), 62.5 * 31.25, rtol=1e-6)
    assert not scaler.trainable_weights and not inverse.trainable_weights
    explicit = model.IntensityScaler(log_scale=0.0, log_scale_trainable=True)
    np.testing.assert_array_equal(ops.convert_to_numpy(explicit([x])), x)
    assert explicit.trainable_weights
