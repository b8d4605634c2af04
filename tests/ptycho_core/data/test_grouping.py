"""ptycho_core.data.grouping: the same groups as the original PtychoPINN for the same seed, and the groups'
coordinates. Host-only: no Keras backend.

"Same groups as the original": the original draws from NumPy's legacy global RNG in a fixed order
(``np.random.seed(seed)``; ``np.random.choice(arange(M), n, replace=False)`` for the seed points; one
``np.random.choice(neighbours, C, replace=False)`` per group) and takes each seed's neighbours from a KD-tree
query of K+1 points minus the first (itself). ``group_neighbours`` with an int ``seed`` makes the same draws from
``np.random.RandomState(seed)``. ``test_same_groups_as_original_hand_checked`` re-derives that sequence step by step
with plain NumPy (``choice(a, k, replace=False)`` is ``a[permutation(len(a))[:k]]`` in the legacy generator) on a
tie-free layout whose neighbour order is obvious, and pins the resulting indices. ``test_legacy_fixture_groups``
checks the real original's output (tests/fixtures/legacy_tf_gs1).
"""

import logging
from itertools import combinations
from pathlib import Path

import numpy as np
import pytest

from ptycho_core.data.grouping import (
    LOCAL_OFFSET_SIGN,
    group_coordinates,
    group_neighbours,
    relative_coordinates,
    subsample_rows,
)
from ptycho_core.data.npz import read_scan

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "legacy_tf_gs1"
LOGGER = "ptycho_core.data.grouping"


@pytest.fixture(autouse=True)
def restore_global_rng():
    state = np.random.get_state()
    yield
    np.random.set_state(state)


def grid(n):
    xx, yy = np.meshgrid(np.arange(n, dtype=float), np.arange(n, dtype=float))
    return xx.ravel(), yy.ravel()


def parabola(n=20):
    """Points (i, 0.01·i²): all pairwise distances differ, neighbours of i are i-1, i+1, i-2, i+2 (interior)."""
    x = np.arange(n, dtype=float)
    return x, 0.01 * x**2


def scattered(n=100, seed=42):
    rs = np.random.RandomState(seed)
    return rs.uniform(0, 200, n), rs.uniform(0, 200, n)


def assert_same_state(a, b):
    a, b = a.get_state(), b.get_state()
    np.testing.assert_array_equal(a[1], b[1])
    assert a[2] == b[2]


# ----------------------------------------------------------------------------------------------- RNG parity
def test_same_groups_as_original_hand_checked():
    """20 points, gridsize 2, K=4, seed 0: the original's RNG sequence re-derived with plain NumPy."""
    x, y = parabola(20)
    got = group_neighbours(x, y, gridsize=2, n_groups=5, K=4, seed=0).indices

    # the neighbour lists (KD-tree query of K+1 = 5, first hit = the point itself, dropped) are obvious here
    def neighbours(i):
        order = sorted(range(20), key=lambda j: np.hypot(x[i] - x[j], y[i] - y[j]))
        assert order[0] == i
        return np.array(order[1:5])

    assert neighbours(10).tolist() == [9, 11, 8, 12] and neighbours(19).tolist() == [18, 17, 16, 15]
    rs = np.random.RandomState(0)
    seeds = rs.permutation(20)[:5]  # = np.random.choice(np.arange(20), 5, replace=False) after np.random.seed(0)
    expected = np.array([neighbours(s)[rs.permutation(4)[:4]] for s in seeds])  # one choice(.., 4) each
    np.testing.assert_array_equal(seeds, [18, 1, 19, 8, 10])
    np.testing.assert_array_equal(
        expected, [[19, 17, 15, 16], [0, 3, 4, 2], [16, 15, 18, 17], [6, 9, 10, 7], [9, 12, 8, 11]]
    )
    np.testing.assert_array_equal(got, expected)
    assert got.dtype == np.int32
    # a RandomState passed in is left where the original leaves the global RNG
    rng = np.random.RandomState(0)
    np.testing.assert_array_equal(group_neighbours(x, y, gridsize=2, n_groups=5, K=4, seed=rng).indices, expected)
    ref = np.random.RandomState(0)
    ref.choice(np.arange(20), 5, replace=False)
    for _ in range(5):
        ref.choice(np.arange(4), 4, replace=False)
    assert_same_state(rng, ref)


