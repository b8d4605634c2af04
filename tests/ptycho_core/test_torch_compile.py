"""The compiled inference path: equal to the eager model, a padded last batch, fallbacks with a reason.

On torch the inference model is exported and compiled with Inductor (CUDA graphs on GPUs); these tests compile
a small model once (about 20 s on the CPU, most of it Inductor's C++ build). On JAX and TensorFlow the predictor
is the model's own ``predict_on_batch``, and the tests check exactly that.
"""

from __future__ import annotations

import logging

import keras
import numpy as np
import pytest

from ptycho_core._backend.torch_compile import CompiledPredictor
from ptycho_core.factory import create_compiled_models
from ptycho_core.physics import default_probe, normalize_probe
from ptycho_core.spec import ModelSpec

SPEC = dict(N=64, gridsize=1, n_filters_scale=1, intensity_scale=50.0)


@pytest.fixture(scope="module")
def model_and_inputs():
    spec = ModelSpec(**SPEC)
    probe = normalize_probe(default_probe(spec.N).astype(np.complex64), 4.0)
    _, d2o = create_compiled_models(spec, probe=probe)
    rng = np.random.default_rng(1)
    x = (rng.random((6, spec.N, spec.N, spec.channels)) * 50).astype(np.float32)
    offsets = rng.uniform(-3, 3, (6, 1, 2, spec.channels)).astype(np.float32)
    return d2o, x, offsets


def _eager(d2o, x, offsets):
    return np.asarray(d2o.predict_on_batch([x, offsets]))


@pytest.fixture
def exact_cuda_arithmetic():
    """On a GPU, TF32 off for the comparison (PyTorch's cuDNN default is TF32, ~1e-3 between kernel choices)."""
    if keras.backend.backend() != "torch":
        yield
        return
    import torch

    before = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    yield
    torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = before


def test_compiled_predictions_equal_the_eager_model_with_a_partial_last_batch(model_and_inputs, exact_cuda_arithmetic):
    d2o, x, offsets = model_and_inputs
    predictor = CompiledPredictor(d2o, batch_size=4, compile="on")
    out = np.concatenate([predictor(x[:4], offsets[:4]), predictor(x[4:], offsets[4:])])  # 4 rows, then 2 padded
    # per batch: the model centres the offsets on each batch's mean (ptycho_core.physics.reassembly)
    expected = np.concatenate([_eager(d2o, x[:4], offsets[:4]), _eager(d2o, x[4:], offsets[4:])])
    assert out.shape == expected.shape and out.dtype == np.complex64
    if keras.backend.backend() == "torch":
        assert predictor.mode in ("compiled", "compiled-cuda-graphs"), predictor.describe()
        assert predictor.compile_seconds is not None and predictor.compile_seconds > 0
        relative = np.abs(out - expected).max() / np.abs(expected).max()
        assert relative < 1e-5, relative  # float32 round-off of another summation order
    else:
        assert predictor.mode == "eager" and "torch engine" in predictor.reason
        np.testing.assert_array_equal(out, expected)


def test_auto_compiles_on_cuda_only_and_off_is_eager(model_and_inputs):
    d2o, x, offsets = model_and_inputs
    off = CompiledPredictor(d2o, batch_size=4, compile="off")
    assert off.mode == "eager"
    np.testing.assert_array_equal(off(x[:3], offsets[:3]), _eager(d2o, x[:3], offsets[:3]))
    auto = CompiledPredictor(d2o, batch_size=4)
    if keras.backend.backend() == "torch":
        import torch

        cuda = torch.cuda.is_available()
        assert auto.mode == ("compiled-cuda-graphs" if cuda else "eager"), auto.describe()
        many = CompiledPredictor(d2o, batch_size=4, rows=10**6)  # nothing compiles before the first call
        assert many.mode == ("compiled-cuda-graphs" if cuda else "compiled"), many.describe()
        if not cuda:
            assert "20,000 rows or more" in auto.reason
        else:
            assert CompiledPredictor(d2o, batch_size=4096).mode == "eager"  # large batches: eager cuDNN is faster
    else:
        assert auto.mode == "eager"
    with pytest.raises(ValueError, match="compile must be one of auto, on, off"):
        CompiledPredictor(d2o, batch_size=4, compile="yes")
    with pytest.raises(ValueError, match="compiled for batches of 4"):
        off(x[:5], offsets[:5])


def test_a_failed_export_falls_back_to_the_eager_model_with_its_reason(model_and_inputs, monkeypatch, caplog):
    from ptycho_core._backend import torch_compile

    calls = []

    def refuse(model, inputs):
        calls.append(len(inputs))
        raise RuntimeError("data-dependent control flow (test)")

    monkeypatch.setattr(torch_compile, "_export", refuse)
    d2o, x, offsets = model_and_inputs
    predictor = CompiledPredictor(d2o, batch_size=4, compile="on")
    with caplog.at_level(logging.WARNING, logger="ptycho_core._backend.torch_compile"):
        out = predictor(x[:4], offsets[:4])
        again = predictor(x[:4], offsets[:4])
    assert predictor.mode == "eager"
    if keras.backend.backend() == "torch":
        assert calls == [2] and "data-dependent control flow" in predictor.reason  # tried once, then eager
        assert "running the model eagerly" in caplog.text
    else:
        assert calls == []  # JAX and TensorFlow never export
    np.testing.assert_array_equal(out, _eager(d2o, x[:4], offsets[:4]))
    np.testing.assert_array_equal(again, out)
