"""The original ``ptycho.custom_layers`` class names, served by :mod:`ptycho_core.layers`.

The layers whose size the original took from ``params.cfg`` when omitted (``ReassemblePatchesLayer`` and
``PadReconstructionLayer``: the padded size ``P``; ``TrimReconstructionLayer`` and
``ExtractPatchesPositionLayer``: the patch size ``N``) are thin subclasses that fill those values in from cfg
when constructed (explicit arguments win), registered as ``ptycho.custom_layers>Name``. The others are the
engine classes themselves (registered ``ptycho>Name``, the names the original's saved configs use).
"""

from __future__ import annotations

from typing import Any, Optional

import keras

from ptycho_core import layers as _layers
from ptycho_core.layers import (
    ActivationLayer,
    CombineComplexLayer,
    FlatToChannelLayer,
    InvScaleLayer,
    PadAndDiffractLayer,
    ScaleLayer,
    SquareLayer,
)

from . import params as _params

_register = keras.saving.register_keras_serializable(package=__name__)

__all__ = [
    "ActivationLayer",
    "CombineComplexLayer",
    "ExtractPatchesPositionLayer",
    "FlatToChannelLayer",
    "InvScaleLayer",
    "PadAndDiffractLayer",
    "PadReconstructionLayer",
    "ReassemblePatchesLayer",
    "ScaleLayer",
    "SquareLayer",
    "TrimReconstructionLayer",
]


@_register
class ReassemblePatchesLayer(_layers.ReassemblePatchesLayer):
    """``[patches (B,N,N,C), positions (B,1,2,C)]`` → canvas ``(B,P,P,1)``; ``P`` defaults to the cfg padded size
    (``params.get_padded_size()``)."""

    def __init__(
        self, padded_size: Optional[int] = None, N: Optional[int] = None, gridsize: Optional[int] = None, **kwargs: Any
    ) -> None:
        padded_size = _params.get_padded_size() if padded_size is None else padded_size
        super().__init__(padded_size=padded_size, N=N, gridsize=gridsize, **kwargs)


@_register
class PadReconstructionLayer(_layers.PadReconstructionLayer):
    """``(B,N,N,C)`` → ``(B*C,P,P,1)`` zero padded; ``P`` defaults to the cfg padded size."""

    def __init__(self, padded_size: Optional[int] = None, **kwargs: Any) -> None:
        padded_size = _params.get_padded_size() if padded_size is None else padded_size
        super().__init__(padded_size=padded_size, **kwargs)


@_register
class TrimReconstructionLayer(_layers.TrimReconstructionLayer):
    """Centre crop ``(B,M,M,1)`` → ``(B,N,N,1)``; ``output_size`` defaults to ``cfg['N']``."""

    def __init__(self, output_size: Optional[int] = None, **kwargs: Any) -> None:
        output_size = _params.get("N") if output_size is None else output_size
        super().__init__(output_size=output_size, **kwargs)


@_register
class ExtractPatchesPositionLayer(_layers.ExtractPatchesPositionLayer):
    """``[canvas (B,M,M,1), positions (B,1,2,C)]`` → flat patches ``(B*C,N,N,1)``; ``N`` defaults to
    ``cfg['N']``."""

    def __init__(
        self, jitter: float = 0.0, N: Optional[int] = None, gridsize: Optional[int] = None, **kwargs: Any
    ) -> None:
        N = _params.get("N") if N is None else N
        super().__init__(jitter=jitter, N=N, gridsize=gridsize, **kwargs)
