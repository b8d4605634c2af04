"""ptycho.raw_data: RawData construction and validation, NPZ I/O, grouping (same groups as the original for the same
seed), the grouped dict's keys/shapes/dtypes, and the helpers (normalize_data, coordinates, patches).

"Same groups as the original": the original draws from NumPy's legacy global RNG in a fixed order
(``np.random.seed(seed)``; ``np.random.choice(arange(M), n, replace=False)`` for the seed points; one
``np.random.choice(neighbours, C, replace=False)`` per group) and takes each seed's neighbours from a KD-tree
query of K+1 points minus the first (itself). ``test_same_groups_as_original_hand_checked`` re-derives that sequence
step by step with plain NumPy (``choice(a, k, replace=False)`` is ``a[permutation(len(a))[:k]]`` in the legacy
generator) on a tie-free layout whose neighbour order is obvious, and pins the resulting indices.
``test_legacy_fixture_groups`` checks the real original's output (tests/fixtures/legacy_tf_gs1).
"""

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ptycho import params, raw_data
from ptycho.raw_data import RawData, RawDataValidationError

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "legacy_tf_gs1"
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
    """Points (i, 0.01·i²): all pairwise distances differ, neighbours of i are i-1, i+1, i-2, i+2 (interior)."""
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
def test_constructor_attributes_and_from_coords_without_pc():
    x, y = np.array([1.0, 2.0, 3.0]), np.array([4.0, 5.0, 6.0])
    diff = np.ones((3, 8, 8), np.float32)
    probe = np.ones((8, 8), np.complex64)
    obj = np.ones((20, 20), np.complex64)
    scan = np.zeros(3, int)
    raw = RawData.from_coords_without_pc(x, y, diff, probe, scan, obj)
    assert raw.xcoords is x and raw.ycoords is y and raw.xcoords_start is x and raw.ycoords_start is y
    assert raw.diff3d is diff and raw.probeGuess is probe and raw.scan_index is scan and raw.objectGuess is obj
    assert raw.Y is None and raw.norm_Y_I is None and raw.metadata is None
    assert raw.sample_indices is None and raw.subsample_seed is None
    assert "diff3d: (3, 8, 8)" in str(raw)


def test_validation_errors_name_the_problem():
    x = np.arange(4.0)
    d = np.ones((4, 8, 8), np.float32)
    p = np.ones((8, 8), np.complex64)
    s = np.zeros(4, int)
    with pytest.raises(ValueError, match="matching shapes"):
        RawData(x, x[:3], x, x, d, p, s)
    bad = x.copy()
    bad[[1, 2]] = [np.nan, np.inf]
    with pytest.raises(ValueError, match=r"xcoords contains 2 non-finite value\(s\).*drop those scan points"):
        RawData.from_coords_without_pc(bad, x, d, p, s)
    dn = d.copy()
    dn[0, 0, :3] = np.nan
    with pytest.raises(ValueError, match=r"diff3d contains 3 non-finite value\(s\).*repair"):
        RawData.from_coords_without_pc(x, x, dn, p, s)
    with pytest.raises(ValueError, match=r"square.*\(4, 8, 6\)"):
        RawData.from_coords_without_pc(x, x, np.ones((4, 8, 6)), p, s)
    with pytest.raises(ValueError, match="3 patterns but there are 4 scan positions"):
        RawData.from_coords_without_pc(x, x, d[:3], p, s)
    with pytest.raises(ValueError, match="scan_index has 2 entries"):
        RawData.from_coords_without_pc(x, x, d, p, s[:2])
    with pytest.raises(ValueError, match="1-D"):
        RawData.from_coords_without_pc(x[:, None], x[:, None], d, p, s)
    with pytest.raises(ValueError, match="probeGuess"):
        RawData.from_coords_without_pc(x, x, d, np.ones((2, 8, 8, 2)), s)
    with pytest.raises(AssertionError):  # the original asserted; old handlers keep working
        RawData.from_coords_without_pc(x, x, np.ones((4, 8)), p, s)
    assert issubclass(RawDataValidationError, ValueError) and issubclass(RawDataValidationError, AssertionError)


