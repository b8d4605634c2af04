"""ptycho_core.data.grouped: group_scan's grouped patterns, normalised X (to mean pattern energy (N/2)², uint16
without overflow), coordinates from the positions and the start positions, and the ground truth (from the
object, or gathered from per-point patches)."""

import numpy as np
import pytest

from ptycho_core.data.grouped import group_scan
from ptycho_core.data.grouping import group_neighbours
from ptycho_core.data.patches import object_patches_at
from ptycho_core.data.scan import Scan, ScanError
from ptycho_core.physics import normalize_diffraction


def grid(n):
    xx, yy = np.meshgrid(np.arange(n, dtype=float), np.arange(n, dtype=float))
    return xx.ravel(), yy.ravel()


def make_scan(x, y, N=8, dtype=np.float32, objectGuess=None, seed=1, **kwargs):
    x, y = np.asarray(x), np.asarray(y)
    diff = np.random.RandomState(seed).rand(len(x), N, N)
    diff = (diff * 1000 if np.dtype(dtype).kind in "iu" else diff).astype(dtype)
    return Scan(diff, x, y, np.ones((N, N), np.complex64), object=objectGuess, **kwargs).validate()


def reference_norm(diffraction, N):
    d64 = diffraction.astype(np.float64)
    return np.sqrt(((N / 2) ** 2) / np.mean(np.sum(d64**2, axis=(1, 2))))


def test_gridsize2_shapes_dtypes_and_gathering():
    x, y = grid(10)
    obj = (np.random.RandomState(2).rand(32, 32) + 1j).astype(np.complex64)
    scan = make_scan(x, y, N=16, dtype=np.uint16, objectGuess=obj)
    g = group_scan(scan, gridsize=2, n_groups=12, K=7, seed=3)
    groups = g.groups
    assert len(g) == 12
    np.testing.assert_array_equal(groups.indices, group_neighbours(x, y, gridsize=2, n_groups=12, K=7, seed=3).indices)
    assert g.diffraction.shape == (12, 16, 16, 4) and g.diffraction.dtype == np.uint16
    assert g.X.shape == (12, 16, 16, 4) and g.X.dtype == np.float32 and g.factor.dtype == np.float32
    assert g.truth.shape == (12, 16, 16, 4) and g.truth.dtype == np.complex64
    for arr in (groups.offsets, g.start_offsets):
        assert arr.shape == (12, 1, 2, 1) and arr.dtype == np.float64
    for arr in (groups.relative, g.start_relative, groups.coords, g.start_coords):
        assert arr.shape == (12, 1, 2, 4) and arr.dtype == np.float64
    assert groups.indices.shape == (12, 4) and groups.indices.dtype == np.int32
    # diffraction follows the indices, channel c = group member c
    np.testing.assert_array_equal(g.diffraction, np.transpose(scan.diffraction[groups.indices], [0, 2, 3, 1]))
    # X normalised to mean pattern energy (N/2)^2; X = factor · D
    assert np.mean(np.sum(g.X.astype(np.float64) ** 2, axis=(1, 2))) == pytest.approx(64.0, rel=1e-6)
    np.testing.assert_array_equal(g.X, g.factor * g.diffraction.astype(np.float32))
    # truth: the object sampled at the group positions
    np.testing.assert_array_equal(g.truth, object_patches_at(obj, groups.offsets + groups.relative, 16))
    # start coordinates: the positions here
    np.testing.assert_array_equal(g.start_relative, groups.relative)
    np.testing.assert_array_equal(g.start_offsets, groups.offsets)


def test_start_coordinates_come_from_the_start_positions():
    x = np.array([2.0, 0.0, 4.0, 0.0, 4.0, 10.0])  # point 0 at the centre of the rectangle 1..4
    y = np.array([1.0, 0.0, 0.0, 2.0, 2.0, 10.0])
    scan = make_scan(x, y, x_start=2 * x, y_start=y + 1)
    g = group_scan(scan, gridsize=2, n_groups=1, K=4, sequential=True)
    assert sorted(g.groups.indices[0]) == [1, 2, 3, 4]
    order = g.groups.indices[0]
    np.testing.assert_array_equal(g.groups.coords[0, 0], [x[order], y[order]])
    np.testing.assert_array_equal(g.start_coords[0, 0], [2 * x[order], y[order] + 1])
    np.testing.assert_array_equal(g.start_offsets[0, 0, :, 0], [4.0, 2.0])
    # relative = -(coords - mean) (see test_grouping.test_coords_sign_convention)
    np.testing.assert_array_equal(g.start_relative, -(g.start_coords - g.start_offsets))


