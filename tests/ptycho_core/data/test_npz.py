"""ptycho_core.data.npz: the NPZ scan schema (round trip, Ptychodus exports, missing keys, pickled arrays, reading
without the patterns, streaming the patterns) and write_scan (atomic, existing files refused or backed up).
Host-only: no Keras backend."""

import json
import os

import numpy as np
import pytest

from ptycho_core.data.npz import (
    SCHEMA,
    MissingKeysError,
    SchemaError,
    open_diffraction,
    read_scan,
    read_truth_patches,
    write_scan,
)
from ptycho_core.data.scan import Scan

FIELDS = ("x", "y", "x_start", "y_start", "diffraction", "probe", "object", "scan_index")


def grid(n):
    xx, yy = np.meshgrid(np.arange(n, dtype=float), np.arange(n, dtype=float))
    return xx.ravel(), yy.ravel()


def make_scan(n=3, N=8, objectGuess=None, metadata=None):
    x, y = grid(n)
    diff = np.random.RandomState(1).rand(len(x), N, N).astype(np.float32)
    return Scan(
        diff,
        x,
        y,
        np.ones((N, N), np.complex64),
        object=objectGuess,
        x_start=x + 0.5,
        y_start=y - 0.5,
        scan_index=np.arange(len(x)),
        metadata=metadata,
    )


def test_file_round_trip(tmp_path):
    scan = make_scan(objectGuess=np.ones((16, 16), np.complex64), metadata={"physics_parameters": {"N": 8}})
    path = write_scan(tmp_path / "scan.npz", scan)
    assert path == tmp_path / "scan.npz"
    back = read_scan(path)
    for name in FIELDS:
        got, want = getattr(back, name), getattr(scan, name)
        assert got.dtype == want.dtype
        np.testing.assert_array_equal(got, want)
    assert back.metadata == {"physics_parameters": {"N": 8}}
    assert back.validate() is back
    # the path is used exactly as given (no ".npz" appended)
    write_scan(tmp_path / "plain", scan)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plain", "scan.npz"]
    np.testing.assert_array_equal(read_scan(tmp_path / "plain").x, scan.x)


def test_extra_keys_and_defaults_of_a_ptychodus_export(tmp_path):
    """Ptychodus 1.7.0 exports: a mode-stack probe and an extra bad_pixels key, no *_start / scan_index."""
    x, y = grid(3)
    path = tmp_path / "ptychodus.npz"
    np.savez(
        path,
        xcoords=x,
        ycoords=y,
        diff3d=np.ones((9, 8, 8), np.float32),
        probeGuess=np.ones((2, 8, 8), np.complex64),
        bad_pixels=np.zeros((8, 8), bool),
        _metadata=np.array(json.dumps({"physics_parameters": {"N": 8, "nphotons": 1e6}}), dtype=object),
    )
    got = read_scan(path)
    assert got.x_start is got.x and got.y_start is got.y and got.object is None
    np.testing.assert_array_equal(got.scan_index, np.zeros(9, int))
    assert got.probe.shape == (8, 8) and got.metadata == {"physics_parameters": {"N": 8, "nphotons": 1e6}}
    assert got.nphotons == 1e6


def test_missing_keys_name_them_and_the_schema(tmp_path):
    x, y = grid(2)
    path = tmp_path / "bad.npz"
    np.savez(path, xcoords=x, ycoords=y, diffraction=np.ones((4, 8, 8)))
    with pytest.raises(SchemaError) as info:
        read_scan(path)
    msg = str(info.value)
    assert "['diff3d', 'probeGuess']" in msg and "Expected NPZ schema" in msg and "xcoords (M,)" in msg
    assert "'diffraction'" in msg and "'diff3d'" in msg and SCHEMA in msg
    assert issubclass(SchemaError, ValueError)
    with pytest.raises(FileNotFoundError, match="data file not found"):
        read_scan(tmp_path / "none.npz")
    (tmp_path / "text.npz").write_text("not a zip")
    with pytest.raises(SchemaError, match="is not an NPZ file"):
        read_scan(tmp_path / "text.npz")


def test_pickled_none_object_reads_as_absent_and_other_pickles_are_refused(tmp_path):
    x, y = grid(2)
    arrays = dict(xcoords=x, ycoords=y, diff3d=np.ones((4, 8, 8)), probeGuess=np.ones((8, 8)), scan_index=np.zeros(4))
    # files written by the original's to_file hold a pickled None objectGuess
    np.savez(tmp_path / "b.npz", objectGuess=None, **arrays)
    assert read_scan(tmp_path / "b.npz").object is None
    np.savez(tmp_path / "c.npz", objectGuess=np.array([{"a": 1}], dtype=object), **arrays)
    with pytest.raises(SchemaError, match="'objectGuess' holds a pickled object array"):
        read_scan(tmp_path / "c.npz")
    # and a scan without an object is written without the key
    write_scan(tmp_path / "d.npz", make_scan())
    with np.load(tmp_path / "d.npz") as data:
        assert "objectGuess" not in data.files and "_metadata" not in data.files
    assert read_scan(tmp_path / "d.npz").object is None


class _RunsCode:
    """A pickle that would call ``os.system`` when unpickled by ``np.load(allow_pickle=True)``."""

    def __reduce__(self):
        return (os.system, ("touch pwned",))


