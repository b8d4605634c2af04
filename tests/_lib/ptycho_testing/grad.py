"""Gradients through the active Keras backend, and finite-difference checks of them.

Keras has no backend-neutral ``grad``, so this test helper dispatches to ``tf.GradientTape``,
``torch.autograd`` or ``jax.grad``. Checks compare a directional derivative from autodiff,
``<∇f(x), v>``, with the central difference ``(f(x + εv) - f(x - εv)) / 2ε`` for a random direction ``v``.
"""

from __future__ import annotations

from typing import Callable, Sequence

import keras
import numpy as np
from keras import ops


def gradients(fn: Callable, args: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Gradients of the scalar ``fn(*tensors)`` with respect to every float argument (float32 NumPy in/out)."""
    backend = keras.backend.backend()
    args = [np.asarray(a, np.float32) for a in args]
    if backend == "tensorflow":
        import tensorflow as tf

        variables = [tf.Variable(a) for a in args]
        with tf.GradientTape() as tape:
            value = fn(*variables)
        grads = tape.gradient(value, variables, unconnected_gradients=tf.UnconnectedGradients.ZERO)
        return [np.asarray(tf.convert_to_tensor(g)) for g in grads]  # gathers give IndexedSlices
    if backend == "torch":
        import torch

        tensors = [torch.tensor(a, requires_grad=True) for a in args]
        value = fn(*tensors)
        grads = torch.autograd.grad(value, tensors, allow_unused=True)
        return [np.zeros_like(a) if g is None else g.detach().cpu().numpy() for a, g in zip(args, grads, strict=True)]
    if backend == "jax":
        import jax

        grads = jax.grad(lambda *xs: fn(*xs), argnums=tuple(range(len(args))))(*args)
        return [np.asarray(g) for g in grads]
    raise RuntimeError(f"no gradient helper for backend {backend!r}")


def check_directional(
    fn: Callable, args: Sequence[np.ndarray], eps: float, rtol: float, seed: int = 0, wrt: Sequence[int] | None = None
) -> float:
    """Compare autodiff with central differences along a random direction; returns the relative deviation.

    Args:
        fn: scalar function of backend tensors.
        args: float32 NumPy arguments.
        eps: finite-difference step (in units of the arguments).
        rtol: allowed ``|fd - ad| / max(|fd|, |ad|)``.
        wrt: indices of the arguments to perturb (default all).
    """
    rng = np.random.default_rng(seed)
    args = [np.asarray(a, np.float32) for a in args]
    wrt = list(range(len(args))) if wrt is None else list(wrt)
    grads = gradients(fn, args)
    directions = [
        rng.standard_normal(a.shape).astype(np.float32) if i in wrt else np.zeros_like(a) for i, a in enumerate(args)
    ]
    analytic = sum(float(np.sum(g.astype(np.float64) * d)) for g, d in zip(grads, directions, strict=True))

    def value(sign: float) -> float:
        shifted = [
            ops.convert_to_tensor((a + sign * eps * d).astype(np.float32))
            for a, d in zip(args, directions, strict=True)
        ]
        return float(ops.convert_to_numpy(fn(*shifted)))

    numeric = (value(1.0) - value(-1.0)) / (2 * eps)
    scale = max(abs(numeric), abs(analytic), 1e-12)
    err = abs(numeric - analytic) / scale
    assert err <= rtol, f"gradient check: autodiff {analytic:.6e} vs finite difference {numeric:.6e} (rel {err:.2e})"
    return err
