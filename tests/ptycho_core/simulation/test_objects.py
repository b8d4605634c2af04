"""ptycho_core.simulation.objects: the lines and GRF generators against NumPy/SciPy references written from
ORIGINAL_PHYSICS.md §12.4, the amplitude/phase conventions, seeding, and the compat adapters in ptycho.diffsim.

References: Bresenham as skimage.draw.line's integer error-term loop (the implementation uses a closed form);
random endpoints drawn one scalar ``uniform()`` at a time (the original's order r0, c0, r1, c1); blurs with
``scipy.ndimage.gaussian_filter`` over the original's 3-channel stack; GRF resampling with
``scipy.interpolate.RegularGridInterpolator``.
"""

import numpy as np
import pytest
import scipy.ndimage
from scipy.interpolate import RegularGridInterpolator

from ptycho_core.simulation import objects


# ----------------------------------------------------------------------------------------------- references
def bresenham_loop(r0, c0, r1, c1):
    """skimage.draw.line's algorithm: error term, swap axes when steep, explicit last point."""
    steep = False
    r, c = r0, c0
    dr, dc = abs(r1 - r0), abs(c1 - c0)
    sc = 1 if (c1 - c) > 0 else -1
    sr = 1 if (r1 - r) > 0 else -1
    if dr > dc:
        steep = True
        c, r = r, c
        dc, dr = dr, dc
        sc, sr = sr, sc
    d = 2 * dr - dc
    rr, cc = [], []
    for _ in range(dc):
        if steep:
            rr.append(c)
            cc.append(r)
        else:
            rr.append(r)
            cc.append(c)
        while d >= 0:
            r += sr
            d -= 2 * dc
        c += sc
        d += 2 * dr
    rr.append(r1)
    cc.append(c1)
    return np.array(rr), np.array(cc)


def lines_reference(size, nlines, source):
    img = np.zeros((size, size))
    for _ in range(nlines):
        r0, c0, r1, c1 = (int(size * source.uniform()) for _ in range(4))
        rr, cc = bresenham_loop(r0, c0, r1, c1)
        img[rr, cc] = 1
    res = np.repeat(img[..., None], 3, axis=-1)
    gf = scipy.ndimage.gaussian_filter
    return gf(res, 1) + 2 * gf(res, 5) + 5 * gf(res, 10)


def grf_reference(size, seed):
    n = size // 2
    noise = np.random.default_rng(seed).standard_normal((n, n))
    k1 = 2 * np.pi * np.fft.fftfreq(n, d=100.0 / n)
    kx, ky = np.meshgrid(k1, k1, indexing="ij")
    k = np.hypot(kx, ky)
    with np.errstate(divide="ignore"):
        amp = np.where(k > 0, k, 1.0) ** (-0.4 / 2)
    amp[k == 0] = 0
    field = np.fft.ifft2(np.fft.fft2(noise) * amp).real
    field = (field - field.min()) / (field.max() - field.min())
    grid = np.arange(n, dtype=float)
    q = np.linspace(0, n - 1, size)
    qy, qx = np.meshgrid(q, q, indexing="ij")
    resized = RegularGridInterpolator((grid, grid), field, method="linear")(np.stack([qy, qx], -1))
    return scipy.ndimage.gaussian_filter(resized, 1)


# ----------------------------------------------------------------------------------------------- lines
def test_line_pixels_match_skimage_bresenham():
    rng = np.random.default_rng(0)
    cases = [
        (0, 0, 0, 0),
        (3, 3, 3, 9),
        (3, 9, 3, 3),
        (1, 5, 8, 5),
        (8, 5, 1, 5),
        (0, 0, 7, 7),
        (7, 0, 0, 7),
        (2, 1, 5, 8),
        (5, 8, 2, 1),
        (0, 0, 1, 2),
        (0, 0, 2, 1),
        (0, 0, 3, 6),
        (6, 3, 0, 0),
    ]
    cases += [tuple(int(v) for v in rng.integers(0, 40, 4)) for _ in range(400)]
    for case in cases:
        rows, cols = objects.line_pixels(*case)
        ref_rows, ref_cols = bresenham_loop(*case)
        np.testing.assert_array_equal(rows, ref_rows, err_msg=str(case))
        np.testing.assert_array_equal(cols, ref_cols, err_msg=str(case))


def test_lines_image_matches_original_recipe():
    got = objects.lines_image(48, 30, np.random.default_rng(5))
    expected = lines_reference(48, 30, np.random.default_rng(5))[..., 0]
    assert got.shape == (48, 48) and got.dtype == np.float64
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("size", [20, 21])
def test_lines_amplitude_is_the_centre_crop_of_a_double_size_image(size):
    got = objects.lines_amplitude(size, np.random.default_rng(2), nlines=40)
    full = lines_reference(2 * size, 40, np.random.default_rng(2))
    expected = full[size // 2 : -size // 2, size // 2 : -size // 2, 0]  # the original's slicing
    assert got.shape == (size, size)
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


def test_lines_object_conventions_and_seeding():
    state = np.random.get_state()
    a = objects.lines_object(32, 7)
    b = objects.lines_object(32, np.random.default_rng(7))
    c = objects.lines_object(32, 8)
    assert a.dtype == np.complex64 and a.shape == (32, 32)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert np.all(a.imag == 0) and np.all(a.real >= 0)
    np.testing.assert_allclose(np.abs(a), objects.lines_amplitude(32, 7).astype(np.float32), rtol=1e-6)
    after = np.random.get_state()
    assert state[0] == after[0] and np.array_equal(state[1], after[1]) and state[2:] == after[2:]


# ----------------------------------------------------------------------------------------------- GRF
def test_grf_amplitude_matches_original_recipe():
    got = objects.grf_amplitude(40, np.random.default_rng(11))
    expected = grf_reference(40, 11)
    assert got.shape == (40, 40) and got.dtype == np.float64
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-12)
    assert got.min() >= 0.0 and got.max() <= 1.0


