"""translate: against the NumPy reference, sign and broadcast conventions, properties, gradients, bad input."""

import numpy as np
import pytest
from keras import ops

from ptycho_core.physics import translate
from ptycho_testing import reference as ref
from ptycho_testing.arrays import assert_close, to_numpy
from ptycho_testing.grad import check_directional

RTOL = 1e-6  # float32: same interpolation formula as the reference, summation identical up to rounding


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


def test_matches_reference_non_square_multichannel(rng):
    images = rng.standard_normal((6, 20, 24, 2)).astype(np.float32)
    t = np.array([[0.0, 0.0], [2.0, -3.0], [0.37, -1.81], [-4.6, 2.25], [30.0, 0.5], [-0.5, -0.5]], np.float32)
    err = assert_close(translate(images, t), ref.translate(images, t), RTOL, "translate")
    print(f"translate rel err {err:.2e}")


def test_complex_images_match_reference(rng):
    z = (rng.standard_normal((4, 16, 16, 1)) + 1j * rng.standard_normal((4, 16, 16, 1))).astype(np.complex64)
    t = rng.uniform(-3, 3, (4, 2)).astype(np.float32)
    out = to_numpy(translate(z, t))
    assert out.dtype == np.complex64
    assert_close(out, ref.translate(z, t), RTOL, "translate complex")


def test_content_moves_by_plus_dx_columns_and_plus_dy_rows():
    img = np.zeros((1, 12, 12, 1), np.float32)
    img[0, 5, 5, 0] = 1.0
    out = to_numpy(translate(img, np.array([[2.0, -3.0]], np.float32)))
    assert out[0, 2, 7, 0] == 1.0 and out.sum() == 1.0
    half = to_numpy(translate(img, np.array([[0.5, 0.0]], np.float32)))
    np.testing.assert_allclose(half[0, 5, 5:7, 0], [0.5, 0.5], atol=1e-7)


def test_zero_shift_is_exact_identity(rng):
    images = rng.standard_normal((3, 9, 11, 2)).astype(np.float32)
    out = to_numpy(translate(images, np.zeros((1, 2), np.float32)))
    np.testing.assert_array_equal(out, images)


def test_integer_shift_and_back_restores_interior(rng):
    images = rng.standard_normal((2, 16, 16, 1)).astype(np.float32)
    a = np.array([[3.0, -2.0]], np.float32)
    back = to_numpy(translate(translate(images, a), -a))
    np.testing.assert_array_equal(back[:, 2:14, 0:13], images[:, 2:14, 0:13])


def test_subpixel_shift_and_back_restores_smooth_interior():
    yy, xx = np.mgrid[0:32, 0:32].astype(np.float32)
    smooth = (xx * 0.5 + yy * 0.25)[None, ..., None]  # bilinear interpolation is exact on linear ramps
    a = np.array([[1.3, -0.6]], np.float32)
    back = to_numpy(translate(translate(smooth, a), -a))
    np.testing.assert_allclose(back[:, 3:29, 3:29], smooth[:, 3:29, 3:29], rtol=0, atol=2e-5)


def test_translation_rows_broadcast_modulo(rng):
    images = rng.standard_normal((6, 10, 10, 1)).astype(np.float32)
    t = np.array([[1.5, 0.0], [0.0, -2.25]], np.float32)
    out = to_numpy(translate(images, t))
    for i in range(6):
        single = to_numpy(translate(images[i : i + 1], t[i % 2 : i % 2 + 1]))
        np.testing.assert_array_equal(out[i : i + 1], single)


def test_complex_offsets_use_real_part(rng):
    images = rng.standard_normal((2, 8, 8, 1)).astype(np.float32)
    t = np.array([[1.25, -0.5], [0.0, 2.0]], np.float32)
    np.testing.assert_array_equal(to_numpy(translate(images, t + 3j)), to_numpy(translate(images, t)))


def test_gradient_wrt_images(rng):
    images = rng.standard_normal((3, 12, 12, 1)).astype(np.float32)
    t = np.array([[0.3, -1.7], [2.6, 0.45], [-0.8, 0.2]], np.float32)
    weights = rng.standard_normal((3, 12, 12, 1)).astype(np.float32)
    fn = lambda x: ops.sum(translate(x, ops.convert_to_tensor(t)) * ops.convert_to_tensor(weights))
    check_directional(fn, [images], eps=1e-2, rtol=1e-3)


def test_gradient_wrt_offsets(rng):
    yy, xx = np.mgrid[0:16, 0:16].astype(np.float32)
    images = np.stack([np.sin(xx / 3 + yy / 5), np.cos(xx / 4 - yy / 2)])[..., None].astype(np.float32)
    t = np.array([[0.3, -1.6], [2.55, 0.45]], np.float32)  # fractions away from integers: FD stays in one cell
    weights = rng.standard_normal((2, 16, 16, 1)).astype(np.float32)
    fn = lambda off: ops.sum(translate(ops.convert_to_tensor(images), off) * ops.convert_to_tensor(weights))
    check_directional(fn, [t], eps=1e-2, rtol=2e-3)


@pytest.mark.parametrize(
    "images, t, message",
    [
        (np.zeros((2, 8, 8), np.float32), np.zeros((2, 2), np.float32), "images must have shape"),
        (np.zeros((2, 8, 8, 1), np.float32), np.zeros((2, 3), np.float32), "translations must have shape"),
        (np.zeros((2, 8, 8, 1), np.float32), np.zeros((2,), np.float32), "translations must have shape"),
        (np.zeros((2, 8, 8, 1), np.float32), np.array([[np.nan, 0.0]], np.float32), "non-finite"),
    ],
)
def test_bad_input_is_named(images, t, message):
    with pytest.raises(ValueError, match=message):
        translate(images, t)
