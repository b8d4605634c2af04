"""ptycho.raw_data: the adaptation of the engine's data layer (ptycho_core.data) to the original's API.

RawData is a view of a ``ptycho_core.data.Scan`` under the original's attribute names; checking, file I/O,
grouping and normalisation are the engine's and are tested in tests/ptycho_core/data/ (the validation messages,
the NPZ schema, the same groups as the original for the same seed, the grouped arrays, object patches). Here:
the names and identities, the errors' types, the delegation of from_file/to_file, the grouped dict (keys, shapes,
dtypes, equal to ``group_scan``), NumPy's GLOBAL RNG (as the original) and the module-level helpers.
"""

import json
import logging
import os
import subprocess
import sys

import numpy as np
import pytest

from ptycho import params, raw_data
from ptycho.raw_data import RawData, RawDataValidationError
from ptycho_core.data.grouped import group_scan
from ptycho_core.data.patches import object_patches_at
from ptycho_core.data.scan import Scan, ScanError
from ptycho_core.physics import normalize_diffraction

LOGGER = "ptycho.raw_data"


@pytest.fixture(autouse=True)
def restore_global_rng():
    state = np.random.get_state()
    yield
    np.random.set_state(state)


def make_raw(x, y, N=8, dtype=np.float32, objectGuess=None, seed=1, **kwargs):
    x, y = np.asarray(x), np.asarray(y)
    diff = np.random.RandomState(seed).rand(len(x), N, N)
    diff = (diff * 1000 if np.dtype(dtype).kind in "iu" else diff).astype(dtype)
    return RawData(
        x, y, x, y, diff, np.ones((N, N), np.complex64), np.zeros(len(x), int), objectGuess=objectGuess, **kwargs
    )


def grid(n):
    xx, yy = np.meshgrid(np.arange(n, dtype=float), np.arange(n, dtype=float))
    return xx.ravel(), yy.ravel()


def parabola(n=20):
    """Points (i, 0.01·i²): all pairwise distances differ (see tests/ptycho_core/data/test_grouping.py)."""
    x = np.arange(n, dtype=float)
    return x, 0.01 * x**2


# ----------------------------------------------------------------------------------------------- module surface
def test_constants_and_names():
    assert raw_data.local_offset_sign == -1
    assert raw_data.key_coords_offsets == "coords_start_offsets"
    assert raw_data.key_coords_relative == "coords_start_relative"
    for name in ("get_image_patches", "get_relative_coords", "get_neighbor_indices", "normalize_data"):
        assert callable(getattr(raw_data, name))


@pytest.mark.slow
def test_import_binds_probe_and_tf_helper_on_package():
    code = (
        "import ptycho.raw_data, ptycho, sys; "
        "assert ptycho.probe.set_probe_guess and ptycho.tf_helper.reassemble_position; "
        "assert 'ptycho.loader' not in sys.modules"
    )
    env = dict(os.environ, KERAS_BACKEND=os.environ.get("KERAS_BACKEND", "tensorflow"))
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]


# ----------------------------------------------------------------------------------------------- construction
def test_constructor_attributes_are_the_scan_arrays():
    x, y = np.array([1.0, 2.0, 3.0]), np.array([4.0, 5.0, 6.0])
    diff = np.full((3, 8, 8), 400, np.uint16)  # counts: kept as given (the engine warns)
    probe = np.ones((8, 8), np.complex64)
    obj = np.ones((20, 20), np.complex64)
    scan = np.zeros(3, int)
    raw = RawData.from_coords_without_pc(x, y, diff, probe, scan, obj)
    assert raw.xcoords is x and raw.ycoords is y and raw.xcoords_start is x and raw.ycoords_start is y
    assert raw.diff3d is diff and raw.probeGuess is probe and raw.scan_index is scan and raw.objectGuess is obj
    assert raw.Y is None and raw.norm_Y_I is None and raw.metadata is None
    assert raw.sample_indices is None and raw.subsample_seed is None
    assert "diff3d: (3, 8, 8)" in str(raw) and "objectGuess: (20, 20)" in str(raw)
    # a view of one Scan: reads and writes go to it
    assert isinstance(raw.scan, Scan)
    assert raw.scan.x is x and raw.scan.x_start is x and raw.scan.diffraction is diff and raw.scan.object is obj
    x2 = x + 1
    raw.xcoords = x2
    assert raw.scan.x is x2 and raw.xcoords is x2
    # separate start coordinates and a probe mode stack (reduced to mode 0 by the engine)
    stack = np.stack([probe, 2 * probe])
    other = RawData(x, y, x + 1, y + 1, diff, stack, scan)
    np.testing.assert_array_equal(other.xcoords_start, x + 1)
    assert other.probeGuess.shape == (8, 8) and other.probeGuess is other.scan.probe
    assert RawData.from_scan(other.scan).scan is other.scan


