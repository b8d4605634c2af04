"""In-model reassembly: merge the ``C`` object patches of each group onto its padded canvas.

For patches ``Z (B, N, N, C)`` at positions ``O (B, 1, 2, C)``:

1. ``o = flatten_offsets(O) - mean(o)``, the mean taken over all ``B·C`` rows of the batch (the original's
   centring; loader data have zero-mean offsets per group, so this is ~0 there);
2. ``R(V) = Σ_c translate(pad_to(V_c, P), -o_c)``, giving ``(B, P, P, 1)`` per sample;
3. ``norm = R(Mc) + 0.001`` with ``Mc`` the central ``N/2×N/2`` mask of every patch;
4. output ``R(Re Z)/norm + i·R(Im Z)/norm``.

Inside the covered area this averages the overlapping patches (divided by ``count + 0.001``); where no centre
mask lands, patch content is multiplied by 1000, as in the original. Reassembly is **always per sample**: the
original merges the whole batch into one canvas once ``B·C >= 64``, which is a bug this code does not copy.
"""

from __future__ import annotations

from keras import ops

from ..types import Tensor
from ._checks import check_dim, check_rank, real_float
from .complex import complex_from_parts, split_complex
from .layout import channel_to_flat, flatten_offsets
from .losses import center_mask
from .patches import pad_to
from .translation import translate

NORM_EPSILON = 0.001


def _reassemble_real(stacked: Tensor, offsets_flat: Tensor, channels: int, padded_size: int):
    """``stacked (B*C, N, N, k)`` → ``(B, P, P, k)``: pad, translate by ``-o``, sum each group's patches."""
    shifted = translate(pad_to(stacked, padded_size), -offsets_flat)
    k = int(ops.shape(shifted)[-1])
    grouped = ops.reshape(shifted, (-1, channels, padded_size, padded_size, k))
    return ops.sum(grouped, axis=1)


def reassemble_patches(patches: Tensor, offsets: Tensor, padded_size: int):
    """Merge each group's patches onto a ``P×P`` canvas with overlap normalisation.

    Args:
        patches: ``(B, N, N, C)`` complex (or real) object patches.
        offsets: ``(B, 1, 2, C)`` positions ``group_centre - position`` (pixels, ``[x, y]``).
        padded_size: canvas size ``P`` (``P - N`` even, >= 0).
    Returns:
        complex64 ``(B, P, P, 1)``.
    """
    shape = check_rank(patches, 4, "patches", "(B, N, N, C)")
    o_layout = "(B, 1, 2, C) with axis 2 = [x, y]"
    o_shape = check_rank(offsets, 4, "offsets", o_layout)
    check_dim(o_shape, 2, 2, "offsets", o_layout)
    check_dim(o_shape, 3, shape[3], "offsets", o_layout)
    n_pix, channels = shape[1], shape[3]
    if n_pix is None or n_pix % 4 or shape[2] != n_pix:
        raise ValueError(
            f"patches must be square with N divisible by 4 (the central N/2 window starts at N/4); got shape {shape}"
        )
    real, imag = split_complex(patches)
    mask = ops.broadcast_to(ops.convert_to_tensor(center_mask(n_pix, channels)[None]), ops.shape(real))
    # real, imaginary and centre-mask parts travel together through one translation
    stacked = ops.concatenate(
        [channel_to_flat(real), channel_to_flat(imag), channel_to_flat(ops.cast(mask, real.dtype))], axis=-1
    )
    o = real_float(flatten_offsets(offsets))
    o = o - ops.mean(o, axis=0, keepdims=True)
    canvas = _reassemble_real(stacked, o, channels, padded_size)
    norm = canvas[..., 2:3] + NORM_EPSILON
    return complex_from_parts(canvas[..., 0:1] / norm, canvas[..., 1:2] / norm)


def pad_reconstruction(patches: Tensor, padded_size: int):
    """``object.big = False`` path: flat patches zero-padded to ``P`` without normalisation.

    ``(B, N, N, C)`` → ``(B*C, P, P, 1)`` (one shared object per group when ``C = 1``).
    """
    return pad_to(channel_to_flat(patches), padded_size)
