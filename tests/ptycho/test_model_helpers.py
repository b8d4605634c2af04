"""ptycho.model helpers (negloglik, params alias) and ptycho.gaussian_filter, against NumPy/SciPy references.

Tolerances: Poisson NLL to 1e-6 relative (float32, values O(1e3)); the 3×3 Gaussian smoothing to 1e-6
relative (float32 vs a float64 SciPy reference).
"""

import keras
import numpy as np
import pytest

from ptycho import gaussian_filter as gf
from ptycho import model, params
from ptycho_testing import reference as ref
from ptycho_testing.arrays import assert_close, to_numpy

RNG = np.random.default_rng(11)


def test_negloglik_elementwise_matches_reference():
    y_pred = (RNG.random((3, 8, 8, 2)) * 1e3 + 1.0).astype(np.float32)
    y_true = np.round(y_pred * RNG.uniform(0.5, 1.5, y_pred.shape)).astype(np.float32)
    out = to_numpy(model.negloglik(y_true, y_pred))
    assert out.shape == y_pred.shape and out.dtype == np.float32
    assert_close(out, ref.negloglik(y_true.astype(np.float64), y_pred.astype(np.float64)), 1e-6, "negloglik")


def test_negloglik_has_no_epsilon():
    out = to_numpy(model.negloglik(np.array([0.0, 2.0], np.float32), np.array([0.0, 0.0], np.float32)))
    assert np.isnan(out[0]) and np.isposinf(out[1])  # as the original: 0·log 0 = NaN, y·(-inf) = +inf


def test_model_params_is_the_params_function():
    assert model.params is params.params
    params.set("intensity_scale", 988.2118)
    assert model.params()["intensity_scale"] == pytest.approx(988.2118)
    assert "bigN" in model.params()


def test_importing_model_builds_nothing():
    assert not [name for name, value in vars(model).items() if isinstance(value, (keras.Model, keras.layers.Layer))]


def test_complex_gaussian_filter_matches_reference():
    z = (RNG.standard_normal((2, 9, 11, 3)) + 1j * RNG.standard_normal((2, 9, 11, 3))).astype(np.complex64)
    out = to_numpy(model.complex_gaussian_filter2d(z, (3, 3), 0.8))
    assert out.dtype == np.complex64 and out.shape == z.shape
    assert_close(out, ref.gaussian_filter_3x3(z, 0.8), 1e-6, "complex_gaussian_filter2d")
    assert model.complex_gaussian_filter2d is gf.complex_gaussian_filter2d
    real_in = to_numpy(gf.complex_gaussian_filter2d(z.real.copy(), 3, 0.8))
    assert real_in.dtype == np.complex64
    assert_close(real_in, ref.gaussian_filter_3x3(z.real, 0.8).astype(np.complex64), 1e-6, "real input")


@pytest.mark.parametrize("shape", [(12, 10), (12, 10, 2), (3, 12, 10, 2)])
def test_gaussian_filter2d_accepts_2d_3d_4d(shape):
    img = RNG.standard_normal(shape).astype(np.float32)
    four = {2: lambda a: a[None, :, :, None], 3: lambda a: a[None], 4: lambda a: a}[img.ndim](img)
    expected = ref.gaussian_filter_3x3(four, 1.0)
    out = to_numpy(gf.gaussian_filter2d(img))
    assert out.shape == img.shape and out.dtype == np.float32
    assert_close(out, expected.reshape(img.shape), 1e-6, f"gaussian_filter2d {shape}")


def test_gaussian_filter2d_options():
    img = RNG.standard_normal((1, 8, 8, 1)).astype(np.float32)
    with pytest.raises(ValueError, match="REFLECT"):
        gf.gaussian_filter2d(img, padding="CONSTANT")
    same = to_numpy(gf.gaussian_filter2d(img, padding="reflect", name="blur"))
    assert_close(same, ref.gaussian_filter_3x3(img, 1.0), 1e-6, "lower-case reflect")
    ints = np.arange(64, dtype=np.int32).reshape(1, 8, 8, 1)
    out = to_numpy(gf.gaussian_filter2d(ints))
    assert out.dtype == np.int32  # cast back to the input dtype like the original
    with pytest.raises(ValueError):
        gf.gaussian_filter2d(np.ones((8,), np.float32))
