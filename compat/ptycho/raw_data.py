"""The original ``ptycho.raw_data``: ``RawData``, a view of one scan with the original's names and methods.

A :class:`RawData` wraps a :class:`ptycho_core.data.Scan` (its ``scan`` attribute) under the original's attribute
names (``xcoords``, ``ycoords``, ``xcoords_start``, ``ycoords_start``, ``diff3d``, ``probeGuess``, ``scan_index``,
``objectGuess``); checking, file I/O, grouping and normalisation are the engine's (:mod:`ptycho_core.data`).
:meth:`RawData.generate_grouped_data` returns the grouped dictionary the loader turns into model input (keys,
shapes and dtypes as in the original).

Grouping draws from NumPy's legacy GLOBAL RNG, as the original (``np.random.seed(seed)`` when a seed is given,
then the same calls), so a given seed or RNG state selects the same groups as the original and later global draws
continue from the same state.

Importing this module also binds ``ptycho.probe`` and ``ptycho.tf_helper`` on the package (Ptychodus uses those
attributes without importing them). The deliberate differences from the original (validation errors, mode-stack
probes, atomic ``to_file``, ...) are listed in the README.
"""

from __future__ import annotations

import logging
from typing import Any, Optional, Tuple

import numpy as np

from ptycho_core import physics as core
from ptycho_core.data import Scan, ScanError, group_scan, read_scan, write_scan
from ptycho_core.data.grouping import group_coordinates, group_neighbours, nearest_neighbours, relative_coordinates
from ptycho_core.data.patches import object_patches_at
from ptycho_core.data.scan import as_probe_2d

from . import diffsim as datasets
from . import params
from . import probe as _probe
from . import tf_helper as hh
from ._host import HostArray, host, to_numpy

logger = logging.getLogger(__name__)
_BOUND_SUBMODULES = (_probe, hh)  # imported for their side effect: ptycho.probe / ptycho.tf_helper exist

__all__ = [
    "RawData",
    "RawDataValidationError",
    "get_image_patches",
    "get_relative_coords",
    "get_neighbor_indices",
    "normalize_data",
    "local_offset_sign",
    "key_coords_offsets",
    "key_coords_relative",
]

#: sign of the relative coordinates: ``coords_relative = local_offset_sign * (coords - group_mean)``
local_offset_sign = -1
#: grouped-dict keys the loader reads for the model's position input (the ``*_start`` coordinates)
key_coords_offsets = "coords_start_offsets"
key_coords_relative = "coords_start_relative"

_FIELDS = {
    "xcoords": "x",
    "ycoords": "y",
    "xcoords_start": "x_start",
    "ycoords_start": "y_start",
    "diff3d": "diffraction",
    "probeGuess": "probe",
    "scan_index": "scan_index",
    "objectGuess": "object",
    "metadata": "metadata",
}


class RawDataValidationError(ScanError, AssertionError):
    """Invalid scan data: a ``ValueError`` and, where the original used ``assert``, an ``AssertionError``."""


def _validated(scan: Scan, **checks: Any) -> Scan:
    try:
        return scan.validate(**checks)
    except RawDataValidationError:
        raise
    except ScanError as exc:
        raise RawDataValidationError(str(exc)) from None


def _global_rng(seed: Optional[int]) -> np.random.RandomState:
    """NumPy's global RNG, seeded first when ``seed`` is given (the original's ``np.random.seed(seed)``)."""
    if seed is not None:
        np.random.seed(seed)
    return np.random.mtrand._rand


def _scan_property(name: str, field: str) -> property:
    def get(self: RawData) -> Any:
        return getattr(self.scan, field)

    def set_(self: RawData, value: Any) -> None:
        setattr(self.scan, field, value)

    return property(get, set_, doc=f"``scan.{field}`` under the original's name ``{name}``.")