def test_same_groups_as_the_original_loop_on_a_large_scan():
    """500 jittered points, C=4, K=7: the groups equal the original's per-seed ``np.random.choice`` loop."""
    from scipy.spatial import cKDTree

    rng = np.random.default_rng(3)
    x = np.repeat(np.arange(25.0), 20) * 4 + rng.uniform(-1, 1, 500)
    y = np.tile(np.arange(20.0), 25) * 4 + rng.uniform(-1, 1, 500)
    state = np.random.RandomState(5)
    got = group_neighbours(x, y, gridsize=2, n_groups=300, K=7, seed=state).indices

    np.random.seed(5)
    seeds = np.random.choice(np.arange(500), size=300, replace=False)
    points = np.column_stack([x, y])
    _, hits = cKDTree(points).query(points[seeds], k=8)
    expected = np.array([np.random.choice(row[1:8], size=4, replace=False) for row in hits])
    np.testing.assert_array_equal(got, expected)
    assert got.dtype == np.int32
    assert_same_state(state, np.random.mtrand._rand)
    np.testing.assert_array_equal(group_neighbours(x, y, gridsize=2, n_groups=300, K=7, seed=5).indices, expected)


def test_same_oversampled_groups_as_original_hand_checked():
    """Oversampling path: 20 points, C=4, K=5, 25 groups, seed 0 (C(5,4)=5 combos per seed, 10 seeds)."""
    x, y = parabola(20)
    got = group_neighbours(x, y, gridsize=2, n_groups=25, K=5, seed=0, oversampling=True).indices

    rs = np.random.RandomState(0)
    seeds = rs.permutation(20)[:10]  # n_seeds = min(2 * ceil(25 / 5), 20)
    pool = []
    for s in seeds:
        order = sorted(range(20), key=lambda j: np.hypot(x[s] - x[j], y[s] - y[j]))[1:6]
        pool.extend(combinations(order, 4))
    assert len(pool) == 50  # stops at 2 * n_groups
    expected = np.array(pool)[rs.permutation(50)[:25]]
    np.testing.assert_array_equal(got, expected)
    assert got.shape == (25, 4)


def test_legacy_fixture_groups():
    """The original (TF, commit 712c23f) grouped data.npz with (64, K=7, nsamples=64, seed=5) at gridsize 1."""
    expected = np.load(FIXTURE / "expected.npz")
    scan = read_scan(FIXTURE / "data.npz").validate()
    groups = group_neighbours(scan.x, scan.y, gridsize=1, n_groups=64, K=7, seed=5)
    np.testing.assert_array_equal(groups.offsets, expected["global_offsets"])
    assert groups.offsets.dtype == np.float64
    np.testing.assert_array_equal(groups.relative.astype(np.float32), expected["model_positions"])


@pytest.mark.parametrize(
    "points, kwargs",
    [
        (grid(5), dict(gridsize=1, n_groups=7)),
        (grid(10), dict(gridsize=2, n_groups=30, K=7)),
        (grid(10), dict(gridsize=3, n_groups=20, K=12)),
        (scattered(), dict(gridsize=2, n_groups=150, K=7, oversampling=True)),
        (scattered(), dict(gridsize=1, n_groups=150, oversampling=True)),
    ],
    ids=["C1", "C4", "C9", "oversampled", "C1_capped"],
)
def test_int_seed_equals_seeding_the_global_rng(points, kwargs, request):
    """``seed=s`` draws what ``np.random.seed(s)`` + NumPy's global RandomState passed in draws."""
    x, y = points
    by_int = group_neighbours(x, y, seed=11, **kwargs)
    np.random.seed(11)
    by_global = group_neighbours(x, y, seed=np.random.mtrand._rand, **kwargs)
    for name in ("indices", "coords", "offsets", "relative"):
        np.testing.assert_array_equal(getattr(by_int, name), getattr(by_global, name))
    assert by_int.indices.dtype == by_global.indices.dtype
    # the global RandomState is drawn from in place, as far as a RandomState(11) passed in is advanced
    state = np.random.RandomState(11)
    group_neighbours(x, y, seed=state, **kwargs)
    assert_same_state(np.random.mtrand._rand, state)
    if "capped" not in request.node.callspec.id:  # every point, in order: nothing is drawn
        assert state.randint(1 << 30) != np.random.RandomState(11).randint(1 << 30)
        again = group_neighbours(x, y, seed=np.random.mtrand._rand, **kwargs)  # continues the sequence
        assert not np.array_equal(again.indices, by_int.indices)