def test_integer_counts_warn_but_are_not_square_rooted(caplog):
    x = np.arange(3.0)
    counts = np.full((3, 8, 8), 400, np.uint16)
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        raw = RawData.from_coords_without_pc(x, x, counts, np.ones((8, 8)), np.zeros(3, int))
    assert raw.diff3d is counts  # kept as given: no silent sqrt
    text = caplog.text
    assert "raw detector counts" in text and "AMPLITUDES" in text and "np.sqrt(counts)" in text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        RawData.from_coords_without_pc(
            x, x, np.sqrt(counts.astype(np.float32)) + 0.5, np.ones((8, 8)), np.zeros(3, int)
        )
    assert "counts" not in caplog.text


def test_probe_mode_stack_uses_mode_zero(caplog):
    x = np.arange(3.0)
    d = np.ones((3, 8, 8), np.float32)
    stack = (np.arange(3)[:, None, None] + 1j * np.ones((3, 8, 8))).astype(np.complex64)
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        raw = RawData.from_coords_without_pc(x, x, d, stack, np.zeros(3, int))
    assert raw.probeGuess.shape == (8, 8)
    np.testing.assert_array_equal(raw.probeGuess, stack[0])
    assert "3 probe modes" in caplog.text and "mode 0" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        one = RawData.from_coords_without_pc(x, x, d, stack[:1], np.zeros(3, int))
        col = RawData.from_coords_without_pc(x, x, d, stack[0][..., None], np.zeros(3, int))
    assert caplog.text == ""
    np.testing.assert_array_equal(one.probeGuess, stack[0])
    np.testing.assert_array_equal(col.probeGuess, stack[0])


# ----------------------------------------------------------------------------------------------- NPZ I/O
def test_file_round_trip_and_extra_keys(tmp_path):
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
    # Ptychodus 1.7.0 exports: a mode-stack probe and an extra bad_pixels key, no *_start / scan_index
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
    np.testing.assert_array_equal(got.scan_index, np.zeros(9, int))
    assert got.probeGuess.shape == (8, 8) and got.metadata == {"physics_parameters": {"N": 8}}
    train, test = RawData.from_files(path, extra)
    assert len(train.xcoords) == len(test.xcoords) == 9


def test_to_file_without_object_reloads(tmp_path):
    x, y = grid(2)
    raw = make_raw(x, y)
    raw.to_file(tmp_path / "a.npz")
    assert RawData.from_file(tmp_path / "a.npz").objectGuess is None
    # files written by the original's to_file hold a pickled None objectGuess
    np.savez(
        tmp_path / "b.npz",
        xcoords=x,
        ycoords=y,
        diff3d=raw.diff3d,
        probeGuess=raw.probeGuess,
        objectGuess=None,
        scan_index=raw.scan_index,
    )
    assert RawData.from_file(tmp_path / "b.npz").objectGuess is None


def test_from_file_missing_keys_names_them_and_the_schema(tmp_path):
    x, y = grid(2)
    path = tmp_path / "bad.npz"
    np.savez(path, xcoords=x, ycoords=y, diffraction=np.ones((4, 8, 8)))
    with pytest.raises(ValueError) as info:
        RawData.from_file(path)
    msg = str(info.value)
    assert "['diff3d', 'probeGuess']" in msg and "Expected NPZ schema" in msg and "xcoords (M,)" in msg
    assert "'diffraction'" in msg and "'diff3d'" in msg


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


def test_grouped_dict_gridsize2_keys_shapes_dtypes():
    x, y = grid(10)
    raw = make_raw(x, y, N=16, dtype=np.uint16, objectGuess=np.ones((32, 32), np.complex64))
    params.cfg["gridsize"] = 2
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
    # each group: C distinct indices among the seed's 7 nearest neighbours (distance <= 2 on a unit grid)
    for group in d["nn_indices"]:
        assert len(set(group)) == 4
        pts = np.stack([x[group], y[group]], 1)
        assert np.max(np.linalg.norm(pts - pts.mean(0), axis=1)) < 2 * np.sqrt(7)
    # diffraction and coordinates follow the indices, channel c = group member c
    np.testing.assert_array_equal(d["diffraction"], np.transpose(raw.diff3d[d["nn_indices"]], [0, 2, 3, 1]))
    np.testing.assert_array_equal(d["coords_nn"][:, 0, 0, :], x[d["nn_indices"]])
    np.testing.assert_array_equal(d["coords_nn"][:, 0, 1, :], y[d["nn_indices"]])
    # X_full normalised to mean pattern energy (N/2)^2
    assert np.mean(np.sum(d["X_full"].astype(np.float64) ** 2, axis=(1, 2))) == pytest.approx(64.0, rel=1e-6)


