"""Channel / flat / grid reshapes and offset flattening against the NumPy reference."""

import numpy as np
import pytest

from ptycho_core.physics import channel_to_flat, flat_to_channel, flatten_offsets, from_grid, grid_to_channel, to_grid
from ptycho_testing import reference as ref
from ptycho_testing.arrays import to_numpy


@pytest.fixture
def channels():
    return np.random.default_rng(0).standard_normal((3, 8, 8, 4)).astype(np.float32)


def test_channel_flat_round_trip(channels):
    flat = to_numpy(channel_to_flat(channels))
    np.testing.assert_array_equal(flat, ref.channel_to_flat(channels))
    np.testing.assert_array_equal(to_numpy(flat_to_channel(flat, 4)), channels)


def test_flat_row_order_is_group_major(channels):
    flat = to_numpy(channel_to_flat(channels))
    np.testing.assert_array_equal(flat[1 * 4 + 2, ..., 0], channels[1, ..., 2])


def test_flatten_offsets_rows_are_x_y():
    off = np.arange(3 * 2 * 4, dtype=np.float32).reshape(3, 1, 2, 4)
    flat = to_numpy(flatten_offsets(off))
    np.testing.assert_array_equal(flat, ref.flatten_offsets(off))
    np.testing.assert_array_equal(flat[1 * 4 + 3], [off[1, 0, 0, 3], off[1, 0, 1, 3]])


def test_grid_round_trip(channels):
    flat = ref.channel_to_flat(channels)
    grid = to_numpy(to_grid(flat, 2))
    assert grid.shape == (3, 2, 2, 8, 8, 1)
    np.testing.assert_array_equal(to_numpy(grid_to_channel(grid)), ref.grid_to_channel(grid))
    np.testing.assert_array_equal(to_numpy(from_grid(grid)), flat)


def test_bad_shapes_are_named():
    with pytest.raises(ValueError, match=r"offsets must have shape \(B, 1, 2, C\)"):
        flatten_offsets(np.zeros((3, 2, 1, 4), np.float32))
    with pytest.raises(ValueError, match="images must have shape"):
        flat_to_channel(np.zeros((4, 8, 8, 2), np.float32), 2)
