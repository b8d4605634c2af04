"""translate(..., interpolation='nearest') against an independent NumPy reference, and its conventions.

The original's canonical (XLA) nearest mode samples the input at ``(y - dy, x - dx)`` (float32), rounds half to
even (``tf.round``) and zeroes every output pixel whose sample point lies outside ``[0, W-1] × [0, H-1]``.
Nearest is a pure selection, so results must match exactly.
"""

import numpy as np
import pytest
from keras import ops

from ptycho_core.physics import translate
from ptycho_testing.arrays import to_numpy
from ptycho_testing.grad import gradients


def nearest_reference(images: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Per-pixel loop: output ``(y, x)`` = input at ``(rint(y - dy), rint(x - dx))``, 0 if the point is outside."""
    n, h, w, _ = images.shape
    out = np.zeros_like(images)
    for i in range(n):
        dx, dy = (np.float32(v) for v in t[i % len(t)])
        for y in range(h):
            sy = np.float32(y) - dy
            for x in range(w):
                sx = np.float32(x) - dx
                if 0 <= sx <= w - 1 and 0 <= sy <= h - 1:
                    out[i, y, x] = images[i, int(np.rint(sy)), int(np.rint(sx))]  # np.rint: half to even
    return out


@pytest.fixture
def rng():
    return np.random.default_rng(99)


SHIFTS = np.array(
    [[0.5, -0.5], [-1.5, 2.5], [0.3, -0.7], [2.0, -3.0], [-4.49, 1.51], [30.0, 0.5], [0.0, 0.0], [-0.5, 3.5]],
    np.float32,
)


def test_matches_reference_with_half_shifts_and_modular_rows(rng):
    images = rng.standard_normal((10, 13, 16, 2)).astype(np.float32)  # 10 images, 8 rows: image i uses row i % 8
    out = to_numpy(translate(images, SHIFTS, interpolation="nearest"))
    np.testing.assert_array_equal(out, nearest_reference(images, SHIFTS))


def test_complex_images_match_reference_per_part(rng):
    z = (rng.standard_normal((4, 9, 9, 1)) + 1j * rng.standard_normal((4, 9, 9, 1))).astype(np.complex64)
    out = to_numpy(translate(z, SHIFTS[:4], interpolation="nearest"))
    assert out.dtype == np.complex64
    expected = nearest_reference(z.real.copy(), SHIFTS[:4]) + 1j * nearest_reference(z.imag.copy(), SHIFTS[:4])
    np.testing.assert_array_equal(out, expected)


def test_half_shifts_round_to_even_and_uncovered_edges_are_zero():
    row = np.arange(10, 18, dtype=np.float32).reshape(1, 1, 8, 1)  # values 10..17 in columns 0..7
    right = to_numpy(translate(row, np.array([[0.5, 0.0]], np.float32), "nearest"))[0, 0, :, 0]
    left = to_numpy(translate(row, np.array([[-0.5, 0.0]], np.float32), "nearest"))[0, 0, :, 0]
    # x - 0.5 = -0.5 (outside), 0.5 → 0, 1.5 → 2, 2.5 → 2, ...; x + 0.5 = 0.5 → 0, 1.5 → 2, ..., 7.5 (outside)
    np.testing.assert_array_equal(right, [0, 10, 12, 12, 14, 14, 16, 16])
    np.testing.assert_array_equal(left, [10, 12, 12, 14, 14, 16, 16, 0])
    # a small fractional shift rounds back to the same pixel but still zeroes the edge column it uncovers
    small = to_numpy(translate(row, np.array([[0.3, 0.0]], np.float32), "nearest"))[0, 0, :, 0]
    np.testing.assert_array_equal(small, [0, 11, 12, 13, 14, 15, 16, 17])


def test_integer_shifts_equal_bilinear(rng):
    images = rng.standard_normal((3, 11, 12, 1)).astype(np.float32)
    t = np.array([[2.0, -3.0], [-1.0, 0.0], [5.0, 4.0]], np.float32)
    np.testing.assert_array_equal(to_numpy(translate(images, t, "nearest")), to_numpy(translate(images, t)))


def test_gradient_wrt_images_is_the_adjoint_selection(rng):
    images = rng.standard_normal((2, 7, 8, 1)).astype(np.float32)
    t = np.array([[0.5, -1.5], [1.7, 0.2]], np.float32)
    weights = rng.standard_normal(images.shape).astype(np.float32)
    fn = lambda x: ops.sum(translate(x, ops.convert_to_tensor(t), "nearest") * ops.convert_to_tensor(weights))
    (grad,) = gradients(fn, [images])
    # <translate(x), w> is linear in x: its gradient scatters each weight back onto the pixel it selected
    expected = np.zeros_like(images)
    for i in range(2):
        for y in range(7):
            for x in range(8):
                sx, sy = np.float32(x) - t[i, 0], np.float32(y) - t[i, 1]
                if 0 <= sx <= 7 and 0 <= sy <= 6:
                    expected[i, int(np.rint(sy)), int(np.rint(sx))] += weights[i, y, x]
    np.testing.assert_allclose(grad, expected, rtol=0, atol=1e-6)


def test_unknown_interpolation_is_named():
    with pytest.raises(ValueError, match="'bilinear' or 'nearest'"):
        translate(np.zeros((1, 4, 4, 1), np.float32), np.zeros((1, 2), np.float32), interpolation="bicubic")
