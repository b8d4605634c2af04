"""The original ``ptycho.raw_data``: scan data (``RawData``), grouping of scan points, and its helpers.

A :class:`RawData` holds one ptychographic scan: positions ``xcoords``/``ycoords`` (object pixels, x = column,
y = row), diffraction amplitudes ``diff3d (M, N, N)``, a probe ``(N, N)`` and optionally the object.
:meth:`RawData.generate_grouped_data` picks groups of ``C = gridsize²`` neighbouring scan points and returns
the grouped dictionary the loader turns into model input (keys, shapes and dtypes as in the original; see
the method's docstring).

Grouping draws from NumPy's legacy global RNG with exactly the original's sequence of calls
(``np.random.seed`` / ``np.random.choice``) and the same SciPy KD-tree queries, so a given seed (or RNG state)
selects the same groups as the original. ``gridsize > 1`` needs SciPy (``scipy.spatial.cKDTree``), imported
when first needed; ``gridsize = 1`` does not.

Sign convention: ``coords_relative = local_offset_sign · (coords - group_mean)`` with ``local_offset_sign = -1``,
i.e. the model's position input is ``group_centre - position``.

Importing this module also binds ``ptycho.probe`` and ``ptycho.tf_helper`` on the package (Ptychodus uses
those attributes without importing them).

Deliberate deviations from the original:

* Invalid input raises ``ValueError`` naming the problem and the fix (:class:`RawDataValidationError`, also an
  ``AssertionError`` where the original used ``assert``): coordinate arrays of different lengths, non-finite
  coordinates or diffraction, negative diffraction values, non-square patterns, a probe whose size is not the
  pattern size ``N``, a ``diff3d``/``scan_index`` length that differs from the number of positions, and ``N``
  different from the pattern size in ``generate_grouped_data``. The original accepted negative values and a
  probe of another size here and failed later (or trained on nonsense); real detector data (Ptychodus) has
  both, so they are refused before anything is grouped or trained.
* A probe given as a Ptychodus mode stack ``(modes, H, W)`` is accepted: mode 0 is used and a warning says the
  other modes are ignored (the original rejected anything but 2-D); ``(N, N, 1)`` is squeezed to 2-D.
* Diffraction that looks like raw detector counts (integer data) logs a warning: the data are still used as
  amplitudes, as in the original (no silent square root).
* Shapes and progress go to the ``ptycho.raw_data`` logger instead of stdout.
* Grouped coordinates are always float64 (the original kept integer or float32 input coordinates' dtype, which
  its own stitching then rejected).
* ``to_file`` omits ``objectGuess`` when there is none (the original wrote a pickled ``None`` that its own
  ``from_file`` could not read back); ``from_file`` treats such a pickled ``None`` as "no object", reads only
  the keys it uses, and reports missing keys with the expected schema.
* ``get_image_patches`` returns a NumPy complex64 array (a :class:`~ptycho._host.HostArray`, with ``.numpy()``)
  and samples the object in batches; the sample positions agree with the original's to float32 rounding.
* ``from_simulation`` keeps ``diff3d`` 3-D for a single scan point (the original squeezed it to 2-D).
"""

from __future__ import annotations

import json
import logging
import math
from itertools import combinations
from typing import Any, Dict, Optional, Tuple

import numpy as np

from ptycho_core import physics as core

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

#: keys ``RawData.from_file`` needs, and the ones it uses when present
_REQUIRED_KEYS = ("xcoords", "ycoords", "diff3d", "probeGuess")
_OPTIONAL_KEYS = ("xcoords_start", "ycoords_start", "scan_index", "objectGuess")
_NPZ_SCHEMA = (
    "required: xcoords (M,) and ycoords (M,) scan positions in object pixels, diff3d (M, N, N) diffraction "
    "amplitudes, probeGuess (N, N) complex (or a (modes, N, N) mode stack); optional: xcoords_start and "
    "ycoords_start (M,) (default: the positions), scan_index (M,) int (default: zeros), objectGuess (H, W) "
    "complex; other keys are ignored"
)

# patches sampled per backend call in get_image_patches (bounds memory only)
_PATCH_CHUNK_PIXELS = 1 << 23


class RawDataValidationError(ValueError, AssertionError):
    """Invalid scan data: a ``ValueError`` and, where the original used ``assert``, an ``AssertionError``."""


# ------------------------------------------------------------------------------------------- input checks
def _kdtree_class():
    try:
        from scipy.spatial import cKDTree
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "grouping scan points into gridsize > 1 groups needs SciPy's KD-tree (scipy.spatial.cKDTree), which "
            "is not installed; install it with `pip install scipy` (gridsize=1 needs no neighbour search)"
        ) from exc
    return cKDTree


def _as_array(x: Any) -> Any:
    """NumPy arrays are kept as given (same object); other array-likes are converted to NumPy."""
    if x is None or isinstance(x, np.ndarray):
        return x
    return to_numpy(x)


def _count_non_finite(arr: np.ndarray) -> int:
    if arr.dtype.kind not in "fc" or arr.size == 0:
        return 0
    # one float64 reduction first: finite data (the normal case) needs no boolean temporary
    if np.isfinite(np.sum(arr, dtype=np.complex128 if arr.dtype.kind == "c" else np.float64)):
        return 0
    return int(arr.size - np.count_nonzero(np.isfinite(arr)))


