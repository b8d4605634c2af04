"""Simulated ptychography data: synthetic objects, scan trajectories, noisy diffraction, NPZ datasets.

Modules:
    objects: the original's ``lines`` and Gaussian-random-field generators as complex64 ``(H, W)`` objects
        (amplitude dimensionless, phase in radians).
    scans: raster, Fermat-spiral and random scan positions, float64 ``(n, 2)`` rows ``[x, y]`` in object
        pixels, kept ``N/2 + 1`` pixels inside the object.
    forward: the forward model (patch → probe → far field → Poisson counts) on ptycho_core's physics,
        :func:`simulate`, and the checks of its inputs.
    dataset: :class:`SimulatedDataset` (:func:`simulate_dataset`), :func:`save_npz` (the NPZ schema of
        ``RawData.from_file``, written atomically) and :func:`default_dataset` (the CLI's built-in small
        simulation).

Everything is seeded explicitly (an integer or a ``numpy.random.Generator``); nothing reads or changes
NumPy's global random state. Objects and scans are pure NumPy (identical on every backend); the noise-free
diffraction agrees across backends to float32 round-off, while Poisson realisations are bit-identical only on
the same backend (see :func:`simulate`) — simulate once and share the NPZ to compare backends.
"""

from .dataset import NPZ_KEYS, OutputExistsError, SimulatedDataset, default_dataset, save_npz, simulate_dataset
from .forward import (
    check_nphotons,
    check_object,
    check_positions,
    check_probe,
    diffraction_amplitude,
    object_patches,
    photon_scale,
    simulate,
)
from .objects import (
    OBJECT_KINDS,
    PHASE_MODES,
    complex_object,
    default_object_size,
    grf_amplitude,
    grf_field,
    grf_object,
    line_pixels,
    lines_amplitude,
    lines_image,
    lines_object,
    make_object,
    tanh_phase,
)
from .scans import (
    MIN_PATCH_SIZE,
    SCAN_KINDS,
    as_generator,
    check_patch_size,
    make_scan,
    random_scan,
    raster_scan,
    scan_bounds,
    scan_margin,
    spiral_scan,
)

__all__ = [
    "as_generator",
    "check_nphotons",
    "check_object",
    "check_patch_size",
    "check_positions",
    "check_probe",
    "complex_object",
    "default_dataset",
    "default_object_size",
    "diffraction_amplitude",
    "grf_amplitude",
    "grf_field",
    "grf_object",
    "line_pixels",
    "lines_amplitude",
    "lines_image",
    "lines_object",
    "make_object",
    "make_scan",
    "MIN_PATCH_SIZE",
    "NPZ_KEYS",
    "OBJECT_KINDS",
    "object_patches",
    "OutputExistsError",
    "PHASE_MODES",
    "photon_scale",
    "random_scan",
    "raster_scan",
    "save_npz",
    "scan_bounds",
    "SCAN_KINDS",
    "scan_margin",
    "simulate",
    "simulate_dataset",
    "SimulatedDataset",
    "spiral_scan",
    "tanh_phase",
]
