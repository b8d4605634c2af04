"""The network's 3×3 convolutions: Keras ``Conv2D`` with a copy-free forward on the torch backend."""

from __future__ import annotations

import keras

from .._backend import conv2d_same_nhwc
from ._base import register


@register
class SameConv2D(keras.layers.Conv2D):
    """``keras.layers.Conv2D`` (``padding='same'``, stride 1, channels last): same weights, config and results.

    On torch, Keras's convolution copies every input from NHWC to contiguous NCHW and back to channels-last memory
    (and the gradients likewise). Here the NHWC tensor is handed to ``torch.nn.functional.conv2d`` as an NCHW view
    (channels-last memory, which oneDNN takes as it is), with the bias fused. Other backends run ``Conv2D.call``.
    """

    def call(self, inputs):
        fast = None
        if self.padding == "same" and self.strides == (1, 1) and self.dilation_rate == (1, 1) and self.groups == 1:
            fast = conv2d_same_nhwc(inputs, self.kernel, self.bias if self.use_bias else None)
        if fast is None:
            return super().call(inputs)
        return self.activation(fast) if self.activation is not None else fast
