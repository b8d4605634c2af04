"""In-model reassembly: per-sample merging with 1/(Σ mask + 0.001) normalisation."""

import numpy as np
import pytest
from keras import ops

from ptycho_core.physics import pad_reconstruction, reassemble_patches
from ptycho_testing import reference as ref
from ptycho_testing.arrays import assert_close, to_numpy
from ptycho_testing.grad import check_directional

RTOL = 1e-6


def _patches(b, n, c, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((b, n, n, c)) + 1j * rng.standard_normal((b, n, n, c))).astype(np.complex64)


def _group_offsets(b, c, seed=0, spread=3.0):
    off = np.random.default_rng(seed).uniform(-spread, spread, (b, 1, 2, c)).astype(np.float32)
    return off - off.mean(axis=3, keepdims=True)  # loader offsets are zero-mean within each group


@pytest.mark.parametrize("b, c, p", [(3, 1, 42), (4, 4, 46)])
def test_matches_reference(b, c, p):
    z, off = _patches(b, 32, c), _group_offsets(b, c)
    out = to_numpy(reassemble_patches(z, off, p))
    assert out.shape == (b, p, p, 1) and out.dtype == np.complex64
    err = assert_close(out, ref.reassemble_layer(z, off, p), RTOL, "reassemble_patches")
    print(f"reassemble b={b} c={c} rel err {err:.2e}")


def test_large_batches_stay_per_sample():
    # The original merges the whole batch into one canvas once B*C >= 64; here every sample keeps its own.
    z, off = _patches(20, 16, 4, seed=1), _group_offsets(20, 4, seed=1)
    out = to_numpy(reassemble_patches(z, off, 30))
    assert out.shape == (20, 30, 30, 1)
    for i in (0, 7, 19):
        single = to_numpy(reassemble_patches(z[i : i + 1], off[i : i + 1], 30))
        assert_close(out[i], single[0], 1e-5, f"sample {i}")  # batch-mean centring moves offsets by ~1 ulp


def test_gridsize1_is_padding_divided_by_mask_plus_epsilon():
    z = _patches(2, 16, 1, seed=2)
    out = to_numpy(reassemble_patches(z, np.zeros((2, 1, 2, 1), np.float32), 26))
    np.testing.assert_allclose(out[:, 9:17, 9:17], z[:, 4:12, 4:12] / 1.001, rtol=1e-6)
    np.testing.assert_allclose(out[:, 5, 5], z[:, 0, 0] / 0.001, rtol=1e-5)  # the original's x1000 border gain


def test_gradient_wrt_patch_parts():
    z, off = _patches(2, 16, 4, seed=3), _group_offsets(2, 4, seed=3)
    w = ops.convert_to_tensor(np.random.default_rng(4).standard_normal((2, 24, 24, 1)).astype(np.float32))

    def fn(re, im):
        out = reassemble_patches(ops.view_as_complex(ops.stack([re, im], -1)), off, 24)
        return ops.sum(ops.real(out) * w) + 0.5 * ops.sum(ops.imag(out) * w)

    check_directional(fn, [z.real, z.imag], eps=1e-2, rtol=1e-3)


def test_pad_reconstruction_is_plain_padding():
    z = _patches(2, 16, 1)
    out = to_numpy(pad_reconstruction(z, 26))
    np.testing.assert_array_equal(out, ref.pad_to(z, 26))


def test_patch_size_must_be_divisible_by_4():
    with pytest.raises(ValueError, match="N divisible by 4"):
        reassemble_patches(_patches(2, 18, 1), np.zeros((2, 1, 2, 1), np.float32), 28)


def test_offsets_must_match_channels():
    with pytest.raises(ValueError, match=r"offsets must have shape \(B, 1, 2, C\)"):
        reassemble_patches(_patches(2, 16, 4), np.zeros((2, 1, 2, 1), np.float32), 26)
