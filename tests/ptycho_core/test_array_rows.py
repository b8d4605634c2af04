"""Reading rows of .npy files and .npz members (stored and compressed) against np.load."""

from __future__ import annotations

import zipfile

import numpy as np
import pytest

from ptycho_core.array_rows import ArrayRows, open_rows


@pytest.fixture()
def stack():
    return np.random.default_rng(0).random((23, 6, 6)).astype(np.float32)


def _files(tmp_path, stack):
    np.save(tmp_path / "d.npy", stack)
    np.savez(tmp_path / "stored.npz", xcoords=np.arange(23.0), diff3d=stack)
    np.savez_compressed(tmp_path / "packed.npz", xcoords=np.arange(23.0), diff3d=stack)
    return [(tmp_path / "d.npy", None), (tmp_path / "stored.npz", "diff3d"), (tmp_path / "packed.npz", "diff3d")]


@pytest.mark.parametrize("which", [0, 1, 2], ids=["npy", "npz-stored", "npz-compressed"])
def test_rows_at_any_indices_equal_np_load(tmp_path, stack, which):
    path, key = _files(tmp_path, stack)[which]
    spill = tmp_path / "spill"
    spill.mkdir()
    with open_rows(path, key, spill_dir=spill) as rows:
        assert rows.shape == stack.shape and rows.dtype == stack.dtype and len(rows) == 23
        assert len(list(spill.iterdir())) == (1 if which == 2 else 0)  # only a compressed member is spilled
        for idx in (np.arange(23), np.arange(5, 9), np.array([22, 0, 7, 7, 3, 4, 5]), np.array([], int)):
            got = rows.read(idx)
            assert got.shape == (len(idx), 6, 6)
            np.testing.assert_array_equal(got, stack[idx])
        with pytest.raises(IndexError, match=r"\[0, 23\)"):
            rows.read(np.array([23]))
        with pytest.raises(ValueError, match="1-D integer"):
            rows.read(np.array([0.5]))
    assert list(spill.iterdir()) == []  # the temporary file goes with close()


def test_in_memory_rows_have_the_same_interface(stack):
    rows = ArrayRows(stack)
    np.testing.assert_array_equal(rows.read(np.array([3, 1])), stack[[3, 1]])
    assert rows.shape == stack.shape


def test_bad_files_are_named(tmp_path, stack):
    paths = dict(_files(tmp_path, stack)[:2])
    with pytest.raises(ValueError, match=r"has no array 'diffraction'; it has \['diff3d', 'xcoords'\]"):
        open_rows(tmp_path / "stored.npz", "diffraction")
    with pytest.raises(ValueError, match="name the array"):
        open_rows(tmp_path / "stored.npz")
    with pytest.raises(ValueError, match="pass key=None"):
        open_rows(tmp_path / "d.npy", "diff3d")
    with pytest.raises(FileNotFoundError):
        open_rows(tmp_path / "missing.npz", "diff3d")
    (tmp_path / "text.npz").write_text("not an array")
    with pytest.raises(ValueError, match="neither a .npy nor an .npz"):
        open_rows(tmp_path / "text.npz", "diff3d")
    np.save(tmp_path / "f.npy", np.asfortranarray(stack))
    with pytest.raises(ValueError, match="Fortran order.*ascontiguousarray"):
        open_rows(tmp_path / "f.npy")
    np.save(tmp_path / "o.npy", np.array([None, 1], dtype=object))
    with pytest.raises(ValueError, match="Python objects"):
        open_rows(tmp_path / "o.npy")
    truncated = tmp_path / "t.npy"
    truncated.write_bytes((tmp_path / "d.npy").read_bytes()[:-100])
    with open_rows(truncated) as rows:
        np.testing.assert_array_equal(rows.read(np.arange(3)), stack[:3])
        with pytest.raises(ValueError, match="file ends early"):
            rows.read(np.array([22]))
    assert paths  # both readable files were made
    with zipfile.ZipFile(tmp_path / "stored.npz") as archive:
        assert archive.getinfo("diff3d.npy").compress_type == zipfile.ZIP_STORED


@pytest.mark.parametrize("which", [0, 2], ids=["npy", "npz-compressed"])
def test_rows_read_into_a_reused_buffer(tmp_path, stack, which):
    path, key = _files(tmp_path, stack)[which]
    buffer = np.empty((4, 6, 6), np.float32)
    with open_rows(path, key) as rows:
        for idx in (np.array([3, 4, 5, 6]), np.array([9, 2, 2, 20])):  # in order (read in place), and not
            got = rows.read(idx, out=buffer)
            assert got is buffer
            np.testing.assert_array_equal(buffer, stack[idx])
        with pytest.raises(ValueError, match=r"out must be a C-contiguous float32 array of shape \(3, 6, 6\)"):
            rows.read(np.arange(3), out=buffer)
    memory = ArrayRows(stack)
    assert memory.read(np.array([7, 1, 0, 7]), out=buffer) is buffer
    np.testing.assert_array_equal(buffer, stack[[7, 1, 0, 7]])