def test_grouped_dict_gridsize1_and_sample_indices():
    x, y = grid(4)
    raw = make_raw(x, y)
    raw.sample_indices = [3, 1]
    d = raw.generate_grouped_data(8, K=4, nsamples=5, seed=0, gridsize=1)
    assert list(d) == KEYS[:-1] + ["sample_indices", "X_full"]
    assert d["Y"] is None
    assert d["nn_indices"].shape == (5, 1) and d["nn_indices"].dtype == np.int64
    assert d["diffraction"].shape == (5, 8, 8, 1) and d["coords_relative"].shape == (5, 1, 2, 1)
    assert np.all(d["coords_relative"] == 0)
    assert d["sample_indices"].tolist() == [3, 1]


def test_coords_sign_convention():
    x = np.array([0.0, 4.0, 0.0, 4.0, 10.0])
    y = np.array([0.0, 0.0, 2.0, 2.0, 10.0])
    raw = make_raw(x, y)
    d = raw._generate_dataset_from_groups(np.array([[0, 1, 2, 3]], np.int32), 8, 4, 2)
    np.testing.assert_array_equal(d["coords_offsets"][0, 0, :, 0], [2.0, 1.0])
    # relative = -(coords - mean): model position input = group centre - position
    np.testing.assert_array_equal(d["coords_relative"][0, 0], [[2.0, -2.0, 2.0, -2.0], [1.0, 1.0, -1.0, -1.0]])
    np.testing.assert_array_equal(d["coords_start_relative"], d["coords_relative"])
    offsets, relative = raw_data.get_relative_coords(d["coords_nn"])
    np.testing.assert_array_equal(relative, -(d["coords_nn"] - offsets))
    with pytest.raises(ValueError, match=r"\(M, 1, 2, C\)"):
        raw_data.get_relative_coords(np.zeros((2, 2, 4)))


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
    with pytest.raises(ValueError, match="nsamples must be a positive integer"):
        raw.generate_grouped_data(8, K=4, nsamples=0, gridsize=1)
    with pytest.raises(ValueError, match="gridsize must be a positive integer"):
        raw.generate_grouped_data(8, K=4, nsamples=2, gridsize=0)


# ----------------------------------------------------------------------------------------------- sampling
def test_same_groups_as_original_hand_checked():
    """20 points, gridsize 2, K=4, seed 0: the original's RNG sequence re-derived with plain NumPy."""
    x, y = parabola(20)
    raw = make_raw(x, y)
    got = raw.generate_grouped_data(8, K=4, nsamples=5, seed=0, gridsize=2)["nn_indices"]

    # the neighbour lists (KD-tree query of K+1 = 5, first hit = the point itself, dropped) are obvious here
    def neighbours(i):
        order = sorted(range(20), key=lambda j: np.hypot(x[i] - x[j], y[i] - y[j]))
        assert order[0] == i
        return np.array(order[1:5])

    assert neighbours(10).tolist() == [9, 11, 8, 12] and neighbours(19).tolist() == [18, 17, 16, 15]
    np.random.seed(0)
    seeds = np.random.permutation(20)[:5]  # = np.random.choice(np.arange(20), 5, replace=False)
    expected = np.array([neighbours(s)[np.random.permutation(4)[:4]] for s in seeds])  # one choice(.., 4) each
    np.testing.assert_array_equal(seeds, [18, 1, 19, 8, 10])
    np.testing.assert_array_equal(
        expected, [[19, 17, 15, 16], [0, 3, 4, 2], [16, 15, 18, 17], [6, 9, 10, 7], [9, 12, 8, 11]]
    )
    np.testing.assert_array_equal(got, expected)
    assert got.dtype == np.int32
    # the RNG is left where the original leaves it
    after = np.random.get_state()
    np.random.seed(0)
    np.random.choice(np.arange(20), 5, replace=False)
    for _ in range(5):
        np.random.choice(np.arange(4), 4, replace=False)
    ref = np.random.get_state()
    np.testing.assert_array_equal(after[1], ref[1])
    assert after[2] == ref[2]


