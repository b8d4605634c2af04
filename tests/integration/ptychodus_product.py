"""A small synthetic Ptychodus product, built with Ptychodus's own API, with patterns from OUR forward model.

:func:`make_scene` returns a :class:`Scene`: the ground truth (complex object, probe, positions in object pixels)
and what Ptychodus holds for it —

* ``product``: a ``ptychodus.api.product.Product`` (``ProductMetadata``; a ``ProbePositionSequence`` in metres;
  a ``ProbeSequence`` holding the probe as a mode stack ``(1, 1, N, N)``, so ``get_probe_no_opr().get_array()``
  is ``(1, N, N)``; an ``Object`` with its pixel geometry and centre);
* ``assembled``: ``ptychodus.api.assemble.AssembledDiffractionData`` with the diffraction patterns as INTENSITY
  counts (uint32, as a detector reports them) and an all-False bad-pixel mask.

:meth:`Scene.reconstruct_input` pairs them with Ptychodus's own ``prepare_reconstruct_input`` (``ALL``, ``EVEN`` or
``ODD`` scan indexes), exactly as the application does before exporting training data or reconstructing.

Forward model: ``ptycho_core.simulation`` (patch at each position → probe → ``|FFT|/N`` → Poisson counts at
``nphotons`` per pattern). It returns amplitudes ``sqrt(counts)``; the counts Ptychodus holds are their squares
(exact integers up to float32 rounding, recovered with ``rint``).

Positions: object pixel ``(x_px, y_px)`` becomes ``x_m = center_x + pixel_width·(x_px − (W−1)/2)`` (Ptychodus's
centred-pixel convention, ``ObjectGeometry.map_coordinates_object_to_probe``), so
``map_probe_positions_to_object_x_px`` gives the simulation's pixel positions back.

:func:`amplitude_correlation` scores a reconstruction returned through Ptychodus (the squeezed output of
``ptycho.tf_helper.reassemble_position(..., M=20)``) against the true object over the scanned area.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Tuple

import numpy as np
from ptychodus.api.assemble import AssembledDiffractionData
from ptychodus.api.geometry import PixelGeometry
from ptychodus.api.object import Object, ObjectCenter
from ptychodus.api.probe import ProbeSequence
from ptychodus.api.probe_positions import ProbePosition, ProbePositionSequence
from ptychodus.api.product import Product, ProductMetadata
from ptychodus.api.reconstruct import PositionIndexFilter, ReconstructInput, prepare_reconstruct_input

from ptycho_core.physics.probe import default_probe
from ptycho_core.simulation import make_object, raster_scan, simulate, spiral_scan

N = 64
PHOTON_ENERGY_EV = 10_000.0
DETECTOR_DISTANCE_M = 2.0
DETECTOR_PIXEL_M = 75e-6
WAVELENGTH_M = 1.2398419843320026e-6 / PHOTON_ENERGY_EV
OBJECT_PIXEL_M = WAVELENGTH_M * DETECTOR_DISTANCE_M / (N * DETECTOR_PIXEL_M)  # far-field sampling, ~51.7 nm


@dataclass(frozen=True)
class Scene:
    """Ground truth plus the Ptychodus product and diffraction data built from it."""

    object_true: np.ndarray  # complex64 (H, W)
    probe_true: np.ndarray  # complex64 (N, N)
    positions_px: np.ndarray  # float64 (n, 2) rows [x, y] in object pixels
    counts: np.ndarray  # uint32 (n, N, N) intensity counts
    product: Product
    assembled: AssembledDiffractionData

    def reconstruct_input(self, index_filter: PositionIndexFilter = PositionIndexFilter.ALL) -> ReconstructInput:
        """Ptychodus's ``prepare_reconstruct_input`` for these patterns and this product."""
        return prepare_reconstruct_input(self.assembled, self.product, index_filter=index_filter)


