"""ptycho_core.metrics: alignment, correlation and reconstruction scores on constructed cases."""

import json

import numpy as np
import pytest

from ptycho_core.metrics import (
    aligned_correlation,
    best_shift,
    frc_half_bit,
    half_bit_threshold,
    pearson,
    psnr,
    score_reconstruction,
)


def test_pearson_matches_numpy_and_is_scale_invariant():
    rng = np.random.default_rng(0)
    a, b = rng.random((10, 12)), rng.random((10, 12))
    assert pearson(a, b) == pytest.approx(np.corrcoef(a.ravel(), b.ravel())[0, 1], abs=1e-12)
    assert pearson(3 * a + 7, a) == pytest.approx(1.0)
    assert pearson(np.ones((3, 3)), a[:3, :3]) == 0.0
    with pytest.raises(ValueError, match="shapes differ"):
        pearson(a, b[:5])


def test_best_shift_finds_the_window_a_crop_came_from():
    rng = np.random.default_rng(1)
    reference = rng.random((60, 70))
    crop = reference[13 : 13 + 25, 29 : 29 + 30]
    assert best_shift(2.5 * crop + 1.0, reference) == (13, 29)
    assert aligned_correlation(2.5 * crop + 1.0, reference) == pytest.approx(1.0)
    assert abs(aligned_correlation(rng.random((25, 30)), reference)) < 0.5
    with pytest.raises(ValueError, match="larger than the reference"):
        best_shift(reference, crop)


def test_border_is_dropped_before_alignment():
    rng = np.random.default_rng(2)
    reference = rng.random((40, 40))
    image = reference[5:25, 5:25].copy()
    image[:2], image[-2:], image[:, :2], image[:, -2:] = 0, 0, 0, 0  # damaged edges, as after stitching
    assert aligned_correlation(image, reference, border=2) == pytest.approx(1.0)


def _object(shape, seed=0):
    """A smooth complex object whose phase spans more than 2π (so it wraps)."""
    from scipy.ndimage import gaussian_filter

    rng = np.random.default_rng(seed)
    amplitude = 0.5 + gaussian_filter(rng.random(shape), 2)
    rows = np.arange(shape[0])[:, None]
    phase = 3.0 * np.sin(rows / 9.0) + 4 * gaussian_filter(rng.standard_normal(shape), 2)
    return amplitude * np.exp(1j * phase)


def test_psnr_is_the_standard_definition():
    from skimage.metrics import peak_signal_noise_ratio

    rng = np.random.default_rng(3)
    truth = rng.random((16, 16))
    assert psnr(truth, truth + 0.1, data_range=1.0) == pytest.approx(20.0)  # MSE 0.01 → 10·log10(1/0.01)
    noisy = truth + 0.05 * rng.standard_normal((16, 16))
    assert psnr(truth, noisy, 2.0) == pytest.approx(peak_signal_noise_ratio(truth, noisy, data_range=2.0))
    assert psnr(truth, truth, 1.0) is None and psnr(truth, noisy, 0.0) is None


def test_half_bit_frc_finds_the_band_limit():
    assert half_bit_threshold(np.array([1.0]))[0] == pytest.approx(1.0, abs=1e-4)
    assert half_bit_threshold(np.array([1e12]))[0] == pytest.approx(0.2071 / 1.2071, rel=1e-5)
    rng = np.random.default_rng(4)
    m, band = 64, 16
    spectrum = np.fft.fft2(rng.standard_normal((m, m)))
    k = np.fft.fftfreq(m) * m
    spectrum[np.hypot(k[:, None], k[None, :]) > band] = 0
    truth = np.fft.ifft2(spectrum).real
    noisy = truth + 0.3 * truth.std() * rng.standard_normal((m, m))  # white noise: dominates beyond the band
    frc = frc_half_bit(noisy, truth)
    assert frc["crossed"] and band - 1 <= frc["cutoff_ring"] <= band + 1.5
    assert frc["cutoff_fraction_of_nyquist"] == pytest.approx(frc["cutoff_ring"] / (m / 2))
    assert frc["resolution_pixels"] == pytest.approx(m / frc["cutoff_ring"])
    same = frc_half_bit(truth[:, :40], truth[:, :40])  # non-square: centre square of side 40
    assert same["side"] == 40 and not same["crossed"] and same["cutoff_fraction_of_nyquist"] == 1.0
    assert len(same["curve"]) == 21 and np.allclose(same["curve"], 1.0)
    unrelated = frc_half_bit(truth, rng.standard_normal((m, m)))  # below the threshold from ring 1 on
    assert unrelated["crossed"] and unrelated["cutoff_ring"] < 3
    assert frc_half_bit(np.ones((8, 8)), rng.standard_normal((8, 8)))["resolution_pixels"] is None


