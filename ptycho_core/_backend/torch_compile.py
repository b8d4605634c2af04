"""The inference model exported and compiled on the torch engine, for reconstruction at full speed.

Keras runs a torch model eagerly: every layer call goes through Keras's Python machinery and every op launches
its own kernel. :class:`CompiledPredictor` takes the model out of Keras once per batch size:

1. ``torch.export.export`` (non-strict, static shapes; Keras's own ``format="torch"`` export does the same)
   gives the model's ATen graph, with the model's weights as they are at that moment;
2. ``torch.compile`` (Inductor) fuses its element-wise work (complex algebra, translation, scaling) around the
   convolutions and FFTs; on CUDA with ``mode="reduce-overhead"`` the whole forward is replayed as one CUDA graph.

The last, partial batch is padded to the batch size (one compiled shape: zero patterns at the batch's mean offset,
which keeps the model's batch centring of the offsets unchanged) and its padding dropped. Any
failure to export or compile is logged with its reason and the predictor falls back to the eager model; on
JAX and TensorFlow the predictor is the model's own ``predict_on_batch`` (XLA / tf.function already compile).
Results equal the eager model's to float32 round-off (the fused kernels sum in another order); on GPUs, cuDNN's
TF32 convolutions (PyTorch's default) differ by about 1e-3 relative between any two kernel choices, fused or not.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Callable, Dict, Optional

import keras
import numpy as np

logger = logging.getLogger(__name__)

#: ``compile`` option values: ``auto`` compiles on CUDA devices for batches up to :data:`AUTO_MAX_CUDA_BATCH` and
#: on the CPU for at least :data:`AUTO_MIN_CPU_ROWS` rows (where the gain outweighs the compile time), ``on``
#: always, ``off`` never.
COMPILE_CHOICES = ("auto", "on", "off")

#: Measured on the 2-core CPU at batch 16: eager 94 patterns/s, compiled 150 (compilation 14 s with a warm
#: Inductor cache, about 40 s cold), so compiling pays from about 10,000 patterns; 20,000 leaves a margin.
AUTO_MIN_CPU_ROWS = 20_000

#: Measured on an H200 (benchmarks/RESULTS.md), patterns/s from host arrays, eager → compiled with CUDA graphs:
#: batch 16: 1,180 → 9,104; 256: 12,459 → 16,358; 1,024: 11,414 → 13,126; 4,096: 14,500 → 13,565.
AUTO_MAX_CUDA_BATCH = 1024


def _device() -> Any:
    from keras.src.backend.torch.core import get_device

    return get_device()


def _export(model: Any, inputs: list) -> Any:
    """The model's ATen graph for these input shapes, as a module (weights as they are now)."""
    import torch

    return torch.export.export(model, (inputs,), strict=False).module()


class CompiledPredictor:
    """``predictor(x, offsets) -> patches``: the inference model on NumPy batches, compiled where it pays.

    Args:
        model: the Keras inference model (``diffraction_to_obj``), inputs ``[x (B, N, N, C), offsets (B, 1, 2, C)]``.
        batch_size: the batch size compiled for; every call must pass at most this many rows.
        compile: one of :data:`COMPILE_CHOICES`.
        rows: how many rows will be predicted in all, when known (``auto`` on the CPU compiles for many).

    Attributes:
        mode: what runs: ``"eager"``, ``"compiled"`` or ``"compiled-cuda-graphs"``.
        reason: why it is eager, when it is.
        compile_seconds: export + compilation time (measured at the first call), or None.
    """

    def __init__(self, model: Any, batch_size: int, compile: str = "auto", rows: Optional[int] = None) -> None:
        if compile not in COMPILE_CHOICES:
            raise ValueError(f"compile must be one of {', '.join(COMPILE_CHOICES)}; got {compile!r}")
        self._model, self._batch = model, int(batch_size)
        self._compiled: Optional[Callable[..., Any]] = None
        self.compile_seconds: Optional[float] = None
        self.mode, self.reason = "eager", ""
        if keras.backend.backend() != "torch":
            self.reason = f"compiled inference is for the torch engine; {keras.backend.backend()} compiles its own"
            return
        import torch

        self._device = torch.device(_device())
        cuda = self._device.type == "cuda"
        if compile == "off":
            self.reason = "compile='off'"
        elif compile == "auto" and not cuda and (rows is None or rows < AUTO_MIN_CPU_ROWS):
            self.reason = (
                f"compile='auto' compiles on the CPU for {AUTO_MIN_CPU_ROWS:,} rows or more (compilation takes "
                "15-40 s); compile='on' compiles anyway"
            )
        elif compile == "auto" and self._batch > AUTO_MAX_CUDA_BATCH:
            self.reason = (
                f"compile='auto' compiles batches of at most {AUTO_MAX_CUDA_BATCH} (larger ones run as fast eagerly)"
            )
        else:
            self.mode = "compiled-cuda-graphs" if cuda else "compiled"

    def _fallback(self, why: str) -> None:
        logger.warning("compiled inference unavailable, running the model eagerly: %s", why)
        self.mode, self.reason, self._compiled = "eager", why, None

    def _build(self, inputs: list) -> None:
        import torch

        start = time.perf_counter()
        try:
            with torch.no_grad():
                exported = _export(self._model, inputs)
                graphs = self.mode == "compiled-cuda-graphs"
                compiled = torch.compile(exported, mode="reduce-overhead" if graphs else None, dynamic=False)
                compiled(inputs)  # compilation happens here
        except Exception as error:  # any export or compile failure: eager, with the reason
            self._fallback(f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}")
            return
        self._compiled = compiled
        self.compile_seconds = time.perf_counter() - start
        logger.info("compiled the inference model (%s) in %.1f s", self.mode, self.compile_seconds)

    def _to_device(self, array: np.ndarray) -> Any:
        import torch

        tensor = torch.from_numpy(np.ascontiguousarray(array))
        if self._device.type == "cuda":
            return tensor.pin_memory().to(self._device, non_blocking=True)
        return tensor.to(self._device)

    def __call__(self, x: np.ndarray, offsets: np.ndarray) -> np.ndarray:
        """Patches ``(B, ...)`` complex64 for ``x (B, N, N, C)`` float32 and ``offsets (B, 1, 2, C)`` float32."""
        rows = int(x.shape[0])
        if rows > self._batch:
            raise ValueError(f"{rows} rows given to a predictor compiled for batches of {self._batch}")
        if self.mode == "eager":
            return np.asarray(self._model.predict_on_batch([x, offsets]))
        import torch

        if rows < self._batch:
            pad = self._batch - rows
            x = np.concatenate([x, np.zeros((pad,) + x.shape[1:], x.dtype)])
            # the model centres the offsets on their batch mean: padding rows at that mean leave it unchanged
            mean = offsets.mean(axis=(0, 3), keepdims=True)
            offsets = np.concatenate([offsets, np.broadcast_to(mean, (pad,) + offsets.shape[1:])])
        inputs = [self._to_device(x.astype(np.float32)), self._to_device(offsets.astype(np.float32))]
        if self._compiled is None:
            self._build(inputs)
            if self._compiled is None:
                return np.asarray(self._model.predict_on_batch([x[:rows], offsets[:rows]]))
        with torch.no_grad():
            out = self._compiled(inputs)
        return out[:rows].cpu().numpy()  # copied at once: CUDA graphs reuse their output memory

    def describe(self) -> Dict[str, Any]:
        """``mode``, ``reason``, ``compile_seconds`` and ``batch_size``, for logs and metrics."""
        return dict(mode=self.mode, reason=self.reason, compile_seconds=self.compile_seconds, batch_size=self._batch)
