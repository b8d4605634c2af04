"""ptycho.loader: PtychoDataContainer (attributes, dtypes, caching), load() with and without a split, the batch
dataset, and the original's model input on the legacy fixture (tests/fixtures/legacy_tf_gs1).
"""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ptycho import loader, params
from ptycho.loader import PtychoDataContainer, load
from ptycho.raw_data import RawData

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "legacy_tf_gs1"


@pytest.fixture(autouse=True)
def restore_global_rng():
    state = np.random.get_state()
    yield
    np.random.set_state(state)


def synthetic_container(n=20, N=16, C=4, seed=0):
    rs = np.random.RandomState(seed)
    X = rs.rand(n, N, N, C).astype(np.float32)
    Y_I = rs.rand(n, N, N, C).astype(np.float32)
    Y_phi = rs.rand(n, N, N, C).astype(np.float32)
    coords = rs.rand(n, 1, 2, C).astype(np.float32)
    probe = (rs.rand(N, N) + 1j * rs.rand(N, N)).astype(np.complex64)
    return PtychoDataContainer(
        X=X,
        Y_I=Y_I,
        Y_phi=Y_phi,
        norm_Y_I=np.ones(n),
        YY_full=None,
        coords_nominal=coords,
        coords_true=coords,
        nn_indices=np.zeros((n, C), np.int32),
        global_offsets=coords[..., :1].astype(np.float64),
        local_offsets=coords.astype(np.float64),
        probeGuess=probe,
    )


def grouped_raw(n_side=6, N=16, with_object=True):
    xx, yy = np.meshgrid(np.arange(n_side) * 3.0 + 10, np.arange(n_side) * 3.0 + 10)
    x, y = xx.ravel(), yy.ravel()
    rs = np.random.RandomState(1)
    diff = rs.rand(len(x), N, N).astype(np.float32)
    obj = (rs.rand(40, 40) * np.exp(1j * rs.rand(40, 40))).astype(np.complex64) if with_object else None
    return RawData.from_coords_without_pc(x, y, diff, np.ones((N, N), np.complex64), np.zeros(len(x), int), obj)


@pytest.mark.slow
def test_import_binds_probe_and_tf_helper_on_package():
    code = "import ptycho.loader, ptycho; assert ptycho.probe.set_probe_guess and ptycho.tf_helper.reassemble_position"
    env = dict(os.environ, KERAS_BACKEND=os.environ.get("KERAS_BACKEND", "tensorflow"))
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert loader.RawData is RawData
    assert loader.key_coords_offsets == "coords_start_offsets" and loader.key_coords_relative == "coords_start_relative"


def test_container_properties_dtypes_and_caching():
    c = synthetic_container()
    assert isinstance(c._X_np, np.ndarray) and isinstance(c._Y_I_np, np.ndarray) and isinstance(c._probe_np, np.ndarray)
    assert c.X.dtype == np.float32 and c.X.shape == (20, 16, 16, 4)
    assert c.Y_I.dtype == np.float32 and c.Y_phi.dtype == np.float32
    assert c.Y.dtype == np.complex64 and c.Y.shape == (20, 16, 16, 4)
    np.testing.assert_allclose(c.Y, c.Y_I * np.exp(1j * c.Y_phi), rtol=1e-6, atol=1e-6)
    assert c.coords_nominal.dtype == np.float32 and c.coords_nominal.shape == (20, 1, 2, 4)
    assert c.coords is c.coords_nominal and c.coords_true.dtype == np.float32
    assert c.probe.dtype == np.complex64 and c.probe.shape == (16, 16)
    assert c.X is c.X and c.Y is c.Y  # cached
    assert isinstance(c.X.numpy(), np.ndarray)  # the TF tensors' .numpy() still works
    assert len(c) == 20
    assert "PtychoDataContainer" in repr(c) and "X=(20, 16, 16, 4)" in repr(c)
    for name in ("norm_Y_I", "YY_full", "nn_indices", "global_offsets", "local_offsets"):
        assert hasattr(c, name)
    assert c.local_offsets.dtype == np.float64 and c.global_offsets.dtype == np.float64


def test_container_converts_backend_tensors_and_mode_stack_probe(caplog):
    import logging

    from keras import ops

    rs = np.random.RandomState(0)
    X = ops.convert_to_tensor(rs.rand(4, 8, 8, 1).astype(np.float32))
    coords = ops.convert_to_tensor(np.zeros((4, 1, 2, 1), np.float32))
    stack = np.stack([np.full((8, 8), k + 1, np.complex64) for k in range(3)])
    with caplog.at_level(logging.WARNING, logger="ptycho_core.data.scan"):
        c = PtychoDataContainer(
            X, X, X, None, None, coords, coords, None, np.zeros((4, 1, 2, 1)), np.zeros((4, 1, 2, 1)), stack
        )
    assert isinstance(c._X_np, np.ndarray) and isinstance(c._coords_nominal_np, np.ndarray)
    np.testing.assert_array_equal(c.probe, stack[0])
    assert "mode 0" in caplog.text