def test_score_of_a_phase_free_object_leaves_phase_figures_undefined():
    rng = np.random.default_rng(6)
    truth = 1 + rng.random((30, 30))
    scores = score_reconstruction(truth[5:25, 5:25] * (1 + 0.05 * rng.random((20, 20))), truth, border=2)
    assert scores["amplitude_correlation"] > 0.9 and scores["phase_psnr_data_range_rad"] == 0.0
    assert scores["phase_correlation"] is None and scores["phase_psnr_db"] is None and scores["phase_ssim"] is None
    json.dumps(scores, allow_nan=False)


def test_score_of_a_perfect_reconstruction_ignores_scale_phase_offset_and_wrapping():
    truth = _object((60, 70))
    image = 2.5 * np.exp(1j * 2.8) * truth[11:51, 17:63]  # the scanned part, scaled, with a global phase
    scores = score_reconstruction(image, truth, border=2)
    assert scores["alignment"]["window_origin"] == [13, 19] and scores["alignment"]["compared_shape"] == [36, 42]
    assert scores["alignment"]["amplitude_scale"] == pytest.approx(0.4)
    assert scores["alignment"]["phase_offset_rad"] == pytest.approx(2.8)
    for key in ("amplitude_correlation", "phase_correlation", "amplitude_ssim", "phase_ssim"):
        assert scores[key] == pytest.approx(1.0), key
    assert scores["amplitude_psnr_db"] > 150 and scores["phase_psnr_db"] > 150
    assert scores["frc_half_bit_crossed"] is False and scores["frc_half_bit_resolution_pixels"] == 2.0
    original = scores["original_eval_reconstruction"]
    assert set(original) == {"mae", "mse", "psnr", "ssim", "ms_ssim", "frc50", "frc1over7", "conventions"}
    assert original["psnr"]["amplitude"] > 100  # its peak is 255, not the data range
    json.dumps(scores, allow_nan=False)


def test_score_of_a_noisy_reconstruction_matches_independent_computations():
    from skimage.metrics import peak_signal_noise_ratio, structural_similarity

    from ptycho_core.evaluation import eval_reconstruction

    rng = np.random.default_rng(5)
    truth = _object((48, 48), seed=1)
    window = truth[4:44, 6:46]
    image = np.pad(window * np.exp(1j * (0.7 + 0.2 * rng.standard_normal(window.shape))), 2)
    image = image * (1 + 0.1 * rng.standard_normal(image.shape))
    scores = score_reconstruction(image, truth, border=2)
    assert scores["alignment"]["window_origin"] == [4, 6]
    theta, scale = scores["alignment"]["phase_offset_rad"], scores["alignment"]["amplitude_scale"]
    assert theta == pytest.approx(0.7, abs=0.02)
    recon = image[2:-2, 2:-2] * np.exp(-1j * theta)
    t_amp, t_phase = np.abs(window), np.angle(window)
    r_phase = t_phase + np.angle(recon * np.conj(window))
    amp_range, phase_range = np.ptp(t_amp), np.ptp(t_phase)
    assert scores["amplitude_psnr_data_range"] == pytest.approx(amp_range)
    assert scores["amplitude_psnr_db"] == pytest.approx(
        peak_signal_noise_ratio(t_amp, scale * np.abs(recon), data_range=amp_range)
    )
    assert scores["phase_psnr_db"] == pytest.approx(peak_signal_noise_ratio(t_phase, r_phase, data_range=phase_range))
    assert scores["phase_ssim"] == pytest.approx(structural_similarity(t_phase, r_phase, data_range=phase_range))
    assert scores["amplitude_correlation"] == pytest.approx(np.corrcoef(np.abs(recon).ravel(), t_amp.ravel())[0, 1])
    assert scores["phase_correlation"] == pytest.approx(np.corrcoef(r_phase.ravel(), t_phase.ravel())[0, 1])
    assert scores["phase_correlation"] < 0.999
    original = eval_reconstruction(recon[..., None], window[..., None], offset=0).metrics
    assert scores["original_eval_reconstruction"]["ssim"]["phase"] == pytest.approx(original["ssim"][1])
