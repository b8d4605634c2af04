"""The one place in ptycho_core that may touch a framework directly.

This package holds what Keras does not cover: compiling eager hot paths (here), data-parallel training
(:mod:`ptycho_core._backend.parallel`: ``tf.distribute``, ``jax`` devices, ``torch.distributed``) and multi-process
runs (:mod:`ptycho_core._backend.distributed`: each backend's distributed runtime and collectives). Every
framework import is inside a function, so importing it costs nothing.

Keras ops called eagerly run one kernel per op. On JAX each op is compiled separately the first time it sees a
shape, so an eager call of a multi-op function (translation, a stitching chunk) pays dozens of small compiles.
:func:`compiled` wraps such a function in ``jax.jit`` on the JAX backend (one compile per input shape, reused
afterwards, and free when the caller is already being traced); on TensorFlow and torch it returns the function
unchanged (their eager ops need no compilation).
"""

from __future__ import annotations

import functools
from typing import Any, Callable, Dict, Optional, Sequence

import keras


def compiled(fn: Optional[Callable] = None, *, static_argnames: Sequence[str] = ()) -> Callable:
    """Decorator: ``jax.jit(fn, static_argnames=...)`` under the JAX backend, ``fn`` otherwise.

    The choice is made at the first call (the backend is fixed for the life of the process by then).
    """
    if fn is None:
        return functools.partial(compiled, static_argnames=static_argnames)
    state: Dict[str, Callable[..., Any]] = {}

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        impl = state.get("impl")
        if impl is None:
            if keras.backend.backend() == "jax":
                import jax

                impl = jax.jit(fn, static_argnames=tuple(static_argnames))
            else:
                impl = fn
            state["impl"] = impl
        return impl(*args, **kwargs)

    return wrapper


#: CUDA convolutions with fewer output channels run in NCHW layout (see :func:`conv2d_same_nhwc`).
NHWC_MIN_CUDA_OUT_CHANNELS = 8


def conv2d_same_nhwc(inputs, kernel, bias):
    """torch only: 'same', stride-1 convolution of NHWC ``inputs`` by an HWIO ``kernel``, NHWC out; else None.

    ``inputs (B, H, W, Cin)``, ``kernel (kh, kw, Cin, Cout)`` (odd sizes), ``bias (Cout,)`` or None. The NHWC tensor
    is passed to ``torch.nn.functional.conv2d`` as an NCHW view (channels-last memory) and the result viewed back,
    so no layout copies are made; the padding is symmetric, ``k // 2``, as Keras's 'same' for odd kernels. On CUDA,
    a convolution with fewer than :data:`NHWC_MIN_CUDA_OUT_CHANNELS` output channels copies its input to NCHW.
    Returns None on other backends, or for even kernel sizes, so the caller falls back to Keras.
    """
    if keras.backend.backend() != "torch":
        return None
    import torch.nn.functional as F

    weight = kernel.value if hasattr(kernel, "value") else kernel
    kh, kw = int(weight.shape[0]), int(weight.shape[1])
    if kh % 2 == 0 or kw % 2 == 0:
        return None
    b = None if bias is None else (bias.value if hasattr(bias, "value") else bias)
    x = keras.ops.convert_to_tensor(inputs)
    x_nchw, w_oihw = x.permute(0, 3, 1, 2), weight.permute(3, 2, 0, 1)
    if x.is_cuda and int(weight.shape[3]) < NHWC_MIN_CUDA_OUT_CHANNELS:
        # cuDNN has no fast NHWC kernel for a few output channels (it ran a generic one, 57% of the inference
        # time at batch 4096 on an H200 for the four 1-channel convolutions): these take the NCHW layout.
        x_nchw, w_oihw = x_nchw.contiguous(), w_oihw.contiguous()
    out = F.conv2d(x_nchw, w_oihw, b, padding=(kh // 2, kw // 2))
    return out.permute(0, 2, 3, 1)
