"""Patch-geometry layers of the model: reassembly, padding, trimming, extraction, layout, centre masks.

Constructor arguments follow the original's saved configs (``padded_size``, ``N``, ``gridsize``,
``output_size``, ``jitter``), so its ``model.keras`` configs rebuild with these classes.
"""

from __future__ import annotations

from typing import Any, Optional, Sequence

import keras
import numpy as np
from keras import ops

from ..physics import layout, patches, reassembly
from ..physics.losses import center_mask
from ..types import Tensor
from ._base import pop_dtype, register


def _complex_spec(shape) -> keras.KerasTensor:
    return keras.KerasTensor(tuple(shape), dtype="complex64")


@register
class ReassemblePatchesLayer(keras.layers.Layer):
    """``[patches (B,N,N,C), positions (B,1,2,C)]`` → complex64 canvas ``(B,P,P,1)``, per sample."""

    def __init__(
        self, padded_size: Optional[int] = None, N: Optional[int] = None, gridsize: Optional[int] = None, **kwargs: Any
    ) -> None:
        super().__init__(**pop_dtype(kwargs))
        if padded_size is None:
            raise ValueError("ReassemblePatchesLayer needs padded_size (P = N + (gridsize-1)*offset + jitter)")
        self.padded_size, self.N, self.gridsize = int(padded_size), N, gridsize

    def call(self, inputs: Sequence[Tensor]):
        obj, positions = inputs
        return reassembly.reassemble_patches(obj, positions, self.padded_size)

    def compute_output_spec(self, inputs):
        return _complex_spec((inputs[0].shape[0], self.padded_size, self.padded_size, 1))

    def get_config(self) -> dict:
        return {**super().get_config(), "padded_size": self.padded_size, "N": self.N, "gridsize": self.gridsize}


@register
class PadReconstructionLayer(keras.layers.Layer):
    """``object.big = False``: ``(B,N,N,C)`` → ``(B*C,P,P,1)`` by plain zero padding."""

    def __init__(self, padded_size: Optional[int] = None, **kwargs: Any) -> None:
        super().__init__(**pop_dtype(kwargs))
        if padded_size is None:
            raise ValueError("PadReconstructionLayer needs padded_size (the original read it from params.cfg)")
        self.padded_size = int(padded_size)

    def call(self, inputs):
        x = inputs[0] if isinstance(inputs, (list, tuple)) else inputs
        if "complex" not in str(x.dtype):
            x = ops.cast(x, "complex64")
        return reassembly.pad_reconstruction(x, self.padded_size)

    def compute_output_spec(self, inputs):
        x = inputs[0] if isinstance(inputs, (list, tuple)) else inputs
        b = None if x.shape[0] is None else x.shape[0] * x.shape[3]
        return _complex_spec((b, self.padded_size, self.padded_size, 1))

    def get_config(self) -> dict:
        return {**super().get_config(), "padded_size": self.padded_size}


@register
class TrimReconstructionLayer(keras.layers.Layer):
    """Centre crop ``(B,M,M,1)`` → ``(B,N,N,1)`` with ``N = output_size``."""

    def __init__(self, output_size: Optional[int] = None, **kwargs: Any) -> None:
        super().__init__(**pop_dtype(kwargs))
        if output_size is None:
            raise ValueError("TrimReconstructionLayer needs output_size (N)")
        self.output_size = int(output_size)

    def call(self, inputs):
        return patches.trim(inputs, self.output_size)

    def compute_output_spec(self, inputs):
        return keras.KerasTensor(
            (inputs.shape[0], self.output_size, self.output_size, inputs.shape[3]), dtype=inputs.dtype
        )

    def get_config(self) -> dict:
        return {**super().get_config(), "output_size": self.output_size}


@register
class ExtractPatchesPositionLayer(keras.layers.Layer):
    """``[canvas (B,M,M,1), positions (B,1,2,C)]`` → flat patches ``(B*C,N,N,1)`` (canvas shifted by +o).

    ``jitter > 0`` adds Gaussian noise of that standard deviation (pixels) to the positions at every call.
    """

    def __init__(
        self, jitter: float = 0.0, N: Optional[int] = None, gridsize: Optional[int] = None, **kwargs: Any
    ) -> None:
        super().__init__(**pop_dtype(kwargs))
        if N is None:
            raise ValueError("ExtractPatchesPositionLayer needs N (the patch size)")
        self.jitter, self.N, self.gridsize = float(jitter), int(N), gridsize
        self._seed = keras.random.SeedGenerator() if self.jitter > 0 else None

    def call(self, inputs: Sequence[Tensor]):
        canvas, positions = inputs
        positions = ops.convert_to_tensor(positions)
        if "complex" in str(positions.dtype):
            positions = ops.real(positions)
        if self.jitter > 0:
            positions = positions + keras.random.normal(ops.shape(positions), stddev=self.jitter, seed=self._seed)
        return patches.extract_patches_position(canvas, positions, self.N)

    def compute_output_spec(self, inputs):
        canvas, positions = inputs
        b = None if canvas.shape[0] is None else canvas.shape[0] * positions.shape[3]
        return keras.KerasTensor((b, self.N, self.N, 1), dtype=canvas.dtype)

    def get_config(self) -> dict:
        return {**super().get_config(), "jitter": self.jitter, "N": self.N, "gridsize": self.gridsize}


@register
class FlatToChannelLayer(keras.layers.Layer):
    """Flat ``(B*C,N,N,1)`` → channel ``(B,N,N,C)`` with ``C = gridsize²``."""

    def __init__(self, N: int, gridsize: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.N, self.gridsize = int(N), int(gridsize)

    def call(self, inputs):
        return layout.flat_to_channel(inputs, self.gridsize**2)

    def compute_output_spec(self, inputs):
        b = None if inputs.shape[0] is None else inputs.shape[0] // self.gridsize**2
        return keras.KerasTensor((b, self.N, self.N, self.gridsize**2), dtype=inputs.dtype)

    def get_config(self) -> dict:
        return {**super().get_config(), "N": self.N, "gridsize": self.gridsize}


@register
class CenterMaskLayer(keras.layers.Layer):
    """Constant mask shaped like the input's batch: ``(B, N, N, c)`` ones on the central ``N/2×N/2``
    window (``kind='center'``) or outside it (``kind='border'``)."""

    def __init__(self, N: int, c: int, kind: str = "center", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if kind not in ("center", "border"):
            raise ValueError(f"kind must be 'center' or 'border'; got {kind!r}")
        self.N, self.c, self.kind = int(N), int(c), kind
        mask = center_mask(self.N, self.c)
        self._mask = mask if kind == "center" else (1.0 - mask).astype(np.float32)

    def call(self, inputs):
        x = inputs[0] if isinstance(inputs, (list, tuple)) else inputs
        mask = ops.convert_to_tensor(self._mask[None], dtype=self.compute_dtype)
        return ops.broadcast_to(mask, (ops.shape(x)[0], self.N, self.N, self.c))

    def compute_output_spec(self, inputs):
        x = inputs[0] if isinstance(inputs, (list, tuple)) else inputs
        return keras.KerasTensor((x.shape[0], self.N, self.N, self.c), dtype=self.compute_dtype)

    def get_config(self) -> dict:
        return {**super().get_config(), "N": self.N, "c": self.c, "kind": self.kind}
