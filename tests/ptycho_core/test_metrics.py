"""ptycho_core.metrics: alignment and correlation on constructed cases."""

import numpy as np
import pytest

from ptycho_core.metrics import aligned_correlation, best_shift, pearson


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
