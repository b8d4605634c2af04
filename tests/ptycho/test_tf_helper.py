"""ptycho.tf_helper adapters against the independent NumPy reference, cfg fallbacks, and stitching parity.

Tolerances: float32 geometry (translation, extraction, layout) to 1e-6 relative (max-norm, ptycho_testing.arrays);
diffraction to 2e-6 relative; stitching to 1e-6 absolute against the original's TF output.
"""

import pathlib

import numpy as np
import pytest
from keras import ops

from ptycho import params
from ptycho import tf_helper as hh
from ptycho._host import HostArray
from ptycho_testing import reference as ref
from ptycho_testing.arrays import assert_close, to_numpy

FIXTURE = pathlib.Path(__file__).resolve().parents[1] / "fixtures" / "legacy_tf_gs1" / "expected.npz"
RNG = np.random.default_rng(20240521)


def _complex(*shape):
    return (RNG.standard_normal(shape) + 1j * RNG.standard_normal(shape)).astype(np.complex64)


# ------------------------------------------------------------------------------------------- translation
def test_translate_matches_reference_real_and_complex():
    imgs = RNG.standard_normal((6, 17, 19, 2)).astype(np.float32)
    offs = RNG.uniform(-4, 4, (3, 2)).astype(np.float32)  # modular broadcast: image i uses row i % 3
    assert_close(to_numpy(hh.translate(imgs, offs)), ref.translate(imgs, offs), 1e-6, "real translate")
    z = _complex(4, 16, 16, 1)
    out = to_numpy(hh.translate(z, offs[:2], interpolation="bilinear"))
    assert out.dtype == np.complex64
    assert_close(out, ref.translate(z, offs[:2]), 1e-6, "complex translate")


def test_translate_direction_is_canonical_whatever_the_xla_switch(monkeypatch):
    img = np.zeros((1, 8, 8, 1), np.float32)
    img[0, 3, 2, 0] = 1.0
    shift = np.array([[1.0, 2.0]], np.float32)  # +1 column, +2 rows
    params.cfg["use_xla_translate"] = False
    monkeypatch.setenv("USE_XLA_TRANSLATE", "0")
    assert hh.should_use_xla() is False
    for out in (
        hh.translate(img, shift, use_xla_workaround=False),
        hh.translate_core(img, shift),
        hh.translate(img, shift, use_xla_workaround=True),
    ):
        out = to_numpy(out)
        assert out[0, 5, 3, 0] == 1.0 and out.sum() == 1.0  # the original's non-XLA path moved it the other way


def _nearest_np(imgs: np.ndarray, offs: np.ndarray) -> np.ndarray:
    """The original's nearest mode in NumPy: sample at (y - dy, x - dx), round half to even, 0 outside."""
    n, h, w, _ = imgs.shape
    t = offs[np.arange(n) % len(offs)].astype(np.float32)
    sx = np.arange(w, dtype=np.float32)[None, None, :] - t[:, 0, None, None]  # (n, 1, w)
    sy = np.arange(h, dtype=np.float32)[None, :, None] - t[:, 1, None, None]  # (n, h, 1)
    inside = (sx >= 0) & (sx <= w - 1) & (sy >= 0) & (sy <= h - 1)
    ix = np.clip(np.rint(sx), 0, w - 1).astype(int)
    iy = np.clip(np.rint(sy), 0, h - 1).astype(int)
    return imgs[np.arange(n)[:, None, None], iy, ix] * inside[..., None]


def test_translate_nearest_matches_numpy_real_and_complex():
    imgs = RNG.standard_normal((5, 9, 11, 1)).astype(np.float32)
    offs = np.array([[0.5, -2.5], [1.5, 0.49], [-3.0, 1.0]], np.float32)  # half shifts round to even
    out = to_numpy(hh.translate(imgs, offs, interpolation="nearest"))
    np.testing.assert_array_equal(out, _nearest_np(imgs, offs))
    z = _complex(3, 8, 8, 1)
    out = to_numpy(hh.translate_core(z, offs, "nearest"))
    assert out.dtype == np.complex64
    np.testing.assert_array_equal(out, _nearest_np(z.real, offs) + 1j * _nearest_np(z.imag, offs))


