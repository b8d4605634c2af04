"""Read rows of a large array on disk without loading it: a ``.npy`` file or an array inside an ``.npz``.

A streaming reconstruction reads diffraction patterns a chunk at a time. :func:`open_rows` gives a
:class:`RowReader` whose :meth:`~RowReader.read` returns the rows at any indices, read with plain file reads
into a fresh array (nothing is memory-mapped, so the process keeps only what it asked for):

* ``.npy`` files and arrays stored uncompressed in an ``.npz`` (``np.savez``, ``RawData.to_file``) are read in
  place, by offset;
* arrays compressed in an ``.npz`` (``np.savez_compressed``) cannot be read by offset: they are first
  decompressed, a block at a time, into a temporary ``.npy`` file (deleted on :meth:`~RowReader.close`), so disk
  space for the uncompressed array is needed, memory is not.

:class:`ArrayRows` gives the same interface over an array already in memory.
"""

from __future__ import annotations

import io
import os
import shutil
import tempfile
import zipfile
from pathlib import Path
from typing import BinaryIO, Optional, Tuple

import numpy as np

from .types import ArrayLike, PathLike

#: Bytes copied at once when decompressing a compressed member to a temporary file.
_SPILL_BLOCK = 16 << 20


class ArrayRows:
    """Rows of an in-memory array, with :class:`RowReader`'s interface."""

    def __init__(self, array: ArrayLike) -> None:
        self._array = np.asarray(array)
        self.shape: Tuple[int, ...] = tuple(self._array.shape)
        self.dtype = self._array.dtype

    def __len__(self) -> int:
        return self.shape[0]

    def read(self, indices: ArrayLike, out: Optional[np.ndarray] = None) -> np.ndarray:
        """Rows ``array[indices]`` (a copy, or written into ``out``), shape ``(len(indices),) + shape[1:]``."""
        idx = _check_indices(indices, self.shape[0])
        if out is None:
            return np.array(self._array[idx])
        np.take(self._array, idx, axis=0, out=_check_out(out, len(idx), self.shape, self.dtype))
        return out

    def close(self) -> None:
        pass

    def __enter__(self) -> ArrayRows:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class RowReader(ArrayRows):
    """Rows of a C-ordered array stored in a file at byte ``offset``; see :func:`open_rows`."""

    def __init__(
        self,
        file: io.BufferedIOBase,
        offset: int,
        shape: Tuple[int, ...],
        dtype: np.dtype,
        source: str,
        temporary: Optional[Path] = None,
    ) -> None:
        self._file, self._offset, self._temporary = file, int(offset), temporary
        self.shape, self.dtype, self.source = tuple(shape), np.dtype(dtype), source
        self._row_bytes = int(np.prod(self.shape[1:], dtype=np.int64)) * self.dtype.itemsize

    def read(self, indices: ArrayLike, out: Optional[np.ndarray] = None) -> np.ndarray:
        """The rows at ``indices`` (1-D integers, any order, repeats allowed), ``(k,) + shape[1:]``.

        Consecutive indices are read with one file read each run. With ``out`` (C-contiguous, of the stored dtype)
        the rows are written there and ``out`` is returned, so a caller reading chunk after chunk reuses one
        buffer; sorted distinct indices are then read straight into it, others through one temporary copy.
        """
        idx = _check_indices(indices, self.shape[0])
        if out is not None:
            _check_out(out, len(idx), self.shape, self.dtype)
        in_order = bool(np.all(np.diff(idx) > 0)) if len(idx) > 1 else True
        if in_order:
            unique, inverse = idx, None
            target = out if out is not None else np.empty((len(idx),) + self.shape[1:], self.dtype)
        else:
            unique, inverse = np.unique(idx, return_inverse=True)
            target = np.empty((len(unique),) + self.shape[1:], self.dtype)
        self._read_sorted(unique, target)
        if inverse is None:
            return target
        if out is None:
            return target[inverse.reshape(-1)]
        np.take(target, inverse.reshape(-1), axis=0, out=out)
        return out

    def _read_sorted(self, unique: np.ndarray, out: np.ndarray) -> None:
        """Read the rows at sorted distinct ``unique`` into ``out`` (one file read per run of consecutive rows)."""
        if not len(unique):
            return
        flat = out.reshape(-1).view(np.uint8).reshape(len(unique), self._row_bytes)
        breaks = np.flatnonzero(np.diff(unique) != 1) + 1
        for run in np.split(np.arange(len(unique)), breaks):
            if not len(run):
                continue
            self._file.seek(self._offset + int(unique[run[0]]) * self._row_bytes)
            view = flat[run[0] : run[-1] + 1].reshape(-1).data  # a memoryview of the rows' bytes
            got = self._file.readinto(view)
            if got != len(view):
                raise ValueError(
                    f"{self.source}: file ends early (truncated?); expected {self.shape} {self.dtype} data"
                )

    def close(self) -> None:
        self._file.close()
        if self._temporary is not None:
            self._temporary.unlink(missing_ok=True)
            self._temporary = None


