"""The scan container: one ptychographic scan and the one place that checks it.

A :class:`Scan` holds what a reconstruction needs from an experiment or a simulation:

* ``diffraction`` ``(M, N, N)``: diffraction AMPLITUDES (square roots of photon counts), any real dtype, kept as
  given; either an array in memory or an :class:`~ptycho_core.array_rows.ArrayRows` that reads rows from disk
  (streaming);
* ``x``, ``y`` ``(M,)``: scan positions in object pixels (x = column, y = row); ``x_start``/``y_start`` the
  positions fed to the model (default: the same arrays);
* ``probe`` ``(N, N)`` complex (a Ptychodus mode stack ``(modes, N, N)`` keeps mode 0, with a warning);
* optionally the true ``object`` ``(H, W)``, a ``scan_index`` ``(M,)`` and ``metadata`` (a dict).

:meth:`Scan.validate` owns every input check and its message; the command line, the ``ptycho`` API
(``RawData``) and streaming reconstruction all call it. Messages name the arrays by their keys in the NPZ
schema (``diff3d``, ``xcoords``, ``probeGuess``, ...), the names users see in their files.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from typing import Any, Dict, Optional, Union

import numpy as np

from ..array_rows import ArrayRows
from ..types import ArrayLike

logger = logging.getLogger(__name__)

__all__ = [
    "Scan",
    "ScanError",
    "as_probe_2d",
    "check_diffraction_rows",
    "count_non_finite",
    "looks_like_counts",
]

#: The NPZ key of each field: messages use these names.
LABELS = {
    "diffraction": "diff3d",
    "x": "xcoords",
    "y": "ycoords",
    "x_start": "xcoords_start",
    "y_start": "ycoords_start",
    "probe": "probeGuess",
    "object": "objectGuess",
    "scan_index": "scan_index",
}

Diffraction = Union[np.ndarray, ArrayRows]


class ScanError(ValueError):
    """Invalid scan data; the message names the problem and the fix."""


def count_non_finite(arr: np.ndarray) -> int:
    """Number of NaN/inf entries of a float or complex array (0 for other dtypes)."""
    if arr.dtype.kind not in "fc" or arr.size == 0:
        return 0
    # one float64 reduction first: finite data (the normal case) needs no boolean temporary
    if np.isfinite(np.sum(arr, dtype=np.complex128 if arr.dtype.kind == "c" else np.float64)):
        return 0
    return int(arr.size - np.count_nonzero(np.isfinite(arr)))


def _count_negative(arr: np.ndarray) -> int:
    if arr.dtype.kind not in "if" or arr.size == 0 or arr.min() >= 0:
        return 0
    return int(np.count_nonzero(arr < 0))


def as_probe_2d(probe: Any, what: str = "probeGuess") -> Optional[np.ndarray]:
    """A 2-D probe from ``(H, W)``, ``(N, N, 1)`` or a Ptychodus mode stack ``(modes, N, N)`` (mode 0, warned)."""
    if probe is None:
        return None
    arr = np.asarray(probe)
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
    raise ScanError(
        f"{what} must be a 2-D probe (H, W), (N, N, 1) or a Ptychodus mode stack (modes, N, N); got shape {arr.shape}"
    )


def check_diffraction_rows(rows: np.ndarray, patterns: np.ndarray) -> None:
    """Refuse complex, non-finite or negative amplitudes in a chunk; ``patterns[i]`` is the index of row ``i``.

    The chunk-wise form of :meth:`Scan.validate`'s value checks, for patterns read from disk (streaming).
    """
    if np.iscomplexobj(rows):
        raise ScanError(
            f"diffraction must be real amplitudes; got {rows.dtype} (pass np.abs of the complex "
            "field, or the square root of measured counts)"
        )
    bad = ~np.isfinite(rows)
    if bad.any():
        pattern = int(patterns[np.flatnonzero(bad.reshape(len(rows), -1).any(axis=1))[0]])
        raise ScanError(
            f"diffraction pattern {pattern} contains NaN or inf; repair it (e.g. inpaint bad pixels "
            "or set them to 0) or drop that scan point"
        )
    if rows.min(initial=0) < 0:
        pattern = int(patterns[np.flatnonzero((rows < 0).reshape(len(rows), -1).any(axis=1))[0]])
        raise ScanError(
            f"diffraction pattern {pattern} has negative values; diffraction must be amplitudes "
            "(square roots of non-negative counts)"
        )


def looks_like_counts(diffraction: np.ndarray) -> Optional[str]:
    """How ``diffraction`` looks like detector counts (intensities) rather than amplitudes, or None.

    Amplitudes are square roots of counts, so most are not whole numbers; counts are. The test: integer dtype,
    or (first 8 patterns) every value within float rounding (``1e-5`` relative) of a whole number and the
    largest at least 2. Squared float32 amplitudes pass it; a ``√k`` rarely does for a whole pattern.
    """
    if diffraction.size == 0:
        return None
    if diffraction.dtype.kind in "iu":
        return f"integer ({diffraction.dtype}) values, max {diffraction.max()}"
    if diffraction.dtype.kind != "f":
        return None
    sample = np.asarray(diffraction[: min(len(diffraction), 8)], np.float64)
    whole = np.abs(sample - np.round(sample)) <= 1e-5 * np.maximum(1.0, np.abs(sample))
    if bool(np.all(whole)) and float(np.max(sample)) >= 2:
        return f"whole-number {diffraction.dtype} values, max {float(np.max(sample)):.4g}"
    return None


def _warn_if_counts(diffraction: np.ndarray) -> None:
    """Warn when the patterns look like raw detector counts (intensities) rather than amplitudes."""
    kind = looks_like_counts(diffraction)
    if kind is not None:
        logger.warning(
            "diff3d holds %s: these look like raw detector counts (intensity), but PtychoPINN expects "
            "diffraction AMPLITUDES (sqrt of counts). They are used as given, like the original did; if they are "
            "counts, pass np.sqrt(counts) instead.",
            kind,
        )


def _as_array(x: Any) -> Any:
    """NumPy arrays (and row readers) as given; lists and scalars through NumPy; backend tensors via Keras."""
    if x is None or isinstance(x, (np.ndarray, ArrayRows)):
        return x
    if isinstance(x, (list, tuple, int, float, complex, np.generic)):
        return np.asarray(x)
    from keras import ops  # lazy: reading and checking scans needs no backend

    return np.asarray(ops.convert_to_numpy(x))


@dataclass
class Scan:
    """One ptychographic scan (see the module docstring for the fields' shapes and units).

    Constructing a Scan converts array-likes to NumPy (NumPy arrays are kept as the same objects) and reduces a
    probe mode stack to mode 0; it checks nothing: call :meth:`validate`.
    """

    diffraction: Optional[Diffraction]
    x: np.ndarray
    y: np.ndarray
    probe: Optional[np.ndarray]
    object: Optional[np.ndarray] = None
    x_start: Optional[np.ndarray] = None
    y_start: Optional[np.ndarray] = None
    scan_index: Optional[np.ndarray] = None
    metadata: Optional[Dict[str, Any]] = None

    def __post_init__(self) -> None:
        for name in ("diffraction", "x", "y", "object", "x_start", "y_start", "scan_index"):
            setattr(self, name, _as_array(getattr(self, name)))
        if self.x_start is None:
            self.x_start = self.x
        if self.y_start is None:
            self.y_start = self.y
        self.probe = as_probe_2d(_as_array(self.probe))

    # ------------------------------------------------------------------------------------------ properties
    def __len__(self) -> int:
        return int(np.shape(self.x)[0])

    @property
    def N(self) -> int:
        """Pattern size in pixels (from the diffraction, else the probe)."""
        if self.diffraction is not None:
            return int(self.diffraction.shape[-1])
        if self.probe is None:
            raise ScanError("the scan has neither diffraction patterns nor a probe; its size N is unknown")
        return int(self.probe.shape[-1])

    @property
    def nphotons(self) -> Optional[float]:
        """``metadata['physics_parameters']['nphotons']`` when the file recorded it, else None."""
        physics = (self.metadata or {}).get("physics_parameters") if isinstance(self.metadata, dict) else None
        value = physics.get("nphotons") if isinstance(physics, dict) else None
        return None if value is None else float(value)

    def replace(self, **changes: Any) -> Scan:
        return dataclasses.replace(self, **changes)

    def subset(self, rows: ArrayLike) -> Scan:
        """The scan points ``rows`` (diffraction in memory required)."""
        rows = np.asarray(rows)
        if self.diffraction is not None and not isinstance(self.diffraction, np.ndarray):
            raise ScanError("subset needs the diffraction patterns in memory")
        take = {
            name: None if getattr(self, name) is None else getattr(self, name)[rows]
            for name in ("diffraction", "x", "y", "x_start", "y_start", "scan_index")
        }
        return self.replace(**take)

    def oriented(
        self, *, flip_x: bool = False, flip_y: bool = False, swap_xy: bool = False, scale: float = 1.0
    ) -> Scan:
        """The scan with its positions and start positions re-oriented, in this order: ``x → −x``
        (``flip_x``), ``y → −y`` (``flip_y``), ``x ↔ y`` (``swap_xy``), then both times ``scale``."""
        x, y = self.x, self.y
        x0 = x if self.x_start is None else self.x_start
        y0 = y if self.y_start is None else self.y_start
        if flip_x:
            x, x0 = -x, -x0
        if flip_y:
            y, y0 = -y, -y0
        if swap_xy:
            x, y, x0, y0 = y, x, y0, x0
        return self.replace(x=x * scale, y=y * scale, x_start=x0 * scale, y_start=y0 * scale)

    # ------------------------------------------------------------------------------------------ checks
    def validate(self, *, N: Optional[int] = None, gridsize: Optional[int] = None) -> Scan:
        """Check the scan; returns it, or raises :class:`ScanError` naming the problem and the fix.

        Checks: 1-D finite positions of one length; square ``(M, N, N)`` patterns, one per position, finite
        and non-negative (values only when in memory: streamed patterns are checked chunk by chunk with
        :func:`check_diffraction_rows`); a probe of the pattern size; a 1-D scan index of length M; a 2-D
        object. With ``N``: the patterns (or, without patterns, the probe) are ``N x N``. With ``gridsize``: at least
        ``gridsize²`` scan points. Patterns that look like counts (:func:`looks_like_counts`) log a warning.
        """
        self._check_positions()
        n = len(self)
        d = self.diffraction
        if d is not None:
            shape = tuple(d.shape)
            if len(shape) != 3:
                raise ScanError(f"diff3d must be a stack of diffraction patterns (M, N, N); got shape {shape}")
            if shape[1] != shape[2]:
                raise ScanError(
                    f"diffraction patterns must be square (M, N, N); got diff3d of shape {shape} "
                    f"(crop or pad them to N x N)"
                )
            if shape[0] != n:
                raise ScanError(
                    f"diff3d has {shape[0]} patterns but there are {n} scan positions; they must match one to one"
                )
            if isinstance(d, np.ndarray):
                self._check_values(d)
        if self.probe is not None and d is not None and tuple(self.probe.shape) != tuple(d.shape[1:]):
            raise ScanError(
                f"probeGuess is {self.probe.shape[0]}x{self.probe.shape[1]} but the diffraction patterns are "
                f"{d.shape[1]}x{d.shape[2]}; the probe must be N x N with N the pattern size (the model's "
                f"N). Resample or crop/pad the probe to {d.shape[1]}x{d.shape[2]} pixels (same pixel size as "
                f"the object), or crop the patterns to the probe's size"
            )
        if self.object is not None and self.object.ndim != 2:
            raise ScanError(f"objectGuess must be a 2-D (H, W) array; got shape {self.object.shape}")
        if self.scan_index is not None:
            if self.scan_index.ndim != 1:
                raise ScanError(f"scan_index must be 1-D (M,); got shape {self.scan_index.shape}")
            if len(self.scan_index) != n:
                raise ScanError(f"scan_index has {len(self.scan_index)} entries but there are {n} scan positions")
        if N is not None and d is not None and int(d.shape[-1]) != int(N):
            raise ScanError(
                f"the scan holds {d.shape[1]}x{d.shape[2]} patterns but the model is for N={N}; use data of the "
                f"same detector size or a model for N={d.shape[-1]}"
            )
        if N is not None and d is None and self.probe is not None and tuple(self.probe.shape) != (int(N), int(N)):
            raise ScanError(
                f"probeGuess is {self.probe.shape[0]}x{self.probe.shape[1]} but N = {N}; the probe must be N x N "
                f"(resample or crop/pad it, or set N to the probe size)"
            )
        if gridsize is not None and n < int(gridsize) ** 2:
            raise ScanError(
                f"the scan has {n} points but gridsize {gridsize} groups {int(gridsize) ** 2} of them; "
                f"use gridsize=1 or a scan with more points"
            )
        return self

    def _check_positions(self) -> None:
        arrays = {name: getattr(self, name) for name in ("x", "y", "x_start", "y_start")}
        for name, arr in arrays.items():
            if arr is None:
                raise ScanError(
                    f"{LABELS[name]} is None; a scan needs (M,) arrays for all four coordinate arrays "
                    f"(pass the positions again as *_start if there are none)"
                )
        shapes = {name: arr.shape for name, arr in arrays.items()}
        if len(set(shapes.values())) != 1:
            listed = ", ".join(f"{LABELS[name]} {shape}" for name, shape in shapes.items())
            raise ScanError(f"Coordinate arrays must have matching shapes; got {listed}")
        for name, arr in arrays.items():
            if arr.ndim != 1:
                raise ScanError(f"{LABELS[name]} must be a 1-D array of scan positions (M,); got shape {arr.shape}")
            bad = count_non_finite(arr)
            if bad:
                raise ScanError(
                    f"{LABELS[name]} contains {bad} non-finite value(s) (NaN or inf); drop those scan points (and "
                    f"their diffraction patterns) or repair the positions"
                )

    @staticmethod
    def _check_values(d: np.ndarray) -> None:
        if d.dtype.kind == "c":
            raise ScanError(
                f"diff3d must be real amplitudes; got {d.dtype} (pass np.abs of the complex field, or the square "
                f"root of measured counts)"
            )
        bad = count_non_finite(d)
        if bad:
            raise ScanError(
                f"diff3d contains {bad} non-finite value(s) (NaN or inf); repair them (e.g. inpaint bad "
                f"pixels or set them to 0) or drop those patterns"
            )
        negative = _count_negative(d)
        if negative:
            raise ScanError(
                f"diff3d contains {negative} negative value(s) (minimum {d.min()}); diffraction data are "
                f"photon counts or amplitudes and must be >= 0. Fix the background subtraction or detector "
                f"offset, or clip them (np.clip(diff3d, 0, None))"
            )
        _warn_if_counts(d)
