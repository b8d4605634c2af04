"""Intensity scale from nphotons, diffraction normalisation and simulation scale."""

import numpy as np
import pytest

from ptycho_core.physics import intensity_scale, normalize_diffraction, simulation_scale
from ptycho_core.physics.scaling import energy_factor
from ptycho_testing import reference as ref
from ptycho_testing.arrays import to_numpy


@pytest.mark.parametrize("n, expected", [(64, 988.2118), (128, 494.1059), (256, 247.05295)])
def test_intensity_scale_matches_original_numbers(n, expected):
    s = intensity_scale(1e9, n)
    assert s.dtype == np.float32 and s == ref.intensity_scale(1e9, n)
    assert float(s) == pytest.approx(expected, rel=1e-6)


def test_log_intensity_scale_for_n64():
    assert float(np.log(intensity_scale(1e9, 64))) == pytest.approx(6.895897, rel=1e-6)


def test_normalize_diffraction_sets_mean_energy():
    d = (np.random.default_rng(0).random((10, 64, 64, 4)) * 30).astype(np.float32)
    x, f = normalize_diffraction(d, 64)
    xr, fr = ref.normalize_data(d, 64)
    assert x.dtype == np.float32 and f == fr
    np.testing.assert_array_equal(x, xr)
    assert np.mean(np.sum(x.astype(np.float64) ** 2, axis=(1, 2))) == pytest.approx(32.0**2, rel=1e-5)


def test_energy_factor_reaches_the_target_energy():
    """``f`` with mean_{b,c} Σ_xy (f·D)² = E (the original loader's norm_Y_I with E = nphotons)."""
    d = (np.random.default_rng(1).random((6, 8, 8, 4)) * 3).astype(np.float32)
    f = energy_factor(d, 1e6)
    want = np.sqrt(1e6 / np.mean(np.sum(d.astype(np.float64) ** 2, axis=(1, 2))))
    assert f.dtype == np.float32 and f == np.float32(want)
    with pytest.raises(ValueError, match="zero everywhere"):
        energy_factor(np.zeros((2, 4, 4)), 1.0)


def test_normalize_diffraction_in_chunks_of_a_transposed_stack():
    """A grouped stack (a transposed view, several 4M-element chunks) gives the reference's numbers and layout."""
    d = (np.random.default_rng(2).random((300, 4, 64, 64)) * 30).astype(np.float32).transpose(0, 2, 3, 1)
    x, f = normalize_diffraction(d, 64)
    xr, fr = ref.normalize_data(np.ascontiguousarray(d), 64)
    assert x.shape == d.shape and x.dtype == np.float32
    assert f == pytest.approx(fr, rel=1e-7)  # float64 sums in another order: equal to float32 precision
    np.testing.assert_allclose(x, xr, rtol=1e-7, atol=0)
    assert x.strides == d.astype(np.float32).strides  # the layout astype gives (as the original's result)
    with pytest.raises(ValueError, match="must be real amplitudes"):
        normalize_diffraction(d.astype(np.complex64), 64)


def test_normalize_diffraction_uint16_counts_use_float64_sums():
    d = np.full((4, 64, 64), 60000, np.uint16)
    x, f = normalize_diffraction(d, 64)
    assert np.isfinite(f) and np.mean(np.sum(x.astype(np.float64) ** 2, axis=(1, 2))) == pytest.approx(1024, rel=1e-5)


def test_simulation_scale_matches_reference():
    a = np.random.default_rng(1).random((5, 16, 16, 1)).astype(np.float32)
    assert float(to_numpy(simulation_scale(a, 1e6))) == pytest.approx(ref.simulation_scale(a, 1e6), rel=1e-6)


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="nphotons must be a positive"):
        intensity_scale(0, 64)
    with pytest.raises(ValueError, match="zero everywhere"):
        normalize_diffraction(np.zeros((2, 8, 8)), 8)
    with pytest.raises(ValueError, match="non-finite"):
        normalize_diffraction(np.full((2, 8, 8), np.nan), 8)