def test_gridsize1_without_object():
    x, y = grid(4)
    g = group_scan(make_scan(x, y), gridsize=1, n_groups=5, seed=0)
    assert g.truth is None
    assert g.groups.indices.shape == (5, 1) and g.groups.indices.dtype == np.int64
    assert g.diffraction.shape == (5, 8, 8, 1) and g.groups.relative.shape == (5, 1, 2, 1)
    assert np.all(g.groups.relative == 0)
    assert len(group_scan(make_scan(x, y), gridsize=1)) == 16  # n_groups defaults to every point


@pytest.mark.parametrize("trailing", [(1,), ()])
def test_truth_from_per_point_patches(trailing):
    x, y = grid(3)
    Y = (np.arange(9).reshape((9, 1, 1) + (1,) * len(trailing)) * np.ones((9, 8, 8) + trailing)).astype(np.complex64)
    obj = np.zeros((20, 20), np.complex64)  # given patches win over the object
    g = group_scan(make_scan(x, y, objectGuess=obj), gridsize=2, n_groups=4, K=4, seed=1, truth_patches=Y)
    assert g.truth.shape == (4, 8, 8, 4)
    np.testing.assert_array_equal(g.truth[:, 0, 0, :].real, g.groups.indices)


def test_oversampled_groups_gather_every_group():
    rs = np.random.RandomState(42)
    scan = make_scan(rs.uniform(0, 200, 100), rs.uniform(0, 200, 100))
    g = group_scan(scan, gridsize=2, n_groups=150, K=7, seed=42, oversampling=True, pool_size=7)
    assert g.groups.indices.shape == (150, 4) and g.diffraction.shape[0] == 150 and g.X.shape[0] == 150


def test_uint16_normalisation_does_not_overflow():
    rs = np.random.RandomState(0)
    values = np.full((2, 8, 8), 300, np.uint16)
    out, factor = normalize_diffraction(values, 8)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, reference_norm(values, 8) * values.astype(np.float64), rtol=1e-7)
    np.testing.assert_allclose(out, normalize_diffraction(values.astype(np.float64), 8)[0], rtol=1e-7)
    big = rs.randint(0, 60000, (3, 16, 16, 4)).astype(np.uint16)  # would overflow if squared as uint16
    got, _ = normalize_diffraction(big, 16)
    np.testing.assert_allclose(got, np.float32(reference_norm(big, 16)) * big.astype(np.float32), rtol=1e-7)
    assert np.mean(np.sum(got.astype(np.float64) ** 2, axis=(1, 2))) == pytest.approx(64.0, rel=1e-6)
    # through group_scan: X of uint16 counts
    x, y = grid(3)
    counts = rs.randint(0, 60000, (9, 8, 8)).astype(np.uint16)
    g = group_scan(Scan(counts, x, y, np.ones((8, 8), np.complex64)), gridsize=1, n_groups=9, seed=0)
    np.testing.assert_allclose(g.X[..., 0], reference_norm(counts, 8) * counts[g.groups.indices[:, 0]], rtol=1e-6)


def test_bad_arguments():
    x, y = grid(3)
    scan = make_scan(x, y)
    with pytest.raises(ScanError, match=r"N=16 but the diffraction patterns are 8x8"):
        group_scan(scan, gridsize=1, n_groups=2, N=16)
    with pytest.raises(ValueError, match="n_groups must be a positive integer"):
        group_scan(scan, gridsize=1, n_groups=0)
    with pytest.raises(ValueError, match="gridsize must be a positive integer"):
        group_scan(scan, gridsize=0, n_groups=2)
    with pytest.raises(ValueError, match="N must be a positive integer"):
        group_scan(scan, gridsize=1, N=-8)
    with pytest.raises(ScanError, match="no diffraction patterns"):
        group_scan(scan.replace(diffraction=None), gridsize=1)