def test_same_groups_as_the_original_loop_on_a_large_scan():
    """500 jittered points, C=4, K=7: the groups equal the original's per-seed ``np.random.choice`` loop."""
    from scipy.spatial import cKDTree

    rng = np.random.default_rng(3)
    x = np.repeat(np.arange(25.0), 20) * 4 + rng.uniform(-1, 1, 500)
    y = np.tile(np.arange(20.0), 25) * 4 + rng.uniform(-1, 1, 500)
    raw = make_raw(x, y)
    got = raw.generate_grouped_data(8, K=7, nsamples=300, seed=5, gridsize=2)["nn_indices"]
    after = np.random.get_state()

    np.random.seed(5)
    seeds = np.random.choice(np.arange(500), size=300, replace=False)
    points = np.column_stack([x, y])
    _, hits = cKDTree(points).query(points[seeds], k=8)
    expected = np.array([np.random.choice(row[1:8], size=4, replace=False) for row in hits])
    np.testing.assert_array_equal(got, expected)
    assert got.dtype == np.int32
    ref = np.random.get_state()
    np.testing.assert_array_equal(after[1], ref[1])
    assert after[2] == ref[2]


def test_same_oversampled_groups_as_original_hand_checked():
    """Oversampling path: 20 points, C=4, K=5, 25 groups, seed 0 (C(5,4)=5 combos per seed, 10 seeds)."""
    x, y = parabola(20)
    raw = make_raw(x, y)
    got = raw.generate_grouped_data(8, K=5, nsamples=25, seed=0, gridsize=2, enable_oversampling=True)["nn_indices"]
    from itertools import combinations

    np.random.seed(0)
    seeds = np.random.permutation(20)[:10]  # n_seeds = min(2 * ceil(25 / 5), 20)
    pool = []
    for s in seeds:
        order = sorted(range(20), key=lambda j: np.hypot(x[s] - x[j], y[s] - y[j]))[1:6]
        pool.extend(combinations(order, 4))
    assert len(pool) == 50  # stops at 2 * nsamples
    expected = np.array(pool)[np.random.permutation(50)[:25]]
    np.testing.assert_array_equal(got, expected)
    assert got.shape == (25, 4)


def test_legacy_fixture_groups():
    """The original (TF, commit 712c23f) grouped data.npz with (64, K=7, nsamples=64, seed=5) at gridsize 1."""
    expected = np.load(FIXTURE / "expected.npz")
    raw = RawData.from_file(FIXTURE / "data.npz")
    params.cfg["gridsize"] = 1
    d = raw.generate_grouped_data(64, K=7, nsamples=64, seed=5)
    np.testing.assert_array_equal(d["coords_offsets"], expected["global_offsets"])
    assert d["coords_offsets"].dtype == np.float64
    np.testing.assert_array_equal(d["coords_relative"].astype(np.float32), expected["model_positions"])


def test_seed_reproducible_and_global_state_used():
    x, y = grid(20)
    raw = make_raw(x, y)
    g1 = raw._generate_groups_efficiently(nsamples=100, K=6, C=4, seed=12345)
    g2 = raw._generate_groups_efficiently(nsamples=100, K=6, C=4, seed=12345)
    g3 = raw._generate_groups_efficiently(nsamples=100, K=6, C=4, seed=12346)
    np.testing.assert_array_equal(g1, g2)
    assert not np.array_equal(g1, g3)
    assert g1.shape == (100, 4) and g1.dtype == np.int32 and g1.min() >= 0 and g1.max() < 400
    np.random.seed(77)
    a = raw.generate_grouped_data(8, K=7, nsamples=10, gridsize=2)["nn_indices"]
    b = raw.generate_grouped_data(8, K=7, nsamples=10, gridsize=2)["nn_indices"]
    np.random.seed(77)
    c = raw.generate_grouped_data(8, K=7, nsamples=10, gridsize=2)["nn_indices"]
    assert not np.array_equal(a, b)
    np.testing.assert_array_equal(a, c)


def test_c1_path_uses_seed_choice_directly():
    x, y = grid(5)
    raw = make_raw(x, y)
    got = raw._generate_groups_efficiently(nsamples=7, K=4, C=1, seed=3)
    np.random.seed(3)
    np.testing.assert_array_equal(got[:, 0], np.random.permutation(25)[:7])
    assert got.dtype == np.int64
    every = raw._generate_groups_efficiently(nsamples=40, K=4, C=1, seed=3)
    np.testing.assert_array_equal(every[:, 0], np.arange(25))  # capped, all points in order


