"""ptycho_core.simulation.dataset: patches, noise-free and Poisson diffraction, NPZ writing, the default dataset.

References (NumPy, written here or in ptycho_testing.reference, nothing from ptycho_core):
* patch ``(r, q) = O(r + y − N/2, q + x − N/2)`` by float64 bilinear interpolation, and independently by
  ``reference.translate`` of the whole object by ``−(position − N/2)`` (the construction of
  ``ptycho_testing.simulate``);
* amplitude ``= s·sqrt(fftshift(|FFT2(P·patch)|²)/N²)`` (``reference.pad_and_diffract``) with
  ``s = sqrt(nphotons / mean Σ A²)``.
Poisson statistics: standardised residuals of repeated identical patterns have mean ≈ 0 and variance ≈ 1.
Round trip: the NPZ loads with ``RawData.from_file``, and ``generate_grouped_data`` + ``loader.load`` give X equal
to the normalised patterns and ground-truth patches equal to :func:`object_patches`.
"""

import os
import time

import numpy as np
import pytest
from keras import ops

from ptycho_core.physics.probe import curved_probe, default_probe
from ptycho_core.simulation import (
    NPZ_KEYS,
    OutputExistsError,
    default_dataset,
    diffraction_amplitude,
    lines_object,
    object_patches,
    random_scan,
    save_npz,
    simulate,
    simulate_dataset,
    spiral_scan,
)
from ptycho_testing import reference as ref
from ptycho_testing.arrays import assert_close

N = 32


@pytest.fixture(scope="module")
def scene():
    obj = lines_object(96, 3, phase="tanh")
    probe = default_probe(N).astype(np.complex64)
    positions = random_scan(obj.shape, N, 40, 1)
    positions[:3] = [[40.0, 50.0], [16.0, 16.0], [80.0, 80.0]]  # integer positions, both extreme corners
    return obj, probe, positions


def patches_reference(obj, positions, n):
    """float64 bilinear: patch(r, q) = obj(r + y - n/2, q + x - n/2), zero outside."""
    padded = np.pad(obj.astype(np.complex128), ((0, 1), (0, 1)))
    out = []
    for x, y in positions:
        rows = np.arange(n) + y - n / 2
        cols = np.arange(n) + x - n / 2
        r0, c0 = np.floor(rows).astype(int), np.floor(cols).astype(int)
        wr, wc = (rows - r0)[:, None], (cols - c0)[None, :]
        g = lambda r, c: padded[np.ix_(r, c)]
        out.append(
            (1 - wr) * (1 - wc) * g(r0, c0)
            + (1 - wr) * wc * g(r0, c0 + 1)
            + wr * (1 - wc) * g(r0 + 1, c0)
            + wr * wc * g(r0 + 1, c0 + 1)
        )
    return np.array(out)


def amplitude_reference(obj, probe, positions, nphotons):
    psi = patches_reference(obj, positions, probe.shape[0]) * probe[None]
    amp = ref.pad_and_diffract(psi[..., None])[..., 0].astype(np.float64)
    s = np.sqrt(nphotons / np.mean(np.sum(amp**2, axis=(1, 2))))
    return s * amp


