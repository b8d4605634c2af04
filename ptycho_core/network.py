"""The PtychoPINN encoder-decoder (no skip connections), built with Keras functional layers.

Encoder: per filter count ``f``, ``Conv(f,3×3,relu) → Conv(f,3×3,relu) → MaxPool(2)``. Two decoders (amplitude,
phase) share the encoder output; each is ``Conv(f) → Conv(f) → UpSample(2)`` per decoder filter count, then a head:
with ``pad_object`` a 3×3 linear conv on all but the last 4 channels, the activation, zero padding by ``N/4``
(the central window), plus with ``probe_big`` a border branch fed by the last 4 channels
(``Conv_Up_block → conv → swish``, masked to the border); without ``pad_object`` an up-block on all channels.
Amplitude activation per ``amp_activation``; phase ``π·tanh``.

Layer names repeat the original's (``conv2d``, ``conv2d_1``, … in its creation order) so weights line up with
archives written by the original.
"""

from __future__ import annotations

import math
from typing import Optional

import keras

from .layers import ActivationLayer, CenterMaskLayer, SameConv2D
from .spec import ModelSpec, filter_lists, resolution_scale_factor

BORDER_CHANNELS = 4


class _Names:
    """Auto-names in the original's style, independent of Keras's global name counters."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}

    def __call__(self, base: str) -> str:
        k = self.counts.get(base, 0)
        self.counts[base] = k + 1
        return base if k == 0 else f"{base}_{k}"


def _conv(names: _Names, filters: int, activation: Optional[str] = None) -> keras.layers.Conv2D:
    return SameConv2D(filters, (3, 3), padding="same", activation=activation, name=names("conv2d"))


def _conv_pool(x, filters: int, names: _Names):
    x = _conv(names, filters, "relu")(x)
    x = _conv(names, filters, "relu")(x)
    return keras.layers.MaxPooling2D((2, 2), padding="same", name=names("max_pooling2d"))(x)


def _conv_up(x, filters: int, names: _Names):
    x = _conv(names, filters, "relu")(x)
    x = _conv(names, filters, "relu")(x)
    return keras.layers.UpSampling2D((2, 2), name=names("up_sampling2d"))(x)


def _head(x, spec: ModelSpec, conv1, conv2, activation, name: str, names: _Names):
    n = spec.N
    if spec.pad_object:
        x1 = activation(conv1(x[..., :-BORDER_CHANNELS]))
        x1 = keras.layers.ZeroPadding2D((n // 4, n // 4), name=name + "_padded")(x1)
        if not spec.probe_big:
            return x1
        x2 = _conv_up(x[..., -BORDER_CHANNELS:], spec.n_filters_scale * resolution_scale_factor(n), names)
        x2 = keras.activations.swish(conv2(x2))
        border = CenterMaskLayer(n, 1, kind="border", name=names("center_mask_layer"))(x2)
        return x1 + x2 * border
    x2 = _conv_up(x, spec.n_filters_scale * resolution_scale_factor(n), names)
    return activation(conv2(x2))


def _decoder(encoded, spec: ModelSpec, activation, name: str, names: _Names):
    heads = spec.channels if spec.object_big else 1
    conv1, conv2 = _conv(names, heads), _conv(names, heads)  # created first, as in the original
    x = encoded
    for filters in filter_lists(spec)[1]:
        x = _conv_up(x, filters, names)
    return _head(x, spec, conv1, conv2, activation, name, names)


def build_network(normed_input, spec: ModelSpec):
    """Encoder and both decoders on ``normed_input (B, N, N, C)``; returns ``(amplitude, phase)`` tensors
    of shape ``(B, N, N, C)`` (``object_big``) or ``(B, N, N, 1)``."""
    names = _Names()
    x = normed_input
    for filters in filter_lists(spec)[0]:
        x = _conv_pool(x, filters, names)
    amplitude = _decoder(x, spec, ActivationLayer(spec.amp_activation, name="amp"), "amp", names)
    phase = _decoder(x, spec, ActivationLayer("tanh", scale=math.pi, name="phi"), "phase", names)
    return amplitude, phase