def test_sequential_sampling():
    x, y = grid(10)
    raw = make_raw(x, y)
    g1 = raw.generate_grouped_data(8, K=7, nsamples=10, sequential_sampling=True, seed=42, gridsize=2)
    g2 = raw.generate_grouped_data(8, K=7, nsamples=10, sequential_sampling=True, seed=123, gridsize=2)
    np.testing.assert_array_equal(g1["nn_indices"], g2["nn_indices"])  # seed ignored, neighbour choice seeded 0
    assert max(group.min() for group in g1["nn_indices"]) < 30
    single = raw.generate_grouped_data(8, K=3, nsamples=5, sequential_sampling=True, gridsize=1)
    np.testing.assert_array_equal(single["nn_indices"][:, 0], np.arange(5))
    capped = raw.generate_grouped_data(8, K=3, nsamples=150, sequential_sampling=True, gridsize=1)
    assert len(capped["nn_indices"]) == 100
    with pytest.raises(ValueError, match="K choose C oversampling"):
        raw.generate_grouped_data(8, K=7, nsamples=110, sequential_sampling=True, gridsize=2)
    over = raw.generate_grouped_data(
        8, K=7, nsamples=110, sequential_sampling=True, gridsize=2, enable_oversampling=True, neighbor_pool_size=7
    )
    assert over["nn_indices"].shape == (110, 4)


def test_k_less_than_c_messages():
    x, y = grid(20)
    raw = make_raw(x, y)
    with pytest.raises(ValueError, match="K=3 must be >= C=5"):
        raw._generate_groups_efficiently(nsamples=10, K=3, C=5, seed=42)
    with pytest.raises(ValueError, match="must be >="):
        raw.generate_grouped_data(8, K=3, nsamples=10, gridsize=2)
    tiny = make_raw([0.0, 1.0, 0.0, 1.0, 0.5], [0.0, 0.0, 1.0, 1.0, 0.5])
    assert tiny._generate_groups_efficiently(nsamples=3, K=4, C=3, seed=42).shape == (3, 3)
    assert tiny._generate_groups_efficiently(nsamples=10, K=4, C=2, seed=42).shape == (5, 2)
    with pytest.raises(ValueError, match="only 5 points but 9 coordinates"):
        tiny._generate_groups_efficiently(nsamples=3, K=9, C=9)


def test_oversampling_guards_and_cap(caplog):
    rs = np.random.RandomState(42)
    x, y = rs.uniform(0, 200, 100), rs.uniform(0, 200, 100)
    raw = make_raw(x, y)
    params.cfg["gridsize"] = 2
    assert raw.generate_grouped_data(8, K=4, nsamples=50, seed=42)["nn_indices"].shape == (50, 4)
    with pytest.raises(ValueError) as info:
        raw.generate_grouped_data(8, K=7, nsamples=200, seed=42)
    assert "OVERSAMPLING-001" in str(info.value) and "enable_oversampling" in str(info.value)
    assert "K choose C oversampling" in str(info.value)
    with pytest.raises(ValueError) as info:
        raw.generate_grouped_data(8, K=4, nsamples=200, seed=42, enable_oversampling=True, neighbor_pool_size=3)
    assert "neighbor_pool_size >= C" in str(info.value) and "OVERSAMPLING-001" in str(info.value)
    for K in (5, 7):
        d = raw.generate_grouped_data(8, K=K, nsamples=150, seed=42, enable_oversampling=True, neighbor_pool_size=K)
        assert d["nn_indices"].shape == (150, 4) and d["diffraction"].shape[0] == 150
    a = raw.generate_grouped_data(8, K=7, nsamples=200, seed=123, enable_oversampling=True)["nn_indices"]
    b = raw.generate_grouped_data(8, K=7, nsamples=200, seed=123, enable_oversampling=True)["nn_indices"]
    c = raw.generate_grouped_data(8, K=7, nsamples=200, seed=456, enable_oversampling=True)["nn_indices"]
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        capped = raw.generate_grouped_data(8, K=7, nsamples=150, seed=42, gridsize=1)
    assert capped["nn_indices"].shape == (100, 1) and "only 100 points" in caplog.text


def test_no_cache_file_and_dataset_path_ignored(tmp_path):
    x, y = grid(10)
    raw = make_raw(x, y)
    d = raw.generate_grouped_data(8, K=7, nsamples=20, dataset_path=str(tmp_path / "scan.npz"), gridsize=2)
    assert d["nn_indices"].shape == (20, 4)
    assert os.listdir(tmp_path) == []
    raw.generate_grouped_data(8, K=7, nsamples=5, dataset_path="/nonexistent/fake.npz", gridsize=2)


