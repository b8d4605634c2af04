"""ptycho.diffsim: Poisson observation, photon scaling, diffraction and ``illuminate_and_diffract`` (§12.1-12.2).

Tolerances: float32 diffraction to 2e-6 relative; scale factors to 1e-6 relative; the photon-count statistic
(mean over patterns of Σ(X·s)², expected ``nphotons``) to 1 % (Poisson std here is ~0.02 %).
"""

import numpy as np
import pytest

from ptycho import diffsim, params
from ptycho_testing import reference as ref
from ptycho_testing.arrays import assert_close

RNG = np.random.default_rng(99)


@pytest.fixture(autouse=True)
def restore_global_rng():
    state = np.random.get_state()
    yield
    np.random.set_state(state)


def _objects(n, size):
    amp = (0.5 + RNG.random((n, size, size, 1))).astype(np.float32)
    phase = RNG.uniform(-np.pi, np.pi, (n, size, size, 1)).astype(np.float32)
    return amp, phase


def test_observe_amplitude_uses_numpy_legacy_rng():
    a = (3.0 * RNG.random((4, 8, 8, 1))).astype(np.float32)
    np.random.seed(5)
    first = diffsim.observe_amplitude(a)
    np.random.seed(5)
    second = diffsim.observe_amplitude(a)
    np.random.seed(5)
    expected = np.sqrt(np.random.poisson(np.square(a)).astype(np.float32))
    assert first.dtype == np.float32 and first.shape == a.shape
    np.testing.assert_array_equal(first, second)
    np.testing.assert_array_equal(first, expected)


def test_count_photons_and_scale_nphotons():
    params.cfg["nphotons"] = 1e6
    a = RNG.random((6, 10, 10, 2)).astype(np.float32)
    counts = diffsim.count_photons(a)
    assert counts.shape == (6, 2)
    np.testing.assert_allclose(counts, np.sum(a.astype(np.float64) ** 2, axis=(1, 2)), rtol=1e-6)
    s = diffsim.scale_nphotons(a)
    assert isinstance(s.numpy(), np.float32)  # original callers do scale_nphotons(X).numpy()
    assert float(s) == pytest.approx(ref.simulation_scale(a, 1e6), rel=1e-6)
    assert isinstance(s * 2, np.float32)
    assert float(np.mean(diffsim.count_photons(a * s))) == pytest.approx(1e6, rel=1e-5)


def test_diffract_obj_uses_cfg_n():
    params.cfg["N"] = 16
    psi = (RNG.standard_normal((3, 16, 16, 1)) + 1j * RNG.standard_normal((3, 16, 16, 1))).astype(np.complex64)
    amp = diffsim.diffract_obj(psi, draw_poisson=False)
    assert isinstance(amp, np.ndarray) and amp.dtype == np.float32
    assert_close(amp, ref.pad_and_diffract(psi), 2e-6, "diffract_obj")
    np.random.seed(1)
    noisy = diffsim.diffract_obj(psi * 10)
    np.random.seed(1)
    np.testing.assert_array_equal(
        noisy,
        np.sqrt(np.random.poisson(np.square(ref.pad_and_diffract(psi * 10).astype(np.float32))).astype(np.float32)),
    )
    params.cfg["N"] = 32
    with pytest.raises(ValueError, match="shape"):
        diffsim.diffract_obj(psi)


def test_illuminate_and_diffract_gridsize1_photon_budget():
    params.cfg.update(N=32, gridsize=1, nphotons=1e6)
    amp, phase = _objects(24, 32)
    probe = (ref.default_probe(32) * np.exp(0.2j)).astype(np.complex64)
    np.random.seed(0)
    X, Y_I, Y_phi, s = diffsim.illuminate_and_diffract(amp, phase, probe)
    assert X.shape == Y_I.shape == Y_phi.shape == (24, 32, 32, 1)
    assert X.dtype == np.float32 and Y_I.dtype == np.float32
    assert isinstance(s, np.float32)
    assert float(s) == pytest.approx(ref.simulation_scale(amp * np.abs(probe)[None, ..., None], 1e6), rel=1e-6)
    photons = float(np.mean(np.sum((X.astype(np.float64) * s) ** 2, axis=(1, 2))))
    assert photons == pytest.approx(1e6, rel=1e-2)
    assert_close(Y_I, amp * np.abs(probe)[None, ..., None], 1e-6, "Y_I is the illuminated amplitude")
    np.testing.assert_array_equal(Y_phi, phase)  # the pre-illumination phase, unchanged
    np.random.seed(0)
    X2, *_ = diffsim.illuminate_and_diffract(amp, phase, probe[..., None])
    np.testing.assert_array_equal(X, X2)  # (N, N, 1) probe, same seed → same counts


def test_illuminate_and_diffract_gridsize2_channel_layout_and_given_scale():
    params.cfg.update(N=16, gridsize=2, nphotons=1e5)
    amp, phase = _objects(8, 16)
    probe = ref.default_probe(16).astype(np.complex64)
    X, Y_I, Y_phi, s = diffsim.illuminate_and_diffract(amp, phase, probe, intensity_scale=7.0)
    assert float(s) == 7.0
    assert X.shape == Y_I.shape == Y_phi.shape == (2, 16, 16, 4)
    expected_I = ref.grid_to_channel(ref.to_grid(amp * np.abs(probe)[None, ..., None], 2))
    assert_close(Y_I, expected_I, 1e-6, "channel layout of Y_I")
    np.testing.assert_array_equal(Y_phi, ref.grid_to_channel(ref.to_grid(phase, 2)))


def test_illuminate_and_diffract_rejects_bad_probe_and_inputs():
    params.cfg.update(N=16, gridsize=1)
    amp, phase = _objects(2, 16)
    for bad in (np.ones((16, 8), np.complex64), np.ones((16, 16, 2), np.complex64), np.ones((16,), np.complex64)):
        with pytest.raises(ValueError, match="probe"):
            diffsim.illuminate_and_diffract(amp, phase, bad)
    with pytest.raises(ValueError, match="Y_I"):
        diffsim.illuminate_and_diffract(amp[..., 0], phase[..., 0], np.ones((16, 16), np.complex64))