# ----------------------------------------------------------------------------------------------- sampling
def test_seed_reproducible():
    x, y = grid(20)
    g1 = group_neighbours(x, y, gridsize=2, n_groups=100, K=6, seed=12345).indices
    g2 = group_neighbours(x, y, gridsize=2, n_groups=100, K=6, seed=12345).indices
    g3 = group_neighbours(x, y, gridsize=2, n_groups=100, K=6, seed=12346).indices
    np.testing.assert_array_equal(g1, g2)
    assert not np.array_equal(g1, g3)
    assert g1.shape == (100, 4) and g1.dtype == np.int32 and g1.min() >= 0 and g1.max() < 400
    # seed=None draws fresh
    a = group_neighbours(x, y, gridsize=2, n_groups=100, K=6).indices
    b = group_neighbours(x, y, gridsize=2, n_groups=100, K=6).indices
    assert not np.array_equal(a, b)


def test_c1_path_uses_seed_choice_directly(caplog):
    x, y = grid(5)
    got = group_neighbours(x, y, gridsize=1, n_groups=7, seed=3)
    np.testing.assert_array_equal(got.indices[:, 0], np.random.RandomState(3).permutation(25)[:7])
    assert got.indices.shape == (7, 1) and got.indices.dtype == np.int64
    assert np.all(got.relative == 0) and got.coords.shape == (7, 1, 2, 1)
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        every = group_neighbours(x, y, gridsize=1, n_groups=40, seed=3)
    np.testing.assert_array_equal(every.indices[:, 0], np.arange(25))  # capped, all points in order
    assert "only 25 points" in caplog.text


def test_sequential_sampling():
    x, y = grid(10)
    g1 = group_neighbours(x, y, gridsize=2, n_groups=10, K=7, sequential=True, seed=42).indices
    g2 = group_neighbours(x, y, gridsize=2, n_groups=10, K=7, sequential=True, seed=123).indices
    np.testing.assert_array_equal(g1, g2)  # seed ignored, neighbour choice seeded 0
    assert max(group.min() for group in g1) < 30
    single = group_neighbours(x, y, gridsize=1, n_groups=5, K=3, sequential=True).indices
    np.testing.assert_array_equal(single[:, 0], np.arange(5))
    capped = group_neighbours(x, y, gridsize=1, n_groups=150, K=3, sequential=True).indices
    assert len(capped) == 100
    with pytest.raises(ValueError, match="K choose C oversampling"):
        group_neighbours(x, y, gridsize=2, n_groups=110, K=7, sequential=True)
    over = group_neighbours(x, y, gridsize=2, n_groups=110, K=7, sequential=True, oversampling=True, pool_size=7)
    assert over.indices.shape == (110, 4)


def test_k_less_than_c_and_too_few_points():
    x, y = grid(20)
    with pytest.raises(ValueError, match="K=3 must be >= C=9"):
        group_neighbours(x, y, gridsize=3, n_groups=10, K=3, seed=42)
    with pytest.raises(ValueError, match="K=3 must be >= C=4"):
        group_neighbours(x, y, gridsize=2, n_groups=10, K=3)
    tx, ty = np.array([0.0, 1.0, 0.0, 1.0, 0.5]), np.array([0.0, 0.0, 1.0, 1.0, 0.5])
    tiny = group_neighbours(tx, ty, gridsize=2, n_groups=3, K=4, seed=42).indices
    assert tiny.shape == (3, 4) and all(len(set(g)) == 4 for g in tiny)
    small_pool = group_neighbours(tx, ty, gridsize=2, n_groups=3, K=6, seed=42).indices  # K >= M: whole scan
    assert small_pool.shape == (3, 4) and all(len(set(g)) == 4 for g in small_pool)
    with pytest.raises(ValueError, match="only 5 points but 9 coordinates"):
        group_neighbours(tx, ty, gridsize=3, n_groups=3, K=9)
    with pytest.raises(ValueError, match="n_groups must be a positive integer"):
        group_neighbours(x, y, gridsize=1, n_groups=0)
    with pytest.raises(ValueError, match="gridsize must be a positive integer"):
        group_neighbours(x, y, gridsize=0, n_groups=2)
    with pytest.raises(ValueError, match="n_groups must be a positive integer"):
        group_neighbours(x, y, gridsize=1, n_groups=2.5)