# ----------------------------------------------------------------------------------------------- forward model
def test_object_patches_match_bilinear_reference(scene):
    obj, _, positions = scene
    got = object_patches(obj, positions, N)
    assert got.shape == (len(positions), N, N) and got.dtype == np.complex64
    assert_close(got, patches_reference(obj, positions, N), 2e-6, "object_patches")
    # the construction of ptycho_testing.simulate: translate the object by -(c - N/2), keep the top-left N x N
    shifted = ref.translate(np.repeat(obj[None, ..., None], len(positions), 0), -(positions - N / 2))
    assert_close(got, shifted[:, :N, :N, 0], 2e-5, "object_patches vs reference.translate")
    # integer positions are exact copies of the object window; pixel (N/2, N/2) is object pixel (row y, col x)
    np.testing.assert_array_equal(got[0], obj[50 - N // 2 : 50 + N // 2, 40 - N // 2 : 40 + N // 2])
    np.testing.assert_array_equal(got[1], obj[:N, :N])
    np.testing.assert_array_equal(got[2], obj[-N:, -N:])


def test_position_order_is_x_column_y_row():
    obj = np.zeros((80, 100), np.complex64)
    obj[30, 70] = 1.0  # row 30, column 70
    patch = object_patches(obj, [[70.0, 30.0]], N)[0]
    assert patch[N // 2, N // 2] == 1.0 and np.sum(np.abs(patch)) == 1.0
    half = object_patches(obj, [[69.5, 30.0]], N)[0]  # x + 0.5: the pixel sits half a column right of centre
    np.testing.assert_allclose(half[N // 2, N // 2 : N // 2 + 2], [0.5, 0.5])


def test_noise_free_amplitude_matches_numpy_fft(scene):
    obj, probe, positions = scene
    got = simulate(obj, probe, positions, 1e6, seed=None, poisson=False)
    expected = amplitude_reference(obj, probe, positions, 1e6)
    assert got.shape == (len(positions), N, N) and got.dtype == np.float32
    assert_close(got, expected, 2e-6, "noise-free amplitude")
    np.testing.assert_allclose(np.mean(np.sum(got.astype(np.float64) ** 2, axis=(1, 2))), 1e6, rtol=1e-6)
    unit = diffraction_amplitude(obj, probe, positions)
    energy = np.sum(np.abs(patches_reference(obj, positions, N) * probe[None]) ** 2, axis=(1, 2))
    np.testing.assert_allclose(np.sum(unit.astype(np.float64) ** 2, axis=(1, 2)), energy, rtol=2e-6)  # Parseval
    assert np.unravel_index(np.argmax(unit[0]), unit[0].shape) == (N // 2, N // 2)  # zero frequency at centre


def test_poisson_statistics():
    obj = lines_object(64, 2)
    probe = default_probe(N).astype(np.complex64)
    positions = np.tile([[32.3, 31.6]], (256, 1))  # 256 repeats of one pattern
    nphotons = 2e5
    amp = simulate(obj, probe, positions, nphotons, seed=5)
    counts = amp.astype(np.float64) ** 2
    np.testing.assert_allclose(counts, np.round(counts), atol=2e-3)  # sqrt of integer counts
    lam = amplitude_reference(obj, probe, positions[:1], nphotons)[0] ** 2
    assert abs(counts.sum(axis=(1, 2)).mean() / nphotons - 1) < 0.01
    bright = lam > 5
    z = (counts[:, bright] - lam[bright]) / np.sqrt(lam[bright])
    assert abs(z.mean()) < 0.02 and abs(z.var() - 1) < 0.03, (z.mean(), z.var())


def test_seeded_reproducibility(scene):
    obj, probe, positions = scene
    state = np.random.get_state()
    a = simulate(obj, probe, positions, 1e5, seed=3)
    b = simulate(obj, probe, positions, 1e5, seed=np.random.default_rng(3))
    c = simulate(obj, probe, positions, 1e5, seed=4)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    after = np.random.get_state()
    assert np.array_equal(state[1], after[1]) and state[2:] == after[2:], "the global NumPy RNG was used"


def test_many_positions_cross_chunks(scene, monkeypatch):
    obj, probe, _ = scene
    import ptycho_core.simulation.forward as forward

    positions = spiral_scan(obj.shape, N, 37, jitter=0.7, rng=2)
    whole = simulate(obj, probe, positions, 1e4, seed=None, poisson=False)
    monkeypatch.setattr(forward, "_CHUNK_PIXELS", 8 * (N + 2) ** 2)  # chunks of 8 (last one padded)
    np.testing.assert_allclose(simulate(obj, probe, positions, 1e4, seed=None, poisson=False), whole, rtol=1e-6)


# ----------------------------------------------------------------------------------------------- bad arguments
def test_bad_arguments_raise_value_errors(scene):
    obj, probe, positions = scene
    bad_obj = obj.copy()
    bad_obj[5, 5] = np.nan
    bad_probe = probe.copy()
    bad_probe[0, 0] = np.inf
    cases = [
        (dict(probe=np.ones((30, 30), np.complex64)), "multiple of 4"),
        (dict(probe=np.ones((12, 12), np.complex64)), "at least 16"),
        (dict(probe=np.ones((32, 28), np.complex64)), "square"),
        (dict(probe=np.zeros((32, 32), np.complex64)), "zero everywhere"),
        (dict(probe=bad_probe), "probe contains NaN"),
        (dict(obj=bad_obj), "object contains NaN"),
        (dict(obj=obj[:20, :]), "smaller than the probe"),
        (dict(nphotons=0), "nphotons"),
        (dict(nphotons=-5.0), "nphotons"),
        (dict(nphotons=float("nan")), "nphotons"),
        (dict(nphotons=float("inf")), "nphotons"),
        (dict(positions=[[40.0, np.nan]]), "positions contain NaN"),
        (dict(positions=np.zeros((0, 2))), "empty"),
        (dict(positions=np.zeros((3, 3))), r"shape \(n, 2\)"),
        (dict(positions=[[15.0, 40.0]]), "outside the object"),
        (dict(positions=[[40.0, 80.5]]), "outside the object"),
        (dict(seed=None), "seed"),
    ]
    base = dict(obj=obj, probe=probe, positions=positions, nphotons=1e4, seed=0)
    for change, message in cases:
        with pytest.raises(ValueError, match=message):
            simulate(**{**base, **change})


# ----------------------------------------------------------------------------------------------- NPZ
@pytest.fixture
def compat_state():
    """RawData / loader may read the original's global params; restore them and the global RNG afterwards."""
    from ptycho import params

    saved, state = dict(params.cfg), np.random.get_state()
    yield
    params.cfg.clear()
    params.cfg.update(saved)
    np.random.set_state(state)


def test_save_npz_schema_and_round_trip_through_rawdata_and_loader(scene, tmp_path, compat_state):
    from ptycho import loader
    from ptycho.raw_data import RawData

    obj, probe, positions = scene
    data = simulate_dataset(obj, probe, positions, 1e6, seed=7, metadata={"note": "test"})
    path = data.save_npz(tmp_path / "sim.npz")
    assert sorted(os.listdir(tmp_path)) == ["sim.npz"]
    with np.load(path, allow_pickle=False) as f:
        assert set(f.files) == set(NPZ_KEYS) | {"_metadata"}
        assert f["diff3d"].dtype == np.float32 and f["diff3d"].shape == (len(positions), N, N)
        for key in ("xcoords", "ycoords", "xcoords_start", "ycoords_start"):
            assert f[key].dtype == np.float64 and f[key].shape == (len(positions),)
        np.testing.assert_array_equal(f["xcoords"], positions[:, 0])
        np.testing.assert_array_equal(f["ycoords_start"], positions[:, 1])
        assert f["probeGuess"].dtype == np.complex64 and f["probeGuess"].shape == (N, N)
        assert f["objectGuess"].dtype == np.complex64 and f["objectGuess"].shape == obj.shape
        assert f["scan_index"].dtype == np.int64 and not f["scan_index"].any()
        np.testing.assert_array_equal(f["diff3d"], data.diffraction)

    raw = RawData.from_file(str(path))
    assert raw.metadata["physics_parameters"] == {"nphotons": 1e6, "N": N, "gridsize": 1}
    assert raw.metadata["simulation"]["seed"] == 7 and raw.metadata["simulation"]["note"] == "test"
    dset = raw.generate_grouped_data(N, K=4, nsamples=len(positions), sequential_sampling=True, gridsize=1)
    container = loader.load(lambda: dset, raw.probeGuess, which=None, create_split=False)
    X = np.asarray(ops.convert_to_numpy(container.X))
    idx = np.asarray(dset["nn_indices"])[:, 0]
    d = data.diffraction.astype(np.float64)
    factor = np.sqrt((N / 2) ** 2 / np.mean(np.sum(d**2, axis=(1, 2))))
    assert X.shape == (len(positions), N, N, 1)
    assert_close(X[..., 0], factor * d[idx], 1e-6, "loader X vs simulated patterns")
    Y = np.asarray(ops.convert_to_numpy(container.Y))[..., 0]  # RawData cuts these from objectGuess itself
    assert_close(Y, object_patches(obj, positions, N)[idx], 2e-5, "RawData ground-truth patches")


def test_save_npz_refuses_to_overwrite_and_is_atomic(scene, tmp_path, monkeypatch):
    obj, probe, positions = scene
    amp = simulate(obj, probe, positions, 1e4, seed=1)
    path = tmp_path / "out.npz"
    save_npz(path, amp, positions, probe, obj)
    before = path.read_bytes()
    with pytest.raises(ValueError, match="already exists"):
        save_npz(path, amp * 2, positions, probe, obj)
    with pytest.raises(FileExistsError):
        save_npz(path, amp * 2, positions, probe, obj)
    assert issubclass(OutputExistsError, ValueError)
    assert path.read_bytes() == before
    save_npz(path, amp * 2, positions, probe, obj, overwrite=True)
    with np.load(path) as f:
        np.testing.assert_array_equal(f["diff3d"], amp * 2)
        assert "_metadata" not in f.files

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(np, "savez", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        save_npz(tmp_path / "new.npz", amp, positions, probe, obj)
    with pytest.raises(RuntimeError, match="disk full"):
        save_npz(path, amp, positions, probe, obj, overwrite=True)
    monkeypatch.undo()
    assert sorted(os.listdir(tmp_path)) == ["out.npz"]  # no partial file, no temporary left behind
    with np.load(path) as f:
        np.testing.assert_array_equal(f["diff3d"], amp * 2)


def test_save_npz_bad_arguments(scene, tmp_path):
    obj, probe, positions = scene
    amp = simulate(obj, probe, positions, 1e4, seed=1)
    with pytest.raises(ValueError, match=r"diffraction must have shape \(n, N, N\)"):
        save_npz(tmp_path / "a.npz", amp[:-1], positions, probe, obj)
    with pytest.raises(ValueError, match="finite"):
        save_npz(tmp_path / "a.npz", np.full_like(amp, np.nan), positions, probe, obj)
    with pytest.raises(ValueError, match="scan_index"):
        save_npz(tmp_path / "a.npz", amp, positions, probe, obj, scan_index=np.zeros(3, int))
    with pytest.raises(ValueError, match="directory"):
        save_npz(tmp_path, amp, positions, probe, obj, overwrite=True)
    assert os.listdir(tmp_path) == []


# ----------------------------------------------------------------------------------------------- default dataset
def test_default_dataset_is_small_fast_and_reproducible():
    start = time.perf_counter()
    data = default_dataset()
    elapsed = time.perf_counter() - start
    print(f"default_dataset: {elapsed:.2f} s")
    assert elapsed < 30.0
    assert data.N == 64 and data.diffraction.shape == (306, 64, 64) and data.diffraction.dtype == np.float32
    assert data.object.shape == (224, 224) and data.object.dtype == np.complex64
    assert data.probe.dtype == np.complex64
    np.testing.assert_allclose(data.probe, default_probe(64))
    pos = data.positions
    assert pos.dtype == np.float64 and np.all(pos >= 33) and np.all(pos <= 224 - 34)
    mean_counts = np.mean(np.sum(data.diffraction.astype(np.float64) ** 2, axis=(1, 2)))
    assert abs(mean_counts / 1e9 - 1) < 1e-3
    np.testing.assert_array_equal(default_dataset().diffraction, data.diffraction)
    other = default_dataset(
        seed=1, N=32, n_positions=50, nphotons=1e4, object_kind="grf", phase="tanh", scan="spiral", jitter=0.5
    )
    assert other.diffraction.shape == (50, 32, 32) and other.metadata["simulation"]["object_kind"] == "grf"
    curved = default_dataset(seed=1, N=32, n_positions=50, probe_curvature=2.0)
    np.testing.assert_allclose(curved.probe, curved_probe(default_probe(32), 2.0).astype(np.complex64))
    assert curved.metadata["simulation"]["probe"] == "default_probe, curvature 2 rad"
    with pytest.raises(ValueError, match="multiple of 4"):
        default_dataset(N=62)
    with pytest.raises(ValueError, match="unknown object kind"):
        default_dataset(object_kind="points")
