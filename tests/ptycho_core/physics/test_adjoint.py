"""Adjointness of the linear operators of the physics (deepinv style): ``<A x, y> = <x, A* y>``.

* translation: the transpose of ``T_t`` (bilinear, per-corner zero fill) is exactly ``T_{-t}``. For a shift
  ``dx = k + f`` an output pixel is ``(1-f)·x[p-k] + f·x[p-k-1]``, and ``T_{-t}`` puts the same weights on
  ``y[p+k]`` and ``y[p+k+1]``; a corner outside the image contributes nothing on both sides, so the relation
  holds at the borders too (a clamp-to-edge fill would break it there). It is exact in exact arithmetic; the
  float32 interpolation weights of ``x - dx`` and ``x + dx`` differ by an ulp, so sub-pixel shifts agree to
  ~1e-7, integer and dyadic shifts (weights exact in float32) agree exactly;
* patch extraction ``E_o`` (repeat the canvas, translate by ``+o_c``, centre-crop to N) has the adjoint
  ``E_o* Z = Σ_c translate(pad_to(Z_c, P), -o_c)``: the un-normalised sum the in-model reassembly computes
  (``reassembly._reassemble_real``); ``reassemble_patches`` is that sum divided by the summed centre masks
  (``+0.001``), taken at the batch-mean-free offsets;
* stitching ``shift_and_sum`` (central ``M×M`` window, pad, translate by ``+adj``, sum) has the adjoint
  ``c ↦ pad_to(extract_patches_position(c, -adj, M), N)`` with ``adj = g - centre_of_mass(g)``.

Inner products are taken in complex128 on the host; a deviation is measured against the Cauchy–Schwarz scale
``‖Ax‖·‖y‖``.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
from keras import ops

from ptycho_core.physics import (
    center_mask,
    channel_to_flat,
    extract_patches_position,
    flatten_offsets,
    pad_to,
    reassemble_patches,
    shift_and_sum,
    translate,
)
from ptycho_core.physics.reassembly import NORM_EPSILON, _reassemble_real
from ptycho_core.physics.stitching import center_of_mass
from ptycho_testing.arrays import to_numpy
from ptycho_testing.grad import gradients

SHIFTS = {  # [dx, dy] pixels; the last one moves most of a 6×7 image off the canvas
    "integer": [2.0, -1.0],
    "dyadic": [1.25, -0.5],
    "subpixel": [0.37, -1.81],
    "far": [-4.6, 2.25],
}
EXACT = {"integer", "dyadic"}  # interpolation weights exact in float32


def _float() -> type:
    """float64 where the backend computes in it (JAX only with x64 enabled), else float32."""
    if keras.backend.backend() == "jax":
        import jax

        return np.float64 if jax.config.jax_enable_x64 else np.float32
    return np.float64


def _cplx(rng: np.random.Generator, *shape: int) -> np.ndarray:
    return (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(np.complex64)


def _inner(a, b) -> complex:
    """``<a, b> = Σ a·conj(b)`` in complex128."""
    return complex(np.vdot(np.asarray(b, np.complex128), np.asarray(a, np.complex128)))


def _assert_adjoint(ax, y, x, aty, rtol: float, what: str) -> None:
    """``<A x, y> = <x, A* y>`` to ``rtol`` of ``max(‖Ax‖·‖y‖, ‖x‖·‖A*y‖)``."""
    lhs, rhs = _inner(ax, y), _inner(x, aty)
    scale = max(np.linalg.norm(ax) * np.linalg.norm(y), np.linalg.norm(x) * np.linalg.norm(aty))
    assert scale > 0, f"{what}: degenerate test data"
    err = abs(lhs - rhs) / scale
    assert err <= rtol, f"{what}: <Ax, y> = {lhs:.8g} but <x, A*y> = {rhs:.8g} (deviation {err:.2e} > {rtol:.0e})"


# ----------------------------------------------------------------------------------------------- translation
def _translation_matrix(t, h: int = 6, w: int = 7) -> np.ndarray:
    """The matrix of ``translate(·, t)`` on ``h×w`` images: column ``k`` is the translated basis image ``e_k``."""
    basis = np.eye(h * w, dtype=_float()).reshape(h * w, h, w, 1)
    return to_numpy(translate(basis, np.asarray([t], np.float32))).reshape(h * w, h * w).T


@pytest.mark.parametrize("kind", sorted(SHIFTS))
def test_translation_matrix_transpose_is_the_opposite_shift(kind):
    t = np.asarray(SHIFTS[kind], np.float32)
    forward, backward = _translation_matrix(t), _translation_matrix(-t)
    assert not np.allclose(forward, forward.T, atol=1e-3), "T_t is symmetric: the test could not tell t from -t"
    if kind in EXACT:
        np.testing.assert_array_equal(backward, forward.T)
    else:
        np.testing.assert_allclose(backward, forward.T, rtol=0, atol=1e-6)


@pytest.mark.parametrize(
    "dtype,kind", [("complex64", "subpixel"), ("complex64", "far"), ("float", "integer"), ("float", "dyadic")]
)
def test_translation_adjoint_on_random_images(dtype, kind):
    """Batch of 5 two-channel images, 3 translation rows (image ``i`` uses row ``i mod 3``)."""
    rng = np.random.default_rng(11)
    shape = (5, 9, 11, 2)
    if dtype == "complex64":
        x, y = _cplx(rng, *shape), _cplx(rng, *shape)
    else:
        x, y = rng.standard_normal(shape).astype(_float()), rng.standard_normal(shape).astype(_float())
    base = np.asarray(SHIFTS[kind], np.float32)
    t = np.stack([base, -base[::-1], 2 * base]).astype(np.float32)  # same kind of shift in every row
    tx, ty = to_numpy(translate(x, t)), to_numpy(translate(y, -t))
    if kind not in EXACT:
        rtol = 1e-5
    else:
        rtol = 1e-12 if tx.dtype == np.float64 else 1e-6
    _assert_adjoint(tx, y, x, ty, rtol, f"translate {dtype} {kind}")


@pytest.mark.parametrize("kind", ["subpixel", "far"])
def test_translation_autodiff_transpose_is_the_opposite_shift(kind):
    """The backend's vector-Jacobian product of ``translate`` (the transpose of its gathers) is ``T_{-t}``."""
    rng = np.random.default_rng(12)
    x = rng.standard_normal((3, 8, 10, 1)).astype(np.float32)
    y = rng.standard_normal((3, 8, 10, 1)).astype(np.float32)
    t = np.asarray([SHIFTS[kind], [-1.5, 0.75]], np.float32)
    (vjp,) = gradients(lambda v: ops.sum(translate(v, t) * ops.convert_to_tensor(y)), [x])
    expected = to_numpy(translate(y, -t))
    np.testing.assert_allclose(vjp, expected, rtol=0, atol=1e-6 * np.abs(expected).max())


