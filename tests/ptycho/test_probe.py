"""ptycho.probe: default probe, mask, normalisation into cfg, probe guesses (incl. Ptychodus mode stacks).

Reference numbers are the original's (ORIGINAL_PHYSICS §4); arrays are compared with SciPy/NumPy references
(ptycho_testing.reference). Tolerances: float64 probe construction to 1e-12 absolute; complex64 normalisation to
1e-6 relative; the original's printed numbers to their printed precision.
"""

import logging

import numpy as np
import pytest

from ptycho import params, probe
from ptycho._host import HostArray
from ptycho_testing import reference as ref
from ptycho_testing.arrays import assert_close


def test_lowpass_filter_is_scipy_window():
    import scipy.signal.windows

    w = scipy.signal.windows.gaussian(64, std=64 / (0.7 * np.pi**2), sym=True)
    np.testing.assert_allclose(probe.get_lowpass_filter(0.7, 64), w / w.max(), rtol=0, atol=1e-15)


def test_default_probe_original_numbers_n64():
    p = probe.get_default_probe(64, fmt="np")
    assert isinstance(p, np.ndarray) and p.dtype == np.float64 and p.shape == (64, 64)
    np.testing.assert_allclose(p, ref.default_probe(64), rtol=0, atol=1e-12)
    assert p.sum() == pytest.approx(376.000004, abs=1e-6)
    assert p.max() == pytest.approx(1.0, abs=1e-8)  # 1 + the 1e-9 floor
    assert int((p > 0.5).sum()) == 376


def test_default_probe_tf_format_and_errors():
    t = probe.get_default_probe(64)  # fmt='tf'
    assert isinstance(t, HostArray) and t.dtype == np.complex64 and t.shape == (64, 64, 1)
    np.testing.assert_allclose(t.numpy()[..., 0].real, ref.default_probe(64), rtol=0, atol=1e-6)
    assert np.all(t.imag == 0)
    with pytest.raises(ValueError, match="format"):
        probe.get_default_probe(64, fmt="torch")


def test_default_probe_scale_comes_from_cfg():
    params.cfg["default_probe_scale"] = 0.5
    np.testing.assert_allclose(probe.get_default_probe(32, "np"), ref.default_probe(32, 0.5), rtol=0, atol=1e-12)


@pytest.mark.parametrize("n, count", [(64, 812), (128, 3228), (256, 12892)])
def test_probe_masks(n, count):
    real = probe.get_probe_mask_real(n)
    assert real.dtype == bool and real.shape == (n, n, 1) and int(real.sum()) == count
    np.testing.assert_array_equal(real[..., 0], ref.probe_mask(n))
    cmask = probe.get_probe_mask(n)
    assert cmask.dtype == np.complex64 and cmask.shape == (n, n, 1) and cmask.real.sum() == count


def test_squared_distance_is_the_distance():
    u = np.arange(16) - 8 + 0.5
    x, y = np.meshgrid(u, u)
    np.testing.assert_allclose(probe.get_squared_distance(16), np.sqrt(x * x + y * y), rtol=0, atol=1e-12)


def test_set_probe_normalises_default_probe_like_the_original():
    params.cfg.update(N=64, probe_scale=4.0)
    probe.set_probe(probe.get_default_probe(64))
    stored = params.cfg["probe"]
    assert isinstance(stored, HostArray) and stored.dtype == np.complex64 and stored.shape == (64, 64, 1)
    assert float(np.abs(stored).max()) == pytest.approx(2.7234, abs=1e-4)
    mask = ref.probe_mask(64)[..., None]
    assert float(np.mean(np.abs(mask * stored))) == pytest.approx(0.25, rel=1e-6)
    assert_close(
        stored, ref.normalize_probe(ref.default_probe(64).astype(np.complex64)[..., None], 4.0), 1e-6, "set_probe"
    )
    assert probe.get_probe(params).shape == (64, 64, 1)
    np.testing.assert_array_equal(probe.to_np(stored), np.asarray(stored)[:, :, 0])


