"""The data layer: scans, their file format, neighbour grouping and training batches.

* :mod:`~ptycho_core.data.scan`: :class:`Scan` (diffraction, positions, probe, object) and
  :meth:`Scan.validate`, the one place that checks input data;
* :mod:`~ptycho_core.data.npz`: the NPZ schema, :func:`read_scan` / :func:`write_scan` (atomic);
* :mod:`~ptycho_core.data.grouping`: :func:`group_neighbours` (the original's groups for the same seed);
* :mod:`~ptycho_core.data.grouped`: :func:`group_scan`, grouped and normalised model input;
* :mod:`~ptycho_core.data.patches`: ground-truth object patches at sub-pixel positions;
* :mod:`~ptycho_core.data.batches`: :class:`TrainingBatches` and :func:`make_targets`.
"""

from typing import Any

from .grouping import Groups, group_neighbours
from .npz import SCHEMA, diffraction_bytes, open_diffraction, read_scan, write_scan
from .scan import Scan, ScanError

#: names from modules that use Keras, imported on first use so that reading and checking scans needs no backend
_LAZY = {
    "TrainingBatches": "batches",
    "make_targets": "batches",
    "GroupedScan": "grouped",
    "group_scan": "grouped",
    "object_patches_at": "patches",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from importlib import import_module

        return getattr(import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "SCHEMA",
    "GroupedScan",
    "Groups",
    "Scan",
    "ScanError",
    "TrainingBatches",
    "diffraction_bytes",
    "group_neighbours",
    "group_scan",
    "make_targets",
    "object_patches_at",
    "open_diffraction",
    "read_scan",
    "write_scan",
]
