"""Streaming reconstruction: chunked reading, prediction and stitching equal the in-memory pipeline."""

from __future__ import annotations

import numpy as np
import pytest

from ptycho_core.array_rows import ArrayRows, open_rows
from ptycho_core.physics import normalize_diffraction, reassemble_position
from ptycho_core.streaming import grouped_normalization_factor, reconstruct_streaming, rows_per_chunk

N, SCALE = 16, 3.7


def _scan(n=30, C=4, seed=0):
    rng = np.random.default_rng(seed)
    stack = rng.random((n, N, N)) ** 2 * 50.0  # float64 amplitudes, as many files hold them
    xy = rng.uniform(20, 60, (n, 2))
    groups = rng.integers(0, n, (n + 7, C))  # repeats across groups, as neighbour groups have
    coords = np.transpose(np.array([xy[groups, 0], xy[groups, 1]]), (1, 0, 2))[:, None]  # (B, 1, 2, C)
    global_offsets = coords.mean(axis=3, keepdims=True)
    local_offsets = global_offsets - coords
    return stack, groups, global_offsets, local_offsets


def _predict(x, offsets):
    """A deterministic stand-in for the network: complex patches from the input and the offsets."""
    phase = np.sum(offsets, axis=(1, 2, 3))[:, None, None, None] * 0.01
    return (np.mean(x, axis=-1, keepdims=True) * np.exp(1j * phase)).astype(np.complex64)


def _in_memory(stack, groups, global_offsets, local_offsets, M):
    grouped = np.transpose(stack[groups], (0, 2, 3, 1))
    x, factor = normalize_diffraction(grouped, N)
    patches = _predict(x * np.float32(SCALE), local_offsets)
    return reassemble_position(patches, global_offsets, M=M), factor


def test_grouped_factor_equals_the_factor_of_the_grouped_stack():
    stack, groups, _, _ = _scan()
    reference = normalize_diffraction(np.transpose(stack[groups], (0, 2, 3, 1)), N)[1]
    for chunk_bytes in (N * N * 4, 5 * N * N * 4, 1 << 20):  # one, five, all patterns per chunk
        factor = grouped_normalization_factor(ArrayRows(stack), groups, N, chunk_bytes)
        assert factor.dtype == np.float32
        assert abs(float(factor) - float(reference)) <= 1e-6 * float(reference)


@pytest.mark.parametrize("C", [1, 4])
def test_streamed_reconstruction_equals_the_in_memory_one(tmp_path, C):
    stack, groups, global_offsets, local_offsets = _scan(C=C, seed=C)
    expected, factor = _in_memory(stack, groups, global_offsets, local_offsets, M=8)
    np.savez(tmp_path / "scan.npz", diff3d=stack)
    seen = []
    with open_rows(tmp_path / "scan.npz", "diff3d") as rows:
        out = reconstruct_streaming(
            _predict,
            rows,
            groups,
            global_offsets,
            local_offsets,
            intensity_scale=SCALE,
            M=8,
            chunk_bytes=7 * C * N * N * 4,
            batch_size=3,  # batches of 3, 3, 1
            progress=lambda done, total: seen.append(done),
        )
    assert seen == list(range(7, len(groups), 7)) + [len(groups)]  # 7 groups per chunk
    assert out.shape == expected.shape and out.dtype == np.complex64
    assert np.max(np.abs(out - expected)) <= 1e-5 * np.max(np.abs(expected))
    given = reconstruct_streaming(
        _predict,
        ArrayRows(stack),
        groups,
        global_offsets,
        local_offsets,
        intensity_scale=SCALE,
        M=8,
        factor=factor,
        batch_size=5,
    )  # batches of 5, 2
    assert np.max(np.abs(given - expected)) <= 1e-5 * np.max(np.abs(expected))


def test_bad_values_name_the_pattern_and_bad_shapes_are_refused():
    stack, groups, global_offsets, local_offsets = _scan()
    used = int(groups[0, 0])
    for value, words in ((np.nan, "NaN or inf"), (-1.0, "negative values")):
        bad = stack.copy()
        bad[used, 3, 4] = value
        for factor in (None, 1.0):  # checked in the first pass, or while predicting when the factor is given
            with pytest.raises(ValueError, match=f"pattern {used} .*{words}|pattern {used} has {words}"):
                reconstruct_streaming(
                    _predict,
                    ArrayRows(bad),
                    groups,
                    global_offsets,
                    local_offsets,
                    intensity_scale=SCALE,
                    M=8,
                    factor=factor,
                )
    with pytest.raises(ValueError, match="square patterns"):
        reconstruct_streaming(
            _predict, ArrayRows(stack[:, :, :8]), groups, global_offsets, local_offsets, intensity_scale=SCALE, M=8
        )
    with pytest.raises(ValueError, match=r"local_offsets must have shape \(37, 1, 2, 4\)"):
        reconstruct_streaming(
            _predict, ArrayRows(stack), groups, global_offsets, local_offsets[:, :, :, :1], intensity_scale=SCALE, M=8
        )
    with pytest.raises(ValueError, match="batch_size must be >= 1"):
        reconstruct_streaming(
            _predict, ArrayRows(stack), groups, global_offsets, local_offsets, intensity_scale=SCALE, M=8, batch_size=0
        )
    with pytest.raises(ValueError, match="groups index patterns"):
        grouped_normalization_factor(ArrayRows(stack[:5]), groups, N)
    with pytest.raises(ValueError, match="real amplitudes"):
        grouped_normalization_factor(ArrayRows(stack.astype(np.complex64)), groups, N)
    with pytest.raises(ValueError, match="zero everywhere"):
        grouped_normalization_factor(ArrayRows(np.zeros_like(stack)), groups, N)
    assert rows_per_chunk((64, 64), 4, 64 << 20) == 1024 and rows_per_chunk((64, 64), 1, 1) == 1