class RawData:
    """One ptychographic scan with the original's attributes (a view of :attr:`scan`).

    Args:
        xcoords, ycoords: ``(M,)`` scan positions in object pixels (x = column, y = row).
        xcoords_start, ycoords_start: ``(M,)`` positions used for the model's position input.
        diff3d: ``(M, N, N)`` diffraction AMPLITUDES (sqrt of counts), any real dtype, stored as given.
        probeGuess: ``(N, N)`` complex probe, or a mode stack ``(modes, N, N)`` (mode 0 is kept).
        scan_index: ``(M,)`` integer scan index or None.
        objectGuess: ``(H, W)`` complex object or None.
        Y: ground-truth patches ``(M, N, N)`` or ``(M, N, N, 1)`` or None.
        norm_Y_I: simulation scale (set by :meth:`from_simulation`) or None.
        metadata: dictionary read from an NPZ's ``_metadata`` or None.
    Raises:
        RawDataValidationError: (a ``ValueError``) what :meth:`ptycho_core.data.Scan.validate` refuses.
    """

    def __init__(
        self,
        xcoords,
        ycoords,
        xcoords_start,
        ycoords_start,
        diff3d,
        probeGuess,
        scan_index,
        objectGuess=None,
        Y=None,
        norm_Y_I=None,
        metadata=None,
    ):
        try:
            scan = Scan(
                diffraction=diff3d,
                x=xcoords,
                y=ycoords,
                probe=probeGuess,
                object=objectGuess,
                x_start=xcoords_start,
                y_start=ycoords_start,
                scan_index=scan_index,
                metadata=metadata,
            )
        except ScanError as exc:
            raise RawDataValidationError(str(exc)) from None
        if xcoords_start is None or ycoords_start is None:  # the Scan would default them: the original refused
            scan.x_start, scan.y_start = xcoords_start, ycoords_start
        self.scan = _validated(scan)
        self.Y = Y
        self.norm_Y_I = norm_Y_I
        self.sample_indices = None
        self.subsample_seed = None

    xcoords = _scan_property("xcoords", "x")
    ycoords = _scan_property("ycoords", "y")
    xcoords_start = _scan_property("xcoords_start", "x_start")
    ycoords_start = _scan_property("ycoords_start", "y_start")
    diff3d = _scan_property("diff3d", "diffraction")
    probeGuess = _scan_property("probeGuess", "probe")
    scan_index = _scan_property("scan_index", "scan_index")
    objectGuess = _scan_property("objectGuess", "object")
    metadata = _scan_property("metadata", "metadata")

    @classmethod
    def from_scan(cls, scan: Scan) -> RawData:
        """A RawData viewing the (validated) engine scan ``scan``."""
        raw = cls.__new__(cls)
        raw.scan = _validated(scan)
        raw.Y = raw.norm_Y_I = raw.sample_indices = raw.subsample_seed = None
        return raw

    # ---------------------------------------------------------------------------------------- constructors
    @staticmethod
    def from_coords_without_pc(xcoords, ycoords, diff3d, probeGuess, scan_index, objectGuess=None) -> RawData:
        """RawData whose start coordinates are the positions themselves (the same array objects)."""
        return RawData(xcoords, ycoords, xcoords, ycoords, diff3d, probeGuess, scan_index, objectGuess)

    @staticmethod
    def from_simulation(xcoords, ycoords, probeGuess, objectGuess, scan_index=None) -> RawData:
        """Simulate noisy diffraction of ``objectGuess`` at the given positions (``cfg['gridsize']`` must be 1).

        Patches ``(M, N, N, 1)`` (``N = cfg['N']``, the probe size) are cut from the object at each position,
        illuminated by the probe and diffracted with Poisson noise (``diffsim.illuminate_and_diffract``, dose
        ``cfg['nphotons']``, NumPy's global RNG). Returns RawData with ``diff3d`` the simulated amplitudes
        ``(M, N, N)``, ``Y`` the object patches (complex64, before illumination) and ``norm_Y_I`` the scale
        ``diffsim.scale_nphotons(X)``.

        Raises:
            NotImplementedError: ``cfg['gridsize']`` other than 1.
        """
        gridsize = params.get("gridsize")
        gridsize = 1 if gridsize is None else gridsize
        if gridsize != 1:
            raise NotImplementedError(
                f"from_simulation supports gridsize=1 only (cfg['gridsize'] = {gridsize}); simulate with "
                f"gridsize=1 and group the result with generate_grouped_data(..., gridsize=...) instead"
            )
        N = int(params.get("N"))
        scan = _validated(Scan(None, xcoords, ycoords, probeGuess, object=objectGuess), N=N)
        coords = group_coordinates(scan.x, scan.y, np.arange(len(scan)).reshape(-1, 1))
        Y_obj = object_patches_at(scan.object, coords, N)
        X, _, _, _ = datasets.illuminate_and_diffract(np.abs(Y_obj), np.angle(Y_obj), scan.probe)
        norm_Y_I = datasets.scale_nphotons(X)
        return RawData(
            scan.x, scan.y, scan.x, scan.y, X[..., 0], scan.probe, scan_index, scan.object, Y=Y_obj, norm_Y_I=norm_Y_I
        )

    @staticmethod
    def from_file(
        train_data_file_path, validate_config: bool = False, current_config=None, *, load_diffraction: bool = True
    ) -> RawData:
        """Read a scan from an NPZ file (the schema of :mod:`ptycho_core.data.npz`).

        Args:
            validate_config: with a ``current_config`` (a ``TrainingConfig``), log a warning for each of
                nphotons, N and gridsize that differs from the file's metadata.
            load_diffraction: this project's addition for streaming: False leaves ``diff3d`` None (the key must
                still be present); read the patterns with ``ptycho_core.data.open_diffraction(path)``.
        Raises:
            ValueError: missing required keys (the message names them and gives the schema).
        """
        scan = read_scan(train_data_file_path, load_diffraction=load_diffraction)
        if validate_config and scan.metadata and current_config is not None:
            for warning in _metadata_mismatches(scan.metadata, current_config):
                logger.warning("Parameter mismatch: %s", warning)
        return RawData.from_scan(scan)

    @staticmethod
    def from_files(train_data_file_path, test_data_file_path) -> Tuple[RawData, RawData]:
        """``(from_file(train), from_file(test))``."""
        return RawData.from_file(train_data_file_path), RawData.from_file(test_data_file_path)

    def to_file(self, file_path) -> None:
        """Write the scan uncompressed in the :meth:`from_file` schema (``.npz`` appended as ``np.savez`` does).

        Written atomically; a file already there is kept as a numbered backup. ``Y`` and metadata are not
        written (as in the original).
        """
        path = str(file_path)
        write_scan(
            path if path.endswith(".npz") else path + ".npz", self.scan.replace(metadata=None), existing="backup"
        )

    def __str__(self) -> str:
        lines = ["RawData:"]
        for name in ("xcoords", "ycoords", "xcoords_start", "ycoords_start", "diff3d", "probeGuess", "scan_index"):
            value = getattr(self, name)
            lines.append(f"  {name}: {value.shape if value is not None else 'None'}")
        lines.append(f"  objectGuess: {self.objectGuess.shape if self.objectGuess is not None else 'None'}")
        return "\n".join(lines)

    # ---------------------------------------------------------------------------------------- grouping
    def generate_grouped_data(
        self,
        N,
        K=4,
        nsamples=1,
        dataset_path: Optional[str] = None,
        seed: Optional[int] = None,
        sequential_sampling: bool = False,
        gridsize: Optional[int] = None,
        enable_oversampling: bool = False,
        neighbor_pool_size: Optional[int] = None,
    ) -> dict:
        """Group the scan into ``nsamples`` groups of ``C = gridsize²`` neighbouring points
        (:func:`ptycho_core.data.group_scan`, drawing from NumPy's global RNG; ``seed`` seeds it first).

        ``gridsize`` defaults to ``params.get('gridsize', 1)``; ``dataset_path`` is accepted and ignored.

        Returns:
            dict (B groups, C channels): ``diffraction`` (B, N, N, C) source dtype; ``Y`` (B, N, N, C) complex
            patches or None; ``coords_offsets`` (B, 1, 2, 1) group mean ``[x, y]``; ``coords_relative``
            (B, 1, 2, C) ``-(coords - mean)``; ``coords_start_offsets``/``coords_start_relative`` likewise from
            the start coordinates; ``coords_nn``/``coords_start_nn`` (B, 1, 2, C) (all coordinates float64);
            ``nn_indices`` (B, C) int32 (int64 for C = 1); ``objectGuess``; ``sample_indices`` only if set on
            this RawData; ``X_full`` (B, N, N, C) float32 normalised amplitudes.
        """
        if gridsize is None:
            gridsize = params.get("gridsize", 1)
        if dataset_path is not None:
            logger.debug("dataset_path=%r ignored: grouping is not cached", dataset_path)
        grouped = group_scan(
            self.scan,
            gridsize=gridsize,
            n_groups=nsamples,
            K=K,
            seed=_global_rng(seed),
            sequential=sequential_sampling,
            oversampling=enable_oversampling,
            pool_size=neighbor_pool_size,
            N=N,
            truth_patches=None if self.Y is None else to_numpy(self.Y),
        )
        groups = grouped.groups
        dset = {
            "diffraction": grouped.diffraction,
            "Y": grouped.truth,
            "coords_offsets": groups.offsets,
            "coords_relative": groups.relative,
            "coords_start_offsets": grouped.start_offsets,
            "coords_start_relative": grouped.start_relative,
            "coords_nn": groups.coords,
            "coords_start_nn": grouped.start_coords,
            "nn_indices": groups.indices,
            "objectGuess": self.objectGuess,
        }
        if getattr(self, "sample_indices", None) is not None:
            dset["sample_indices"] = np.array(self.sample_indices, copy=True)
        dset["X_full"] = grouped.X
        return dset

    def group_positions(
        self, nsamples: int, K: int = 4, seed: Optional[int] = None, gridsize: Optional[int] = None
    ) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(nn_indices (B, C), coords_offsets (B, 1, 2, 1), coords_relative (B, 1, 2, C))``: the groups
        :meth:`generate_grouped_data` forms, from the positions alone (this project's addition)."""
        if gridsize is None:
            gridsize = params.get("gridsize", 1)
        groups = group_neighbours(
            self.xcoords, self.ycoords, gridsize=gridsize, n_groups=nsamples, K=K, seed=_global_rng(seed)
        )
        return groups.indices, groups.offsets, groups.relative


# ------------------------------------------------------------------------------------------- helpers
def _metadata_mismatches(metadata: dict, config: Any) -> list:
    physics = metadata.get("physics_parameters", {}) or {}
    model = getattr(config, "model", None)
    checks = (
        ("nphotons", getattr(config, "nphotons", None)),
        ("N", getattr(model, "N", None)),
        ("gridsize", getattr(model, "gridsize", None)),
    )
    out = []
    for key, current in checks:
        if key in physics and current is not None:
            stored = physics[key]
            differs = abs(stored - current) > 1e-9 if key == "nphotons" else stored != current
            if differs:
                out.append(f"{key} mismatch: dataset={stored}, config={current}")
    return out


def get_image_patches(gt_image, global_offsets, local_offsets, N=None, gridsize=None) -> HostArray:
    """Object patches at the group positions ``global + local`` (:func:`ptycho_core.data.object_patches_at`).

    Args:
        gt_image: ``(H, W)`` (or ``(H, W, 1)``) real or complex object.
        global_offsets: ``(B, 1, 2, 1)`` group centres ``[x, y]``; local_offsets: ``(B, 1, 2, C)``.
        N, gridsize: patch size and grid side (``C = gridsize²``); default cfg.
    Returns:
        complex64 :class:`HostArray` ``(B, N, N, C)``.
    """
    N = int(params.get("N")) if N is None else int(N)
    gridsize = int(params.get("gridsize")) if gridsize is None else int(gridsize)
    positions = to_numpy(global_offsets) + to_numpy(local_offsets)
    if positions.ndim != 4 or positions.shape[1:] != (1, 2, gridsize**2):
        raise ValueError(
            f"global_offsets + local_offsets must have shape (B, 1, 2, {gridsize**2}) for gridsize={gridsize}; "
            f"got {positions.shape}"
        )
    return host(object_patches_at(to_numpy(gt_image), positions, N))


def get_relative_coords(coords_nn) -> Tuple[np.ndarray, np.ndarray]:
    """``(offsets (M, 1, 2, 1), relative (M, 1, 2, C))`` of grouped coordinates ``(M, 1, 2, C)``."""
    try:
        return relative_coordinates(coords_nn)
    except ValueError as exc:
        raise RawDataValidationError(str(exc)) from None


def get_neighbor_indices(xcoords, ycoords, K=3) -> np.ndarray:
    """``(M, K+1)`` indices of each point's ``K + 1`` nearest points (itself included, usually first)."""
    return nearest_neighbours(xcoords, ycoords, K)


def normalize_data(dset: dict, N: int) -> np.ndarray:
    """``dset['diffraction']`` scaled to mean pattern energy ``(N/2)²`` (float32; ``physics.normalize_diffraction``)."""
    normalised, _ = core.normalize_diffraction(dset["diffraction"], N)
    return normalised


_as_probe_2d = as_probe_2d  # the loader's name for it