def test_translate_rejects_other_interpolation():
    img = np.zeros((1, 4, 4, 1), np.float32)
    with pytest.raises(ValueError, match="'bilinear' or 'nearest'"):
        hh.translate(img, np.zeros((1, 2), np.float32), interpolation="bicubic")
    with pytest.raises(ValueError, match="'bilinear' or 'nearest'"):
        hh.translate_core(img, np.zeros((1, 2), np.float32), "area")


def test_translation_layer_is_the_core_layer():
    from ptycho_core.layers import Translation

    assert hh.Translation is Translation


def test_should_use_xla_reads_env_then_cfg(monkeypatch):
    monkeypatch.delenv("USE_XLA_TRANSLATE", raising=False)
    assert hh.should_use_xla() is True
    params.cfg["use_xla_translate"] = False
    assert hh.should_use_xla() is False
    params.cfg["use_xla_translate"] = True
    monkeypatch.setenv("USE_XLA_TRANSLATE", "false")
    assert hh.should_use_xla() is False


# ------------------------------------------------------------------------------------------- layout
def test_combine_complex_matches_reference():
    amp = RNG.random((2, 8, 8, 3)).astype(np.float32)
    phi = RNG.uniform(-np.pi, np.pi, (2, 8, 8, 3)).astype(np.float32)
    out = to_numpy(hh.combine_complex(amp, phi))
    assert out.dtype == np.complex64
    assert_close(out, ref.combine_complex(amp, phi), 1e-6, "combine_complex")


def test_layout_round_trips_with_cfg_fallbacks():
    params.cfg.update(N=8, gridsize=2)
    flat = RNG.standard_normal((12, 8, 8, 1)).astype(np.float32)  # B=3 groups of C=4
    grid = to_numpy(hh._togrid(flat))
    np.testing.assert_array_equal(grid, ref.to_grid(flat, 2))
    channel = to_numpy(hh._grid_to_channel(grid))
    np.testing.assert_array_equal(channel, ref.grid_to_channel(ref.to_grid(flat, 2)))
    np.testing.assert_array_equal(to_numpy(hh._fromgrid(grid)), flat)
    np.testing.assert_array_equal(to_numpy(hh._flat_to_channel(flat)), ref.flat_to_channel(flat, 4))
    np.testing.assert_array_equal(to_numpy(hh._channel_to_flat(channel)), ref.channel_to_flat(channel))
    a, b = hh.togrid(flat, 2 * flat)
    np.testing.assert_array_equal(to_numpy(b), 2 * to_numpy(a))
    (c,) = hh.grid_to_channel(grid)
    np.testing.assert_array_equal(to_numpy(c), channel)
    (f,) = hh.channel_to_flat(channel)
    np.testing.assert_array_equal(to_numpy(f), ref.channel_to_flat(channel))
    # explicit arguments override cfg
    np.testing.assert_array_equal(to_numpy(hh._flat_to_channel(flat, N=8, gridsize=1)), flat)
    assert tuple(hh._togrid(flat, gridsize=1, N=8).shape) == (12, 1, 1, 8, 8, 1)
    with pytest.raises(ValueError, match="N=16"):
        hh._flat_to_channel(flat, N=16)


def test_flatten_offsets_matches_reference():
    offs = RNG.standard_normal((3, 1, 2, 4)).astype(np.float32)
    np.testing.assert_array_equal(to_numpy(hh.flatten_offsets(offs)), ref.flatten_offsets(offs))


