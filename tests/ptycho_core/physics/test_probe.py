"""Probe: default probe, mask, normalisation, estimation and illumination against SciPy/NumPy references."""

import numpy as np
import pytest

from ptycho_core.physics import (
    curved_probe,
    default_probe,
    estimate_probe,
    illuminate,
    normalize_probe,
    probe_mask,
)
from ptycho_core.physics.probe import gaussian_blur_reflect, lowpass_filter
from ptycho_testing import reference as ref
from ptycho_testing.arrays import assert_close, to_numpy


@pytest.mark.parametrize("n, total", [(64, 376.000004), (128, 1500.0), (256, 5980.0)])
def test_default_probe_matches_scipy_and_original_numbers(n, total):
    probe = default_probe(n)
    np.testing.assert_allclose(probe, ref.default_probe(n), rtol=0, atol=1e-12)
    assert probe.shape == (n, n) and probe.dtype == np.float64
    assert probe.sum() == pytest.approx(total, abs=1e-4)  # the original's sums (1e-9 floor included)
    assert probe.max() == pytest.approx(1.0) and probe.min() == pytest.approx(1e-9)


def test_gaussian_blur_reflect_matches_scipy():
    import scipy.ndimage

    img = np.random.default_rng(3).random((17, 23))
    for sigma in (0.7, 1.0, 2.5):
        np.testing.assert_allclose(
            gaussian_blur_reflect(img, sigma), scipy.ndimage.gaussian_filter(img, sigma), rtol=0, atol=1e-12
        )


def test_lowpass_filter_is_scipy_window():
    import scipy.signal.windows

    w = scipy.signal.windows.gaussian(64, std=64 / (0.7 * np.pi**2), sym=True)
    np.testing.assert_allclose(lowpass_filter(0.7, 64), w / w.max(), rtol=0, atol=1e-15)


@pytest.mark.parametrize("n, count", [(64, 812), (128, 3228), (256, 12892)])
def test_probe_mask_pixel_counts(n, count):
    mask = probe_mask(n)
    assert mask.dtype == bool and mask.sum() == count
    np.testing.assert_array_equal(mask, ref.probe_mask(n))


def test_normalize_probe_matches_reference_and_original_numbers():
    probe = default_probe(64)
    out = normalize_probe(probe, 4.0)
    assert out.shape == (64, 64, 1) and out.dtype == np.complex64
    assert_close(out, ref.normalize_probe(probe, 4.0), 1e-6, "normalize_probe")
    assert np.abs(out).max() == pytest.approx(2.7234, abs=1e-4)
    assert np.mean(np.abs(probe_mask(64)[..., None] * out)) == pytest.approx(0.25, rel=1e-6)


def test_normalize_probe_rejects_bad_probes():
    with pytest.raises(ValueError, match="square"):
        normalize_probe(np.ones((64, 32)), 4.0)
    with pytest.raises(ValueError, match="non-finite"):
        normalize_probe(np.full((8, 8), np.nan), 4.0)
    with pytest.raises(ValueError, match="zero inside"):
        normalize_probe(np.zeros((8, 8)), 4.0)


def test_estimate_probe_matches_reference():
    rng = np.random.default_rng(5)
    x = np.abs(rng.standard_normal((6, 64, 64, 1))).astype(np.float32) + 1.0
    assert_close(estimate_probe(x, 64), ref.estimate_probe(x, 64), 1e-6, "estimate_probe")


@pytest.mark.parametrize("sigma, masked", [(0.0, False), (0.0, True), (0.8, True)])
def test_illuminate_matches_reference(sigma, masked):
    rng = np.random.default_rng(11)
    obj = (rng.standard_normal((5, 32, 32, 1)) + 1j * rng.standard_normal((5, 32, 32, 1))).astype(np.complex64)
    probe = normalize_probe(default_probe(32) * np.exp(0.3j), 4.0)
    mask = probe_mask(32)[..., None].astype(np.float32) if masked else None
    out = to_numpy(illuminate(obj, probe, mask=mask, smoothing_sigma=sigma))
    assert out.dtype == np.complex64
    assert_close(out, ref.illuminate(obj, probe, mask, sigma), 1e-6, "illuminate")


def _far_field_intensity(field):
    return np.abs(np.fft.fft2(field)) ** 2


def test_curved_probe_breaks_the_twin_image_symmetry_of_the_default_probe():
    """With the real, centro-symmetric default probe, a patch O(r) and its twin conj(O(-r)) give the same
    far-field intensity (|F[conj(f(-r))]| = |F[f]|); a curved probe tells them apart."""
    n = 32
    rng = np.random.default_rng(0)
    patch = rng.uniform(0.5, 1.5, (n, n)) * np.exp(1j * rng.uniform(-1, 1, (n, n)))
    twin = np.conj(patch[::-1, ::-1])  # point reflection about (n-1)/2, the probe's centre
    flat = default_probe(n)
    np.testing.assert_allclose(_far_field_intensity(twin * flat), _far_field_intensity(patch * flat), rtol=1e-9)
    curved = curved_probe(flat, 1.0)
    assert np.abs(curved) == pytest.approx(np.abs(flat))  # only the phase changes
    r = np.hypot(*np.meshgrid(np.arange(n) - n / 2 + 0.5, np.arange(n) - n / 2 + 0.5)) / (n / 4)
    np.testing.assert_allclose(np.angle(curved), np.angle(np.exp(1j * r**2)), atol=1e-12)  # c (r/R)^2
    a, b = _far_field_intensity(patch * curved), _far_field_intensity(twin * curved)
    assert np.abs(a - b).sum() > 0.05 * a.sum()
    assert np.array_equal(curved_probe(flat, 0.0), flat.astype(np.complex128))
    with pytest.raises(ValueError, match="square"):
        curved_probe(np.ones((4, 6)), 1.0)
