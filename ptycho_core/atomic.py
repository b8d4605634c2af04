"""Writing result files so that nothing is lost: temporary file in the target folder, fsync, rename.

Every file this package writes (archives, images, arrays, NPZ datasets) goes through :func:`atomic_target`: a
reader never sees a half-written file, a crash mid-write leaves any previous file untouched, and an existing file
is replaced only when the caller allows it — or kept as a numbered backup (``name.~1~.png``) when the caller asks
for that instead of refusing.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Iterator, Literal, Optional, Union

Existing = Literal["replace", "backup", "refuse"]


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def numbered_backup(path: Union[str, Path]) -> Optional[Path]:
    """Rename an existing ``path`` to the first free ``<stem>.~N~<suffix>``; returns the backup (None if no file)."""
    path = Path(path)
    if not path.exists():
        return None
    n = 1
    while True:
        backup = path.with_name(f"{path.stem}.~{n}~{path.suffix}")
        if not backup.exists():
            os.replace(path, backup)
            return backup
        n += 1


@contextlib.contextmanager
def atomic_target(path: Union[str, Path], existing: Existing = "replace") -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it is fsynced and renamed to ``path``.

    Args:
        path: the final file; its folder is created if needed.
        existing: what to do when ``path`` already exists — ``"replace"`` it (atomically, only once the new file
            is complete), keep it as a numbered ``"backup"``, or ``"refuse"`` (``FileExistsError`` before
            anything is written).

    On any exception (or a kill) the temporary file is removed where possible and ``path`` is untouched.
    """
    path = Path(path)
    if existing == "refuse" and path.exists():
        raise FileExistsError(
            f"{path} already exists; choose another output path or allow overwriting (e.g. --overwrite) to replace it"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; results get the usual permissions
    try:
        yield tmp
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        if existing == "backup":
            numbered_backup(path)
        elif existing == "refuse" and path.exists():
            raise FileExistsError(f"{path} appeared while it was being written; not replacing it")
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: Union[str, Path], data: bytes, existing: Existing = "replace") -> Path:
    """Write ``data`` to ``path`` through :func:`atomic_target`; returns ``path``."""
    with atomic_target(path, existing) as tmp:
        tmp.write_bytes(data)
    return Path(path)
