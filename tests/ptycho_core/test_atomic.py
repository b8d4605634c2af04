"""ptycho_core.atomic and images: complete files or none, existing files refused or kept as backups."""

import numpy as np
import pytest

from ptycho_core.atomic import atomic_target, atomic_write_bytes, numbered_backup
from ptycho_core.images import png_bytes, save_npy, save_png


def test_replace_refuse_and_backup(tmp_path):
    target = tmp_path / "sub" / "a.bin"
    atomic_write_bytes(target, b"one")
    atomic_write_bytes(target, b"two")
    assert target.read_bytes() == b"two"
    with pytest.raises(FileExistsError, match="already exists"):
        atomic_write_bytes(target, b"three", "refuse")
    atomic_write_bytes(target, b"four", "backup")
    assert target.read_bytes() == b"four" and (tmp_path / "sub" / "a.~1~.bin").read_bytes() == b"two"
    atomic_write_bytes(target, b"five", "backup")
    assert (tmp_path / "sub" / "a.~2~.bin").read_bytes() == b"four"
    assert sorted(p.name for p in (tmp_path / "sub").iterdir()) == ["a.bin", "a.~1~.bin", "a.~2~.bin"]
    assert numbered_backup(tmp_path / "none") is None


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "a.bin"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError):
        with atomic_target(target) as tmp:
            tmp.write_bytes(b"half")
            raise RuntimeError("killed")
    assert target.read_bytes() == b"old" and sorted(p.name for p in tmp_path.iterdir()) == ["a.bin"]


def test_images_and_arrays(tmp_path):
    import matplotlib.image

    image = np.random.default_rng(0).random((20, 30, 1))
    save_png(tmp_path / "x.png", image)
    assert matplotlib.image.imread(tmp_path / "x.png").ndim == 3
    save_npy(tmp_path / "x.npy", image)
    np.testing.assert_array_equal(np.load(tmp_path / "x.npy"), image)
    with pytest.raises(ValueError, match="real 2-D"):
        png_bytes(np.ones((4, 4), np.complex64))
    with pytest.raises(ValueError, match="real 2-D"):
        png_bytes(np.ones((2, 4, 4)))


def test_files_get_the_usual_permissions(tmp_path):
    import os
    import stat

    mask = os.umask(0o022)
    try:
        atomic_write_bytes(tmp_path / "p.bin", b"x")
    finally:
        os.umask(mask)
    assert stat.S_IMODE((tmp_path / "p.bin").stat().st_mode) == 0o644