def test_validation_errors_are_value_and_assertion_errors():
    """The messages are the engine's (tests/ptycho_core/data/test_scan.py); here, their type."""
    assert issubclass(RawDataValidationError, ValueError) and issubclass(RawDataValidationError, AssertionError)
    assert issubclass(RawDataValidationError, ScanError)
    x = np.arange(4.0)
    d = np.ones((4, 8, 8), np.float32)
    p = np.ones((8, 8), np.complex64)
    s = np.zeros(4, int)
    with pytest.raises(RawDataValidationError, match="matching shapes"):
        RawData(x, x[:3], x, x, d, p, s)
    with pytest.raises(AssertionError):  # the original asserted; old handlers keep working
        RawData.from_coords_without_pc(x, x, np.ones((4, 8)), p, s)
    with pytest.raises(RawDataValidationError, match="probeGuess"):  # refused while building the Scan
        RawData.from_coords_without_pc(x, x, d, np.ones((2, 8, 8, 2)), s)
    with pytest.raises(RawDataValidationError, match="xcoords_start is None"):  # the original required them
        RawData(x, x, None, x, d, p, s)
    with pytest.raises(RawDataValidationError, match="3 patterns but there are 4"):
        RawData.from_scan(Scan(d[:3], x, x, p))


# ----------------------------------------------------------------------------------------------- NPZ I/O
def test_file_round_trip_delegates_to_the_engine(tmp_path):
    x, y = grid(3)
    raw = make_raw(x, y, objectGuess=np.ones((16, 16), np.complex64))
    path = tmp_path / "scan.npz"
    raw.to_file(path)
    back = RawData.from_file(path)
    for name in (
        "xcoords",
        "ycoords",
        "xcoords_start",
        "ycoords_start",
        "diff3d",
        "probeGuess",
        "objectGuess",
        "scan_index",
    ):
        np.testing.assert_array_equal(getattr(back, name), getattr(raw, name))
    assert isinstance(back.scan, Scan) and back.Y is None and back.sample_indices is None
    # Ptychodus 1.7.0 exports: a mode-stack probe and an extra key, no *_start / scan_index, metadata
    extra = tmp_path / "ptychodus.npz"
    np.savez(
        extra,
        xcoords=x,
        ycoords=y,
        diff3d=raw.diff3d,
        probeGuess=np.ones((2, 8, 8), np.complex64),
        bad_pixels=np.zeros((8, 8), bool),
        _metadata=np.array(json.dumps({"physics_parameters": {"N": 8}}), dtype=object),
    )
    got = RawData.from_file(extra)
    assert got.xcoords_start is got.xcoords and got.objectGuess is None
    assert got.probeGuess.shape == (8, 8) and got.metadata == {"physics_parameters": {"N": 8}}
    train, test = RawData.from_files(path, extra)
    assert len(train.xcoords) == len(test.xcoords) == 9
    light = RawData.from_file(path, load_diffraction=False)
    assert light.diff3d is None
    np.testing.assert_array_equal(light.objectGuess, raw.objectGuess)


def test_to_file_appends_npz_and_keeps_an_existing_file_as_a_backup(tmp_path):
    x, y = grid(2)
    first, second = make_raw(x, y), make_raw(*grid(3))
    first.to_file(tmp_path / "a")  # like np.savez: ".npz" appended
    assert os.listdir(tmp_path) == ["a.npz"]
    assert RawData.from_file(tmp_path / "a.npz").objectGuess is None
    second.to_file(str(tmp_path / "a.npz"))
    assert sorted(os.listdir(tmp_path)) == ["a.npz", "a.~1~.npz"]
    assert len(RawData.from_file(tmp_path / "a.npz").xcoords) == 9
    assert len(RawData.from_file(tmp_path / "a.~1~.npz").xcoords) == 4
    # metadata is not written (as in the original)
    first.metadata = {"physics_parameters": {"N": 8}}
    first.to_file(tmp_path / "m.npz")
    assert RawData.from_file(tmp_path / "m.npz").metadata is None


