"""The one place in ptycho_core that may touch a framework directly.

This package holds what Keras does not cover: compiling eager hot paths (here) and data-parallel training
(:mod:`ptycho_core._backend.parallel`: ``tf.distribute``, ``jax`` devices, ``torch.distributed``). Every
framework import is inside a function, so importing it costs nothing.

Keras ops called eagerly run one kernel per op. On JAX each op is compiled separately the first time it sees a
shape, so an eager call of a multi-op function (translation, a stitching chunk) pays dozens of small compiles.
:func:`compiled` wraps such a function in ``jax.jit`` on the JAX backend (one compile per input shape, reused
afterwards, and free when the caller is already being traced); on TensorFlow and torch it returns the function
unchanged (their eager ops need no compilation).
"""

from __future__ import annotations

import functools
from typing import Callable, Sequence

import keras


def compiled(fn: Callable = None, *, static_argnames: Sequence[str] = ()) -> Callable:
    """Decorator: ``jax.jit(fn, static_argnames=...)`` under the JAX backend, ``fn`` otherwise.

    The choice is made at the first call (the backend is fixed for the life of the process by then).
    """
    if fn is None:
        return functools.partial(compiled, static_argnames=static_argnames)
    state = {}

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