def test_to_npz(tmp_path):
    c = synthetic_container(n=5)
    c.to_npz(tmp_path / "c.npz")
    with np.load(tmp_path / "c.npz", allow_pickle=True) as f:
        assert sorted(f.files) == sorted(
            [
                "X",
                "Y_I",
                "Y_phi",
                "norm_Y_I",
                "YY_full",
                "coords_nominal",
                "coords_true",
                "nn_indices",
                "global_offsets",
                "local_offsets",
                "probe",
            ]
        )
        np.testing.assert_array_equal(f["X"], c.X)


def test_load_without_split_gridsize2():
    raw = grouped_raw()
    params.cfg["nphotons"] = 1e6
    dset = raw.generate_grouped_data(16, K=6, nsamples=10, seed=2, gridsize=2)
    c = load(lambda: dset, raw.probeGuess, which=None, create_split=False)
    assert c.X.dtype == np.float32 and c.X.shape == (10, 16, 16, 4)
    np.testing.assert_array_equal(c.X, dset["X_full"])
    np.testing.assert_array_equal(c.coords_nominal, dset["coords_start_relative"].astype(np.float32))
    np.testing.assert_array_equal(c.coords_true, c.coords_nominal)
    assert c.local_offsets is dset["coords_relative"] and c.local_offsets.dtype == np.float64
    assert c.global_offsets is dset["coords_offsets"] and c.global_offsets.shape == (10, 1, 2, 1)
    np.testing.assert_array_equal(c.nn_indices, dset["nn_indices"])
    np.testing.assert_allclose(c.Y_I, np.abs(dset["Y"]), rtol=1e-6)
    np.testing.assert_allclose(c.Y_phi, np.angle(dset["Y"]), rtol=1e-6, atol=1e-6)
    assert c.YY_full is None
    # norm_Y_I = sqrt(nphotons / mean sum X^2) = sqrt(1e6) / (N/2) for normalised X
    assert float(c.norm_Y_I) == pytest.approx(1e3 / 8, rel=1e-5)
    assert c.norm_Y_I.dtype == np.float32


def test_load_without_ground_truth_uses_placeholders():
    raw = grouped_raw(with_object=False)
    dset = raw.generate_grouped_data(16, K=4, nsamples=6, seed=0, gridsize=1)
    assert dset["Y"] is None
    c = load(lambda: dset, raw.probeGuess, which=None, create_split=False)
    np.testing.assert_array_equal(c.Y_I, np.ones((6, 16, 16, 1), np.float32))
    np.testing.assert_array_equal(c.Y_phi, np.zeros((6, 16, 16, 1), np.float32))


def test_load_split_train_test():
    raw = grouped_raw()
    dset = raw.generate_grouped_data(16, K=6, nsamples=10, seed=4, gridsize=2)
    train = load(lambda: (dset, 0.7), raw.probeGuess, which="train", create_split=True)
    test = load(lambda: (dset, 0.7), raw.probeGuess, which="test", create_split=True)
    assert len(train) == 7 and len(test) == 3
    np.testing.assert_array_equal(train.X, dset["X_full"][:7])
    np.testing.assert_array_equal(test.X, dset["X_full"][7:])
    np.testing.assert_array_equal(test.coords_nominal, dset["coords_start_relative"][7:].astype(np.float32))
    np.testing.assert_allclose(test.Y_I, np.abs(dset["Y"][7:]), rtol=1e-6)
    # offsets and indices follow the same split as X
    np.testing.assert_array_equal(train.global_offsets, dset["coords_offsets"][:7])
    np.testing.assert_array_equal(test.local_offsets, dset["coords_relative"][7:])
    np.testing.assert_array_equal(test.nn_indices, dset["nn_indices"][7:])
    with pytest.raises(ValueError, match="must be 'train' or 'test'"):
        load(lambda: (dset, 0.7), raw.probeGuess, which="validation", create_split=True)


def test_load_channel_mismatch():
    raw = grouped_raw()
    dset = raw.generate_grouped_data(16, K=6, nsamples=4, seed=0, gridsize=2)
    dset["Y"] = dset["Y"][..., :1]
    with pytest.raises(ValueError, match=r"Channel mismatch between X \(4\) and Y \(1\)"):
        load(lambda: dset, raw.probeGuess, which=None, create_split=False)