# ------------------------------------------------------------------------------------------- pad / trim / extract
def test_pad_patches_defaults_from_cfg_and_pad():
    params.cfg.update(N=64, gridsize=1, offset=4, max_position_jitter=10)
    x = RNG.standard_normal((2, 64, 64, 1)).astype(np.float32)
    out = to_numpy(hh.pad_patches(x))
    assert out.shape == (2, 74, 74, 1)
    np.testing.assert_array_equal(out, ref.pad_to(x, 74))
    assert to_numpy(hh.pad_patches(x, padded_size=70, N=64)).shape == (2, 70, 70, 1)
    with pytest.raises(ValueError, match="even"):
        hh.pad_patches(x, padded_size=71)
    np.testing.assert_array_equal(to_numpy(hh.pad(x, 3)), np.pad(x, ((0, 0), (3, 3), (3, 3), (0, 0))))


def test_trim_reconstruction_uses_cfg_n():
    params.cfg["N"] = 64
    x = _complex(2, 74, 74, 1)
    out = to_numpy(hh.trim_reconstruction(x))
    assert out.shape == (2, 64, 64, 1)
    np.testing.assert_array_equal(out, ref.trim(x, 64))
    assert tuple(hh.trim_reconstruction(x, N=70).shape) == (2, 70, 70, 1)


@pytest.mark.parametrize("dtype", [np.float32, np.complex64])
def test_extract_patches_position_with_cfg_fallbacks(dtype):
    params.cfg.update(N=16, gridsize=2)
    canvas = RNG.standard_normal((3, 26, 26, 1)).astype(np.float32)
    if dtype == np.complex64:
        canvas = (canvas + 1j * RNG.standard_normal(canvas.shape)).astype(np.complex64)
    offs = RNG.uniform(-4, 4, (3, 1, 2, 4)).astype(np.float32)
    out = to_numpy(hh.extract_patches_position(canvas, offs))  # N, gridsize from cfg
    assert out.shape == (12, 16, 16, 1)
    assert_close(out, ref.extract(canvas, offs, 16), 1e-6, "extract_patches_position")
    out_gs1 = to_numpy(hh.extract_patches_position(canvas, offs[..., :1], N=20, gridsize=1))
    assert_close(out_gs1, ref.extract(canvas, offs[..., :1], 20), 1e-6, "explicit N, gridsize")
    with pytest.raises(ValueError, match="gridsize"):
        hh.extract_patches_position(canvas, offs[..., :1])  # C=1 but cfg gridsize 2


def test_extract_patches_position_jitter_perturbs_offsets():
    params.cfg.update(N=16, gridsize=1)
    canvas = RNG.standard_normal((4, 24, 24, 1)).astype(np.float32)
    offs = np.zeros((4, 1, 2, 1), np.float32)
    still = to_numpy(hh.extract_patches_position(canvas, offs, jitter=0.0))
    np.testing.assert_array_equal(still, ref.extract(canvas, offs, 16))
    moved = to_numpy(hh.extract_patches_position(canvas, offs, jitter=2.0))
    assert moved.shape == still.shape and np.max(np.abs(moved - still)) > 1e-3


def test_center_channels_matches_reference():
    params.cfg.update(N=12, gridsize=2)
    ch = _complex(2, 12, 12, 4)
    offs = RNG.uniform(-3, 3, (2, 1, 2, 4)).astype(np.float32)
    assert_close(to_numpy(hh.center_channels(ch, offs)), ref.center_channels(ch, offs), 1e-6, "center_channels")


def test_pad_and_diffract_matches_reference():
    psi = _complex(3, 16, 16, 1)
    padded, amp = hh.pad_and_diffract(psi, 16, 16, pad=False)
    assert_close(to_numpy(amp), ref.pad_and_diffract(psi), 2e-6, "amplitude")
    np.testing.assert_array_equal(to_numpy(padded), psi)
    padded, amp = hh.pad_and_diffract(psi, 16, 16)  # the original's default pad=True
    assert tuple(padded.shape) == (3, 24, 24, 1) and tuple(amp.shape) == (3, 24, 24, 1)
    # quirk kept: the padded field's intensity is still divided by the UNPADDED 16*16
    assert_close(to_numpy(amp), ref.pad_and_diffract(to_numpy(padded)) * np.float32(24 / 16), 2e-6, "pad=True")
    with pytest.raises(ValueError, match="shape"):
        hh.pad_and_diffract(psi, 8, 8)