@pytest.mark.parametrize("key", ["objectGuess", "_metadata"])
def test_a_crafted_pickle_in_the_file_runs_nothing(tmp_path, monkeypatch, key):
    monkeypatch.chdir(tmp_path)
    x, y = grid(2)
    arrays = dict(xcoords=x, ycoords=y, diff3d=np.ones((4, 8, 8)), probeGuess=np.ones((8, 8)), scan_index=np.zeros(4))
    arrays[key] = np.array([_RunsCode()], dtype=object)
    np.savez(tmp_path / "crafted.npz", **arrays)
    with pytest.raises(ValueError, match="system"):  # refused, naming what the pickle asked for
        read_scan(tmp_path / "crafted.npz")
    assert not (tmp_path / "pwned").exists()
    arrays[key] = np.array(json.dumps({"a": 1}), dtype=object)  # a pickled JSON string (some tools write that)
    np.savez(tmp_path / "json.npz", **arrays)
    if key == "_metadata":
        assert read_scan(tmp_path / "json.npz").metadata == {"a": 1}


def test_read_without_diffraction_then_stream_the_patterns(tmp_path):
    scan = make_scan(objectGuess=np.ones((16, 16), np.complex64))
    write_scan(tmp_path / "scan.npz", scan)
    light = read_scan(tmp_path / "scan.npz", load_diffraction=False)
    assert light.diffraction is None
    np.testing.assert_array_equal(light.x, scan.x)
    np.testing.assert_array_equal(light.object, scan.object)
    with open_diffraction(tmp_path / "scan.npz") as rows:
        assert len(rows) == 9
        np.testing.assert_array_equal(rows.read([4, 1]), scan.diffraction[[4, 1]])
    np.savez(tmp_path / "nodiff.npz", xcoords=scan.x, ycoords=scan.y, probeGuess=scan.probe)
    with pytest.raises(SchemaError, match=r"missing required key\(s\) \['diff3d'\]"):
        read_scan(tmp_path / "nodiff.npz", load_diffraction=False)


def test_write_scan_refuses_or_backs_up_an_existing_file(tmp_path):
    first, second = make_scan(n=2), make_scan(n=3)
    path = tmp_path / "scan.npz"
    write_scan(path, first)
    with pytest.raises(FileExistsError):
        write_scan(path, second)  # existing="refuse" is the default
    assert len(read_scan(path)) == 4
    write_scan(path, second, existing="backup")
    assert len(read_scan(path)) == 9 and len(read_scan(tmp_path / "scan.~1~.npz")) == 4
    write_scan(path, first, existing="replace")
    assert len(read_scan(path)) == 4
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scan.npz", "scan.~1~.npz"]
    with pytest.raises(SchemaError, match="is a directory"):
        write_scan(tmp_path, first)


def test_write_scan_is_atomic(tmp_path, monkeypatch):
    path = tmp_path / "scan.npz"
    write_scan(path, make_scan(n=2))
    before = path.read_bytes()

    def killed(handle, **arrays):
        handle.write(b"PK half a file")
        raise RuntimeError("killed while writing")

    monkeypatch.setattr(np, "savez", killed)
    with pytest.raises(RuntimeError, match="killed"):
        write_scan(path, make_scan(n=3), existing="replace")
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["scan.npz"]  # no partial or temporary file
    with pytest.raises(RuntimeError, match="killed"):
        write_scan(tmp_path / "new.npz", make_scan(n=3))
    assert os.listdir(tmp_path) == ["scan.npz"]


def test_workflow_rules_read_the_original_loaders_layouts(tmp_path):
    """rules="workflow": *_start keys required, 'diffraction' alias, (M,N,N,1) and (N,N,M) layouts, float64
    coordinates, the file's scan_index and metadata not read; per-pattern Y read separately."""
    scan = make_scan(n=3, N=8, metadata={"a": 1})
    d = scan.diffraction
    keys = dict(xcoords=scan.x.astype(np.float32), ycoords=scan.y, xcoords_start=scan.x_start)
    keys.update(ycoords_start=scan.y_start, probeGuess=scan.probe, scan_index=scan.scan_index)
    for name, patterns in [("m1", d[..., None]), ("nnm", np.transpose(d, (1, 2, 0))), ("plain", d)]:
        path = tmp_path / f"{name}.npz"
        np.savez(path, diffraction=patterns, Y=np.ones((len(d), 8, 8), np.complex64), **keys)
        back = read_scan(path, rules="workflow")
        np.testing.assert_array_equal(back.diffraction, d)
        assert back.x.dtype == np.float64 and back.metadata is None
        np.testing.assert_array_equal(back.scan_index, np.zeros(len(d), int))
        assert read_truth_patches(path, len(d)).shape == (9, 8, 8)
        assert read_truth_patches(path, 4) is None  # wrong length: ignored with a warning
    with pytest.raises(SchemaError, match="missing required key"):
        read_scan(tmp_path / "plain.npz")  # the schema has no 'diffraction' alias
    np.savez(tmp_path / "nostart.npz", diff3d=d, **{k: v for k, v in keys.items() if k != "xcoords_start"})
    with pytest.raises(KeyError, match=r"\['xcoords_start'\]") as info:
        read_scan(tmp_path / "nostart.npz", rules="workflow")
    assert isinstance(info.value, MissingKeysError) and not str(info.value).startswith("'")
    assert read_scan(tmp_path / "nostart.npz").x_start is not None  # the schema defaults them
    np.savez(tmp_path / "bad.npz", diff3d=d[:5], **keys)
    with pytest.raises(SchemaError, match=r"do not match the 9 positions"):
        read_scan(tmp_path / "bad.npz", rules="workflow")
    with pytest.raises(ValueError, match="rules must be"):
        read_scan(tmp_path / "plain.npz", rules="loose")
