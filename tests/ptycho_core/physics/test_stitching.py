"""reassemble_position: reference, the original's own output, exactness on known objects, chunking, errors."""

from pathlib import Path

import numpy as np
import pytest

from ptycho_core.physics import reassemble_position, shift_and_sum
from ptycho_testing import reference as ref

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "legacy_tf_gs1" / "expected.npz"


def _scan(n_side, step, jitter, seed):
    rng = np.random.default_rng(seed)
    xs, ys = np.meshgrid(np.arange(n_side) * step, np.arange(n_side) * step)
    pos = np.stack([xs.ravel(), ys.ravel()], -1) + rng.uniform(-jitter, jitter, (n_side * n_side, 2))
    return (pos + 40.0).reshape(-1, 1, 2, 1)


def test_matches_reference():
    rng = np.random.default_rng(0)
    goff = _scan(6, 3.0, 0.4, 0)
    z = (rng.standard_normal((36, 24, 24, 1)) + 1j * rng.standard_normal((36, 24, 24, 1))).astype(np.complex64)
    out = reassemble_position(z, goff, M=10)
    expected = ref.reassemble_position(z, goff, M=10)
    assert out.shape == expected.shape and out.dtype == np.complex64
    assert np.max(np.abs(out - expected)) <= 1e-6 * np.max(np.abs(expected))
    num = shift_and_sum(z, goff, M=10)
    assert np.max(np.abs(num - ref.shift_and_sum(z, goff, M=10))) <= 1e-6 * np.max(np.abs(num))


def test_reproduces_the_original_tensorflow_output():
    d = np.load(FIXTURE)
    out = reassemble_position(d["diffraction_to_obj"], d["global_offsets"], M=20)
    assert out.shape == (108, 108, 1)
    deviation = float(np.max(np.abs(out - d["stitched_M20"])))
    print(f"stitching vs original TF: max abs deviation {deviation:.2e}")
    assert deviation <= 1e-6


def test_exact_patches_of_a_known_object_give_the_object_back():
    yy, xx = np.mgrid[0:80, 0:80]
    obj = (np.sin(xx / 5.0) + 1.5 + 1j * np.cos(yy / 7.0)).astype(np.complex64)
    centres = np.array([(cx, cy) for cy in range(25, 56, 4) for cx in range(25, 56, 4)], np.float64)
    n = 32
    patches = np.stack([obj[cy - n // 2 : cy + n // 2, cx - n // 2 : cx + n // 2] for cx, cy in centres.astype(int)])
    out = reassemble_position(patches[..., None], centres.reshape(-1, 1, 2, 1), M=12)[..., 0]
    com = centres.astype(np.float32).mean(axis=0)
    pc = out.shape[0]
    # canvas pixel pc/2 + (g - com) holds object pixel g: compare the fully covered interior
    lo, hi = int(np.ceil(com[0] - pc / 2)), int(np.floor(com[0] + pc / 2))
    ox = int(round(com[0] - pc // 2))
    region = slice(30 - ox, 50 - ox)
    np.testing.assert_allclose(out[region, region], obj[30:50, 30:50], rtol=0, atol=2e-6)
    assert lo < 30 and hi > 50


def test_integer_positions_and_chunk_size_do_not_change_the_result():
    rng = np.random.default_rng(2)
    goff = _scan(8, 5.0, 0.45, 2)
    z = (rng.standard_normal((64, 32, 32, 1)) + 1j * rng.standard_normal((64, 32, 32, 1))).astype(np.complex64)
    a = reassemble_position(z, goff, M=20, chunk_size=64)
    b = reassemble_position(z, goff, M=20, chunk_size=7)
    np.testing.assert_allclose(a, b, rtol=0, atol=1e-6)


def test_accepts_n_by_2_offsets_and_real_patches():
    goff = _scan(3, 4.0, 0.0, 3)
    z = np.ones((9, 16, 16, 1), np.float32)
    out = reassemble_position(z, goff.reshape(9, 2), M=8)
    assert out.dtype == np.complex64
    covered = np.abs(out) > 0.5
    np.testing.assert_allclose(out[covered], 1.0, atol=1e-6)


@pytest.mark.parametrize(
    "patches, offsets, m, message",
    [
        (np.zeros((4, 16, 16, 1), np.complex64), np.zeros((4, 1, 2, 1)), 7, "M must be a positive even integer"),
        (np.zeros((4, 16, 16, 1), np.complex64), np.zeros((4, 1, 2, 1)), 20, "M must be <= N"),
        (np.zeros((4, 16, 16, 1), np.complex64), np.zeros((3, 1, 2, 1)), 8, "one \\[x, y\\] pair per patch"),
        (np.zeros((4, 16, 16, 1), np.complex64), np.full((4, 1, 2, 1), np.nan), 8, "NaN or inf"),
        (np.zeros((4, 16, 16), np.complex64), np.zeros((4, 1, 2, 1)), 8, r"patches must have shape \(n, N, N, 1\)"),
        (np.zeros((4, 16, 16, 2), np.complex64), np.zeros((4, 1, 2, 1)), 8, r"patches must have shape \(n, N, N, 1\)"),
    ],
)
def test_bad_input_is_named(patches, offsets, m, message):
    with pytest.raises(ValueError, match=message):
        reassemble_position(patches, offsets, M=m)


def test_streamed_chunks_give_the_one_shot_result_and_errors_are_named():
    from ptycho_core.physics import PositionStitcher

    rng = np.random.default_rng(5)
    goff = _scan(7, 2.5, 0.45, 5)
    z = (rng.standard_normal((49, 20, 20, 1)) + 1j * rng.standard_normal((49, 20, 20, 1))).astype(np.complex64)
    expected = ref.reassemble_position(z, goff, M=8)
    stitcher = PositionStitcher(goff, M=8, N=20, chunk_size=6)
    with pytest.raises(ValueError, match="only 0 of 49 patches"):
        stitcher.sums()
    for lo, hi in ((0, 1), (1, 17), (17, 30), (30, 49)):  # uneven chunks, none a multiple of chunk_size
        stitcher.add(z[lo:hi])
    out = stitcher.image()
    assert out.shape == expected.shape == (stitcher.canvas, stitcher.canvas, 1) and out.dtype == np.complex64
    assert np.max(np.abs(out - expected)) <= 1e-6 * np.max(np.abs(expected))
    with pytest.raises(ValueError, match="50 patches added for 49 positions"):
        stitcher.add(z[:1])
    with pytest.raises(ValueError, match=r"patches must have shape \(k, 20, 20, 1\)"):
        PositionStitcher(goff, M=8, N=20).add(z[:3, :16, :16])
