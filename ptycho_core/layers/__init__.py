"""Keras layers wrapping the physics, serialisable and registered as ``ptycho>ClassName`` (the original names)."""

from .activation import ActivationLayer, CombineComplexLayer, SquareLayer
from .convolution import SameConv2D
from .diffraction import PadAndDiffractLayer
from .geometry import (
    CenterMaskLayer,
    ExtractPatchesPositionLayer,
    FlatToChannelLayer,
    PadReconstructionLayer,
    ReassemblePatchesLayer,
    TrimReconstructionLayer,
)
from .probe import ProbeIllumination
from .scaling import IntensityScaler, IntensityScaler_inv, InvScaleLayer, ScaleLayer, tie_log_scale
from .translation import Translation

__all__ = [
    "ActivationLayer",
    "CenterMaskLayer",
    "CombineComplexLayer",
    "ExtractPatchesPositionLayer",
    "FlatToChannelLayer",
    "IntensityScaler",
    "IntensityScaler_inv",
    "InvScaleLayer",
    "PadAndDiffractLayer",
    "PadReconstructionLayer",
    "ProbeIllumination",
    "ReassemblePatchesLayer",
    "SameConv2D",
    "ScaleLayer",
    "SquareLayer",
    "tie_log_scale",
    "Translation",
    "TrimReconstructionLayer",
]