def _check_out(out: np.ndarray, k: int, shape: Tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    if out.shape != (k,) + tuple(shape[1:]) or out.dtype != dtype or not out.flags.c_contiguous:
        raise ValueError(
            f"out must be a C-contiguous {dtype} array of shape {(k,) + tuple(shape[1:])}; got {out.dtype} {out.shape}"
        )
    return out


def _check_indices(indices: ArrayLike, n: int) -> np.ndarray:
    idx = np.asarray(indices)
    if idx.ndim != 1 or not np.issubdtype(idx.dtype, np.integer):
        raise ValueError(f"row indices must be a 1-D integer array; got {idx.dtype} of shape {idx.shape}")
    if idx.size and (idx.min() < 0 or idx.max() >= n):
        raise IndexError(f"row indices must lie in [0, {n}); got {idx.min()}..{idx.max()}")
    return idx


def _npy_header(file: BinaryIO, source: str) -> Tuple[Tuple[int, ...], np.dtype]:
    """Parse a ``.npy`` header at the file's position; leaves the file at the first data byte."""
    try:
        version = np.lib.format.read_magic(file)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(file)
        elif version in ((2, 0), (3, 0)):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(file)
        else:
            raise ValueError(f"unsupported .npy format version {version}")
    except ValueError as exc:
        raise ValueError(f"{source}: not a readable .npy array ({exc})") from exc
    if dtype.hasobject:
        raise ValueError(f"{source}: holds Python objects ({dtype}), not numbers; save a numeric array")
    if fortran and len(shape) > 1:
        raise ValueError(
            f"{source}: array is stored in Fortran order, so its rows are not contiguous; save it "
            f"again with np.save(path, np.ascontiguousarray(array))"
        )
    if len(shape) < 1:
        raise ValueError(f"{source}: is a scalar, not an array of rows")
    return tuple(int(s) for s in shape), dtype


def _zip_member_data_offset(raw: BinaryIO, info: zipfile.ZipInfo, source: str) -> int:
    """Byte offset of a stored member's data in the zip file (after its local header)."""
    raw.seek(info.header_offset)
    header = raw.read(30)
    if len(header) != 30 or header[:4] != b"PK\x03\x04":
        raise ValueError(f"{source}: corrupt zip local header")
    name_length = int.from_bytes(header[26:28], "little")
    extra_length = int.from_bytes(header[28:30], "little")
    return info.header_offset + 30 + name_length + extra_length


def open_rows(path: PathLike, key: Optional[str] = None, spill_dir: Optional[PathLike] = None) -> RowReader:
    """Open the array in ``path`` for reading by rows.

    Args:
        path: a ``.npy`` file, or an ``.npz`` file with ``key`` naming the array (``"diff3d"``).
        key: the array's name inside an ``.npz``; must be None for ``.npy``.
        spill_dir: where a compressed ``.npz`` member is decompressed to (default: the system temp folder).
    Returns:
        a :class:`RowReader` (close it, or use it as a context manager).
    Raises:
        FileNotFoundError: no such file. ValueError: not an ``.npy``/``.npz``, missing key (the message lists
        the keys present), object or Fortran-ordered arrays, corrupt files.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {path}")
    with open(path, "rb") as probe:
        magic = probe.read(6)
    if magic == b"\x93NUMPY":
        if key is not None:
            raise ValueError(f"{path} is a .npy file holding one array; pass key=None")
        file = open(path, "rb")
        try:
            shape, dtype = _npy_header(file, str(path))
            return RowReader(file, file.tell(), shape, dtype, str(path))
        except BaseException:
            file.close()
            raise
    if not zipfile.is_zipfile(path):
        raise ValueError(f"{path}: neither a .npy nor an .npz file")
    if key is None:
        raise ValueError(f"{path} is an .npz archive; name the array to read with key=")
    source = f"{path}[{key!r}]"
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        member = f"{key}.npy"
        if member not in names:
            present = sorted(n[:-4] for n in names if n.endswith(".npy"))
            raise ValueError(f"{path}: has no array {key!r}; it has {present}")
        info = archive.getinfo(member)
        if info.compress_type == zipfile.ZIP_STORED:
            file = open(path, "rb")
            try:
                file.seek(_zip_member_data_offset(file, info, source))
                shape, dtype = _npy_header(file, source)
                return RowReader(file, file.tell(), shape, dtype, source)
            except BaseException:
                file.close()
                raise
        handle, name = tempfile.mkstemp(
            suffix=".npy", prefix="ptychopinn-rows-", dir=None if spill_dir is None else str(spill_dir)
        )
        temporary = Path(name)
        try:
            with os.fdopen(handle, "wb") as spill, archive.open(member) as stream:
                shutil.copyfileobj(stream, spill, _SPILL_BLOCK)
            file = open(temporary, "rb")
            try:
                shape, dtype = _npy_header(file, source)
                return RowReader(file, file.tell(), shape, dtype, source, temporary=temporary)
            except BaseException:
                file.close()
                raise
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise
