"""The NPZ scan schema: read a :class:`~ptycho_core.data.scan.Scan` from a file, write one atomically.

The schema is the original PtychoPINN's (and Ptychodus' export):

* required: ``xcoords``, ``ycoords`` ``(M,)`` scan positions in object pixels; ``diff3d`` ``(M, N, N)``
  diffraction amplitudes; ``probeGuess`` ``(N, N)`` complex (or a ``(modes, N, N)`` mode stack);
* optional: ``xcoords_start``, ``ycoords_start`` ``(M,)`` (default: the positions), ``scan_index`` ``(M,)`` int
  (default zeros), ``objectGuess`` ``(H, W)`` complex, ``_metadata`` (a 0-d string array holding JSON);
* any other key (e.g. Ptychodus' ``bad_pixels``) is ignored.

Nothing is unpickled: a key holding a pickled ``None`` (how the original wrote a missing ``objectGuess``) reads
as absent, any other pickled object array is refused. :func:`open_diffraction` reads the patterns by rows
without loading them (:mod:`ptycho_core.array_rows`).
"""

from __future__ import annotations

import json
import logging
import zipfile
from pathlib import Path
from typing import Any, Dict, Literal, Optional

import numpy as np

from ..array_rows import RowReader, open_rows
from ..atomic import Existing, atomic_target
from ..types import PathLike
from .scan import Scan

logger = logging.getLogger(__name__)

__all__ = [
    "REQUIRED_KEYS",
    "OPTIONAL_KEYS",
    "SCHEMA",
    "read_scan",
    "read_truth_patches",
    "write_scan",
    "open_diffraction",
    "scan_arrays",
]

REQUIRED_KEYS = ("xcoords", "ycoords", "diff3d", "probeGuess")
OPTIONAL_KEYS = ("xcoords_start", "ycoords_start", "scan_index", "objectGuess")
SCHEMA = (
    "required: xcoords (M,) and ycoords (M,) scan positions in object pixels, diff3d (M, N, N) diffraction "
    "amplitudes, probeGuess (N, N) complex (or a (modes, N, N) mode stack); optional: xcoords_start and "
    "ycoords_start (M,) (default: the positions), scan_index (M,) int (default: zeros), objectGuess (H, W) "
    "complex; other keys are ignored"
)


#: ``"schema"``: this module's schema; ``"workflow"``: the original ``load_data``'s rules (see :func:`read_scan`)
ReadRules = Literal["schema", "workflow"]


class SchemaError(ValueError):
    """An NPZ file that does not follow the scan schema."""


class MissingKeysError(SchemaError, KeyError):
    """Required keys are absent (also a ``KeyError``, what indexing an ``NpzFile`` raises)."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


def _unpickle_member(path: PathLike, key: str) -> np.ndarray:
    """The object array ``key`` of the NPZ at ``path``, unpickled by the restricted reader
    (:func:`ptycho_core.safe_pickle.safe_load`: plain data only, nothing from the file is imported or run)."""
    from ..safe_pickle import safe_load

    with zipfile.ZipFile(path) as archive, archive.open(f"{key}.npy") as member:
        major, _ = np.lib.format.read_magic(member)
        width = 2 if major == 1 else 4  # the .npy header's length field: 2 bytes in format 1.0, else 4
        member.read(int.from_bytes(member.read(width), "little"))  # skip the header; the pickle follows
        return np.asarray(safe_load(member.read(), f"{path}:{key}"))


def _read_key(data: Any, key: str, path: PathLike) -> Any:
    try:
        return data[key]
    except ValueError as exc:  # a pickled object array
        value = _unpickle_member(path, key)  # only to tell a pickled None from anything else
        if value.dtype == object and value.shape == () and value.item() is None:
            return None
        raise SchemaError(
            f"{path}: key {key!r} holds a pickled object array {value.shape}; it must be a numeric "
            f"array. Expected NPZ schema: {SCHEMA}"
        ) from exc


def _read_metadata(data: Any, path: PathLike) -> Optional[Dict[str, Any]]:
    try:
        raw = data["_metadata"]
    except ValueError:  # written pickled by some tools
        raw = _unpickle_member(path, "_metadata")
    try:
        value = json.loads(str(raw.item()))
    except (ValueError, TypeError) as exc:
        logger.warning("Could not parse _metadata in %s: %s", path, exc)
        return None
    return value if isinstance(value, dict) else None


def read_scan(path: PathLike, *, load_diffraction: bool = True, rules: ReadRules = "schema") -> Scan:
    """Read the scan in the NPZ ``path`` (not validated: call ``.validate()``).

    Args:
        load_diffraction: False leaves ``diffraction`` None (the key must still be present), so only positions,
            probe and object are read; read the patterns with :func:`open_diffraction`.
        rules: ``"schema"`` (the module docstring) or ``"workflow"``, the reading rules of the original's
            ``ptycho.workflows.components.load_data``: ``xcoords_start``/``ycoords_start`` required, the patterns
            under ``diff3d`` or ``diffraction``, as ``(M, N, N)``, ``(M, N, N, 1)`` or ``(N, N, M)``; the file's
            ``scan_index`` and ``_metadata`` are not read (zeros and None).
    Raises:
        FileNotFoundError: no such file. SchemaError (a ``ValueError``): not an NPZ, a pickled array, patterns
            that fit no layout; MissingKeysError (a SchemaError and a ``KeyError``): missing required keys (the
            message lists the keys present and the schema).
    """
    if rules not in ("schema", "workflow"):
        raise ValueError(f"rules must be 'schema' or 'workflow', not {rules!r}")
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"data file not found: {path}")
    if not zipfile.is_zipfile(path):
        raise SchemaError(f"{path} is not an NPZ file (a zip of .npy arrays). Expected NPZ schema: {SCHEMA}")
    workflow = rules == "workflow"
    with np.load(path, allow_pickle=False) as data:
        present = set(data.files)
        patterns_key = "diffraction" if workflow and "diff3d" not in present and "diffraction" in present else "diff3d"
        required = REQUIRED_KEYS + (("xcoords_start", "ycoords_start") if workflow else ())
        missing = [k for k in required if k not in present and not (k == "diff3d" and patterns_key in present)]
        if missing:
            hint = ""
            if "diff3d" in missing and "diffraction" in present:
                hint = " The file has 'diffraction': the schema names the patterns 'diff3d'."
            raise MissingKeysError(
                f"{path}: missing required key(s) {missing}; the file has {sorted(present)}. "
                f"Expected NPZ schema: {SCHEMA}.{hint}"
            )
        keys = REQUIRED_KEYS + (("xcoords_start", "ycoords_start", "objectGuess") if workflow else OPTIONAL_KEYS)
        values: Dict[str, Any] = {}
        for key in keys:
            source = patterns_key if key == "diff3d" else key
            if source in present and (load_diffraction or key != "diff3d"):
                values[key] = _read_key(data, source, path)
        metadata = _read_metadata(data, path) if "_metadata" in present and not workflow else None
    n = len(np.atleast_1d(values["xcoords"]))
    if workflow and values.get("diff3d") is not None:
        values["diff3d"] = _patterns_first(values["diff3d"], n, path)
    if workflow:  # the original's loader read the coordinates as float64
        for key in ("xcoords", "ycoords", "xcoords_start", "ycoords_start"):
            values[key] = np.asarray(values[key], np.float64)
    return Scan(
        diffraction=values.get("diff3d"),
        x=values["xcoords"],
        y=values["ycoords"],
        probe=values["probeGuess"],
        object=values.get("objectGuess"),
        x_start=values.get("xcoords_start", values["xcoords"]),
        y_start=values.get("ycoords_start", values["ycoords"]),
        scan_index=values.get("scan_index", np.zeros(n, dtype=int)),
        metadata=metadata,
    )


def _patterns_first(patterns: np.ndarray, count: int, path: PathLike) -> np.ndarray:
    """Patterns ``(M, N, N, 1)`` or ``(N, N, M)`` as ``(M, N, N)`` (the workflow rules' layouts)."""
    if patterns.ndim == 4 and patterns.shape[-1] == 1:
        patterns = patterns[..., 0]
    if patterns.ndim != 3:
        raise SchemaError(f"{path}: the diffraction patterns must be (M, N, N) or (M, N, N, 1), not {patterns.shape}")
    if patterns.shape[0] == count:
        return patterns
    if patterns.shape[-1] == count:
        return np.transpose(patterns, (2, 0, 1))
    raise SchemaError(
        f"{path}: the diffraction patterns {patterns.shape} do not match the {count} positions; expected "
        f"({count}, N, N) or (N, N, {count})"
    )


def read_truth_patches(path: PathLike, count: int) -> Optional[np.ndarray]:
    """The optional per-pattern ground-truth patches ``Y`` ``(M, N, N[, 1])`` of the NPZ ``path``, or None.

    A ``Y`` whose first axis is not ``count`` (the number of positions) is ignored with a warning.
    """
    with np.load(path, allow_pickle=False) as data:
        patches = _read_key(data, "Y", path) if "Y" in data.files else None
    if patches is not None and patches.shape[0] != count:
        logger.warning("Ignoring NPZ 'Y' with incompatible shape %s (expected first axis %d)", patches.shape, count)
        return None
    return patches


def open_diffraction(path: PathLike, spill_dir: Optional[PathLike] = None) -> RowReader:
    """The ``diff3d`` patterns of the NPZ ``path`` as rows read on demand (close it, or use ``with``)."""
    return open_rows(path, "diff3d", spill_dir=spill_dir)


def diffraction_bytes(path: PathLike) -> int:
    """Uncompressed size of ``diff3d`` in an NPZ (0 if it cannot be told without reading it)."""
    try:
        with zipfile.ZipFile(path) as archive:
            return int(archive.getinfo("diff3d.npy").file_size)
    except (zipfile.BadZipFile, KeyError, OSError):
        return 0


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"metadata value {value!r} is not JSON-serialisable")


