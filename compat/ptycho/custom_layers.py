"""The original ``ptycho.custom_layers`` class names, served by :mod:`ptycho_core.layers` (same registered names).

Kept so that code importing these names, and archives that reference them, find them here.
"""

from ptycho_core.layers import (
    ActivationLayer,
    CombineComplexLayer,
    ExtractPatchesPositionLayer,
    FlatToChannelLayer,
    InvScaleLayer,
    PadAndDiffractLayer,
    PadReconstructionLayer,
    ReassemblePatchesLayer,
    ScaleLayer,
    SquareLayer,
    TrimReconstructionLayer,
)

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