def test_grf_field_has_the_requested_power_law():
    n = 64
    rng = np.random.default_rng(3)
    power = np.mean([np.abs(np.fft.fft2(objects.grf_field(n, rng))) ** 2 for _ in range(40)], axis=0)
    k1 = np.fft.fftfreq(n)
    k = np.hypot(k1[:, None], k1[None, :])
    assert power[0, 0] < 1e-20  # zero mean
    band = (k > 0.05) & (k < 0.45)
    slope = np.polyfit(np.log(k[band]), np.log(power[band]), 1)[0]
    assert abs(slope - (-0.4)) < 0.08, slope


def test_grf_object_and_odd_size():
    obj = objects.grf_object(32, 1, phase="tanh")
    assert obj.dtype == np.complex64 and obj.shape == (32, 32)
    with pytest.raises(ValueError, match="even size"):
        objects.grf_amplitude(33, 1)


# ----------------------------------------------------------------------------------------------- phase
def test_tanh_phase_is_the_original_dummy_phi():
    amp = objects.lines_amplitude(24, 4)
    expected = np.pi * np.tanh((amp - amp.max() / 2) / (3 * amp.mean()))
    np.testing.assert_allclose(objects.tanh_phase(amp), expected, rtol=1e-13)
    obj = objects.complex_object(amp, "tanh")
    np.testing.assert_allclose(np.abs(obj), amp, rtol=1e-6)
    np.testing.assert_allclose(np.angle(obj), expected, atol=1e-6)
    assert np.all(np.abs(np.angle(obj)) < np.pi)


def test_make_object_dispatch_and_bad_arguments():
    np.testing.assert_array_equal(objects.make_object("lines", 16, 3), objects.lines_object(16, 3))
    np.testing.assert_array_equal(objects.make_object("grf", 16, 3), objects.grf_object(16, 3))
    with pytest.raises(ValueError, match="unknown object kind"):
        objects.make_object("points", 16, 3)
    with pytest.raises(ValueError, match="unknown phase mode"):
        objects.lines_object(16, 3, phase="random")
    with pytest.raises(ValueError, match="size must be an integer"):
        objects.lines_object(0, 3)
    with pytest.raises(ValueError, match="size must be an integer"):
        objects.lines_object(12.5, 3)
    for bad_seed in (None, -1, True, 1.5):
        with pytest.raises(ValueError, match="seed|rng"):
            objects.lines_object(16, bad_seed)
    with pytest.raises(ValueError, match="NaN"):
        objects.complex_object(np.full((4, 4), np.nan))
    with pytest.raises(ValueError, match="positive mean"):
        objects.tanh_phase(np.zeros((4, 4)))


def test_default_object_size():
    assert objects.default_object_size(64) == 224
    assert objects.default_object_size(128) == 448
    assert objects.default_object_size(20) == 70


# ----------------------------------------------------------------------------------------------- compat adapters
@pytest.fixture
def restore_global_rng():
    state = np.random.get_state()
    yield
    np.random.set_state(state)


def test_compat_generators_use_the_global_legacy_rng(restore_global_rng, monkeypatch):
    from ptycho import diffsim, params

    np.random.seed(21)
    got = diffsim.mk_lines_img(32, 12)
    expected = lines_reference(32, 12, np.random.RandomState(21))
    assert got.shape == (32, 32, 3)
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(
        diffsim.mk_lines_img(32, 12, rng=np.random.default_rng(4)),
        lines_reference(32, 12, np.random.default_rng(4)),
        rtol=1e-12,
        atol=1e-12,
    )

    monkeypatch.setitem(params.cfg, "data_source", "lines")
    np.random.seed(5)
    img = diffsim.sim_object_image(20)
    assert img.shape == (20, 20, 1)
    np.testing.assert_array_equal(img[..., 0], objects.lines_amplitude(20, np.random.RandomState(5)))
    monkeypatch.setitem(params.cfg, "data_source", "grf")
    np.random.seed(5)
    np.testing.assert_array_equal(
        diffsim.sim_object_image(20)[..., 0], objects.grf_amplitude(20, np.random.RandomState(5))
    )
    monkeypatch.setitem(params.cfg, "data_source", "points")
    with pytest.raises(NotImplementedError, match="not ported"):
        diffsim.sim_object_image(20)
    monkeypatch.setitem(params.cfg, "data_source", "nonsense")
    with pytest.raises(ValueError, match="unknown data_source"):
        diffsim.sim_object_image(20)

    phi = diffsim.dummy_phi(img)
    assert phi.dtype == np.float32 and phi.shape == img.shape
    np.testing.assert_allclose(phi, objects.tanh_phase(img), rtol=1e-6, atol=1e-6)
