"""Every layer: call, config round trip under its original registered name, save/reload in a model."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from ptycho_core import layers as L
from ptycho_core.physics import default_probe, normalize_probe
from ptycho_testing import reference as ref
from ptycho_testing.arrays import assert_close, to_numpy

RNG = np.random.default_rng(3)


def _cplx(*shape):
    return (RNG.standard_normal(shape) + 1j * RNG.standard_normal(shape)).astype(np.complex64)


def _offsets(b, c):
    off = RNG.uniform(-2, 2, (b, 1, 2, c)).astype(np.float32)
    return off - off.mean(axis=3, keepdims=True)


# (layer factory, symbolic input shapes and dtypes, concrete inputs, NumPy reference of output 0)
CASES = {
    "CombineComplexLayer": (
        lambda: L.CombineComplexLayer(name="obj"),
        [((16, 16, 4), "float32"), ((16, 16, 4), "float32")],
        lambda: [RNG.random((2, 16, 16, 4)).astype(np.float32), RNG.standard_normal((2, 16, 16, 4)).astype(np.float32)],
        lambda a, p: ref.combine_complex(a, p),
    ),
    "ActivationLayer": (
        lambda: L.ActivationLayer("tanh", scale=np.pi, name="phi"),
        [((8, 8, 1), "float32")],
        lambda: [RNG.standard_normal((2, 8, 8, 1)).astype(np.float32)],
        lambda x: np.pi * np.tanh(x),
    ),
    "SquareLayer": (
        lambda: L.SquareLayer(name="pred_intensity"),
        [((8, 8, 4), "float32")],
        lambda: [RNG.standard_normal((2, 8, 8, 4)).astype(np.float32)],
        lambda x: x**2,
    ),
    "ReassemblePatchesLayer": (
        lambda: L.ReassemblePatchesLayer(padded_size=30, N=16, gridsize=2),
        [((16, 16, 4), "complex64"), ((1, 2, 4), "float32")],
        lambda: [_cplx(2, 16, 16, 4), _offsets(2, 4)],
        lambda z, o: ref.reassemble_layer(z, o, 30),
    ),
    "PadReconstructionLayer": (
        lambda: L.PadReconstructionLayer(padded_size=26),
        [((16, 16, 1), "complex64")],
        lambda: [_cplx(2, 16, 16, 1)],
        lambda z: ref.pad_to(z, 26),
    ),
    "TrimReconstructionLayer": (
        lambda: L.TrimReconstructionLayer(output_size=16),
        [((26, 26, 1), "complex64")],
        lambda: [_cplx(2, 26, 26, 1)],
        lambda z: ref.trim(z, 16),
    ),
    "ExtractPatchesPositionLayer": (
        lambda: L.ExtractPatchesPositionLayer(jitter=0.0, N=16, gridsize=2),
        [((30, 30, 1), "complex64"), ((1, 2, 4), "float32")],
        lambda: [_cplx(2, 30, 30, 1), _offsets(2, 4)],
        lambda z, o: ref.extract(z, o, 16),
    ),
    "FlatToChannelLayer": (
        lambda: L.FlatToChannelLayer(N=8, gridsize=2),
        [((8, 8, 1), "float32")],
        lambda: [RNG.standard_normal((8, 8, 8, 1)).astype(np.float32)],
        lambda x: ref.flat_to_channel(x, 4),
    ),
    "PadAndDiffractLayer": (
        lambda: L.PadAndDiffractLayer(h=16, w=16, pad=False, name="pred_amplitude"),
        [((16, 16, 1), "complex64")],
        lambda: [_cplx(3, 16, 16, 1)],
        lambda z: ref.pad_and_diffract(z),
    ),
    "IntensityScaler": (
        lambda: L.IntensityScaler(log_scale=2.5),
        [((8, 8, 1), "float32")],
        lambda: [RNG.random((2, 8, 8, 1)).astype(np.float32)],
        lambda x: x / np.exp(np.float32(2.5)),
    ),
    "IntensityScaler_inv": (
        lambda: L.IntensityScaler_inv(log_scale=2.5),
        [((8, 8, 1), "float32")],
        lambda: [RNG.random((2, 8, 8, 1)).astype(np.float32)],
        lambda x: np.exp(np.float32(2.5)) * x,
    ),
    "ScaleLayer": (
        lambda: L.ScaleLayer(log_scale_init=1.5),
        [((8, 8, 1), "float32")],
        lambda: [RNG.random((2, 8, 8, 1)).astype(np.float32)],
        lambda x: x / np.exp(np.float32(1.5)),
    ),
    "InvScaleLayer": (
        lambda: L.InvScaleLayer(log_scale_init=1.5),
        [((8, 8, 1), "float32")],
        lambda: [RNG.random((2, 8, 8, 1)).astype(np.float32)],
        lambda x: x * np.exp(np.float32(1.5)),
    ),
    "CenterMaskLayer": (
        lambda: L.CenterMaskLayer(N=16, c=1, kind="border"),
        [((16, 16, 1), "float32")],
        lambda: [RNG.random((2, 16, 16, 1)).astype(np.float32)],
        lambda x: np.broadcast_to(1 - ref.center_mask(16)[None], (2, 16, 16, 1)),
    ),
    "ProbeIllumination": (
        lambda: L.ProbeIllumination(
            name="probe_illumination",
            N=16,
            probe_mask=True,
            smoothing_sigma=0.7,
            initial_probe=normalize_probe(default_probe(16), 4.0),
        ),
        [((16, 16, 1), "complex64")],
        lambda: [_cplx(3, 16, 16, 1)],
        lambda z: ref.illuminate(
            z, normalize_probe(default_probe(16), 4.0), ref.probe_mask(16)[..., None].astype(np.float32), 0.7
        ),
    ),
    "Translation": (
        lambda: L.Translation(),
        [((12, 12, 1), "float32"), ((2,), "float32")],
        lambda: [RNG.standard_normal((3, 12, 12, 1)).astype(np.float32), RNG.uniform(-2, 2, (3, 2)).astype(np.float32)],
        lambda x, t: ref.translate(x, t),
    ),
}


def _call(layer, inputs):
    if len(inputs) == 1 and not isinstance(layer, (L.IntensityScaler, L.IntensityScaler_inv)):
        return layer(inputs[0])
    return layer(inputs if len(inputs) > 1 else [inputs[0]])


SECOND_OUTPUT = {"PadAndDiffractLayer"}  # returns (padded field, amplitude): check the amplitude


def _pick(name, out):
    if isinstance(out, (list, tuple)):
        return out[1] if name in SECOND_OUTPUT else out[0]
    return out


@pytest.mark.parametrize("name", sorted(CASES))
def test_layer_call_config_and_save_reload(name, tmp_path):
    make, specs, data, reference = CASES[name]
    layer = make()
    assert keras.saving.get_registered_name(type(layer)) == f"ptycho>{name}"
    inputs = data()
    out = to_numpy(_pick(name, _call(layer, inputs)))
    assert_close(out, np.asarray(reference(*inputs)), 1e-6, name)

    config = layer.get_config()
    clone = type(layer).from_config(config)
    assert clone.get_config() == config

    symbolic = [keras.Input(shape=s, dtype=d) for s, d in specs]
    model = keras.Model(symbolic, _pick(name, _call(make(), symbolic)))
    model.set_weights([np.asarray(w) for w in layer.get_weights()] or model.get_weights())
    before = to_numpy(model(inputs))
    path = tmp_path / f"{name}.keras"
    model.save(path)
    reloaded = keras.saving.load_model(path)
    after = to_numpy(reloaded(inputs))
    np.testing.assert_array_equal(after, before)


def test_probe_and_log_scale_are_real_saved_weights():
    probe = L.ProbeIllumination(N=16, probe_trainable=True)
    assert [w.name for w in probe.trainable_weights] == ["probe_real", "probe_imag"]
    assert all("float32" in str(w.dtype) for w in probe.weights)
    frozen = L.ProbeIllumination(N=16)
    assert frozen.trainable_weights == [] and len(frozen.non_trainable_weights) == 2
    scaler = L.IntensityScaler(log_scale=1.0, log_scale_trainable=True)
    inverse = L.IntensityScaler_inv(log_scale=1.0, log_scale_trainable=True)
    L.tie_log_scale(scaler, inverse)
    assert inverse.log_scale is scaler.log_scale and len(inverse.trainable_weights) == 1


def test_bad_layer_arguments_are_named():
    with pytest.raises(ValueError, match="activation_name must be one of"):
        L.ActivationLayer("gelu")
    with pytest.raises(ValueError, match="needs padded_size"):
        L.ReassemblePatchesLayer(N=64, gridsize=1)
    with pytest.raises(ValueError, match="initial_probe has size 32 but N=64"):
        L.ProbeIllumination(N=64, initial_probe=np.ones((32, 32), np.complex64))