def _as_probe_2d(probe: Any, what: str = "probeGuess") -> Any:
    """A 2-D probe from ``(H, W)``, ``(N, N, 1)`` or a Ptychodus mode stack ``(modes, N, N)`` (mode 0, warned)."""
    if probe is None:
        return None
    arr = _as_array(probe)
    if arr.ndim == 2:
        return arr
    if arr.ndim == 3 and arr.shape[-1] == 1 and arr.shape[0] == arr.shape[1]:
        return arr[..., 0]
    if arr.ndim == 3 and arr.shape[0] >= 1 and arr.shape[1] == arr.shape[2]:
        if arr.shape[0] > 1:
            logger.warning(
                "%s is a stack of %d probe modes %s; using mode 0 and ignoring the other %d",
                what,
                arr.shape[0],
                arr.shape,
                arr.shape[0] - 1,
            )
        return arr[0]
    raise RawDataValidationError(
        f"{what} must be a 2-D probe (H, W), (N, N, 1) or a Ptychodus mode stack (modes, N, N); got shape {arr.shape}"
    )


def _count_negative(arr: np.ndarray) -> int:
    if arr.dtype.kind not in "if" or arr.size == 0 or arr.min() >= 0:
        return 0
    return int(np.count_nonzero(arr < 0))


def _check_probe_matches_patterns(probe: Optional[np.ndarray], diff3d: Optional[np.ndarray]) -> None:
    """The model needs an ``N x N`` probe for ``N x N`` patterns; say so before anything is grouped or trained."""
    if probe is None or diff3d is None or diff3d.ndim != 3:
        return
    if tuple(probe.shape) != tuple(diff3d.shape[1:]):
        raise RawDataValidationError(
            f"probeGuess is {probe.shape[0]}x{probe.shape[1]} but the diffraction patterns are "
            f"{diff3d.shape[1]}x{diff3d.shape[2]}; the probe must be N x N with N the pattern size (the model's "
            f"N). Resample or crop/pad the probe to {diff3d.shape[1]}x{diff3d.shape[2]} pixels (same pixel size as "
            f"the object), or crop the patterns to the probe's size"
        )


def _warn_if_counts(diff3d: np.ndarray) -> None:
    """Warn when ``diff3d`` looks like raw detector counts (intensities) rather than amplitudes."""
    if diff3d.size == 0:
        return
    if diff3d.dtype.kind in "iu":
        looks_like_counts, kind = True, f"integer ({diff3d.dtype})"
    elif diff3d.dtype.kind == "f":
        sample = diff3d[: min(len(diff3d), 8)]
        looks_like_counts = bool(np.all(sample == np.round(sample))) and float(np.max(sample)) >= 2
        kind = f"integer-valued {diff3d.dtype}"
    else:
        return
    if looks_like_counts:
        logger.warning(
            "diff3d holds %s data (max %s): these look like raw detector counts (intensity), but PtychoPINN "
            "expects diffraction AMPLITUDES (sqrt of counts). They are used as given, like the original did; "
            "if they are counts, pass np.sqrt(counts) instead.",
            kind,
            diff3d.max(),
        )


def _check_coords(name: str, arr: np.ndarray) -> None:
    if arr.ndim != 1:
        raise RawDataValidationError(f"{name} must be a 1-D array of scan positions (M,); got shape {arr.shape}")
    bad = _count_non_finite(arr)
    if bad:
        raise RawDataValidationError(
            f"{name} contains {bad} non-finite value(s) (NaN or inf); drop those scan points (and their "
            f"diffraction patterns) or repair the positions before building RawData"
        )


