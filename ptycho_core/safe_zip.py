"""Safe opening of zip archives: the member-level checks every archive reader here goes through.

:func:`open_zip` and :func:`read_member`, used by :mod:`ptycho_core.archive` and :mod:`ptycho_core.legacy` and
applied to the ``model.keras`` zips inside an archive too: before any member is read, member names that are
absolute or climb out with ``..``, duplicate names, encrypted members, unknown compression methods, members
declaring more than :data:`MAX_MEMBER_BYTES` uncompressed, archives declaring more than :data:`MAX_TOTAL_BYTES`
in all and members compressed more than :data:`MAX_RATIO` times are refused (:func:`check_member`); reads never
take more than a member's declared size into memory; a damaged member (bad CRC, broken deflate stream) raises
:class:`ArchiveError` naming it.
"""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path
from typing import Union

from .safe_pickle import ArchiveError

__all__ = [
    "ArchiveError",
    "MAX_MEMBER_BYTES",
    "MAX_RATIO",
    "MAX_TOTAL_BYTES",
    "RATIO_MIN_BYTES",
    "check_member",
    "open_zip",
    "read_member",
]

MAX_MEMBER_BYTES = 1 << 30
"""Largest uncompressed size a member may declare (1 GiB; a PtychoPINN model.keras is a few MB)."""
MAX_TOTAL_BYTES = 4 << 30
"""Largest uncompressed size all members of one zip may declare together (4 GiB)."""
MAX_RATIO = 100
"""Largest compression ratio (uncompressed / compressed) for members above :data:`RATIO_MIN_BYTES`."""
RATIO_MIN_BYTES = 16 << 20
"""Members declaring at most this many bytes (16 MiB) are not ratio-checked (a constant probe compresses well)."""
_COMPRESSIONS = {zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA}
_RESAVE = "restore the file from a backup or save the model again"
_MODELS_DOC = "a PtychoPINN model archive (wts.h5.zip written by ptycho.model_manager.save)"


def check_member(info: zipfile.ZipInfo, where: str) -> None:
    """Refuse one member from its directory entry alone (nothing is read): unsafe name, encryption, unknown
    compression, declared size above :data:`MAX_MEMBER_BYTES`, or a compression ratio above :data:`MAX_RATIO`.

    Raises:
        ArchiveError: naming ``where`` (the archive) and the member.
    """
    name = info.filename
    parts = re.split(r"[\\/]", name)
    if not name or name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name) or ".." in parts:
        raise ArchiveError(
            f"{where}: member name {name!r} is absolute or climbs out of the archive with '..' "
            f"(path traversal): refused before reading anything. The file was crafted or damaged; "
            f"do not extract it, {_RESAVE}"
        )
    if info.flag_bits & 0x1:
        raise ArchiveError(f"{where}: member {name!r} is encrypted, which model archives never are: refused; {_RESAVE}")
    if info.compress_type not in _COMPRESSIONS:
        raise ArchiveError(
            f"{where}: member {name!r} uses unknown compression method {info.compress_type} "
            f"(corrupt directory entry): refused; {_RESAVE}"
        )
    if info.file_size > MAX_MEMBER_BYTES:
        raise ArchiveError(
            f"{where}: member {name!r} declares {info.file_size} bytes uncompressed, above the "
            f"{MAX_MEMBER_BYTES}-byte limit (a zip bomb, a damaged directory, or not {_MODELS_DOC}): "
            f"refused before reading it"
        )
    if info.file_size > RATIO_MIN_BYTES and info.file_size > MAX_RATIO * max(info.compress_size, 1):
        raise ArchiveError(
            f"{where}: member {name!r} declares {info.file_size} bytes packed into "
            f"{info.compress_size} (ratio above {MAX_RATIO}): a zip bomb, refused before reading it"
        )


def _check_members(archive: zipfile.ZipFile, where: str) -> None:
    """:func:`check_member` on every member, plus duplicate names and the total declared size."""
    seen = set()
    total = 0
    for info in archive.infolist():
        check_member(info, where)
        if info.filename in seen:
            raise ArchiveError(
                f"{where}: member {info.filename!r} appears twice (a crafted or damaged zip; "
                f"readers would disagree on which copy counts): refused; {_RESAVE}"
            )
        seen.add(info.filename)
        total += info.file_size
    if total > MAX_TOTAL_BYTES:
        raise ArchiveError(
            f"{where}: members declare {total} bytes uncompressed in all, above the "
            f"{MAX_TOTAL_BYTES}-byte limit (a zip bomb or not {_MODELS_DOC}): refused before reading"
        )


def open_zip(source: Union[str, Path, bytes], where: str = "") -> zipfile.ZipFile:
    """Open a zip file (a path or the bytes of a nested zip) after checking every member (see :func:`check_member`).

    Args:
        source: a file path, or the bytes of a zip held in memory (a ``model.keras`` member).
        where: how errors name the zip (default: the path).

    Raises:
        FileNotFoundError, PermissionError, IsADirectoryError: as ``open`` does.
        ArchiveError: not a zip (truncated, damaged or another kind of file), or a member refused by the checks.
    """
    where = where or str(source)
    try:
        archive = zipfile.ZipFile(io.BytesIO(source) if isinstance(source, bytes) else source)
    except (FileNotFoundError, PermissionError, IsADirectoryError):
        raise
    except Exception as exc:  # BadZipFile, EOFError, OSError from seeks into a damaged directory, ...
        raise ArchiveError(
            f"{where} is not a zip archive (truncated, damaged, or not {_MODELS_DOC}): "
            f"{type(exc).__name__}: {exc}; {_RESAVE}"
        ) from exc
    try:
        _check_members(archive, where)
    except BaseException:
        archive.close()
        raise
    return archive


def read_member(archive: zipfile.ZipFile, name: str, where: str = "") -> bytes:
    """The bytes of member ``name``, at most its declared size (checked by :func:`check_member` first).

    Raises:
        ArchiveError: no such member, a refused member, or damaged data (CRC mismatch, broken compressed stream,
            fewer bytes than declared), naming the member.
    """
    where = where or str(archive.filename or "zip archive")
    try:
        info = archive.getinfo(name)
    except KeyError as exc:
        raise ArchiveError(
            f"{where} has no member {name!r} (members: {sorted(archive.namelist())[:12]}): "
            f"incomplete or not {_MODELS_DOC}"
        ) from exc
    check_member(info, where)
    try:
        with archive.open(info) as handle:
            data = handle.read(info.file_size + 1)  # ZipExtFile stops at the declared size; +1 shows excess
    except Exception as exc:  # BadZipFile (CRC), zlib.error, EOFError, RuntimeError, NotImplementedError, OSError
        raise ArchiveError(f"{where}: member {name!r} is damaged ({type(exc).__name__}: {exc}); {_RESAVE}") from exc
    if len(data) != info.file_size:
        raise ArchiveError(
            f"{where}: member {name!r} holds {len(data)} bytes but declares {info.file_size} (damaged); {_RESAVE}"
        )
    return data