def test_from_file_errors_are_value_errors(tmp_path):
    x, y = grid(2)
    path = tmp_path / "bad.npz"
    np.savez(path, xcoords=x, ycoords=y, diffraction=np.ones((4, 8, 8)))
    with pytest.raises(ValueError, match=r"missing required key\(s\) \['diff3d', 'probeGuess'\].*Expected NPZ schema"):
        RawData.from_file(path)
    np.savez(path, xcoords=x, ycoords=y, diff3d=np.ones((3, 8, 8)), probeGuess=np.ones((8, 8)))
    with pytest.raises(RawDataValidationError, match="3 patterns but there are 4"):
        RawData.from_file(path)


def test_from_file_config_validation_warns(tmp_path, caplog):
    from types import SimpleNamespace

    x, y = grid(2)
    path = tmp_path / "m.npz"
    meta = {"physics_parameters": {"nphotons": 1e6, "N": 8, "gridsize": 2}}
    np.savez(
        path,
        xcoords=x,
        ycoords=y,
        diff3d=np.ones((4, 8, 8)),
        probeGuess=np.ones((8, 8)),
        _metadata=np.array(json.dumps(meta), dtype=object),
    )
    config = SimpleNamespace(nphotons=1e9, model=SimpleNamespace(N=8, gridsize=1))
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        RawData.from_file(path, validate_config=True, current_config=config)
    assert "nphotons mismatch" in caplog.text and "gridsize mismatch" in caplog.text
    assert "N mismatch" not in caplog.text


# ----------------------------------------------------------------------------------------------- grouped dict
KEYS = [
    "diffraction",
    "Y",
    "coords_offsets",
    "coords_relative",
    "coords_start_offsets",
    "coords_start_relative",
    "coords_nn",
    "coords_start_nn",
    "nn_indices",
    "objectGuess",
    "X_full",
]


def test_grouped_dict_gridsize2_keys_shapes_dtypes_and_equal_to_group_scan():
    x, y = grid(10)
    raw = make_raw(x, y, N=16, dtype=np.uint16, objectGuess=np.ones((32, 32), np.complex64))
    params.cfg["gridsize"] = 2  # the default gridsize
    d = raw.generate_grouped_data(16, K=7, nsamples=12, seed=3)
    assert list(d) == KEYS
    assert d["diffraction"].shape == (12, 16, 16, 4) and d["diffraction"].dtype == np.uint16
    assert d["X_full"].shape == (12, 16, 16, 4) and d["X_full"].dtype == np.float32
    assert d["Y"].shape == (12, 16, 16, 4) and d["Y"].dtype == np.complex64
    for key in ("coords_offsets", "coords_start_offsets"):
        assert d[key].shape == (12, 1, 2, 1) and d[key].dtype == np.float64
    for key in ("coords_relative", "coords_start_relative", "coords_nn", "coords_start_nn"):
        assert d[key].shape == (12, 1, 2, 4) and d[key].dtype == np.float64
    assert d["nn_indices"].shape == (12, 4) and d["nn_indices"].dtype == np.int32
    assert d["objectGuess"] is raw.objectGuess
    # the engine's grouping for the same seed (an int seed draws what np.random.seed(seed) draws)
    g = group_scan(raw.scan, gridsize=2, n_groups=12, K=7, seed=3)
    for key, value in (
        ("diffraction", g.diffraction),
        ("Y", g.truth),
        ("coords_offsets", g.groups.offsets),
        ("coords_relative", g.groups.relative),
        ("coords_start_offsets", g.start_offsets),
        ("coords_start_relative", g.start_relative),
        ("coords_nn", g.groups.coords),
        ("coords_start_nn", g.start_coords),
        ("nn_indices", g.groups.indices),
        ("X_full", g.X),
    ):
        np.testing.assert_array_equal(d[key], value, err_msg=key)
    # the start coordinates come from xcoords_start / ycoords_start
    shifted = RawData(x, y, x + 0.5, y - 0.5, raw.diff3d, raw.probeGuess, raw.scan_index)
    s = shifted.generate_grouped_data(16, K=7, nsamples=12, seed=3)
    np.testing.assert_array_equal(s["coords_start_nn"], d["coords_nn"] + np.array([0.5, -0.5])[:, None])
    np.testing.assert_array_equal(s["coords_start_relative"], d["coords_relative"])


def test_grouped_dict_gridsize1_and_sample_indices():
    x, y = grid(4)
    raw = make_raw(x, y)
    raw.sample_indices = [3, 1]
    d = raw.generate_grouped_data(8, K=4, nsamples=5, seed=0, gridsize=1)
    assert list(d) == KEYS[:-1] + ["sample_indices", "X_full"]
    assert d["Y"] is None
    assert d["nn_indices"].shape == (5, 1) and d["nn_indices"].dtype == np.int64
    assert d["diffraction"].shape == (5, 8, 8, 1) and d["coords_relative"].shape == (5, 1, 2, 1)
    assert d["sample_indices"].tolist() == [3, 1] and d["sample_indices"] is not raw.sample_indices


