"""Pure tensor functions of the PtychoPINN forward model, written in ``keras.ops`` (any backend).

Modules: ``complex`` (complex helpers), ``layout`` (channel/flat/grid reshapes), ``translation`` (bilinear
sub-pixel shifts), ``patches`` (pad, trim, extraction by position), ``probe`` (default probe, mask,
normalisation, illumination), ``smoothing`` (3×3 Gaussian, reflect borders), ``diffraction`` (far field),
``scaling`` (nphotons and data normalisation), ``losses``, ``reassembly`` (in-model patch merging) and
``stitching`` (``reassemble_position``).
"""

from ._checks import real_float
from .complex import amp_phase_to_parts, amplitude_phase, combine_complex, complex_from_parts, split_complex
from .diffraction import diffract, far_field_intensity, fftshift2d, ifftshift2d, pad_and_diffract
from .layout import channel_to_flat, flat_to_channel, flatten_offsets, from_grid, grid_to_channel, to_grid
from .losses import (
    center_mask,
    mean_absolute_error,
    poisson_nll,
    poisson_nll_floor,
    poisson_nll_mean,
    realspace_loss,
    total_variation,
)
from .patches import center_channels, extract_patches_position, pad, pad_to, trim
from .probe import (
    curved_probe,
    default_probe,
    estimate_probe,
    illuminate,
    normalize_probe,
    probe_distance,
    probe_mask,
    probe_norm,
)
from .reassembly import pad_reconstruction, reassemble_patches
from .scaling import count_photons, intensity_scale, normalize_diffraction, simulation_scale
from .smoothing import complex_gaussian_filter2d, gaussian_filter2d
from .stitching import PositionStitcher, reassemble_position, shift_and_sum, stitch_canvas_size
from .translation import translate

__all__ = [
    "amp_phase_to_parts",
    "amplitude_phase",
    "center_channels",
    "center_mask",
    "channel_to_flat",
    "combine_complex",
    "complex_from_parts",
    "complex_gaussian_filter2d",
    "count_photons",
    "curved_probe",
    "default_probe",
    "diffract",
    "estimate_probe",
    "extract_patches_position",
    "far_field_intensity",
    "fftshift2d",
    "flat_to_channel",
    "flatten_offsets",
    "from_grid",
    "gaussian_filter2d",
    "grid_to_channel",
    "ifftshift2d",
    "illuminate",
    "intensity_scale",
    "mean_absolute_error",
    "normalize_diffraction",
    "normalize_probe",
    "pad",
    "pad_and_diffract",
    "pad_reconstruction",
    "pad_to",
    "poisson_nll",
    "poisson_nll_floor",
    "poisson_nll_mean",
    "PositionStitcher",
    "probe_distance",
    "probe_mask",
    "probe_norm",
    "real_float",
    "realspace_loss",
    "reassemble_patches",
    "reassemble_position",
    "shift_and_sum",
    "simulation_scale",
    "split_complex",
    "stitch_canvas_size",
    "to_grid",
    "total_variation",
    "translate",
    "trim",
]
