"""Simulated ptychography datasets: the :class:`SimulatedDataset` container, NPZ writing, the default dataset.

:func:`simulate_dataset` runs the forward simulation of :mod:`ptycho_core.simulation.forward` (re-exported
here: :func:`simulate`, :func:`object_patches`, :func:`diffraction_amplitude`, :func:`photon_scale` and the input
checks) and keeps the validated inputs, the dose scale and a JSON description with the data;
:func:`default_dataset` is the CLI's built-in small simulation. The NPZ written by :func:`save_npz` is the schema
read by ``ptycho.raw_data.RawData.from_file``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Mapping, Optional

import numpy as np

from ..data.npz import write_scan
from ..data.scan import Scan
from ..types import ArrayLike, PathLike
from .forward import (
    _simulate,
    check_nphotons,
    check_object,
    check_positions,
    check_probe,
    diffraction_amplitude,
    object_patches,
    photon_scale,
    simulate,
)
from .objects import OBJECT_KINDS, default_object_size, make_object
from .scans import Seed, check_patch_size, make_scan

__all__ = [
    "NPZ_KEYS",
    "OutputExistsError",
    "SimulatedDataset",
    "check_nphotons",
    "check_object",
    "check_positions",
    "check_probe",
    "default_dataset",
    "diffraction_amplitude",
    "object_patches",
    "photon_scale",
    "save_npz",
    "simulate",
    "simulate_dataset",
]

NPZ_KEYS = ("diff3d", "xcoords", "ycoords", "xcoords_start", "ycoords_start", "probeGuess", "objectGuess", "scan_index")
"""Arrays written by :func:`save_npz` (plus ``_metadata`` when metadata is given)."""


class OutputExistsError(FileExistsError, ValueError):
    """The output file exists and ``overwrite`` was not allowed (both a ``FileExistsError`` and a ``ValueError``)."""


# ----------------------------------------------------------------------------------------------- NPZ
def save_npz(
    path: PathLike,
    diffraction: ArrayLike,
    positions: ArrayLike,
    probe: ArrayLike,
    obj: ArrayLike,
    *,
    scan_index: Optional[ArrayLike] = None,
    metadata: Optional[Mapping[str, Any]] = None,
    overwrite: bool = False,
) -> Path:
    """Write a dataset in the NPZ scan schema (:func:`ptycho_core.data.write_scan`), atomically.

    Keys: ``diff3d`` float32 ``(n, N, N)`` amplitudes; ``xcoords``, ``ycoords``, ``xcoords_start``,
    ``ycoords_start`` float64 ``(n,)`` (object pixels; the ``_start`` copies equal the positions);
    ``probeGuess`` complex64 ``(N, N)``; ``objectGuess`` complex64 ``(H, W)``; ``scan_index`` int64 ``(n,)``
    (zeros by default); and, when ``metadata`` is given, ``_metadata``: a 0-d string array holding JSON (the
    original's metadata key; readable without pickle).

    The file is written uncompressed to a temporary file in the target folder, fsynced and renamed onto
    ``path`` (``os.replace``), so a reader never sees a partial file. The name is used exactly as given (no
    ``.npz`` is appended).

    Raises:
        OutputExistsError: ``path`` exists and ``overwrite`` is False (a ``ValueError`` and ``FileExistsError``).
        ValueError: inconsistent shapes or non-finite values.
    """
    target = Path(path)
    if target.exists() and not overwrite:
        raise OutputExistsError(
            f"{target} already exists; choose another output path or pass overwrite=True to replace it"
        )
    if target.exists() and target.is_dir():
        raise ValueError(f"{target} is a directory; give a file path such as {target / 'data.npz'}")
    probe = check_probe(probe)
    N = probe.shape[0]
    obj = check_object(obj, N)
    positions = check_positions(positions)
    diff = np.asarray(diffraction)
    n = len(positions)
    if diff.ndim != 3 or diff.shape != (n, N, N):
        raise ValueError(
            f"diffraction must have shape (n, N, N) = ({n}, {N}, {N}) to match the positions and the "
            f"probe; got {diff.shape}"
        )
    if diff.dtype.kind not in "biuf" or not np.all(np.isfinite(diff)):
        raise ValueError("diffraction must hold finite real amplitudes")
    if scan_index is None:
        index = np.zeros(n, dtype=np.int64)
    else:
        index = np.asarray(scan_index)
        if index.shape != (n,) or index.dtype.kind not in "iu":
            raise ValueError(f"scan_index must be an integer array of shape ({n},); got {index.dtype} {index.shape}")
        index = index.astype(np.int64)
    scan = Scan(
        diffraction=diff.astype(np.float32),
        x=positions[:, 0].copy(),
        y=positions[:, 1].copy(),
        probe=probe,
        object=obj,
        scan_index=index,
        metadata=None if metadata is None else dict(metadata),
    )
    try:
        return write_scan(target, scan, existing="replace" if overwrite else "refuse")
    except FileExistsError as exc:
        raise OutputExistsError(str(exc)) from None


# ----------------------------------------------------------------------------------------------- datasets
@dataclass(frozen=True, eq=False)
class SimulatedDataset:
    """A simulated scan and its ground truth (all NumPy).

    Attributes:
        diffraction: float32 ``(n, N, N)`` amplitudes, sqrt(photon counts).
        positions: float64 ``(n, 2)`` rows ``[x, y]`` in object pixels.
        probe: complex64 ``(N, N)`` probe used in the simulation (not normalised).
        object: complex64 ``(H, W)`` true object (phase in radians).
        nphotons: target mean total count per pattern.
        scale: the dose scale ``s`` (amplitudes = sqrt(Poisson((s·A)²)), A the unit-dose amplitude).
        metadata: JSON-serialisable description (seed, generators...) written to the NPZ's ``_metadata``.
    """

    diffraction: np.ndarray
    positions: np.ndarray
    probe: np.ndarray
    object: np.ndarray
    nphotons: float
    scale: float
    metadata: Dict[str, Any] = field(default_factory=dict)

    @property
    def N(self) -> int:
        """Patch (probe, diffraction pattern) size in pixels."""
        return int(self.probe.shape[0])

    def __len__(self) -> int:
        return len(self.positions)

    def patches(self) -> np.ndarray:
        """The true object patches at the positions, complex64 ``(n, N, N)`` (see :func:`object_patches`)."""
        return object_patches(self.object, self.positions, self.N)

    def save_npz(self, path: PathLike, overwrite: bool = False) -> Path:
        """:func:`save_npz` of this dataset (with its metadata)."""
        return save_npz(
            path, self.diffraction, self.positions, self.probe, self.object, metadata=self.metadata, overwrite=overwrite
        )


def simulate_dataset(
    obj: ArrayLike,
    probe: ArrayLike,
    positions: ArrayLike,
    nphotons: float,
    seed: Optional[Seed],
    poisson: bool = True,
    metadata: Optional[Mapping[str, Any]] = None,
) -> SimulatedDataset:
    """:func:`simulate`, returning a :class:`SimulatedDataset` (data, inputs as validated arrays, the scale).

    ``metadata`` entries are added to the dataset's metadata (which records N, nphotons, the seed when it is
    an integer, and poisson).
    """
    observed, scale, obj_c, probe_c, pos = _simulate(obj, probe, positions, nphotons, seed, poisson)
    meta: Dict[str, Any] = {
        "schema_version": "1.0.0",
        "creation_info": {"script": "ptycho_core.simulation"},
        "physics_parameters": {"nphotons": float(nphotons), "N": int(probe_c.shape[0]), "gridsize": 1},
        "simulation": {
            "poisson": bool(poisson),
            "scale": scale,
            "seed": int(seed) if isinstance(seed, (int, np.integer)) else None,
        },
    }
    if metadata:
        meta["simulation"].update(dict(metadata))
    return SimulatedDataset(observed, pos, probe_c, obj_c, float(nphotons), scale, meta)


def default_dataset(
    seed: int = 0,
    N: int = 64,
    n_positions: int = 300,
    nphotons: float = 1e9,
    *,
    object_kind: str = "lines",
    phase: str = "zero",
    scan: str = "raster",
    jitter: float = 0.0,
    object_size: Optional[int] = None,
    poisson: bool = True,
    probe_curvature: float = 0.0,
) -> SimulatedDataset:
    """The small standard simulation (the CLI's built-in default).

    A ``lines`` object of ``3.5·N`` pixels (224 for N = 64, zero phase), the original's default probe (a
    smoothed disc, real, not normalised; ``probe_curvature`` adds a defocus phase), a raster scan of about
    ``n_positions`` points (17 × 18 = 306 for 300; 9.3-9.9 px steps for N = 64) inside the object with a margin
    of N/2+1, and Poisson-noisy amplitudes at ``nphotons`` photons per pattern.

    Args:
        seed: one integer; independent streams for the object, the scan jitter/random positions and the Poisson
            noise are derived from it (``numpy.random.SeedSequence(seed).spawn(3)``).
        N: patch size (multiple of 4, >= 16).
        n_positions: target number of scan points (exact for ``spiral``/``random``, approximate for ``raster``).
        nphotons: mean total counts per pattern.
        object_kind: ``"lines"`` or ``"grf"``; phase: ``"zero"`` or ``"tanh"``.
        scan: ``"raster"``, ``"spiral"`` or ``"random"``; jitter: Gaussian position jitter (pixels).
        object_size: object side in pixels (default ``3.5·N`` rounded to even).
        poisson: draw Poisson noise.
        probe_curvature: radians of quadratic phase at the probe disc's edge
            (:func:`~ptycho_core.physics.probe.curved_probe`); 0, the default, keeps the original's real probe.
    Returns:
        :class:`SimulatedDataset`.
    """
    from ..physics.probe import curved_probe, default_probe

    N = check_patch_size(N)
    if object_kind not in OBJECT_KINDS:
        raise ValueError(f"unknown object kind {object_kind!r}; choose one of {OBJECT_KINDS}")
    size = default_object_size(N) if object_size is None else int(object_size)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer; got {seed!r}")
    object_seq, scan_seq, noise_seq = np.random.SeedSequence(int(seed)).spawn(3)
    obj = make_object(object_kind, size, np.random.default_rng(object_seq), phase=phase)
    positions = make_scan(scan, obj.shape, N, n_positions, jitter=jitter, rng=np.random.default_rng(scan_seq))
    probe = curved_probe(default_probe(N), probe_curvature).astype(np.complex64)
    info = {
        "seed": int(seed),
        "object_kind": object_kind,
        "phase": phase,
        "object_size": size,
        "scan": scan,
        "jitter": float(jitter),
        "n_positions_requested": int(n_positions),
        "probe": "default_probe"
        if probe_curvature == 0
        else f"default_probe, curvature {float(probe_curvature):g} rad",
    }
    return simulate_dataset(
        obj, probe, positions, nphotons, np.random.default_rng(noise_seq), poisson=poisson, metadata=info
    )