def test_ground_truth_from_Y_array():
    x, y = grid(3)
    Y = (np.arange(9)[:, None, None, None] * np.ones((9, 8, 8, 1))).astype(np.complex64)
    raw = make_raw(x, y, Y=Y)
    d = raw.generate_grouped_data(8, K=4, nsamples=4, seed=1, gridsize=2)
    assert d["Y"].shape == (4, 8, 8, 4)
    np.testing.assert_array_equal(d["Y"][:, 0, 0, :].real, d["nn_indices"])


def test_bad_grouping_arguments():
    x, y = grid(3)
    raw = make_raw(x, y)
    with pytest.raises(ValueError, match=r"N=16 but the diffraction patterns are 8x8"):
        raw.generate_grouped_data(16, K=4, nsamples=2, gridsize=1)
    with pytest.raises(ValueError, match="n_groups must be a positive integer"):
        raw.generate_grouped_data(8, K=4, nsamples=0, gridsize=1)
    with pytest.raises(ValueError, match="gridsize must be a positive integer"):
        raw.generate_grouped_data(8, K=4, nsamples=2, gridsize=0)
    with pytest.raises(ValueError, match="OVERSAMPLING-001"):
        raw.generate_grouped_data(8, K=4, nsamples=20, gridsize=2)


def test_no_cache_file_and_dataset_path_ignored(tmp_path):
    x, y = grid(10)
    raw = make_raw(x, y)
    d = raw.generate_grouped_data(8, K=7, nsamples=20, dataset_path=str(tmp_path / "scan.npz"), gridsize=2)
    assert d["nn_indices"].shape == (20, 4)
    assert os.listdir(tmp_path) == []
    raw.generate_grouped_data(8, K=7, nsamples=5, dataset_path="/nonexistent/fake.npz", gridsize=2)


# ----------------------------------------------------------------------------------------------- global RNG
def test_seed_seeds_the_global_rng_and_leaves_it_where_the_original_does():
    """20 points, gridsize 2, K=4, seed 0 (the groups are pinned in test_grouping's hand-checked test)."""
    x, y = parabola(20)
    raw = make_raw(x, y)
    np.random.seed(123)  # overridden by seed=0
    got = raw.generate_grouped_data(8, K=4, nsamples=5, seed=0, gridsize=2)["nn_indices"]
    np.testing.assert_array_equal(
        got, [[19, 17, 15, 16], [0, 3, 4, 2], [16, 15, 18, 17], [6, 9, 10, 7], [9, 12, 8, 11]]
    )
    after = np.random.get_state()
    np.random.seed(0)
    np.random.choice(np.arange(20), 5, replace=False)
    for _ in range(5):
        np.random.choice(np.arange(4), 4, replace=False)
    ref = np.random.get_state()
    np.testing.assert_array_equal(after[1], ref[1])
    assert after[2] == ref[2]
    # oversampling draws from the global RNG too
    over = raw.generate_grouped_data(8, K=5, nsamples=25, seed=0, gridsize=2, enable_oversampling=True)
    np.random.seed(0)
    again = raw.generate_grouped_data(8, K=5, nsamples=25, gridsize=2, enable_oversampling=True)
    np.testing.assert_array_equal(over["nn_indices"], again["nn_indices"])


def test_without_seed_the_global_state_is_used():
    x, y = grid(20)
    raw = make_raw(x, y)
    np.random.seed(77)
    a = raw.generate_grouped_data(8, K=7, nsamples=10, gridsize=2)["nn_indices"]
    b = raw.generate_grouped_data(8, K=7, nsamples=10, gridsize=2)["nn_indices"]
    np.random.seed(77)
    c = raw.generate_grouped_data(8, K=7, nsamples=10, gridsize=2)["nn_indices"]
    assert not np.array_equal(a, b)
    np.testing.assert_array_equal(a, c)
    np.random.seed(77)
    positions = raw.group_positions(nsamples=10, K=7, gridsize=2)[0]
    np.testing.assert_array_equal(positions, a)


# ----------------------------------------------------------------------------------------------- helpers
def test_normalize_data_wrapper():
    values = np.full((2, 8, 8), 300, np.uint16)
    out = raw_data.normalize_data({"diffraction": values}, 8)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, normalize_diffraction(values, 8)[0])
    assert np.mean(np.sum(out.astype(np.float64) ** 2, axis=(1, 2))) == pytest.approx(16.0, rel=1e-6)
    assert raw_data.normalize_data({"diffraction": values.astype(np.float32)}, 8).dtype == np.float32