def scan_arrays(scan: Scan) -> Dict[str, Any]:
    """The arrays of ``scan`` under their NPZ keys (absent fields are left out; metadata as a JSON string)."""
    if scan.diffraction is not None and not isinstance(scan.diffraction, np.ndarray):
        raise SchemaError("write_scan needs the diffraction patterns in memory")
    arrays: Dict[str, Any] = {
        "xcoords": scan.x,
        "ycoords": scan.y,
        "xcoords_start": scan.x_start,
        "ycoords_start": scan.y_start,
        "diff3d": scan.diffraction,
        "probeGuess": scan.probe,
        "objectGuess": scan.object,
        "scan_index": scan.scan_index,
    }
    arrays = {key: value for key, value in arrays.items() if value is not None}
    if scan.metadata is not None:
        arrays["_metadata"] = np.array(json.dumps(dict(scan.metadata), default=_json_default))
    return arrays


def write_scan(path: PathLike, scan: Scan, *, existing: Existing = "refuse", compressed: bool = False) -> Path:
    """Write ``scan`` to ``path`` in the schema, atomically; returns ``path`` (used exactly as given).

    The file goes to a temporary file in the target folder, is fsynced and renamed onto ``path``, so a reader
    never sees a partial file. ``existing``: ``"refuse"`` (``FileExistsError``), ``"replace"`` or ``"backup"``
    (the previous file is kept as ``name.~N~.npz``). Uncompressed files can be streamed by rows in place.
    """
    target = Path(path)
    if target.is_dir():
        raise SchemaError(f"{target} is a directory; give a file path such as {target / 'data.npz'}")
    arrays = scan_arrays(scan)
    save = np.savez_compressed if compressed else np.savez
    with atomic_target(target, existing) as tmp:
        with open(tmp, "wb") as handle:
            save(handle, **arrays)
    return target
