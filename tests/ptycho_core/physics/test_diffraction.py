"""Far-field diffraction against NumPy's FFT; Parseval; fftshift; gradients; bad input."""

import numpy as np
import pytest
from keras import ops

from ptycho_core.physics import diffract, fftshift2d, ifftshift2d, pad_and_diffract
from ptycho_testing import reference as ref
from ptycho_testing.arrays import assert_close, to_numpy
from ptycho_testing.grad import gradients

RTOL = 1e-6  # float32 FFT: observed ~2e-7 on every backend


def _field(n=4, size=32, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((n, size, size, 1)) + 1j * rng.standard_normal((n, size, size, 1))).astype(np.complex64)


@pytest.mark.parametrize("size", [32, 64])
def test_matches_numpy_fft(size):
    psi = _field(size=size)
    out = to_numpy(diffract(psi))
    assert out.shape == psi.shape and out.dtype == np.float32
    err = assert_close(out, ref.pad_and_diffract(psi), RTOL, "diffract")
    print(f"diffract N={size} rel err {err:.2e}")


def test_parseval_energy_is_conserved():
    psi = _field(n=3, size=64, seed=1)
    amp = to_numpy(diffract(psi))
    np.testing.assert_allclose(
        (amp.astype(np.float64) ** 2).sum(axis=(1, 2, 3)),
        (np.abs(psi).astype(np.float64) ** 2).sum(axis=(1, 2, 3)),
        rtol=1e-5,
    )


def test_zero_frequency_lands_at_centre():
    psi = np.ones((1, 16, 16, 1), np.complex64)
    amp = to_numpy(diffract(psi))
    assert amp[0, 8, 8, 0] == pytest.approx(16.0) and np.count_nonzero(amp > 1e-4) == 1


def test_pair_input_equals_complex_input():
    psi = _field(seed=2)
    pair = (ops.convert_to_tensor(psi.real.copy()), ops.convert_to_tensor(psi.imag.copy()))
    np.testing.assert_allclose(to_numpy(diffract(pair)), to_numpy(diffract(psi)), rtol=0, atol=0)


@pytest.mark.parametrize("shape", [(8, 8), (7, 9), (5, 6)])
def test_fftshift_and_inverse_match_numpy(shape):
    x = np.arange(np.prod(shape), dtype=np.float32).reshape((1,) + shape)
    np.testing.assert_array_equal(to_numpy(fftshift2d(x)), np.fft.fftshift(x, axes=(-2, -1)))
    np.testing.assert_array_equal(to_numpy(ifftshift2d(x)), np.fft.ifftshift(x, axes=(-2, -1)))


def test_pad_true_divides_by_unpadded_area_like_the_original():
    psi = _field(n=2, size=16, seed=3)
    padded, amp = pad_and_diffract(psi, pad=True)
    padded = to_numpy(padded)
    assert padded.shape == (2, 24, 24, 1)
    F = np.fft.fft2(padded[..., 0])
    expected = np.sqrt(np.fft.fftshift(np.abs(F) ** 2 / (16 * 16), axes=(-2, -1)))[..., None]
    assert_close(amp, expected, RTOL, "pad_and_diffract(pad=True)")


def test_gradient_wrt_real_and_imag_parts():
    """Autodiff of ``Σ w·diffract(re + i·im)`` along a random direction equals the central difference of a float64
    NumPy version of the same scalar. (A float32 difference of this sum, about 317, at step 1e-3 carries a
    rounding error of up to 1.5% on some CPUs with JAX's summation order, so the difference is taken in float64.)
    """
    psi = _field(n=2, size=16, seed=4)
    w = np.random.default_rng(5).random((2, 16, 16, 1))
    w32 = ops.convert_to_tensor(w.astype(np.float32))
    g_re, g_im = gradients(lambda re, im: ops.sum(diffract((re, im)) * w32), [psi.real, psi.imag])

    def value64(re: np.ndarray, im: np.ndarray) -> float:
        spectrum = np.fft.fft2((re + 1j * im)[..., 0].astype(np.complex128))
        amplitude = np.sqrt(np.fft.fftshift(np.abs(spectrum) ** 2 / (16 * 16), axes=(-2, -1)))
        return float(np.sum(amplitude[..., None] * w))

    rng = np.random.default_rng(0)
    d_re, d_im = rng.standard_normal(psi.shape), rng.standard_normal(psi.shape)
    re, im = psi.real.astype(np.float64), psi.imag.astype(np.float64)
    eps = 1e-5
    numeric = (value64(re + eps * d_re, im + eps * d_im) - value64(re - eps * d_re, im - eps * d_im)) / (2 * eps)
    analytic = float(np.sum(g_re * d_re) + np.sum(g_im * d_im))
    assert abs(numeric - analytic) <= 1e-5 * abs(numeric), (analytic, numeric)


def test_bad_shape_is_named():
    with pytest.raises(ValueError, match=r"field must have shape \(n, h, w, 1\)"):
        diffract(np.zeros((2, 8, 8, 2), np.complex64))
