"""Backend adapters for the benchmarks: tensor creation, compiled gradient / forward steps, synchronisation.

One :class:`Engine` per Keras backend hides what differs between torch, TensorFlow and JAX when a step is timed
(autodiff mode, compilation, waiting for the device, the allocator's peak-memory figure). Importing this module
does not import Keras or any backend; an engine imports its framework when it is made.
"""

from __future__ import annotations

from typing import Any, Callable, Optional

import numpy as np


class Engine:
    """Backend-specific pieces: tensor creation, compiled gradient / forward steps, device synchronisation."""

    name = ""
    grad_mode = ""
    forward_mode = ""

    def tensor(self, array: np.ndarray, requires_grad: bool = False) -> Any:
        """Backend tensor holding ``array`` on the default device."""
        from keras import ops

        return ops.convert_to_tensor(array)

    def value_and_grad(self, fn: Callable[..., Any], argc: int) -> Callable[..., Any]:
        """Step ``(*xs) -> (fn(*xs), grads w.r.t. all argc xs)`` for a scalar ``fn`` of backend tensors."""
        raise NotImplementedError

    def forward(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        """Step ``(*xs) -> fn(*xs)`` without gradient bookkeeping."""
        raise NotImplementedError

    def sync(self, outputs: Any) -> None:
        """Block until ``outputs`` (any nest of tensors) have been computed."""

    def device(self) -> str:
        """Human-readable description of the device the backend computes on."""
        return "cpu"

    def version(self) -> str:
        return ""

    def peak_memory_bytes(self) -> Optional[int]:
        """The backend allocator's own peak-memory figure where it keeps one cheaply (accelerators); else None."""
        return None

    def reset_peak_memory(self) -> None:
        """Restart :meth:`peak_memory_bytes` from the current usage where the backend can."""


class TorchEngine(Engine):
    name = "torch"
    grad_mode = "eager torch.autograd"
    forward_mode = "eager, torch.no_grad"

    def __init__(self, threads: Optional[int] = None) -> None:
        import torch

        if threads:
            torch.set_num_threads(threads)
        self.torch = torch

    def tensor(self, array: np.ndarray, requires_grad: bool = False) -> Any:
        t = super().tensor(array)
        return t.detach().requires_grad_(True) if requires_grad else t

    def value_and_grad(self, fn: Callable[..., Any], argc: int) -> Callable[..., Any]:
        torch = self.torch

        def step(*xs: Any) -> Any:
            loss = fn(*xs)
            return loss, torch.autograd.grad(loss, xs)

        return step

    def forward(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        torch = self.torch

        def step(*xs: Any) -> Any:
            with torch.no_grad():
                return fn(*xs)

        return step

    def sync(self, outputs: Any) -> None:
        if self.torch.cuda.is_available():
            self.torch.cuda.synchronize()

    def device(self) -> str:
        torch = self.torch
        if torch.cuda.is_available():
            return f"cuda ({torch.cuda.get_device_name(0)})"
        return f"cpu ({torch.get_num_threads()} threads)"

    def version(self) -> str:
        return self.torch.__version__

    def peak_memory_bytes(self) -> Optional[int]:
        if self.torch.cuda.is_available():
            return int(self.torch.cuda.max_memory_allocated())
        return None

    def reset_peak_memory(self) -> None:
        if self.torch.cuda.is_available():
            self.torch.cuda.reset_peak_memory_stats()


class TensorFlowEngine(Engine):
    name = "tensorflow"
    grad_mode = "tf.function graph (jit_compile=False) + GradientTape"
    forward_mode = "tf.function graph (jit_compile=False)"

    def __init__(self) -> None:
        import tensorflow as tf

        self.tf = tf

    def value_and_grad(self, fn: Callable[..., Any], argc: int) -> Callable[..., Any]:
        tf = self.tf

        @tf.function(jit_compile=False)
        def step(*xs: Any) -> Any:
            with tf.GradientTape() as tape:
                tape.watch(xs)
                loss = fn(*xs)
            return loss, tape.gradient(loss, xs)

        return step

    def forward(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        return self.tf.function(fn, jit_compile=False)

    def sync(self, outputs: Any) -> None:
        self.tf.test.experimental.sync_devices()

    def device(self) -> str:
        gpus = self.tf.config.list_physical_devices("GPU")
        return f"gpu ({len(gpus)})" if gpus else "cpu"

    def version(self) -> str:
        return self.tf.__version__

    def peak_memory_bytes(self) -> Optional[int]:
        if not self.tf.config.list_physical_devices("GPU"):
            return None
        try:
            return int(self.tf.config.experimental.get_memory_info("GPU:0")["peak"])
        except (ValueError, RuntimeError, KeyError):
            return None

    def reset_peak_memory(self) -> None:
        if self.tf.config.list_physical_devices("GPU"):
            try:
                self.tf.config.experimental.reset_memory_stats("GPU:0")
            except (ValueError, RuntimeError):
                pass


class JaxEngine(Engine):
    name = "jax"
    grad_mode = "jax.jit(jax.value_and_grad)"
    forward_mode = "jax.jit"

    def __init__(self) -> None:
        import jax

        self.jax = jax

    def value_and_grad(self, fn: Callable[..., Any], argc: int) -> Callable[..., Any]:
        return self.jax.jit(self.jax.value_and_grad(fn, argnums=tuple(range(argc))))

    def forward(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        return self.jax.jit(fn)

    def sync(self, outputs: Any) -> None:
        self.jax.block_until_ready(outputs)

    def device(self) -> str:
        return ", ".join(str(d) for d in self.jax.devices())

    def version(self) -> str:
        return self.jax.__version__

    def peak_memory_bytes(self) -> Optional[int]:
        stats = self.jax.devices()[0].memory_stats()  # None on CPU
        return int(stats["peak_bytes_in_use"]) if stats and "peak_bytes_in_use" in stats else None


def make_engine(backend: str, torch_threads: Optional[int] = None) -> Engine:
    """Engine for the backend Keras was imported with (``KERAS_BACKEND``); ``torch_threads`` sets torch's pool."""
    if backend == "torch":
        return TorchEngine(torch_threads)
    return {"tensorflow": TensorFlowEngine, "jax": JaxEngine}[backend]()
