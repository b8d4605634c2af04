"""pad / pad_to / trim / extract_patches_position / center_channels against the reference."""

import numpy as np
import pytest

from ptycho_core.physics import center_channels, extract_patches_position, pad, pad_to, trim
from ptycho_testing import reference as ref
from ptycho_testing.arrays import assert_close, to_numpy

RTOL = 1e-6


@pytest.fixture
def rng():
    return np.random.default_rng(7)


def test_pad_to_and_trim_round_trip(rng):
    x = rng.standard_normal((2, 64, 64, 3)).astype(np.float32)
    padded = to_numpy(pad_to(x, 74))
    np.testing.assert_array_equal(padded, ref.pad_to(x, 74))
    np.testing.assert_array_equal(to_numpy(trim(padded, 64)), x)
    np.testing.assert_array_equal(to_numpy(pad(x, 2))[:, 2:-2, 2:-2], x)
    np.testing.assert_array_equal(to_numpy(trim(x, 64)), x)


def test_extract_patches_position_gridsize2(rng):
    canvas = (rng.standard_normal((3, 78, 78, 1)) + 1j * rng.standard_normal((3, 78, 78, 1))).astype(np.complex64)
    off = rng.uniform(-5, 5, (3, 1, 2, 4)).astype(np.float32)
    out = to_numpy(extract_patches_position(canvas, off, 64))
    assert out.shape == (12, 64, 64, 1) and out.dtype == np.complex64
    assert_close(out, ref.extract(canvas, off, 64), RTOL, "extract_patches_position")


def test_extract_window_is_centred_at_canvas_centre_minus_offset():
    canvas = np.zeros((1, 20, 20, 1), np.float32)
    canvas[0, 8, 13, 0] = 1.0  # canvas centre is (10, 10); this pixel sits at +3 columns, -2 rows
    off = np.array([[[[-3.0], [2.0]]]], np.float32)  # o = centre - position  =>  window centred on the pixel
    patch = to_numpy(extract_patches_position(canvas, off, 8))
    assert patch[0, 4, 4, 0] == 1.0


def test_center_channels_undoes_offsets(rng):
    ch = rng.standard_normal((2, 32, 32, 4)).astype(np.float32)
    off = rng.uniform(-3, 3, (2, 1, 2, 4)).astype(np.float32)
    assert_close(center_channels(ch, off), ref.center_channels(ch, off), RTOL, "center_channels")


def test_bad_geometry_is_named(rng):
    x = np.zeros((2, 64, 64, 1), np.float32)
    with pytest.raises(ValueError, match="padded_size - N must be even"):
        pad_to(x, 75)
    with pytest.raises(ValueError, match="padded_size - N must be even"):
        pad_to(x, 60)
    with pytest.raises(ValueError, match="M - N must be even"):
        trim(x, 63)
    with pytest.raises(ValueError, match=r"offsets must have shape \(B, 1, 2, C\)"):
        extract_patches_position(np.zeros((2, 74, 74, 1), np.float32), np.zeros((2, 2, 1, 1), np.float32), 64)
    with pytest.raises(ValueError, match="same batch size"):
        extract_patches_position(np.zeros((2, 74, 74, 1), np.float32), np.zeros((3, 1, 2, 1), np.float32), 64)
    with pytest.raises(ValueError, match=r"canvas must have shape \(B, M, M, 1\)"):
        extract_patches_position(np.zeros((2, 74, 74, 2), np.float32), np.zeros((2, 1, 2, 1), np.float32), 64)
