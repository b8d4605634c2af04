"""The post-decoder forward chain composed from the physics functions equals the reference chain.

reassemble (or pad) → trim → extract at positions → illuminate (probe, optional mask) → diffract → channels
→ × exp(log_scale), for the configurations the original supports (ORIGINAL_PHYSICS §10.4, Appendix A).
"""

import numpy as np
import pytest
from keras import ops

from ptycho_core.physics import (
    default_probe,
    diffract,
    extract_patches_position,
    flat_to_channel,
    illuminate,
    intensity_scale,
    normalize_probe,
    pad_reconstruction,
    probe_mask,
    reassemble_patches,
    trim,
)
from ptycho_testing import reference as ref
from ptycho_testing.arrays import assert_close, to_numpy


def chain(obj, off, probe, log_scale, padded_size, size, mask=None, object_big=True):
    channels = off.shape[3]
    canvas = reassemble_patches(obj, off, padded_size) if object_big else pad_reconstruction(obj, padded_size)
    trimmed = trim(canvas, size)
    psi = illuminate(extract_patches_position(canvas, off, size), probe, mask=mask)
    amplitude = float(np.exp(np.float32(log_scale))) * flat_to_channel(diffract(psi), channels)
    return trimmed, amplitude, ops.square(amplitude)


@pytest.mark.parametrize(
    "gridsize, masked, object_big",
    [(1, False, True), (1, True, True), (2, False, True), (2, True, True), (1, False, False)],
)
def test_chain_matches_reference(gridsize, masked, object_big):
    n, b = 32, 3
    c = gridsize**2
    padded = n + (gridsize - 1) * 4 + 10
    rng = np.random.default_rng(gridsize * 10 + masked)
    amp = rng.random((b, n, n, c)).astype(np.float32)
    phase = (np.pi * np.tanh(rng.standard_normal((b, n, n, c)))).astype(np.float32)
    obj = (amp * np.exp(1j * phase)).astype(np.complex64)
    off = rng.uniform(-2, 2, (b, 1, 2, c)).astype(np.float32)
    off -= off.mean(axis=3, keepdims=True)
    probe = normalize_probe(default_probe(n), 4.0)
    mask = probe_mask(n)[..., None].astype(np.float32) if masked else None
    log_scale = np.float32(np.log(intensity_scale(1e6, n)))
    got = chain(obj, off, probe, log_scale, padded, n, mask, object_big)
    want = ref.forward(obj, off, probe, log_scale, padded, n, mask, object_big)
    for name, g, w in zip(("trimmed_obj", "amplitude", "intensity"), got, want, strict=True):
        err = assert_close(to_numpy(g), w, 2e-6, name)
        print(f"gs{gridsize} mask={masked} big={object_big} {name}: rel err {err:.2e}")
