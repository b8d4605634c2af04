"""Poisson NLL (no log(y!) term), MAE, total variation and the real-space loss."""

import numpy as np
import pytest
from keras import ops

from ptycho_core.physics import (
    mean_absolute_error,
    poisson_nll,
    poisson_nll_floor,
    poisson_nll_mean,
    realspace_loss,
    total_variation,
)
from ptycho_testing import reference as ref
from ptycho_testing.arrays import assert_close, to_numpy
from ptycho_testing.grad import check_directional


@pytest.fixture
def counts():
    rng = np.random.default_rng(0)
    y_pred = (rng.random((4, 16, 16, 1)) * 1000 + 1).astype(np.float32)
    y_true = rng.poisson(y_pred).astype(np.float32)
    return y_true, y_pred


def test_poisson_nll_matches_closed_form(counts):
    y, yp = counts
    assert_close(poisson_nll(y, yp), ref.negloglik(y, yp), 1e-6, "poisson_nll")
    assert float(to_numpy(poisson_nll_mean(y, yp))) == pytest.approx(float(ref.negloglik(y, yp).mean()), rel=1e-5)


def test_poisson_nll_has_no_constant_term():
    # y log y! would make this positive; the original's value is exp(log 1e6) - 1e6 * log(1e6) < 0
    out = float(to_numpy(poisson_nll(np.float32([1e6]), np.float32([1e6]))[0]))
    assert out == pytest.approx(1e6 - 1e6 * np.log(1e6), rel=1e-6)


def test_poisson_nll_zero_prediction_is_not_hidden():
    out = to_numpy(poisson_nll(np.float32([0.0, 2.0]), np.float32([0.0, 0.0])))
    assert np.isnan(out[0]) and np.isinf(out[1])


def test_poisson_nll_gradient():
    rng = np.random.default_rng(6)
    yp = (rng.random((2, 8, 8, 1)) * 9 + 1).astype(np.float32)
    yt = ops.convert_to_tensor(rng.poisson(yp).astype(np.float32))
    w = ops.convert_to_tensor(rng.standard_normal(yp.shape).astype(np.float32))
    check_directional(lambda p: ops.sum(poisson_nll(yt, p) * w), [yp], eps=1e-2, rtol=2e-3)


def test_mae_and_total_variation():
    rng = np.random.default_rng(1)
    a, b = rng.random((2, 3, 8, 8, 1)).astype(np.float32)
    assert float(to_numpy(mean_absolute_error(a, b))) == pytest.approx(float(np.mean(np.abs(a - b))), rel=1e-6)
    z = (a + 1j * b).astype(np.complex64)
    assert float(to_numpy(total_variation(z))) == pytest.approx(ref.total_variation(z), rel=1e-5)


def test_mae_gradient():
    rng = np.random.default_rng(2)
    a, b = rng.random((2, 2, 6, 6, 1)).astype(np.float32)
    check_directional(lambda p: mean_absolute_error(ops.convert_to_tensor(a), p), [b], eps=1e-4, rtol=1e-2)


def test_realspace_loss_defaults_to_zero_and_applies_weights():
    rng = np.random.default_rng(3)
    target = rng.random((2, 16, 16, 1)).astype(np.float32)
    pred = rng.random((2, 16, 16, 1)).astype(np.float32)
    assert realspace_loss(target, pred, probe_big=True) == 0.0
    got = float(to_numpy(realspace_loss(target, pred, probe_big=False, tv_weight=0.5, realspace_mae_weight=2.0)))
    masked = pred * ref.center_mask(16)[None]
    expected = 0.5 * ref.total_variation(masked) + 2.0 * np.mean(np.abs(target - masked))
    assert got == pytest.approx(expected, rel=1e-5)


def test_poisson_nll_floor_is_the_nll_of_the_perfect_prediction():
    """floor = mean(y - y log y) with y = amplitude² (0 log 0 = 0); any other prediction scores higher."""
    rng = np.random.default_rng(3)
    amplitudes = np.sqrt(rng.poisson(40.0, (5, 8, 8, 1))).astype(np.float32)
    y = amplitudes.astype(np.float64) ** 2
    floor = poisson_nll_floor(amplitudes)
    safe = np.where(y > 0, y, 1.0)
    assert floor == pytest.approx(np.mean(y - np.where(y > 0, y * np.log(safe), 0.0)), rel=1e-12)
    perfect = float(to_numpy(poisson_nll_mean(y + 1e-30, y + 1e-30)))  # ŷ = y (tiny offset: log 0)
    assert perfect == pytest.approx(floor, rel=1e-5, abs=1e-4)
    for factor in (0.9, 1.1):
        assert float(to_numpy(poisson_nll_mean(y, y * factor + 1e-3))) > floor