def test_get_neighbor_indices():
    x, y = parabola(10)
    nn = raw_data.get_neighbor_indices(x, y, K=3)
    assert nn.shape == (10, 4)
    np.testing.assert_array_equal(nn[:, 0], np.arange(10))
    np.testing.assert_array_equal(nn[5], [5, 4, 6, 3])


def test_get_relative_coords_wrapper():
    coords = np.array([[[[0.0, 4.0, 0.0, 4.0], [0.0, 0.0, 2.0, 2.0]]]])
    offsets, relative = raw_data.get_relative_coords(coords)
    np.testing.assert_array_equal(offsets[0, 0, :, 0], [2.0, 1.0])
    np.testing.assert_array_equal(relative, -(coords - offsets))
    with pytest.raises(RawDataValidationError, match=r"\(M, 1, 2, C\)"):
        raw_data.get_relative_coords(np.zeros((2, 2, 4)))


def test_get_image_patches_wrapper():
    """The geometry is tested against a bilinear reference in tests/ptycho_core/data/test_patches.py."""
    rs = np.random.RandomState(5)
    obj = (rs.rand(30, 40) + 1j * rs.rand(30, 40)).astype(np.complex64)
    N = 8
    g = np.array([[[[12.0], [9.0]]]])
    patch = raw_data.get_image_patches(obj, g, np.zeros_like(g), N=N, gridsize=1)
    assert patch.shape == (1, N, N, 1) and patch.dtype == np.complex64 and hasattr(patch, "numpy")
    np.testing.assert_array_equal(patch[0, :, :, 0], obj[9 - 4 : 9 + 4, 12 - 4 : 12 + 4])
    # global + local offsets are the positions
    coords = np.array([[[[3.25, 20.5, 36.75, 11.0], [2.5, 27.125, 14.0, -1.75]]]])
    offsets, relative = raw_data.get_relative_coords(coords)
    got = raw_data.get_image_patches(obj, offsets, relative, N=N, gridsize=2)
    np.testing.assert_array_equal(got, object_patches_at(obj, offsets + relative, N))
    params.cfg["N"] = N
    params.cfg["gridsize"] = 1
    np.testing.assert_array_equal(raw_data.get_image_patches(obj, g, np.zeros_like(g)), patch)
    with pytest.raises(ValueError, match=r"\(B, 1, 2, 1\) for gridsize=1"):
        raw_data.get_image_patches(obj, offsets, relative)


def test_from_simulation_gridsize1():
    params.cfg.update(N=16, gridsize=1, nphotons=1e4)
    rs = np.random.RandomState(0)
    obj = (1 + 0.1 * rs.rand(40, 40)).astype(np.complex64)
    probe = np.ones((16, 16), np.complex64)
    np.random.seed(0)
    raw = RawData.from_simulation(np.array([15.0, 20.0, 25.0]), np.array([18.0, 20.0, 22.0]), probe, obj)
    assert raw.diff3d.shape == (3, 16, 16) and raw.diff3d.dtype == np.float32
    assert raw.Y.shape == (3, 16, 16, 1) and raw.Y.dtype == np.complex64
    np.testing.assert_array_equal(raw.Y[1, :, :, 0], obj[12:28, 12:28])
    assert np.isfinite(float(raw.norm_Y_I)) and float(raw.norm_Y_I) > 0
    d = raw.generate_grouped_data(16, K=2, nsamples=3, seed=0)
    assert d["Y"].shape == (3, 16, 16, 1)
    params.cfg["gridsize"] = 2
    with pytest.raises(NotImplementedError, match="gridsize=1"):
        RawData.from_simulation(np.array([15.0]), np.array([18.0]), probe, obj)


# ----------------------------------------------------------------------- this project's additions for streaming
@pytest.mark.parametrize("gridsize, nsamples", [(1, 100), (2, 100), (2, 30)])
def test_group_positions_are_the_groups_of_generate_grouped_data(gridsize, nsamples):
    x, y = grid(10)
    raw = make_raw(x, y, N=8)
    groups, offsets, relative = raw.group_positions(nsamples=nsamples, K=7, seed=4, gridsize=gridsize)
    d = raw.generate_grouped_data(8, K=7, nsamples=nsamples, seed=4, gridsize=gridsize)
    np.testing.assert_array_equal(groups, d["nn_indices"])
    np.testing.assert_array_equal(offsets, d["coords_offsets"])
    np.testing.assert_array_equal(relative, d["coords_relative"])
