"""3×3 Gaussian smoothing with reflect borders against scipy.ndimage; gradient check."""

import numpy as np
import pytest
from keras import ops

from ptycho_core.physics import complex_gaussian_filter2d, gaussian_filter2d
from ptycho_core.physics.smoothing import gaussian_kernel_1d
from ptycho_testing import reference as ref
from ptycho_testing.arrays import assert_close
from ptycho_testing.grad import check_directional


def test_kernel_is_normalised_gaussian():
    k = gaussian_kernel_1d(3, 0.8)
    e = np.exp(-np.array([1.0, 0.0, 1.0]) / (2 * 0.64))
    np.testing.assert_allclose(k, e / e.sum(), rtol=1e-6)


@pytest.mark.parametrize("sigma", [0.5, 1.0, 2.0])
def test_matches_scipy_mirror_correlation(sigma):
    x = np.random.default_rng(2).standard_normal((3, 12, 15, 2)).astype(np.float32)
    assert_close(gaussian_filter2d(x, 3, sigma), ref.gaussian_filter_3x3(x, sigma), 1e-6, "gaussian_filter2d")


def test_complex_parts_filtered_independently():
    rng = np.random.default_rng(4)
    z = (rng.standard_normal((2, 10, 10, 1)) + 1j * rng.standard_normal((2, 10, 10, 1))).astype(np.complex64)
    assert_close(complex_gaussian_filter2d(z, (3, 3), 0.9), ref.gaussian_filter_3x3(z, 0.9), 1e-6, "complex")


def test_gradient():
    x = np.random.default_rng(8).standard_normal((2, 9, 9, 1)).astype(np.float32)
    w = ops.convert_to_tensor(np.random.default_rng(9).standard_normal((2, 9, 9, 1)).astype(np.float32))
    check_directional(lambda v: ops.sum(gaussian_filter2d(v, 3, 1.1) * w), [x], eps=1e-2, rtol=1e-3)


def test_bad_sigma_is_named():
    with pytest.raises(ValueError, match="sigma must be > 0"):
        gaussian_filter2d(np.zeros((1, 5, 5, 1), np.float32), 3, 0.0)