def test_set_default_probe_uses_cfg_n_and_scale():
    params.cfg.update(N=128, probe_scale=4.0)
    probe.set_default_probe()
    stored = params.cfg["probe"]
    assert stored.shape == (128, 128, 1)
    assert float(np.abs(stored).max()) == pytest.approx(2.7307, abs=1e-4)
    params.cfg = dict(params.DEFAULT_CFG, N=32)  # a rebound cfg is what gets read and written
    probe.set_default_probe()
    assert params.cfg["probe"].shape == (32, 32, 1)
    mask = ref.probe_mask(32)[..., None]
    assert float(np.mean(np.abs(mask * params.cfg["probe"]))) == pytest.approx(1 / 10.0, rel=1e-6)


def test_set_probe_shapes():
    params.cfg.update(N=16, probe_scale=4.0)
    p = (np.ones((16, 16, 1, 1)) * (1 + 1j)).astype(np.complex64)
    probe.set_probe(p)
    assert params.cfg["probe"].shape == (16, 16, 1)
    with pytest.raises(ValueError, match="cfg\\['N'\\] = 16"):
        probe.set_probe(np.ones((32, 32, 1), np.complex64))
    with pytest.raises(ValueError, match="shape"):
        probe.set_probe(np.ones((16, 8, 1), np.complex64))
    with pytest.raises(ValueError, match="shape"):
        probe.set_probe(np.ones((16, 16), np.complex64))


def test_set_probe_guess_with_given_probe_returns_unnormalised():
    params.cfg.update(N=32, probe_scale=4.0)
    guess = (ref.default_probe(32) * np.exp(0.3j)).astype(np.complex64)
    out = probe.set_probe_guess(None, guess)
    assert out.dtype == np.complex64 and out.shape == (32, 32, 1)
    np.testing.assert_array_equal(np.asarray(out)[..., 0], guess)
    assert_close(params.cfg["probe"], ref.normalize_probe(guess[..., None], 4.0), 1e-6, "normalised guess")
    out3 = probe.set_probe_guess(probe_guess=guess[..., None])
    np.testing.assert_array_equal(np.asarray(out3), guess[..., None])


def test_set_probe_guess_accepts_mode_stack_with_warning(caplog):
    params.cfg.update(N=64, probe_scale=4.0)
    modes = np.stack([ref.default_probe(64) * s for s in (1.0, 0.5, 0.25)]).astype(np.complex64)
    with caplog.at_level(logging.WARNING, logger="ptycho_core.data.scan"):
        out = probe.set_probe_guess(None, modes)
    assert out.shape == (64, 64, 1)
    np.testing.assert_array_equal(np.asarray(out)[..., 0], modes[0])
    warnings = [r for r in caplog.records if r.name == "ptycho_core.data.scan" and r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "mode" in warnings[0].getMessage() and "3" in warnings[0].getMessage()
    assert params.cfg["probe"].shape == (64, 64, 1)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="ptycho_core.data.scan"):
        single = probe.set_probe_guess(None, modes[:1])  # (1, N, N): nothing ignored, no warning
    np.testing.assert_array_equal(np.asarray(single)[..., 0], modes[0])
    assert not [r for r in caplog.records if r.name == "ptycho_core.data.scan"]


@pytest.mark.parametrize("shape", [(64,), (1, 64, 64, 1), (2, 1, 64, 64)])
def test_set_probe_guess_rejects_wrong_ndim(shape):
    params.cfg["N"] = 64
    with pytest.raises(ValueError, match="probe_guess must have 2 or 3 dimensions"):
        probe.set_probe_guess(None, np.ones(shape, np.complex64))


def test_set_probe_guess_estimates_from_data():
    params.cfg.update(N=32, probe_scale=4.0)
    X = np.abs(np.random.default_rng(7).standard_normal((5, 32, 32, 1))).astype(np.float32) + 0.1
    X[:, 12:20, 12:20] += 3.0
    out = probe.set_probe_guess(X, None)
    assert out.dtype == np.float32 and out.shape == (32, 32, 1)
    np.testing.assert_allclose(np.asarray(out), ref.estimate_probe(X, 32), rtol=1e-6, atol=1e-7)
    assert params.cfg["probe"].dtype == np.complex64
    assert_close(params.cfg["probe"], ref.normalize_probe(ref.estimate_probe(X, 32), 4.0), 1e-6, "estimated")
    with pytest.raises(ValueError, match="X_train"):
        probe.set_probe_guess()