def _metadata(name: str, nphotons: float) -> ProductMetadata:
    return ProductMetadata(
        name=name,
        comments="synthetic product for the ptychopinn integration tests",
        detector_distance_m=DETECTOR_DISTANCE_M,
        photon_energy_eV=PHOTON_ENERGY_EV,
        probe_photon_count=float(nphotons),
        exposure_time_s=0.1,
        mass_attenuation_m2_per_kg=0.0,
        tomography_angle_deg=0.0,
    )


def build_product(
    object_array: np.ndarray,
    probe_stack: np.ndarray,
    positions_px: np.ndarray,
    *,
    name: str = "synthetic",
    nphotons: float = 1e6,
) -> Product:
    """A Ptychodus ``Product`` from an object ``(H, W)``, a probe mode stack ``(modes, n, n)`` and pixel positions."""
    pixel = PixelGeometry(width_m=OBJECT_PIXEL_M, height_m=OBJECT_PIXEL_M)
    center = ObjectCenter(x_m=0.0, y_m=0.0)
    height, width = object_array.shape
    x_m = center.x_m + OBJECT_PIXEL_M * (positions_px[:, 0] - (width - 1) / 2)
    y_m = center.y_m + OBJECT_PIXEL_M * (positions_px[:, 1] - (height - 1) / 2)
    positions = ProbePositionSequence(
        [ProbePosition(index=i, x_m=float(x), y_m=float(y)) for i, (x, y) in enumerate(zip(x_m, y_m, strict=True))]
    )
    probes = ProbeSequence(
        array=np.asarray(probe_stack, dtype=np.complex64)[np.newaxis], opr_weights=None, pixel_geometry=pixel
    )
    object_ = Object(array=np.asarray(object_array, dtype=np.complex64), pixel_geometry=pixel, center=center)
    return Product(
        metadata=_metadata(name, nphotons), probe_positions=positions, probes=probes, object_=object_, losses=[]
    )


def assemble(counts: np.ndarray, bad_pixels: Optional[np.ndarray] = None) -> AssembledDiffractionData:
    """``AssembledDiffractionData`` with scan indexes ``0 … n−1`` (Ptychodus pairs patterns and positions by index)."""
    if bad_pixels is None:
        bad_pixels = np.zeros(counts.shape[1:], dtype=bool)
    return AssembledDiffractionData(
        indexes=np.arange(len(counts)),
        patterns=counts,
        pixel_geometry=PixelGeometry(DETECTOR_PIXEL_M, DETECTOR_PIXEL_M),
        bad_pixels=bad_pixels,
    )


def make_scene(
    n_positions: int = 300, *, scan: str = "raster", seed: int = 0, nphotons: float = 1e6, object_size: int = 224
) -> Scene:
    """The standard test scene: a ``lines`` object (zero phase), the default disc probe, ~``n_positions`` points.

    ``scan='raster'`` gives an ``ny × nx`` grid spanning the allowed box (306 points for 300 on 224 px, ~9.6 px
    steps); ``scan='spiral'`` a Fermat spiral of exactly ``n_positions`` points. The probe is stored as a
    one-mode stack; the patterns are Poisson intensity counts simulated with ``ptycho_core.simulation``.
    """
    object_seq, noise_seq = np.random.SeedSequence(seed).spawn(2)
    obj = make_object("lines", object_size, np.random.default_rng(object_seq))
    probe = default_probe(N).astype(np.complex64)
    if scan == "raster":
        positions = raster_scan(obj.shape, N, n_positions=n_positions)
    elif scan == "spiral":
        positions = spiral_scan(obj.shape, N, n_positions)
    else:
        raise ValueError(f"scan must be 'raster' or 'spiral'; got {scan!r}")
    amplitude = simulate(obj, probe, positions, nphotons, np.random.default_rng(noise_seq))
    counts = np.rint(np.square(amplitude.astype(np.float64))).astype(np.uint32)
    product = build_product(obj, probe[np.newaxis], positions, nphotons=nphotons)
    return Scene(
        object_true=obj,
        probe_true=probe,
        positions_px=positions,
        counts=counts,
        product=product,
        assembled=assemble(counts),
    )


