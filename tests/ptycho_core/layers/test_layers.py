"""Every layer: NumPy reference, and :func:`ptycho_testing.layer_case.run_layer_test` (functional model, config
round trip under its original registered name, save/reload, one training step)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict

import keras
import numpy as np
import pytest

from ptycho_core import layers as L
from ptycho_core.physics import default_probe, normalize_probe
from ptycho_testing import reference as ref
from ptycho_testing.arrays import assert_close
from ptycho_testing.layer_case import run_layer_test

RNG = np.random.default_rng(3)


def _cplx(*shape):
    return (RNG.standard_normal(shape) + 1j * RNG.standard_normal(shape)).astype(np.complex64)


def _offsets(b, c):
    off = RNG.uniform(-2, 2, (b, 1, 2, c)).astype(np.float32)
    return off - off.mean(axis=3, keepdims=True)


C64, F32 = "complex64", "float32"


@dataclass(frozen=True)
class Case:
    """One layer: constructor arguments, inputs, the expected outputs and a NumPy reference of one output."""

    cls: type
    kwargs: Dict[str, Any]
    data: Callable[[], Any]  # one array, or a list for a multi-input layer (IntensityScaler takes [x])
    reference: Callable[..., np.ndarray]  # NumPy reference of output ``checked``, from the input arrays
    shape: Any  # expected output shape, or a list of shapes (multi-output)
    dtype: Any
    trainable: int = 0
    non_trainable: int = 0
    checked: int = 0  # which output the reference describes


PROBE = normalize_probe(default_probe(16), 4.0)

CASES = {
    "CombineComplexLayer": Case(
        L.CombineComplexLayer,
        dict(name="obj"),
        lambda: [RNG.random((2, 16, 16, 4)).astype(np.float32), RNG.standard_normal((2, 16, 16, 4)).astype(np.float32)],
        lambda a, p: ref.combine_complex(a, p),
        (2, 16, 16, 4),
        C64,
    ),
    "ActivationLayer": Case(
        L.ActivationLayer,
        dict(activation_name="tanh", scale=np.pi, name="phi"),
        lambda: RNG.standard_normal((2, 8, 8, 1)).astype(np.float32),
        lambda x: np.pi * np.tanh(x),
        (2, 8, 8, 1),
        F32,
    ),
    "SquareLayer": Case(
        L.SquareLayer,
        dict(name="pred_intensity"),
        lambda: RNG.standard_normal((2, 8, 8, 4)).astype(np.float32),
        lambda x: x**2,
        (2, 8, 8, 4),
        F32,
    ),
    "ReassemblePatchesLayer": Case(
        L.ReassemblePatchesLayer,
        dict(padded_size=30, N=16, gridsize=2),
        lambda: [_cplx(2, 16, 16, 4), _offsets(2, 4)],
        lambda z, o: ref.reassemble_layer(z, o, 30),
        (2, 30, 30, 1),
        C64,
    ),
    "PadReconstructionLayer": Case(
        L.PadReconstructionLayer,
        dict(padded_size=26),
        lambda: _cplx(2, 16, 16, 1),
        lambda z: ref.pad_to(z, 26),
        (2, 26, 26, 1),
        C64,
    ),
    "TrimReconstructionLayer": Case(
        L.TrimReconstructionLayer,
        dict(output_size=16),
        lambda: _cplx(2, 26, 26, 1),
        lambda z: ref.trim(z, 16),
        (2, 16, 16, 1),
        C64,
    ),
    "ExtractPatchesPositionLayer": Case(
        L.ExtractPatchesPositionLayer,
        dict(jitter=0.0, N=16, gridsize=2),
        lambda: [_cplx(2, 30, 30, 1), _offsets(2, 4)],
        lambda z, o: ref.extract(z, o, 16),
        (8, 16, 16, 1),
        C64,
    ),
    "FlatToChannelLayer": Case(
        L.FlatToChannelLayer,
        dict(N=8, gridsize=2),
        lambda: RNG.standard_normal((8, 8, 8, 1)).astype(np.float32),
        lambda x: ref.flat_to_channel(x, 4),
        (2, 8, 8, 4),
        F32,
    ),
    "PadAndDiffractLayer": Case(  # returns (padded field, amplitude): the reference is the amplitude
        L.PadAndDiffractLayer,
        dict(h=16, w=16, pad=False, name="pred_amplitude"),
        lambda: _cplx(3, 16, 16, 1),
        lambda z: ref.pad_and_diffract(z),
        [(3, 16, 16, 1), (3, 16, 16, 1)],
        [C64, F32],
        checked=1,
    ),
    "IntensityScaler": Case(
        L.IntensityScaler,
        dict(log_scale=2.5, log_scale_trainable=True),
        lambda: [RNG.random((2, 8, 8, 1)).astype(np.float32)],
        lambda x: x / np.exp(np.float32(2.5)),
        (2, 8, 8, 1),
        F32,
        trainable=1,
    ),
    "IntensityScaler_inv": Case(
        L.IntensityScaler_inv,
        dict(log_scale=2.5),
        lambda: [RNG.random((2, 8, 8, 1)).astype(np.float32)],
        lambda x: np.exp(np.float32(2.5)) * x,
        (2, 8, 8, 1),
        F32,
        non_trainable=1,
    ),
    "ScaleLayer": Case(
        L.ScaleLayer,
        dict(log_scale_init=1.5),
        lambda: RNG.random((2, 8, 8, 1)).astype(np.float32),
        lambda x: x / np.exp(np.float32(1.5)),
        (2, 8, 8, 1),
        F32,
        trainable=1,
    ),
    "InvScaleLayer": Case(
        L.InvScaleLayer,
        dict(log_scale_init=1.5),
        lambda: RNG.random((2, 8, 8, 1)).astype(np.float32),
        lambda x: x * np.exp(np.float32(1.5)),
        (2, 8, 8, 1),
        F32,
        trainable=1,
    ),
    "CenterMaskLayer": Case(
        L.CenterMaskLayer,
        dict(N=16, c=1, kind="border"),
        lambda: RNG.random((2, 16, 16, 1)).astype(np.float32),
        lambda x: np.broadcast_to(1 - ref.center_mask(16)[None], (2, 16, 16, 1)),
        (2, 16, 16, 1),
        F32,
    ),
    "ProbeIllumination": Case(  # returns (exit wave, probe): the reference is the exit wave
        L.ProbeIllumination,
        dict(
            name="probe_illumination",
            N=16,
            probe_mask=True,
            smoothing_sigma=0.7,
            initial_probe=PROBE,
            probe_trainable=True,
        ),
        lambda: _cplx(3, 16, 16, 1),
        lambda z: ref.illuminate(z, PROBE, ref.probe_mask(16)[..., None].astype(np.float32), 0.7),
        [(3, 16, 16, 1), (1, 1, 16, 16, 1)],
        [C64, C64],
        trainable=2,
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_layer_call_reference_config_save_and_training(name, tmp_path):
    case = CASES[name]
    inputs = case.data()
    outputs = run_layer_test(
        case.cls,
        case.kwargs,
        inputs,
        expected_output_shape=case.shape,
        expected_output_dtype=case.dtype,
        expected_num_trainable_weights=case.trainable,
        expected_num_non_trainable_weights=case.non_trainable,
        tmp_path=tmp_path,
    )
    arrays = inputs if isinstance(inputs, list) else [inputs]
    assert_close(outputs[case.checked], np.asarray(case.reference(*arrays)), 1e-6, name)


def test_every_exported_layer_class_has_a_layer_test():
    """Each layer class in ``ptycho_core.layers`` runs :func:`run_layer_test` here or in its own test module."""
    own_module = {"SameConv2D": "test_convolution.py", "Translation": "test_translation_layer.py"}
    classes = {n: getattr(L, n) for n in L.__all__}
    exported = {n for n, c in classes.items() if isinstance(c, type) and issubclass(c, keras.layers.Layer)}
    assert exported == set(CASES) | set(own_module)
    here = Path(__file__).parent
    for cls_name, module in own_module.items():
        text = (here / module).read_text()
        assert "run_layer_test(" in text and f"{cls_name}," in text, f"{module} has no run_layer_test of {cls_name}"


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
