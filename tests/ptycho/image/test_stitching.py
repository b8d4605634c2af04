"""ptycho.image.reassemble_patches: the original's regular-grid tiling, checked on hand-built tiles."""

import numpy as np
import pytest

from ptycho.image import reassemble_patches, stitch_patches


def test_tiles_are_cropped_to_their_centre_and_laid_row_major():
    N, n_side = 8, 2
    config = {"N": N, "gridsize": 2, "offset": 4, "outer_offset_test": 8, "nimgs_test": 1}
    patches = np.zeros((n_side * n_side, N, N, 1), np.complex64)
    for k in range(4):
        patches[k] = k + 1j * k
    out = reassemble_patches(patches, config, part="complex")
    # outer_offset 8 keeps the central 4 pixels of each patch: border (8 - 4)/2 = 2 on each side
    assert out.shape == (1, 8, 8, 1)
    expected = np.block([[np.full((4, 4), 0), np.full((4, 4), 1)], [np.full((4, 4), 2), np.full((4, 4), 3)]])
    np.testing.assert_array_equal(out[0, ..., 0], expected * (1 + 1j))
    amp = stitch_patches(patches, config, part="amp", norm=True, norm_Y_I=2.0)
    np.testing.assert_allclose(amp[0, ..., 0], 2 * np.abs(expected * (1 + 1j)), rtol=1e-6)


def test_gridsize_one_and_bad_counts_raise():
    with pytest.raises(ValueError, match="gridsize > 1"):
        reassemble_patches(np.zeros((4, 8, 8, 1)), {"N": 8, "gridsize": 1, "nimgs_test": 1})
    with pytest.raises(ValueError, match="square grids"):
        reassemble_patches(np.zeros((3, 8, 8, 1)), {"N": 8, "gridsize": 2, "nimgs_test": 1, "offset": 4})
    with pytest.raises(ValueError, match="part must be"):
        reassemble_patches(np.zeros((4, 8, 8, 1)), {"N": 8, "gridsize": 2, "nimgs_test": 1}, part="real")