# ----------------------------------------------------------------------------------------------- patches
def _reassembly_sum(flat_patches, offsets, channels: int, padded_size: int) -> np.ndarray:
    """``Σ_c translate(pad_to(Z_c, P), -o_c)`` per group: the in-model reassembly before normalisation."""
    o = flatten_offsets(ops.convert_to_tensor(offsets))
    return to_numpy(_reassemble_real(ops.convert_to_tensor(flat_patches), o, channels, padded_size))


@pytest.mark.parametrize("kind", ["subpixel", "integer"])
def test_extraction_adjoint_is_the_unnormalised_reassembly_sum(kind):
    rng = np.random.default_rng(13)
    groups, channels, n, p = 2, 4, 8, 16
    if kind == "integer":
        offsets = rng.integers(-3, 4, (groups, 1, 2, channels)).astype(np.float32)
        canvas, patches = (rng.standard_normal(s).astype(_float()) for s in [(groups, p, p, 1), (8, n, n, 1)])
    else:  # offsets deliberately not mean-free: the sum takes them as given
        offsets = rng.uniform(-3, 3, (groups, 1, 2, channels)).astype(np.float32)
        canvas, patches = _cplx(rng, groups, p, p, 1), _cplx(rng, groups * channels, n, n, 1)
    extracted = to_numpy(extract_patches_position(canvas, offsets, n))
    summed = _reassembly_sum(patches, offsets, channels, p)
    assert extracted.shape == patches.shape and summed.shape == canvas.shape
    exact64 = kind == "integer" and extracted.dtype == np.float64
    _assert_adjoint(extracted, patches, canvas, summed, 1e-12 if exact64 else 1e-5, f"extraction {kind}")


def test_reassemble_patches_is_the_adjoint_sum_normalised_by_the_centre_masks():
    """With batch-mean-free offsets: ``reassemble_patches(Z) · (E*(masks) + 0.001) = E*(Z)``."""
    rng = np.random.default_rng(14)
    groups, channels, n, p = 2, 4, 8, 16
    offsets = rng.uniform(-3, 3, (groups, 1, 2, channels)).astype(np.float32)
    offsets -= offsets.mean(axis=(0, 3), keepdims=True)
    patches = _cplx(rng, groups, n, n, channels)
    masks = np.broadcast_to(center_mask(n, channels)[None], patches.shape).astype(np.float32)
    norm = _reassembly_sum(to_numpy(channel_to_flat(masks)), offsets, channels, p) + NORM_EPSILON
    numerator = _reassembly_sum(to_numpy(channel_to_flat(patches)), offsets, channels, p)
    out = to_numpy(reassemble_patches(patches, offsets, p))
    np.testing.assert_allclose(out * norm, numerator, rtol=1e-5, atol=1e-5 * np.abs(numerator).max())


@pytest.mark.parametrize("window,size,kind", [(8, 8, "integer"), (6, 10, "integer"), (6, 10, "subpixel")])
def test_stitching_sum_adjoint_is_extraction_at_minus_adjusted_offsets(window, size, kind):
    """``shift_and_sum`` (window ``M``, patches ``N``) against ``pad_to(extract(c, -adj, M), N)``."""
    rng = np.random.default_rng(15)
    count = 6
    if kind == "integer":  # integer positions with an integer centre of mass: every shift is whole pixels
        g = rng.integers(0, 12, (count, 2)).astype(np.float32)
        g[-1] -= g.sum(axis=0) % count
    else:
        g = rng.uniform(0, 20, (count, 2)).astype(np.float32)
    patches = _cplx(rng, count, size, size, 1)
    stitched = shift_and_sum(patches, g, window)[None]
    canvas = _cplx(rng, *stitched.shape)
    adj = (g - center_of_mass(g)).astype(np.float32)
    back = to_numpy(pad_to(extract_patches_position(canvas, -adj.T.reshape(1, 1, 2, count), window), size))
    assert back.shape == patches.shape
    _assert_adjoint(stitched, canvas, patches, back, 1e-6 if kind == "integer" else 1e-5, f"stitching {kind}")
