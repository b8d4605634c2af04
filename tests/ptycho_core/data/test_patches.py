"""ptycho_core.data.patches: object_patches_at samples the object at sub-pixel positions (bilinear, zero
outside), checked against a plain NumPy reference."""

import numpy as np
import pytest

from ptycho_core.data import patches
from ptycho_core.data.grouping import relative_coordinates
from ptycho_core.data.patches import object_patches_at


def bilinear_reference(img, cx, cy, N):
    """patch(r, q) = img(r + cy - N//2, q + cx - N//2), bilinear, zero outside (float64 positions)."""
    H, W = img.shape
    out = np.zeros((N, N), np.complex128)
    for r in range(N):
        for q in range(N):
            sy, sx = r + cy - N // 2, q + cx - N // 2
            y0, x0 = int(np.floor(sy)), int(np.floor(sx))
            wy, wx = sy - y0, sx - x0
            for yy, xx, w in (
                (y0, x0, (1 - wy) * (1 - wx)),
                (y0, x0 + 1, (1 - wy) * wx),
                (y0 + 1, x0, wy * (1 - wx)),
                (y0 + 1, x0 + 1, wy * wx),
            ):
                if 0 <= yy < H and 0 <= xx < W:
                    out[r, q] += w * img[yy, xx]
    return out


OBJ = (np.random.RandomState(5).rand(30, 40) + 1j * np.random.RandomState(6).rand(30, 40)).astype(np.complex64)


def test_integer_position_is_an_exact_window():
    N = 8
    patch = object_patches_at(OBJ, np.array([[[[12.0], [9.0]]]]), N)  # [x, y]: pixel (N/2, N/2) = object (9, 12)
    assert patch.shape == (1, N, N, 1) and patch.dtype == np.complex64
    np.testing.assert_array_equal(patch[0, :, :, 0], OBJ[9 - 4 : 9 + 4, 12 - 4 : 12 + 4])
    # a (H, W, 1) object and a real object
    np.testing.assert_array_equal(object_patches_at(OBJ[..., None], np.array([[[[12.0], [9.0]]]]), N), patch)
    real = object_patches_at(OBJ.real, np.array([[[[12.0], [9.0]]]]), N)
    assert real.dtype == np.complex64
    np.testing.assert_array_equal(real[0, :, :, 0], OBJ.real[5:13, 8:16])


def test_fractional_positions_partly_outside_match_the_bilinear_reference():
    N = 8
    coords = np.array([[[[3.25, 20.5, 36.75, 11.0], [2.5, 27.125, 14.0, -1.75]]]])
    offsets, relative = relative_coordinates(coords)
    positions = offsets + relative  # = 2·centre - position (the original's quirk, kept by the ptycho face)
    got = object_patches_at(OBJ, positions, N)
    assert got.shape == (1, N, N, 4)
    for c in range(4):
        ref = bilinear_reference(OBJ, positions[0, 0, 0, c], positions[0, 0, 1, c], N)
        np.testing.assert_allclose(got[0, :, :, c], ref, rtol=0, atol=1e-5)


def test_chunks_give_the_same_patches(monkeypatch):
    rs = np.random.RandomState(1)
    positions = rs.uniform(-3, 43, (7, 1, 2, 4))
    whole = object_patches_at(OBJ, positions, 8)
    monkeypatch.setattr(patches, "PATCH_CHUNK_PIXELS", 3 * 81)  # 3 patches per backend call
    np.testing.assert_array_equal(object_patches_at(OBJ, positions, 8), whole)
    for b, c in ((0, 0), (6, 3)):
        ref = bilinear_reference(OBJ, np.float32(positions[b, 0, 0, c]), np.float32(positions[b, 0, 1, c]), 8)
        np.testing.assert_allclose(whole[b, :, :, c], ref, rtol=0, atol=1e-5)


def test_empty_and_bad_input():
    assert object_patches_at(OBJ, np.zeros((0, 1, 2, 4)), 8).shape == (0, 8, 8, 4)
    with pytest.raises(ValueError, match="2-D"):
        object_patches_at(np.ones((2, 3, 4)), np.zeros((1, 1, 2, 1)), 8)
    with pytest.raises(ValueError, match=r"\(B, 1, 2, C\)"):
        object_patches_at(OBJ, np.zeros((1, 2, 1)), 8)
    with pytest.raises(ValueError, match="1 non-finite"):
        object_patches_at(OBJ, np.array([[[[np.nan], [1.0]]]]), 8)