# ------------------------------------------------------------------------------------------- RawData
class RawData:
    """One ptychographic scan: positions, diffraction amplitudes, probe, optional object and ground truth.

    Args:
        xcoords, ycoords: ``(M,)`` scan positions in object pixels (x = column, y = row).
        xcoords_start, ycoords_start: ``(M,)`` positions used for the model's position input (usually the
            same arrays).
        diff3d: ``(M, N, N)`` diffraction AMPLITUDES (sqrt of counts), any real dtype, stored as given.
        probeGuess: ``(N, N)`` complex probe, or a mode stack ``(modes, N, N)`` (mode 0 is kept).
        scan_index: ``(M,)`` integer scan index or None.
        objectGuess: ``(H, W)`` complex object or None.
        Y: ground-truth patches ``(M, N, N)`` or ``(M, N, N, 1)`` or None.
        norm_Y_I: simulation scale (set by :meth:`from_simulation`) or None.
        metadata: dictionary read from an NPZ's ``_metadata`` or None.
    Raises:
        RawDataValidationError: (a ``ValueError``) on inconsistent or non-finite input; see the module notes.
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
        xcoords, ycoords = _as_array(xcoords), _as_array(ycoords)
        xcoords_start, ycoords_start = _as_array(xcoords_start), _as_array(ycoords_start)
        diff3d, scan_index, objectGuess = _as_array(diff3d), _as_array(scan_index), _as_array(objectGuess)
        self._check_data_validity(xcoords, ycoords, xcoords_start, ycoords_start, diff3d, probeGuess, scan_index)
        probeGuess = _as_probe_2d(probeGuess)
        _check_probe_matches_patterns(probeGuess, diff3d)
        if objectGuess is not None and objectGuess.ndim != 2:
            raise RawDataValidationError(f"objectGuess must be a 2-D (H, W) array; got shape {objectGuess.shape}")
        logger.debug(
            "RawData: positions %s, diff3d %s, probeGuess %s, objectGuess %s",
            xcoords.shape,
            None if diff3d is None else diff3d.shape,
            None if probeGuess is None else probeGuess.shape,
            None if objectGuess is None else objectGuess.shape,
        )

        self.xcoords = xcoords
        self.ycoords = ycoords
        self.xcoords_start = xcoords_start
        self.ycoords_start = ycoords_start
        self.diff3d = diff3d
        self.probeGuess = probeGuess
        self.scan_index = scan_index
        self.objectGuess = objectGuess
        self.Y = Y
        self.norm_Y_I = norm_Y_I
        self.metadata = metadata
        self.sample_indices = None
        self.subsample_seed = None

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
        xcoords, ycoords = _as_array(xcoords), _as_array(ycoords)
        probe = _as_probe_2d(probeGuess)
        N = int(params.get("N"))
        if probe.shape != (N, N):
            raise RawDataValidationError(
                f"probeGuess is {probe.shape} but cfg['N'] = {N}; set params.cfg['N'] to the probe size"
            )
        for name, arr in (("xcoords", xcoords), ("ycoords", ycoords)):
            _check_coords(name, arr)
        if xcoords.shape != ycoords.shape:
            raise RawDataValidationError(
                f"Coordinate arrays must have matching shapes; got xcoords {xcoords.shape} and ycoords {ycoords.shape}"
            )
        coords_nn = np.zeros((len(xcoords), 1, 2, 1))
        coords_nn[:, 0, 0, 0] = xcoords
        coords_nn[:, 0, 1, 0] = ycoords
        offsets, relative = get_relative_coords(coords_nn)
        Y_obj = get_image_patches(objectGuess, offsets, relative, N=N, gridsize=1).view(np.ndarray)
        X, _, _, _ = datasets.illuminate_and_diffract(np.abs(Y_obj), np.angle(Y_obj), probe)
        norm_Y_I = datasets.scale_nphotons(X)
        return RawData(
            xcoords, ycoords, xcoords, ycoords, X[..., 0], probe, scan_index, objectGuess, Y=Y_obj, norm_Y_I=norm_Y_I
        )

    @staticmethod
    def from_file(
        train_data_file_path, validate_config: bool = False, current_config=None, *, load_diffraction: bool = True
    ) -> RawData:
        """Read a scan from an NPZ file (the Ptychodus training-data schema).

        Schema: ``xcoords``, ``ycoords`` (M,), ``diff3d`` (M, N, N) amplitudes and ``probeGuess`` are required;
        ``xcoords_start``/``ycoords_start`` (default: the positions), ``scan_index`` (default zeros) and
        ``objectGuess`` are optional; a ``_metadata`` JSON string becomes :attr:`metadata`; any other key (e.g.
        Ptychodus' ``bad_pixels``) is ignored.

        Args:
            validate_config: with a ``current_config`` (a ``TrainingConfig``), log a warning for each of
                nphotons, N and gridsize that differs from the file's metadata.
            load_diffraction: this project's addition for streaming: False leaves ``diff3d`` None (the key must
                still be present), so only positions, probe and object are read; read the patterns in chunks with
                ``ptycho_core.array_rows.open_rows(path, 'diff3d')``.
        Raises:
            ValueError: missing required keys (the message names them and gives the schema).
        """
        with np.load(train_data_file_path, allow_pickle=False) as data:
            present = set(data.files)
            missing = [k for k in _REQUIRED_KEYS if k not in present]
            if missing:
                hint = ""
                if "diff3d" in missing and "diffraction" in present:
                    hint = " The file has 'diffraction': RawData.from_file reads it under the key 'diff3d'."
                raise ValueError(
                    f"{train_data_file_path}: missing required key(s) {missing}; the file has "
                    f"{sorted(present)}. Expected NPZ schema: {_NPZ_SCHEMA}.{hint}"
                )
            values: Dict[str, Any] = {}
            for key in _REQUIRED_KEYS + _OPTIONAL_KEYS:
                if key in present and (load_diffraction or key != "diff3d"):
                    values[key] = _read_npz_key(data, key, train_data_file_path)
            metadata = None
            if "_metadata" in present:
                metadata = _read_metadata(train_data_file_path)

        if validate_config and metadata and current_config is not None:
            for warning in _metadata_mismatches(metadata, current_config):
                logger.warning("Parameter mismatch: %s", warning)
        n = len(np.atleast_1d(values["xcoords"]))
        raw = RawData(
            xcoords=values["xcoords"],
            ycoords=values["ycoords"],
            xcoords_start=values.get("xcoords_start", values["xcoords"]),
            ycoords_start=values.get("ycoords_start", values["ycoords"]),
            diff3d=values.get("diff3d"),
            probeGuess=values["probeGuess"],
            objectGuess=values.get("objectGuess"),
            scan_index=values.get("scan_index", np.zeros(n, dtype=int)),
            metadata=metadata,
        )
        if metadata:
            logger.debug("Loaded dataset metadata from %s: %s", train_data_file_path, metadata)
        return raw

    @staticmethod
    def from_files(train_data_file_path, test_data_file_path) -> Tuple[RawData, RawData]:
        """``(from_file(train), from_file(test))``."""
        return RawData.from_file(train_data_file_path), RawData.from_file(test_data_file_path)

    def to_file(self, file_path) -> None:
        """Write the scan with ``np.savez`` (uncompressed) in the :meth:`from_file` schema.

        Keys: xcoords, ycoords, xcoords_start, ycoords_start, diff3d, probeGuess, scan_index and, when present,
        objectGuess. ``Y`` and metadata are not written (as in the original).
        """
        arrays = dict(
            xcoords=self.xcoords,
            ycoords=self.ycoords,
            xcoords_start=self.xcoords_start,
            ycoords_start=self.ycoords_start,
            diff3d=self.diff3d,
            probeGuess=self.probeGuess,
        )
        if self.objectGuess is not None:
            arrays["objectGuess"] = self.objectGuess
        if self.scan_index is not None:
            arrays["scan_index"] = self.scan_index
        np.savez(file_path, **arrays)

    def __str__(self) -> str:
        def shape(x):
            return x.shape if x is not None else "None"

        return "\n".join(
            [
                "RawData:",
                f"  xcoords: {shape(self.xcoords)}",
                f"  ycoords: {shape(self.ycoords)}",
                f"  xcoords_start: {shape(self.xcoords_start)}",
                f"  ycoords_start: {shape(self.ycoords_start)}",
                f"  diff3d: {shape(self.diff3d)}",
                f"  probeGuess: {shape(self.probeGuess)}",
                f"  scan_index: {shape(self.scan_index)}",
                f"  objectGuess: {shape(self.objectGuess)}",
            ]
        )

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
        """Group the scan into ``nsamples`` groups of ``C = gridsize²`` neighbouring points ("sample, then group").

        Seed points are drawn at random without replacement (``np.random.choice``; all points, in order, when
        ``nsamples >= M``) or, with ``sequential_sampling``, are the first ``nsamples`` points. For ``C > 1``
        each seed's ``K`` nearest neighbours (itself excluded) are found with a KD-tree and ``C`` of them are
        drawn at random; for ``C = 1`` a group is its seed.

        Args:
            N: diffraction pattern size (must equal ``diff3d.shape[-1]``).
            K: neighbours considered per seed (``K >= C``).
            nsamples: number of groups; capped at the number of points unless oversampling is enabled.
            dataset_path: accepted and ignored (nothing is cached or written).
            seed: if given, ``np.random.seed(seed)`` first (ignored by sequential sampling, which seeds 0 for
                the neighbour choice). Without it the current global RNG state is used.
            sequential_sampling: use the first ``nsamples`` points as seeds.
            gridsize: group side; default ``params.get('gridsize', 1)``.
            enable_oversampling: allow ``nsamples > M`` for ``C > 1`` by drawing from all C-subsets of each
                seed's ``neighbor_pool_size`` neighbours ("K choose C", OVERSAMPLING-001).
            neighbor_pool_size: neighbour pool for oversampling (default ``K``; must be ``>= C``).
        Returns:
            dict (B groups, C channels): ``diffraction`` (B, N, N, C) source dtype; ``Y`` (B, N, N, C) complex
            patches or None; ``coords_offsets`` (B, 1, 2, 1) group mean ``[x, y]``; ``coords_relative``
            (B, 1, 2, C) ``-(coords - mean)``; ``coords_start_offsets``/``coords_start_relative`` likewise from
            the start coordinates; ``coords_nn``/``coords_start_nn`` (B, 1, 2, C) (all coordinates float64);
            ``nn_indices`` (B, C) int32 (int64 for C = 1); ``objectGuess``; ``sample_indices`` only if set on
            this RawData; ``X_full`` (B, N, N, C) float32 normalised amplitudes (:func:`normalize_data`).
        Raises:
            ValueError: ``nsamples > M`` with ``C > 1`` and oversampling not enabled, or a pool smaller than C
                (both mention OVERSAMPLING-001); ``K < C``; too few points; N not the pattern size.
        """
        if gridsize is None:
            gridsize = params.get("gridsize", 1)
        gridsize = _positive_int(gridsize, "gridsize")
        N = _positive_int(N, "N")
        nsamples = _positive_int(nsamples, "nsamples")
        if self.diff3d is None:
            raise ValueError("this RawData has no diffraction patterns (diff3d is None); nothing to group")
        if self.diff3d.shape[-1] != N:
            raise ValueError(
                f"N={N} but the diffraction patterns are {self.diff3d.shape[1]}x"
                f"{self.diff3d.shape[2]}; pass N=diff3d.shape[-1] ({self.diff3d.shape[-1]})"
            )
        if dataset_path is not None:
            logger.debug("dataset_path=%r ignored: grouping is not cached", dataset_path)

        C = gridsize**2
        n_points = len(self.xcoords)
        effective_K = neighbor_pool_size if neighbor_pool_size is not None else K

        needs_oversampling = nsamples > n_points and C > 1
        if needs_oversampling:
            if not enable_oversampling:
                raise ValueError(
                    f"Requesting {nsamples} groups but only {n_points} points available (gridsize={gridsize}, "
                    f"C={C}). K choose C oversampling is required but not enabled. Set enable_oversampling=True "
                    f"and ensure neighbor_pool_size >= {C} to proceed, or request at most {n_points} groups "
                    f"(n_groups), or provide at least {nsamples} scan points, or use gridsize=1 "
                    f"(OVERSAMPLING-001)."
                )
            if effective_K < C:
                raise ValueError(
                    f"K choose C oversampling requires neighbor_pool_size >= C (gridsize²). Got "
                    f"neighbor_pool_size={effective_K}, but C={C}; increase neighbor_pool_size to at least {C} "
                    f"(OVERSAMPLING-001)."
                )

        seed_indices = np.arange(min(nsamples, n_points)) if sequential_sampling else None
        logger.info(
            "Grouping %d of %d points into groups of C=%d (K=%d, %s sampling%s)",
            nsamples,
            n_points,
            C,
            K,
            "sequential" if sequential_sampling else "random",
            ", K choose C oversampling" if needs_oversampling else "",
        )
        if needs_oversampling:
            groups = self._generate_groups_with_oversampling(
                nsamples=nsamples, K=effective_K, C=C, seed=seed, seed_indices=seed_indices
            )
        else:
            groups = self._generate_groups_efficiently(
                nsamples=nsamples, K=K, C=C, seed=seed, seed_indices=seed_indices
            )
        return self._generate_dataset_from_groups(groups, N, K, gridsize)

    def group_positions(
        self, nsamples: int, K: int = 4, seed: Optional[int] = None, gridsize: Optional[int] = None
    ) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The groups :meth:`generate_grouped_data` forms, from the positions alone (no diffraction needed).

        This project's addition for streaming reconstruction: the same RNG sequence and groups as
        ``generate_grouped_data(N, K, nsamples, seed=seed, gridsize=gridsize)`` without oversampling.
        Returns ``(nn_indices (B, C), coords_offsets (B, 1, 2, 1), coords_relative (B, 1, 2, C))``.
        """
        if gridsize is None:
            gridsize = params.get("gridsize", 1)
        C = _positive_int(gridsize, "gridsize") ** 2
        groups = self._generate_groups_efficiently(nsamples=_positive_int(nsamples, "nsamples"), K=K, C=C, seed=seed)
        offsets, relative = get_relative_coords(_group_coords(self.xcoords, self.ycoords, groups))
        return groups, offsets, relative

    def _generate_groups_efficiently(
        self, nsamples: int, K: int, C: int, seed: Optional[int] = None, seed_indices: Optional[np.ndarray] = None
    ) -> np.ndarray:
        """``(n, C)`` groups, one per seed point (``n = min(nsamples, M)`` or the number of given seeds).

        RNG sequence (legacy global ``np.random``, as the original): ``seed(seed)`` if a seed is given and no
        ``seed_indices``; with ``seed_indices``, ``seed(0)`` after validation; otherwise
        ``choice(arange(M), n, replace=False)`` when ``n < M``; then, for C > 1, one ``choice(neighbours, C)``
        per seed in order. Returns int32 for C > 1 and the seeds' int64 for C = 1.

        Raises:
            ValueError: fewer than C points, or ``K < C`` ("K=3 must be >= C=5 ...").
        """
        if seed is not None and seed_indices is None:
            np.random.seed(seed)
        n_points = len(self.xcoords)
        if n_points < C:
            raise ValueError(f"Dataset has only {n_points} points but {C} coordinates per group requested.")
        if K < C:
            raise ValueError(f"K={K} must be >= C={C} (need at least C neighbors to form a group)")

        if seed_indices is not None:
            n_actual = min(len(seed_indices), n_points)
            seed_indices = np.asarray(seed_indices)[:n_actual]
            np.random.seed(0)  # deterministic neighbour choice for sequential sampling
        else:
            if nsamples > n_points:
                logger.warning(
                    "Requested %d groups but only %d points available; using every point as a seed", nsamples, n_points
                )
                n_actual = n_points
            else:
                n_actual = nsamples
            all_indices = np.arange(n_points)
            if n_actual < n_points:
                seed_indices = np.random.choice(all_indices, size=n_actual, replace=False)
            else:
                seed_indices = all_indices

        if C == 1:
            return seed_indices.reshape(-1, 1)

        coords = np.column_stack([self.xcoords, self.ycoords])
        tree = _kdtree_class()(coords)
        _, neighbor_indices = tree.query(coords[seed_indices], k=min(K + 1, n_points))
        if n_points > K:  # every seed has K neighbours after itself: one permutation of K per seed
            return _draw_from_neighbours(neighbor_indices[:, 1 : K + 1], C)
        groups = np.zeros((n_actual, C), dtype=np.int32)
        for i in range(n_actual):
            row = neighbor_indices[i]
            neighbors = row[1 : K + 1] if len(row) > K else row[:K]  # the first hit is the seed itself
            available = np.concatenate([[seed_indices[i]], neighbors]) if len(neighbors) < C else neighbors
            groups[i] = np.random.choice(available, size=C, replace=len(available) < C)
        return groups

    def _generate_groups_with_oversampling(
        self, nsamples: int, K: int, C: int, seed: Optional[int] = None, seed_indices: Optional[np.ndarray] = None
    ) -> np.ndarray:
        """``(nsamples, C)`` groups drawn from the C-subsets of seeds' ``K`` nearest neighbours (int64).

        Seeds: ``n_seeds = min(2 · ceil(nsamples / comb(K, C)), M)``, the given ``seed_indices`` (if there are
        enough) or a random choice. The pool collects, seed by seed, every C-combination (in
        ``itertools.combinations`` order) of the seed's neighbours until it holds ``2 · nsamples``; the groups
        are ``choice(pool_size, nsamples)`` (with replacement only if the pool is too small). RNG sequence as the
        original: ``seed(seed)`` if given, the seed choice, the pool choice.
        """
        if seed is not None:
            np.random.seed(seed)
        n_points = len(self.xcoords)
        if n_points < C:
            raise ValueError(f"Dataset has only {n_points} points but {C} coordinates per group requested.")
        if K < C:
            raise ValueError(f"K={K} must be >= C={C} (need at least C neighbors to form a group)")

        max_combos = 1 if C == 1 else math.comb(K, C)
        min_seeds = max(1, -(-nsamples // max_combos))
        n_seeds = min(2 * min_seeds, n_points)
        if seed_indices is not None and len(seed_indices) >= min_seeds:
            seed_indices = np.asarray(seed_indices)[:n_seeds]
        else:
            all_indices = np.arange(n_points)
            seed_indices = (
                np.random.choice(all_indices, size=n_seeds, replace=False) if n_seeds < n_points else all_indices
            )

        if C == 1:
            return np.random.choice(seed_indices, size=nsamples, replace=nsamples > len(seed_indices)).reshape(-1, 1)

        coords = np.column_stack([self.xcoords, self.ycoords])
        tree = _kdtree_class()(coords)
        target = 2 * nsamples
        pool = []
        for seed_idx in seed_indices:
            _, hits = tree.query(coords[seed_idx : seed_idx + 1], k=min(K + 1, n_points))
            neighbors = hits[0]
            if len(neighbors) > K:
                neighbors = neighbors[1 : K + 1]
            elif len(neighbors) > 1:
                neighbors = neighbors[1:]
            available = np.concatenate([[seed_idx], neighbors]) if len(neighbors) < C else neighbors[:K]
            if len(available) >= C:
                for combo in combinations(available, C):
                    pool.append(combo)
                    if len(pool) >= target:
                        break
            if len(pool) >= target:
                break
        if not pool:
            raise ValueError(
                "No valid combinations could be generated (every seed has fewer than "
                f"C={C} neighbours; K={K}, {n_points} points)"
            )
        pool = np.array(pool)
        if nsamples > len(pool):
            logger.warning(
                "Requested %d groups but only %d unique combinations available; sampling with replacement",
                nsamples,
                len(pool),
            )
        chosen = np.random.choice(len(pool), size=nsamples, replace=nsamples > len(pool))
        return pool[chosen]

    def _generate_dataset_from_groups(self, selected_groups: np.ndarray, N: int, K: int, gridsize: int) -> dict:
        """The grouped dictionary (see :meth:`generate_grouped_data`) for the given ``(B, C)`` index groups."""
        nn_indices = selected_groups
        diffraction = np.transpose(self.diff3d[nn_indices], [0, 2, 3, 1])
        coords_nn = _group_coords(self.xcoords, self.ycoords, nn_indices)
        coords_offsets, coords_relative = get_relative_coords(coords_nn)

        if self.Y is not None:
            Y_indexed = np.asarray(to_numpy(self.Y))[nn_indices]
            if Y_indexed.ndim == 5:  # (B, C, N, N, 1)
                Y4d = np.transpose(Y_indexed, [0, 2, 3, 1, 4])[..., 0]
            else:
                Y4d = np.transpose(Y_indexed, [0, 2, 3, 1])
        elif self.objectGuess is not None:
            Y4d = get_image_patches(self.objectGuess, coords_offsets, coords_relative, N=N, gridsize=gridsize)
        else:
            Y4d = None  # PINN training needs no ground truth

        if self.xcoords_start is not None:
            coords_start_nn = _group_coords(self.xcoords_start, self.ycoords_start, nn_indices)
            coords_start_offsets, coords_start_relative = get_relative_coords(coords_start_nn)
        else:
            coords_start_offsets = coords_start_relative = coords_start_nn = None

        dset = {
            "diffraction": diffraction,
            "Y": Y4d,
            "coords_offsets": coords_offsets,
            "coords_relative": coords_relative,
            "coords_start_offsets": coords_start_offsets,
            "coords_start_relative": coords_start_relative,
            "coords_nn": coords_nn,
            "coords_start_nn": coords_start_nn,
            "nn_indices": nn_indices,
            "objectGuess": self.objectGuess,
        }
        if getattr(self, "sample_indices", None) is not None:
            dset["sample_indices"] = np.array(self.sample_indices, copy=True)
        dset["X_full"] = normalize_data(dset, N)
        logger.debug("grouped diffraction %s", dset["X_full"].shape)
        return dset

    # ---------------------------------------------------------------------------------------- validation
    def _check_data_validity(
        self, xcoords, ycoords, xcoords_start, ycoords_start, diff3d, probeGuess, scan_index
    ) -> None:
        """Raise :class:`RawDataValidationError` for inconsistent positions, patterns or scan index."""
        for name, arr in (
            ("xcoords", xcoords),
            ("ycoords", ycoords),
            ("xcoords_start", xcoords_start),
            ("ycoords_start", ycoords_start),
        ):
            if arr is None:
                raise RawDataValidationError(
                    f"{name} is None; RawData needs (M,) arrays for all four coordinate "
                    f"arrays (pass the positions again as *_start if there are none)"
                )
        if not (xcoords.shape == ycoords.shape == xcoords_start.shape == ycoords_start.shape):
            raise RawDataValidationError(
                f"Coordinate arrays must have matching shapes; got xcoords {xcoords.shape}, ycoords "
                f"{ycoords.shape}, xcoords_start {xcoords_start.shape}, ycoords_start {ycoords_start.shape}"
            )
        for name, arr in (
            ("xcoords", xcoords),
            ("ycoords", ycoords),
            ("xcoords_start", xcoords_start),
            ("ycoords_start", ycoords_start),
        ):
            _check_coords(name, arr)
        n = len(xcoords)
        if diff3d is not None:
            if diff3d.ndim != 3:
                raise RawDataValidationError(
                    f"diff3d must be a stack of diffraction patterns (M, N, N); got shape {diff3d.shape}"
                )
            if diff3d.shape[1] != diff3d.shape[2]:
                raise RawDataValidationError(
                    f"diffraction patterns must be square (M, N, N); got diff3d of shape {diff3d.shape} "
                    f"(crop or pad them to N x N)"
                )
            if len(diff3d) != n:
                raise RawDataValidationError(
                    f"diff3d has {len(diff3d)} patterns but there are {n} scan positions; they must match one to one"
                )
            bad = _count_non_finite(diff3d)
            if bad:
                raise RawDataValidationError(
                    f"diff3d contains {bad} non-finite value(s) (NaN or inf); repair them (e.g. inpaint bad "
                    f"pixels or set them to 0) or drop those patterns before building RawData"
                )
            negative = _count_negative(diff3d)
            if negative:
                raise RawDataValidationError(
                    f"diff3d contains {negative} negative value(s) (minimum {diff3d.min()}); diffraction data are "
                    f"photon counts or amplitudes and must be >= 0. Fix the background subtraction or detector "
                    f"offset, or clip them (np.clip(diff3d, 0, None)) before building RawData"
                )
            _warn_if_counts(diff3d)
        if scan_index is not None:
            if scan_index.ndim != 1:
                raise RawDataValidationError(f"scan_index must be 1-D (M,); got shape {scan_index.shape}")
            if len(scan_index) != n:
                raise RawDataValidationError(
                    f"scan_index has {len(scan_index)} entries but there are {n} scan positions"
                )


# ------------------------------------------------------------------------------------------- helpers
def _positive_int(value: Any, name: str) -> int:
    try:
        ok = int(value) == value and int(value) >= 1
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ValueError(f"{name} must be a positive integer; got {value!r}")
    return int(value)


def _draw_from_neighbours(neighbours: np.ndarray, C: int) -> np.ndarray:
    """``(n, C)`` int32 groups: ``C`` of each row's ``K`` neighbours, drawn without replacement.

    Draws exactly what ``np.random.choice(row, C, replace=False)`` row after row would (the original's loop):
    that call takes ``permutation(K)[:C]``, i.e. shuffles ``arange(K)`` with the legacy global RNG. Shuffling the
    rows of one ``(n, K)`` index array in place makes the same draws in the same order without the per-call
    overhead (6x faster at 100,000 seeds).
    """
    n, K = neighbours.shape
    order = np.empty((n, K), np.intp)
    order[:] = np.arange(K)
    shuffle = np.random.shuffle
    for row in order:
        shuffle(row)
    return np.take_along_axis(neighbours, order[:, :C], axis=1).astype(np.int32)


def _group_coords(x: np.ndarray, y: np.ndarray, nn_indices: np.ndarray) -> np.ndarray:
    """``(B, 1, 2, C)`` float64 coordinates of the groups, axis 2 = ``[x, y]``."""
    stacked = np.array([np.asarray(x, dtype=np.float64)[nn_indices], np.asarray(y, dtype=np.float64)[nn_indices]])
    return np.transpose(stacked, [1, 0, 2])[:, None, :, :]


def _read_npz_key(data: Any, key: str, path: Any) -> Any:
    try:
        return data[key]
    except ValueError as exc:  # a pickled object array
        with np.load(path, allow_pickle=True) as pickled:
            value = pickled[key]
        if value.dtype == object and value.shape == () and value.item() is None:
            return None  # the original's to_file wrote a missing objectGuess as a pickled None
        raise ValueError(
            f"{path}: key {key!r} holds a pickled object array {value.shape}; it must be a numeric "
            f"array. Expected NPZ schema: {_NPZ_SCHEMA}"
        ) from exc


def _read_metadata(path: Any) -> Optional[dict]:
    with np.load(path, allow_pickle=True) as data:
        raw = data["_metadata"]
    try:
        return json.loads(str(raw.item()))
    except (ValueError, TypeError) as exc:
        logger.warning("Could not parse _metadata in %s: %s", path, exc)
        return None


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
    """Object patches at the group positions ``global + local`` (channel format).

    Patch ``c`` of group ``b`` is the ``N×N`` window of ``gt_image`` (zero outside) whose pixel
    ``(N//2, N//2)`` sits on object pixel ``(y, x) = (global + local)[b, 0, ::-1, c]``, bilinearly interpolated:
    ``patch(r, q) = obj(r + y - N//2, q + x - N//2)`` (the original's pad-by-N//2, translate-by-minus-offset,
    keep-top-left, with offsets in float32).

    Args:
        gt_image: ``(H, W)`` (or ``(H, W, 1)``) real or complex object.
        global_offsets: ``(B, 1, 2, 1)`` group centres ``[x, y]``.
        local_offsets: ``(B, 1, 2, C)`` relative offsets (added to the centres as given).
        N, gridsize: patch size and grid side (``C = gridsize²``); default cfg.
    Returns:
        complex64 :class:`HostArray` ``(B, N, N, C)``.
    """
    N = int(params.get("N")) if N is None else int(N)
    gridsize = int(params.get("gridsize")) if gridsize is None else int(gridsize)
    c = gridsize**2
    img = to_numpy(gt_image)
    if img.ndim == 3 and img.shape[-1] == 1:
        img = img[..., 0]
    if img.ndim != 2:
        raise ValueError(f"gt_image must be a 2-D (H, W) object; got shape {img.shape}")
    offsets = (to_numpy(global_offsets) + to_numpy(local_offsets)).astype(np.float32)
    if offsets.ndim != 4 or offsets.shape[1:] != (1, 2, c):
        raise ValueError(
            f"global_offsets + local_offsets must have shape (B, 1, 2, {c}) for gridsize={gridsize}; "
            f"got {offsets.shape}"
        )
    flat = offsets.transpose(0, 3, 1, 2).reshape(-1, 2)  # row b*C + c = [x, y] of patch c of group b
    bad = _count_non_finite(flat)
    if bad:
        raise ValueError(f"patch offsets contain {bad} non-finite value(s); repair the scan positions")
    B = offsets.shape[0]
    if B == 0:
        return host(np.zeros((0, N, N, c), np.complex64))

    # Crop (N+1)x(N+1) windows at the integer part of each position, then shift by the fractional part.
    whole = np.floor(flat)
    frac = (flat - whole).astype(np.float32)
    whole = whole.astype(np.int64) - N // 2
    span = np.arange(N + 1)
    H, W = img.shape
    dtype = np.complex64 if np.iscomplexobj(img) else np.float32
    src = img.astype(dtype, copy=False)
    out = np.empty((B * c, N, N), np.complex64)
    chunk = max(1, _PATCH_CHUNK_PIXELS // (N + 1) ** 2)
    for start in range(0, B * c, chunk):
        stop = min(start + chunk, B * c)
        rows = whole[start:stop, 1, None] + span
        cols = whole[start:stop, 0, None] + span
        inside = ((rows >= 0) & (rows < H))[:, :, None] & ((cols >= 0) & (cols < W))[:, None, :]
        crops = src[np.clip(rows, 0, H - 1)[:, :, None], np.clip(cols, 0, W - 1)[:, None, :]] * inside
        shifts = -frac[start:stop]
        padded = min(chunk, 1 << (stop - start - 1).bit_length())  # few distinct shapes: fewer recompiles
        if padded > stop - start:
            crops = np.concatenate([crops, np.zeros((padded - len(crops),) + crops.shape[1:], crops.dtype)])
            shifts = np.concatenate([shifts, np.zeros((padded - len(shifts), 2), np.float32)])
        shifted = core.translate(crops[..., None], shifts)
        out[start:stop] = to_numpy(shifted)[: stop - start, :N, :N, 0]
    return host(out.reshape(B, c, N, N).transpose(0, 2, 3, 1))


def get_relative_coords(coords_nn) -> Tuple[np.ndarray, np.ndarray]:
    """``(offsets, relative)`` of grouped coordinates ``(M, 1, 2, C)``.

    ``offsets = mean over C`` → ``(M, 1, 2, 1)``; ``relative = local_offset_sign · (coords - offsets)`` →
    ``(M, 1, 2, C)`` (sign -1: relative = group centre - position).
    """
    coords_nn = np.asarray(coords_nn)
    if coords_nn.ndim != 4:
        raise RawDataValidationError(f"coords_nn must have shape (M, 1, 2, C); got {coords_nn.shape}")
    offsets = np.mean(coords_nn, axis=3)[..., None]
    return offsets, local_offset_sign * (coords_nn - offsets)


def get_neighbor_indices(xcoords, ycoords, K=3) -> np.ndarray:
    """``(M, K+1)`` indices of each point's ``K + 1`` nearest points (itself included, usually first)."""
    points = np.column_stack((np.asarray(xcoords), np.asarray(ycoords)))
    _, nn_indices = _kdtree_class()(points).query(points, k=K + 1)
    return nn_indices


def normalize_data(dset: dict, N: int) -> np.ndarray:
    """Scale ``dset['diffraction']`` (amplitudes, any real dtype) so the mean pattern energy is ``(N/2)²``.

    ``f = float32(sqrt((N/2)² / mean_{b,c} Σ_xy D²))`` with the squares and sums in float64 (no uint16
    overflow); returns ``f · float32(D)`` as float32.
    """
    normalised, _ = core.normalize_diffraction(dset["diffraction"], N)
    return normalised
