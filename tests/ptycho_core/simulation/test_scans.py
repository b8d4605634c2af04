"""ptycho_core.simulation.scans: raster / Fermat spiral / random positions, jitter, bounds and argument checks.

Every layout is checked against an independent NumPy construction, and every position against the margin
``N/2 + 1`` (x against the object's width, y against its height: a non-square object catches a swapped order).
"""

import math

import numpy as np
import pytest

from ptycho_core.simulation import scans

SHAPE = (150, 200)  # (H, W): deliberately non-square
N = 32
M = N / 2 + 1


def assert_inside(pos, shape=SHAPE, n=N):
    H, W = shape
    m = n / 2 + 1
    assert pos.dtype == np.float64 and pos.ndim == 2 and pos.shape[1] == 2
    assert np.all(pos[:, 0] >= m) and np.all(pos[:, 0] <= W - 1 - m), "x outside [m, W-1-m]"
    assert np.all(pos[:, 1] >= m) and np.all(pos[:, 1] <= H - 1 - m), "y outside [m, H-1-m]"


def test_bounds():
    assert scans.scan_bounds(SHAPE, N) == (M, 200 - 1 - M, M, 150 - 1 - M)
    assert scans.scan_margin(64) == 33.0


def test_raster_with_step():
    pos = scans.raster_scan(SHAPE, N, step=10.0)
    assert_inside(pos)
    x_min, x_max, y_min, y_max = scans.scan_bounds(SHAPE, N)
    nx = int((x_max - x_min) // 10) + 1
    ny = int((y_max - y_min) // 10) + 1
    xs = (x_min + x_max) / 2 + 10.0 * (np.arange(nx) - (nx - 1) / 2)
    ys = (y_min + y_max) / 2 + 10.0 * (np.arange(ny) - (ny - 1) / 2)
    expected = np.array([[x, y] for y in ys for x in xs])  # raster order: rows of constant y
    np.testing.assert_allclose(pos, expected, rtol=0, atol=1e-9)


def test_raster_with_count_spans_the_box():
    pos = scans.raster_scan((224, 224), 64, n_positions=300)
    assert len(pos) == 17 * 18
    assert_inside(pos, (224, 224), 64)
    xs, ys = np.unique(pos[:, 0]), np.unique(pos[:, 1])
    assert len(xs) == 17 and len(ys) == 18
    np.testing.assert_allclose([xs[0], xs[-1], ys[0], ys[-1]], [33, 224 - 34, 33, 224 - 34])
    np.testing.assert_allclose(np.diff(xs), np.diff(xs)[0])
    wide = scans.raster_scan(SHAPE, N, n_positions=48)
    nx, ny = len(np.unique(wide[:, 0])), len(np.unique(wide[:, 1]))
    assert nx * ny == len(wide) and nx > ny  # follows the aspect ratio of the allowed box (wider than tall)


def test_spiral_is_a_fermat_spiral():
    n = 120
    pos = scans.spiral_scan(SHAPE, N, n)
    assert_inside(pos)
    x_min, x_max, y_min, y_max = scans.scan_bounds(SHAPE, N)
    centre = np.array([(x_min + x_max) / 2, (y_min + y_max) / 2])
    radius = min(x_max - x_min, y_max - y_min) / 2
    k = np.arange(n)
    r = radius * np.sqrt(k / (n - 1))
    golden = np.pi * (3 - np.sqrt(5))
    expected = centre + np.stack([r * np.cos(k * golden), r * np.sin(k * golden)], 1)
    np.testing.assert_allclose(pos, expected, atol=1e-9)
    np.testing.assert_allclose(np.hypot(*(pos[-1] - centre)), radius)
    stepped = scans.spiral_scan(SHAPE, N, 50, step=8.0)
    np.testing.assert_allclose(np.hypot(*(stepped[1] - stepped[0])), 8.0 / math.sqrt(math.pi))
    with pytest.raises(ValueError, match="beyond the allowed box"):
        scans.spiral_scan(SHAPE, N, 500, step=20.0)
    assert scans.spiral_scan(SHAPE, N, 1).tolist() == [centre.tolist()]


def test_random_scan_is_seeded_and_uniform():
    state = np.random.get_state()
    pos = scans.random_scan(SHAPE, N, 2000, 9)
    assert_inside(pos)
    x_min, x_max, y_min, y_max = scans.scan_bounds(SHAPE, N)
    rng = np.random.default_rng(9)
    expected = np.stack([rng.uniform(x_min, x_max, 2000), rng.uniform(y_min, y_max, 2000)], 1)
    np.testing.assert_array_equal(pos, expected)
    np.testing.assert_array_equal(scans.random_scan(SHAPE, N, 2000, np.random.default_rng(9)), pos)
    assert not np.array_equal(scans.random_scan(SHAPE, N, 2000, 10), pos)
    np.testing.assert_allclose(pos.mean(0), [(x_min + x_max) / 2, (y_min + y_max) / 2], atol=3)
    after = np.random.get_state()
    assert np.array_equal(state[1], after[1]) and state[2:] == after[2:]


def test_jitter_is_gaussian_seeded_and_clipped():
    nominal = scans.raster_scan((400, 400), N, step=6.0)
    jittered = scans.raster_scan((400, 400), N, step=6.0, jitter=1.5, rng=4)
    again = scans.raster_scan((400, 400), N, step=6.0, jitter=1.5, rng=np.random.default_rng(4))
    np.testing.assert_array_equal(jittered, again)
    assert_inside(jittered, (400, 400))
    interior = np.all((nominal > M + 10) & (nominal < 400 - 1 - M - 10), axis=1)
    d = (jittered - nominal)[interior]
    assert abs(d.std() - 1.5) < 0.1 and abs(d.mean()) < 0.1
    edge = scans.raster_scan(SHAPE, N, step=5.0, jitter=5.0, rng=1)
    assert_inside(edge)
    for kind in scans.SCAN_KINDS:
        assert_inside(scans.make_scan(kind, SHAPE, N, 60, jitter=3.0, rng=2))
    with pytest.raises(ValueError, match="needs a seed"):
        scans.spiral_scan(SHAPE, N, 10, jitter=1.0)
    with pytest.raises(ValueError, match="jitter must be"):
        scans.spiral_scan(SHAPE, N, 10, jitter=-1.0, rng=1)


def test_make_scan_dispatch():
    np.testing.assert_array_equal(scans.make_scan("spiral", SHAPE, N, 30), scans.spiral_scan(SHAPE, N, 30))
    np.testing.assert_array_equal(scans.make_scan("raster", SHAPE, N, 30), scans.raster_scan(SHAPE, N, n_positions=30))
    np.testing.assert_array_equal(scans.make_scan("random", SHAPE, N, 30, rng=3), scans.random_scan(SHAPE, N, 30, 3))
    with pytest.raises(ValueError, match="unknown scan kind"):
        scans.make_scan("zigzag", SHAPE, N, 30)
    with pytest.raises(ValueError, match="needs a seed"):
        scans.make_scan("random", SHAPE, N, 30)


def test_bad_arguments():
    with pytest.raises(ValueError, match="multiple of 4"):
        scans.spiral_scan(SHAPE, 30, 10)
    with pytest.raises(ValueError, match="at least 16"):
        scans.spiral_scan(SHAPE, 8, 10)
    with pytest.raises(ValueError, match="integer number of pixels"):
        scans.spiral_scan(SHAPE, 32.5, 10)
    with pytest.raises(ValueError, match="too small"):
        scans.spiral_scan((34, 200), 32, 10)
    with pytest.raises(ValueError, match="n_positions must be a positive integer"):
        scans.spiral_scan(SHAPE, N, 0)
    with pytest.raises(ValueError, match="exactly one of"):
        scans.raster_scan(SHAPE, N)
    with pytest.raises(ValueError, match="exactly one of"):
        scans.raster_scan(SHAPE, N, step=3.0, n_positions=10)
    with pytest.raises(ValueError, match="step must be"):
        scans.raster_scan(SHAPE, N, step=0.0)
    with pytest.raises(ValueError, match="object_shape"):
        scans.raster_scan((10,), N, step=3.0)
    with pytest.raises(ValueError, match="seed"):
        scans.random_scan(SHAPE, N, 10, None)
    assert scans.check_patch_size(np.int64(64)) == 64