# ----------------------------------------------------------------------------------------------- helpers
def _reference_norm(diffraction, N):
    d64 = diffraction.astype(np.float64)
    return np.sqrt(((N / 2) ** 2) / np.mean(np.sum(d64**2, axis=(1, 2))))


def test_normalize_data_uint16_and_dtypes():
    values = np.full((2, 8, 8), 300, np.uint16)
    out = raw_data.normalize_data({"diffraction": values}, 8)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, _reference_norm(values, 8) * values.astype(np.float64), rtol=1e-10)
    np.testing.assert_allclose(out, raw_data.normalize_data({"diffraction": values.astype(np.float64)}, 8), rtol=1e-10)
    assert raw_data.normalize_data({"diffraction": values.astype(np.float32)}, 8).dtype == np.float32
    rs = np.random.RandomState(0)
    big = rs.randint(0, 60000, (3, 16, 16, 4)).astype(np.uint16)  # would overflow if squared as uint16
    got = raw_data.normalize_data({"diffraction": big}, 16)
    np.testing.assert_allclose(got, np.float32(_reference_norm(big, 16)) * big.astype(np.float32), rtol=1e-7)
    assert np.mean(np.sum(got.astype(np.float64) ** 2, axis=(1, 2))) == pytest.approx(64.0, rel=1e-6)


def test_get_neighbor_indices():
    x, y = parabola(10)
    nn = raw_data.get_neighbor_indices(x, y, K=3)
    assert nn.shape == (10, 4)
    np.testing.assert_array_equal(nn[:, 0], np.arange(10))
    np.testing.assert_array_equal(nn[5], [5, 4, 6, 3])


def _bilinear_reference(img, cx, cy, N):
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


def test_get_image_patches_geometry():
    rs = np.random.RandomState(5)
    obj = (rs.rand(30, 40) + 1j * rs.rand(30, 40)).astype(np.complex64)
    N = 8
    # integer position: an exact window whose pixel (N/2, N/2) is object pixel (cy, cx)
    g = np.array([[[[12.0], [9.0]]]])
    patch = raw_data.get_image_patches(obj, g, np.zeros_like(g), N=N, gridsize=1)
    assert patch.shape == (1, N, N, 1) and patch.dtype == np.complex64 and hasattr(patch, "numpy")
    np.testing.assert_array_equal(patch[0, :, :, 0], obj[9 - 4 : 9 + 4, 12 - 4 : 12 + 4])
    # gridsize 2, fractional positions, some windows partly outside the object
    coords = np.array([[[[3.25, 20.5, 36.75, 11.0], [2.5, 27.125, 14.0, -1.75]]]])
    offsets, relative = raw_data.get_relative_coords(coords)
    got = raw_data.get_image_patches(obj, offsets, relative, N=N, gridsize=2)
    assert got.shape == (1, N, N, 4)
    for c in range(4):
        total = (offsets + relative)[0, 0, :, c]  # = 2·centre - position (the original's quirk)
        ref = _bilinear_reference(obj, total[0], total[1], N)
        np.testing.assert_allclose(got[0, :, :, c], ref, rtol=0, atol=1e-5)
    params.cfg["N"] = N
    params.cfg["gridsize"] = 1
    np.testing.assert_array_equal(raw_data.get_image_patches(obj, g, np.zeros_like(g)), patch)


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


def test_from_file_without_diffraction_reads_the_rest(tmp_path):
    x, y = grid(3)
    raw = make_raw(x, y, objectGuess=np.ones((16, 16), np.complex64))
    raw.to_file(tmp_path / "scan.npz")
    light = RawData.from_file(tmp_path / "scan.npz", load_diffraction=False)
    assert light.diff3d is None
    np.testing.assert_array_equal(light.xcoords, raw.xcoords)
    np.testing.assert_array_equal(light.objectGuess, raw.objectGuess)
    np.savez(tmp_path / "nodiff.npz", xcoords=x, ycoords=y, probeGuess=raw.probeGuess)
    with pytest.raises(ValueError, match=r"missing required key\(s\) \['diff3d'\]"):
        RawData.from_file(tmp_path / "nodiff.npz", load_diffraction=False)