# ------------------------------------------------------------------------------------------- stitching
def test_reassemble_position_matches_original_fixture():
    data = np.load(FIXTURE)
    params.cfg["N"] = 64
    out = hh.reassemble_position(data["diffraction_to_obj"], data["global_offsets"], M=20)
    expected = data["stitched_M20"]
    assert isinstance(out, HostArray) and out.dtype == np.complex64 and out.shape == (108, 108, 1)
    assert float(np.max(np.abs(out - expected))) <= 1e-6
    plain = out.numpy()
    assert type(plain) is np.ndarray and plain.shape == (108, 108, 1)
    assert np.squeeze(out).shape == (108, 108)
    assert isinstance(np.abs(out).max(), np.float32)  # reductions give NumPy scalars, not 0-d HostArrays
    assert type(out * 2) is np.ndarray
    # backend tensor input, tiny chunks: same result
    again = hh.reassemble_position(
        ops.convert_to_tensor(data["diffraction_to_obj"]), data["global_offsets"], M=20, chunk_size=1
    )
    assert float(np.max(np.abs(again - expected))) <= 1e-6


def test_reassemble_position_and_shift_and_sum_match_reference():
    params.cfg["N"] = 32
    obj = _complex(9, 32, 32, 1)
    goff = RNG.uniform(0, 30, (9, 1, 2, 1))  # float64
    out = hh.reassemble_position(obj, goff, M=10)
    assert_close(out, ref.reassemble_position(obj, goff, M=10).astype(np.complex64), 1e-6, "reassemble_position")
    num = hh.shift_and_sum(obj, goff, M=8)
    assert isinstance(num, HostArray) and num.dtype == np.complex64
    assert_close(num, ref.shift_and_sum(obj, goff, M=8).astype(np.complex64), 1e-6, "shift_and_sum")
    # (n, 1, 1, 2) offsets work too
    alt = hh.reassemble_position(obj, goff.reshape(9, 1, 1, 2), M=10)
    assert_close(alt, out, 1e-7, "offset layout")


def test_reassemble_position_crop_centre_comes_from_cfg():
    params.cfg["N"] = 32
    obj = _complex(5, 40, 40, 1)  # patches larger than cfg N: the window is centred on cfg N//2 = 16
    goff = RNG.uniform(0, 10, (5, 1, 2, 1))
    out = hh.reassemble_position(obj, goff, M=12)
    assert_close(out, ref.reassemble_position(obj[:, :32, :32], goff, M=12).astype(np.complex64), 1e-6, "cfg N")
    params.cfg["N"] = 64
    with pytest.raises(ValueError, match="cfg N=64"):
        hh.reassemble_position(obj[:, :20, :20], goff, M=40)


def test_reassemble_position_dtype_and_shape_preconditions():
    params.cfg["N"] = 16
    obj = _complex(4, 16, 16, 1)
    goff = RNG.uniform(0, 5, (4, 1, 2, 1))
    with pytest.raises(ValueError, match="float64"):
        hh.reassemble_position(obj, goff.astype(np.float32))
    with pytest.raises(ValueError, match="complex64"):
        hh.reassemble_position(obj.astype(np.complex128), goff)
    with pytest.raises(ValueError, match="complex64"):
        hh.shift_and_sum(obj.real.copy(), goff)
    with pytest.raises(ValueError, match="4-D"):
        hh.reassemble_position(obj[..., 0], goff)
    with pytest.raises(ValueError, match="4-D"):
        hh.reassemble_position(obj, goff.reshape(4, 2))
    with pytest.raises(ValueError, match="even"):
        hh.reassemble_position(obj, goff, M=9)
