"""Reading the user's scan files for the command line: checked once, with one-line errors.

``--diffraction`` (:data:`~ptychopinn.parser.DIFFRACTION_KINDS`) says what ``diff3d`` holds: ``auto`` refuses
patterns that look like detector counts (:func:`ptycho_core.data.scan.looks_like_counts`; the ``ptycho`` API
only warns, as the original used them as given), ``amplitude`` takes them as given, ``intensity`` takes their
square root.
"""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

import numpy as np

from .parser import DIFFRACTION_KINDS

if TYPE_CHECKING:
    from ptycho_core.data import Scan

__all__ = ["UserError", "as_amplitudes", "counts_warning_silenced", "naming", "read_checked_scan"]


class UserError(Exception):
    """A mistake in the command's input (missing file, bad data, existing output): shown as one line."""


def read_checked_scan(path: Path, diffraction: str = "auto", **checks: Any) -> Scan:
    """The scan in the NPZ ``path``, validated (``checks`` go to :meth:`Scan.validate`); errors as UserError.

    ``diffraction``: ``"auto"`` refuses patterns that look like detector counts
    (:func:`ptycho_core.data.scan.looks_like_counts`), ``"amplitude"`` takes them as given, ``"intensity"``
    takes their square root.
    """
    from ptycho_core.data import read_scan

    if not Path(path).is_file():
        raise UserError(f"data file not found: {path}")
    try:
        scan = as_amplitudes(read_scan(path), path, diffraction)
        with counts_warning_silenced(diffraction != "auto"):
            return scan.validate(**checks)
    except (KeyError, ValueError) as exc:
        raise UserError(naming(path, exc)) from exc


def as_amplitudes(scan: Scan, path: Path, diffraction: str) -> Scan:
    """``scan`` with amplitude patterns, following ``--diffraction`` (see :func:`read_checked_scan`)."""
    from ptycho_core.data.scan import looks_like_counts

    if diffraction not in DIFFRACTION_KINDS:
        raise UserError(f"--diffraction must be one of {', '.join(DIFFRACTION_KINDS)}; got {diffraction!r}")
    patterns = scan.diffraction
    if patterns is None or diffraction == "amplitude":
        return scan
    if not isinstance(patterns, np.ndarray):  # rows on disk (streaming): judge the first ones
        if diffraction == "intensity":
            raise UserError(f"{path}: --diffraction intensity needs the patterns in memory; use --stream off")
        patterns = patterns.read(np.arange(min(8, len(patterns))))
    if diffraction == "intensity":
        if np.iscomplexobj(patterns) or (patterns.size and float(np.min(patterns)) < 0):
            raise UserError(f"{path}: intensities must be real and non-negative (counts); these are not")
        return scan.replace(diffraction=np.sqrt(patterns.astype(np.float32, copy=False)))
    kind = looks_like_counts(patterns)
    if kind is not None:
        raise UserError(
            f"{path}: diff3d looks like detector counts (intensities: {kind}), but amplitudes (square roots of "
            f"counts) are expected; pass --diffraction intensity to take their square root, or --diffraction "
            f"amplitude to use them as given"
        )
    return scan


class _NoCountsWarning(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "look like raw detector counts" not in record.getMessage()


@contextlib.contextmanager
def counts_warning_silenced(silence: bool) -> Iterator[None]:
    """Drop the engine's "these look like counts" warning when the user said what the patterns are."""
    scan_logger = logging.getLogger("ptycho_core.data.scan")
    quiet = _NoCountsWarning()
    if silence:
        scan_logger.addFilter(quiet)
    try:
        yield
    finally:
        scan_logger.removeFilter(quiet)


def naming(path: Path, exc: Exception) -> str:
    """The error message, prefixed with the file it is about unless it names the file already."""
    message = str(exc.args[0]) if isinstance(exc, KeyError) and exc.args else str(exc)
    return message if str(path) in message else f"{path}: {message}"