# --------------------------------------------------------------------------------------------------- Ptychodus
def pinn_library(gridsize: int, *, epochs: int, n_samples: int = 1):
    """A fresh Ptychodus 1.7.0 settings registry and PtychoPINN library, as at application start.

    Settings changed from Ptychodus's defaults: ``GridSize``, ``NumFiltersScale = 1``, ``NumEpochs = epochs`` and
    ``NumSamples = n_samples``. Returns ``(library, its 'PINN' SubprocessReconstructor)``.
    """
    from ptychodus.api.settings import SettingsRegistry
    from ptychodus.model.ptychopinn.core import PtychoPINNReconstructorLibrary

    library = PtychoPINNReconstructorLibrary(SettingsRegistry(), is_developer_mode_enabled=False)
    library.model_settings.gridsize.set_value(gridsize)
    library.model_settings.n_filters_scale.set_value(1)
    library.training_settings.nepochs.set_value(epochs)
    library.inference_settings.n_samples.set_value(n_samples)
    return library, next(r for r in library if r.name == "PINN")


# --------------------------------------------------------------------------------------------------- scoring
def _bilinear(image: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    r0 = np.clip(np.floor(rows).astype(np.int64), 0, image.shape[0] - 2)
    c0 = np.clip(np.floor(cols).astype(np.int64), 0, image.shape[1] - 2)
    fr, fc = rows - r0, cols - c0
    return (
        (1 - fr) * (1 - fc) * image[r0, c0]
        + (1 - fr) * fc * image[r0, c0 + 1]
        + fr * (1 - fc) * image[r0 + 1, c0]
        + fr * fc * image[r0 + 1, c0 + 1]
    )


def amplitude_correlation(
    reconstruction: np.ndarray,
    object_true: np.ndarray,
    positions_px: np.ndarray,
    *,
    centre_px: Optional[np.ndarray] = None,
    search: int = 4,
) -> Tuple[float, float, tuple]:
    """Pearson correlation of ``|reconstruction|`` with ``|object_true|`` over the scanned area.

    ``reassemble_position`` puts object pixel ``(y, x)`` at canvas pixel ``(P/2 + y − c_y, P/2 + x − c_x)``, ``c``
    the mean of the stitched group centres (``centre_px``, default the mean of ``positions_px``, exact for
    gridsize 1 with every point). The scanned area is the bounding box of ``positions_px``. Because grouped
    (gridsize > 1) centres are random, the canvas is also compared at integer shifts up to ``±search`` pixels.

    Returns:
        ``(correlation at the nominal placement, best correlation over the shifts, best (dy, dx))``.
    """
    recon = np.abs(np.asarray(reconstruction))
    truth = np.abs(np.asarray(object_true)).astype(np.float64)
    if recon.ndim != 2:
        raise ValueError(f"reconstruction must be 2-D; got {recon.shape}")
    P = recon.shape[0]
    centre = np.mean(positions_px, axis=0) if centre_px is None else np.asarray(centre_px, np.float64)
    x_lo, y_lo = np.ceil(positions_px.min(axis=0)).astype(int)
    x_hi, y_hi = np.floor(positions_px.max(axis=0)).astype(int)
    ys, xs = np.mgrid[y_lo : y_hi + 1, x_lo : x_hi + 1].astype(np.float64)
    scores = {}
    for dy in range(-search, search + 1):
        for dx in range(-search, search + 1):
            rows = P / 2 + ys - centre[1] + dy
            cols = P / 2 + xs - centre[0] + dx
            inside = (rows >= 0) & (rows <= P - 1) & (cols >= 0) & (cols <= P - 1)
            if inside.mean() < 0.95:
                continue
            a = _bilinear(recon, rows[inside], cols[inside])
            b = truth[ys[inside].astype(int), xs[inside].astype(int)]
            scores[(dy, dx)] = float(np.corrcoef(a, b)[0, 1])
    nominal = scores.get((0, 0), float("nan"))
    best = max(scores, key=lambda k: scores[k])
    return nominal, scores[best], best