def test_split_helpers():
    a = np.arange(10)
    assert loader.split_tensor(a, 0.6, "train").tolist() == [0, 1, 2, 3, 4, 5]
    assert loader.split_tensor(a, 0.6).tolist() == [6, 7, 8, 9]
    X, cn, ct = loader.split_data(a, a * 2, a * 3, 0.5, "test")
    assert X.tolist() == [5, 6, 7, 8, 9] and cn.tolist() == [10, 12, 14, 16, 18]
    ds = loader.PtychoDataset("tr", "te")
    assert ds.train_data == "tr" and ds.test_data == "te"


def test_from_raw_data_without_pc_uses_cfg():
    raw = grouped_raw(with_object=False)
    params.cfg.update(N=16, gridsize=2)
    np.random.seed(3)
    c = PtychoDataContainer.from_raw_data_without_pc(
        raw.xcoords, raw.ycoords, raw.diff3d, raw.probeGuess, raw.scan_index, K=6, nsamples=5
    )
    assert c.X.shape == (5, 16, 16, 4)
    np.random.seed(3)
    ref = raw.generate_grouped_data(16, K=6, nsamples=5, gridsize=2)
    np.testing.assert_array_equal(c.nn_indices, ref["nn_indices"])


def test_batch_dataset_structure_and_count():
    c = synthetic_container(n=20, N=16, C=4)
    params.cfg["intensity_scale"] = 2.0
    ds = c.as_tf_dataset(batch_size=8, shuffle=False)
    import keras

    from ptycho_core.data import TrainingBatches, make_targets

    # the engine's batches (tested in tests/ptycho_core/data/test_batches.py) over the container's arrays
    assert isinstance(ds, loader.ContainerBatches) and isinstance(ds, TrainingBatches) and ds.container is c
    assert isinstance(ds, keras.utils.PyDataset) and len(ds) == 3
    batches = list(ds)
    assert len(batches) == 3 and len(batches[-1][0][0]) == 4
    (x, coords), (y_centred, x_scaled, x_sq) = batches[0]
    assert x.shape == (8, 16, 16, 4) and coords.shape == (8, 1, 2, 4)
    assert y_centred.shape == (8, 16, 16, 1) and x_scaled.shape == (8, 16, 16, 4) and x_sq.shape == x.shape
    np.testing.assert_array_equal(x, 2.0 * c.X[:8])
    np.testing.assert_array_equal(x_sq, x**2)
    from ptycho import tf_helper

    ref = np.asarray(keras.ops.convert_to_numpy(tf_helper.center_channels(c.Y_I[:8], c.coords[:8])))[..., :1]
    np.testing.assert_allclose(y_centred, ref, rtol=1e-6, atol=1e-6)
    for got, want in zip(batches[0][1], make_targets(x, coords, c.Y_I[:8]), strict=True):
        np.testing.assert_array_equal(got, want)
    assert len(list(ds.take(1))) == 1
    np.random.seed(0)
    shuffled = c.as_dataset(batch_size=8, shuffle=True)
    first_epoch = shuffled[1][0][0]
    shuffled.on_epoch_end()
    second_epoch = shuffled[0][0][0]
    np.random.seed(0)
    order = np.arange(20)
    np.random.shuffle(order)  # the original shuffles with np.random.shuffle once per epoch
    np.testing.assert_array_equal(first_epoch, 2.0 * c.X[order[8:16]])
    np.random.shuffle(order)
    np.testing.assert_array_equal(second_epoch, 2.0 * c.X[order[:8]])
    del params.cfg["intensity_scale"]
    with pytest.raises(KeyError, match="intensity_scale"):
        c.as_dataset(batch_size=4)


def test_legacy_fixture_model_input():
    """Ptychodus' inference sequence on the original's fixture gives the original's model inputs."""
    expected = np.load(FIXTURE / "expected.npz")
    raw = RawData.from_file(FIXTURE / "data.npz")
    params.cfg["gridsize"] = 1
    dset = raw.generate_grouped_data(64, K=7, nsamples=64, seed=5)
    c = load(lambda: dset, raw.probeGuess, which=None, create_split=False)
    model_input = c.X * float(expected["intensity_scale"])
    assert model_input.dtype == np.float32
    np.testing.assert_allclose(model_input, expected["model_input"], rtol=1e-6, atol=1e-6 * 533)
    np.testing.assert_array_equal(c.local_offsets.astype(np.float32), expected["model_positions"])
    np.testing.assert_array_equal(c.global_offsets, expected["global_offsets"])
    assert c.global_offsets.dtype == np.float64 and c.local_offsets.dtype == np.float64


def test_legacy_normalize_and_crop():
    d = {"diffraction": np.full((2, 4, 4), 300, np.uint16)}
    out = loader.normalize_data(d, 4)
    assert np.mean(np.sum(out**2, axis=(1, 2))) == pytest.approx(4.0)
    assert loader.crop(np.arange(64).reshape(8, 8), 4).shape == (4, 4)
