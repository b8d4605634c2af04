"""ptycho_core.data.batches: TrainingBatches (batch shapes, targets = make_targets, scale, per-epoch reshuffling
with a seeded generator, the last partial batch, bad batch sizes) and make_targets (the original's three targets)."""

import keras
import numpy as np
import pytest

from ptycho_core.data.batches import TrainingBatches, make_targets
from ptycho_core.physics.patches import center_channels


def arrays(n=20, N=16, C=4, seed=0):
    rs = np.random.RandomState(seed)
    x = rs.rand(n, N, N, C).astype(np.float32)
    positions = rs.rand(n, 1, 2, C).astype(np.float32)
    y = rs.rand(n, N, N, C).astype(np.float32)
    return x, positions, y


def test_make_targets():
    x, positions, y = arrays(n=5)
    y_centred, x_scaled, x_sq = make_targets(x, positions, y)
    ref = np.asarray(keras.ops.convert_to_numpy(center_channels(y, positions)))[..., :1]
    np.testing.assert_allclose(y_centred, ref, rtol=1e-6, atol=1e-6)
    assert y_centred.shape == (5, 16, 16, 1) and y_centred.dtype == np.float32
    np.testing.assert_array_equal(x_scaled, x)
    np.testing.assert_array_equal(x_sq, x**2)
    ones, _, _ = make_targets(x.astype(np.float64), positions, None)  # no ground truth: ones
    np.testing.assert_array_equal(ones, np.ones((5, 16, 16, 1), np.float32))


def test_batches_in_order_shapes_targets_and_the_last_partial_batch():
    x, positions, y = arrays()
    ds = TrainingBatches(x, positions, y, 8, scale=2.0, shuffle=False)
    assert isinstance(ds, keras.utils.PyDataset) and len(ds) == 3
    batches = list(ds.take(5))
    assert len(batches) == 3 and len(batches[-1][0][0]) == 4  # 8 + 8 + 4
    for index, ((xb, pb), targets) in enumerate(batches):
        rows = slice(8 * index, 8 * index + 8)
        assert xb.dtype == np.float32 and pb.dtype == np.float32
        np.testing.assert_array_equal(xb, np.float32(2.0) * x[rows])
        np.testing.assert_array_equal(pb, positions[rows])
        expected = make_targets(xb, pb, y[rows])
        assert len(targets) == 3
        for got, want in zip(targets, expected, strict=True):
            assert got.shape == want.shape and got.dtype == np.float32
            np.testing.assert_array_equal(got, want)
    (xb, pb), (y_centred, x_scaled, x_sq) = batches[0]
    assert xb.shape == (8, 16, 16, 4) and pb.shape == (8, 1, 2, 4)
    assert y_centred.shape == (8, 16, 16, 1) and x_scaled.shape == xb.shape and x_sq.shape == xb.shape
    with pytest.raises(IndexError, match="batch 3 out of range"):
        ds[3]
    unscaled = TrainingBatches(x, positions, None, 20, shuffle=False)
    (xb, _), (ones, _, _) = unscaled[0]
    np.testing.assert_array_equal(xb, x)
    np.testing.assert_array_equal(ones, np.ones((20, 16, 16, 1), np.float32))


def test_reshuffled_every_epoch_with_a_seeded_generator():
    x, positions, y = arrays()
    ds = TrainingBatches(x, positions, y, 8, seed=7)
    first = np.concatenate([ds[i][0][0] for i in range(len(ds))])
    ds.on_epoch_end()
    second = np.concatenate([ds[i][0][0] for i in range(len(ds))])
    rng = np.random.default_rng(7)
    order = np.arange(20)
    rng.shuffle(order)  # at construction
    np.testing.assert_array_equal(first, x[order])
    rng.shuffle(order)  # after the first epoch
    np.testing.assert_array_equal(second, x[order])
    assert not np.array_equal(first, second)
    # the same seed gives the same order; a generator or RandomState passed in is used in place
    np.testing.assert_array_equal(TrainingBatches(x, positions, y, 8, seed=7)[0][0][0], first[:8])
    state = np.random.RandomState(3)
    ds = TrainingBatches(x, positions, y, 20, rng=state)
    order = np.arange(20)
    np.random.RandomState(3).shuffle(order)
    np.testing.assert_array_equal(ds[0][0][0], x[order])


@pytest.mark.parametrize("batch_size", [0, -1, 2.5])
def test_bad_batch_size(batch_size):
    x, positions, y = arrays(n=4)
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        TrainingBatches(x, positions, y, batch_size)