def test_oversampling_guards_and_cap(caplog):
    x, y = scattered()
    assert group_neighbours(x, y, gridsize=2, n_groups=50, K=4, seed=42).indices.shape == (50, 4)
    with pytest.raises(ValueError) as info:
        group_neighbours(x, y, gridsize=2, n_groups=200, K=7, seed=42)
    assert "OVERSAMPLING-001" in str(info.value) and "enable_oversampling" in str(info.value)
    assert "K choose C oversampling" in str(info.value)
    with pytest.raises(ValueError) as info:
        group_neighbours(x, y, gridsize=2, n_groups=200, K=4, seed=42, oversampling=True, pool_size=3)
    assert "neighbor_pool_size >= C" in str(info.value) and "OVERSAMPLING-001" in str(info.value)
    for K in (5, 7):
        groups = group_neighbours(x, y, gridsize=2, n_groups=150, K=K, seed=42, oversampling=True, pool_size=K)
        assert groups.indices.shape == (150, 4) and groups.relative.shape == (150, 1, 2, 4)
    a = group_neighbours(x, y, gridsize=2, n_groups=200, K=7, seed=123, oversampling=True).indices
    b = group_neighbours(x, y, gridsize=2, n_groups=200, K=7, seed=123, oversampling=True).indices
    c = group_neighbours(x, y, gridsize=2, n_groups=200, K=7, seed=456, oversampling=True).indices
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        capped = group_neighbours(x, y, gridsize=1, n_groups=150, K=7, seed=42)
    assert capped.indices.shape == (100, 1) and "only 100 points" in caplog.text


# ----------------------------------------------------------------------------------------------- coordinates
def test_coords_sign_convention():
    x = np.array([0.0, 4.0, 0.0, 4.0, 10.0])
    y = np.array([0.0, 0.0, 2.0, 2.0, 10.0])
    coords = group_coordinates(x, y, np.array([[0, 1, 2, 3]], np.int32))
    assert coords.shape == (1, 1, 2, 4) and coords.dtype == np.float64
    np.testing.assert_array_equal(coords[0, 0], [[0.0, 4.0, 0.0, 4.0], [0.0, 0.0, 2.0, 2.0]])
    offsets, relative = relative_coordinates(coords)
    np.testing.assert_array_equal(offsets[0, 0, :, 0], [2.0, 1.0])
    # relative = -(coords - mean): model position input = group centre - position
    assert LOCAL_OFFSET_SIGN == -1
    np.testing.assert_array_equal(relative[0, 0], [[2.0, -2.0, 2.0, -2.0], [1.0, 1.0, -1.0, -1.0]])
    np.testing.assert_array_equal(relative, -(coords - offsets))
    with pytest.raises(ValueError, match=r"\(M, 1, 2, C\)"):
        relative_coordinates(np.zeros((2, 2, 4)))


def test_groups_carry_the_coordinates_of_their_indices():
    x, y = grid(10)
    groups = group_neighbours(x, y, gridsize=2, n_groups=12, K=7, seed=3)
    assert len(groups) == 12
    np.testing.assert_array_equal(groups.coords[:, 0, 0, :], x[groups.indices])
    np.testing.assert_array_equal(groups.coords[:, 0, 1, :], y[groups.indices])
    np.testing.assert_array_equal(groups.offsets, groups.coords.mean(axis=3, keepdims=True))
    np.testing.assert_array_equal(groups.relative, groups.offsets - groups.coords)
    # each group: C distinct indices among the seed's 7 nearest neighbours (distance <= 2 on a unit grid)
    for group in groups.indices:
        assert len(set(group)) == 4
        pts = np.stack([x[group], y[group]], 1)
        assert np.max(np.linalg.norm(pts - pts.mean(0), axis=1)) < 2 * np.sqrt(7)


def test_subsample_rows_is_the_originals_sorted_choice():
    np.random.seed(11)
    want = np.sort(np.random.choice(np.arange(40), size=7, replace=False))
    np.testing.assert_array_equal(subsample_rows(40, 7, 11), want)
    rng = np.random.RandomState(11)
    np.testing.assert_array_equal(subsample_rows(40, 7, rng), want)
    assert not np.array_equal(subsample_rows(40, 7, rng), want)  # a RandomState is advanced in place
    np.testing.assert_array_equal(subsample_rows(5, None), np.arange(5))
    np.testing.assert_array_equal(subsample_rows(5, 9, 0), np.arange(5))
    with pytest.raises(ValueError, match="points to keep"):
        subsample_rows(5, 0)
