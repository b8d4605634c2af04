"""Crafted archives: code in pickles or in Keras configs, zip bombs, path traversal. Nothing runs, nothing is read.

Every attack starts from a genuinely saved archive (ours, or the original's TensorFlow fixture) and changes one
thing the way an attacker who knows the format would: for our format the SHA-256 table in ``manifest.json`` is
recomputed, so the checksums pass and the refusal comes from the safe reader itself. Each payload is first shown
to be live (plain ``pickle.loads`` / Keras with ``safe_mode=False`` really runs it), so a loader that ran code
would fail these tests.
"""

from __future__ import annotations

import builtins
import io
import json
import os
import pickle
import shlex
import struct
import subprocess
import sys
import warnings
import zipfile
from pathlib import Path
from typing import Callable, Dict, Iterator, List, Mapping

import keras
import numpy as np
import pytest

from ptycho_core import safe_zip
from ptycho_core.archive import ArchiveError, read_archive, write_archive
from ptycho_core.factory import create_compiled_models, intensity_scale_of
from ptycho_core.legacy import load_legacy_archive, read_member
from ptycho_core.safe_pickle import UnsafeArchiveError, safe_load
from ptycho_core.spec import ModelSpec

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "legacy_tf_gs1" / "bundle" / "wts.h5.zip"
PICKLED = (
    "manifest.dill",
    "autoencoder/params.dill",
    "diffraction_to_obj/params.dill",
    "autoencoder/custom_objects.dill",
    "diffraction_to_obj/custom_objects.dill",
)


# --------------------------------------------------------------------------------------------- helpers


def _members(path: Path) -> Dict[str, bytes]:
    with zipfile.ZipFile(path) as z:
        return {name: z.read(name) for name in z.namelist()}


def _write_zip(path: Path, members: Mapping[str, bytes], compression: int = zipfile.ZIP_STORED) -> Path:
    with zipfile.ZipFile(path, "w", compression=compression) as z:
        for name, data in members.items():
            z.writestr(name, data)
    return path


def _forge(members: Mapping[str, bytes], changes: Mapping[str, bytes] = {}) -> Dict[str, bytes]:
    """``members`` with ``changes`` applied and, if present, ``manifest.json`` recomputed: what an attacker who
    knows the format writes."""
    out = {**members, **changes}
    if "manifest.json" in out:
        import hashlib

        manifest = json.loads(out["manifest.json"])
        manifest["sha256"] = {k: hashlib.sha256(v).hexdigest() for k, v in out.items() if k != "manifest.json"}
        out["manifest.json"] = json.dumps(manifest, indent=1, sort_keys=True).encode()
    return out


def _patch_entry(raw: bytes, member: str, **fields: int) -> bytes:
    """Overwrite directory fields of ``member`` in both its central and its local header (zip without comment).

    ``fields``: ``flags``, ``method``, ``crc``, ``csize``, ``usize``.
    """
    central = {"flags": (8, "<H"), "method": (10, "<H"), "crc": (16, "<I"), "csize": (20, "<I"), "usize": (24, "<I")}
    local = {"flags": (6, "<H"), "method": (8, "<H"), "crc": (14, "<I"), "csize": (18, "<I"), "usize": (22, "<I")}
    data = bytearray(raw)
    eocd = len(data) - 22
    assert data[eocd : eocd + 4] == b"PK\x05\x06"
    count, _, offset = struct.unpack_from("<HII", data, eocd + 10)
    pos, found = offset, False
    for _ in range(count):
        assert data[pos : pos + 4] == b"PK\x01\x02"
        nlen, elen, clen = struct.unpack_from("<HHH", data, pos + 28)
        (local_at,) = struct.unpack_from("<I", data, pos + 42)
        if data[pos + 46 : pos + 46 + nlen].decode() == member:
            found = True
            for key, value in fields.items():
                struct.pack_into(central[key][1], data, pos + central[key][0], value)
                struct.pack_into(local[key][1], data, local_at + local[key][0], value)
        pos += 46 + nlen + elen + clen
    assert found, member
    return bytes(data)


@pytest.fixture
def reads(monkeypatch) -> List[str]:
    """Names of every zip member opened for reading during the test (to show refusals come before any read)."""
    opened: List[str] = []
    original = zipfile.ZipFile.open

    def spy(self, name, *args, **kwargs):
        opened.append(getattr(name, "filename", name))
        return original(self, name, *args, **kwargs)

    monkeypatch.setattr(zipfile.ZipFile, "open", spy)
    return opened


@pytest.fixture(scope="module")
def ours(tmp_path_factory) -> Dict[str, bytes]:
    """The members of a genuinely saved archive of the tiny model."""
    spec = ModelSpec(gridsize=2, n_filters_scale=1, intensity_scale=50.0, probe_mask=True)
    autoencoder, d2o = create_compiled_models(spec)
    path = write_archive(
        tmp_path_factory.mktemp("attacks") / "wts.h5.zip",
        {"autoencoder": autoencoder, "diffraction_to_obj": d2o},
        {"N": 64, "gridsize": 2, "probe": np.ones((64, 64, 1), np.complex64)},
        intensity_scale=intensity_scale_of(autoencoder),
    )
    return _members(path)


@pytest.fixture(scope="module")
def original() -> Dict[str, bytes]:
    """The members of the original TensorFlow PtychoPINN's archive (manifest version '1.0', no manifest.json)."""
    return _members(FIXTURE)


# --------------------------------------------------------------------------------------------- pickles


class _OsSystem:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {shlex.quote(str(self.marker))}",)


class _Exec(_OsSystem):
    def __reduce__(self):
        return builtins.exec, (f"open({str(self.marker)!r}, 'w').close()",)


class _Subprocess(_OsSystem):
    def __reduce__(self):
        return subprocess.check_call, (["touch", str(self.marker)],)


PAYLOADS = {"os.system": _OsSystem, "builtins.exec": _Exec, "subprocess.check_call": _Subprocess}


def _carrier(member: str, payload: object) -> bytes:
    """A pickle shaped like ``member`` (so it would be accepted) with the payload inside."""
    if member == "manifest.dill":
        value = {"models": ["autoencoder", "diffraction_to_obj"], "version": "2.0-keras", "x": payload}
    elif member.endswith("params.dill"):
        value = {"N": 64, "gridsize": 2, "intensity_scale": 50.0, "x": payload}
    else:
        value = {"ProbeIllumination": payload}
    return pickle.dumps(value, protocol=4)


@pytest.mark.parametrize("kind", sorted(PAYLOADS))
def test_the_payloads_are_live(kind, tmp_path):
    """Control: unpickled without restriction, each payload really runs (so the refusals below mean something)."""
    marker = tmp_path / "MARKER"
    pickle.loads(_carrier("manifest.dill", PAYLOADS[kind](marker)))
    assert marker.exists()


def test_forged_archives_without_payload_load(ours, original, tmp_path):
    """Control: the forging itself is valid (recomputed checksums pass; a changed plain value comes through)."""
    note = pickle.dumps({**pickle.loads(ours["diffraction_to_obj/params.dill"]), "note": "forged"}, protocol=4)
    models, params = read_archive(
        _write_zip(tmp_path / "ours.zip", _forge(ours, {"diffraction_to_obj/params.dill": note}))
    )
    assert params["note"] == "forged" and set(models) == {"autoencoder", "diffraction_to_obj"}
    models, params = read_archive(_write_zip(tmp_path / "orig.zip", _forge(original)))
    assert set(models) == {"autoencoder", "diffraction_to_obj"} and params["N"] == 64


@pytest.mark.parametrize("kind", sorted(PAYLOADS))
@pytest.mark.parametrize("member", PICKLED)
@pytest.mark.parametrize("fmt", ["ours", "original"])
def test_pickle_payload_is_refused_and_never_runs(fmt, member, kind, ours, original, tmp_path):
    marker = tmp_path / "MARKER"
    base = ours if fmt == "ours" else original
    data = _carrier(member, PAYLOADS[kind](marker))
    if fmt == "original" and member == "manifest.dill":  # keep the original's version
        data = pickle.dumps(
            {"models": ["autoencoder", "diffraction_to_obj"], "version": "1.0", "x": PAYLOADS[kind](marker)}, protocol=4
        )
    crafted = _write_zip(tmp_path / "wts.h5.zip", _forge(base, {member: data}))
    for loader in (read_archive, load_legacy_archive) if fmt == "original" else (read_archive,):
        with pytest.raises(UnsafeArchiveError) as info:
            loader(crafted)
        message = str(info.value)
        assert f"member {member} asks to load" in message and "not plain data: refused" in message, message
        assert isinstance(info.value, ArchiveError)
    assert not marker.exists()


DANGEROUS_GLOBALS = [
    ("posix", "system"),
    ("os", "system"),
    ("builtins", "eval"),
    ("builtins", "exec"),
    ("builtins", "getattr"),
    ("builtins", "__import__"),
    ("subprocess", "Popen"),
    ("operator", "attrgetter"),
    ("importlib", "import_module"),
    ("numpy", "load"),
    ("numpy.testing._private.utils", "runstring"),
    ("dill._dill", "_create_function"),
    ("dill._dill", "_create_code"),
    ("dill._dill", "_import_module"),
    ("pickle", "loads"),
    ("_codecs", "encode"),
    ("keras.config", "enable_unsafe_deserialization"),
    ("torch", "load"),
    ("types", "FunctionType"),
]


@pytest.mark.parametrize("opcode", ["GLOBAL", "STACK_GLOBAL"])
@pytest.mark.parametrize("module,name", DANGEROUS_GLOBALS)
def test_dangerous_globals_are_refused(module, name, opcode):
    if opcode == "GLOBAL":
        data = b"\x80\x04c" + f"{module}\n{name}\n".encode() + b")R."
    else:
        data = (
            b"\x80\x04\x8c"
            + bytes([len(module)])
            + module.encode()
            + b"\x8c"
            + bytes([len(name)])
            + name.encode()
            + b"\x93)R."
        )
    with pytest.raises(UnsafeArchiveError, match=rf"x/params.dill asks to load {module}\.{name}, which is not"):
        safe_load(data, "x/params.dill")


@pytest.fixture
def side_effect_module(tmp_path, monkeypatch) -> Iterator[Path]:
    """An importable module that writes a marker when imported; yields the marker."""
    marker = tmp_path / "IMPORTED"
    (tmp_path / "ptycho_evil_mod.py").write_text(f"open({str(marker)!r}, 'w').close()\nclass Evil: pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield marker
    sys.modules.pop("ptycho_evil_mod", None)


def test_names_in_pickles_are_never_imported(side_effect_module):
    for data in (b"\x80\x04cptycho_evil_mod\nEvil\n)R.", b"\x80\x04cptycho_evil_mod\nEvil\n."):
        with pytest.raises(UnsafeArchiveError, match="ptycho_evil_mod.Evil"):
            safe_load(data, "m.dill")
    # references under the original's package names become placeholders: not imported, not callable
    with pytest.raises(UnsafeArchiveError, match="not a readable pickle"):
        safe_load(b"\x80\x04cptycho.model\nexec\n(S'print(1)'\ntR.", "m.dill")
    assert not side_effect_module.exists() and "ptycho_evil_mod" not in sys.modules


# --------------------------------------------------------------------------------------------- Keras configs


def _with_config(model_keras: bytes, edit: Callable[[dict], None]) -> bytes:
    """``model.keras`` with ``config.json`` edited in place (still a valid .keras zip)."""
    inner = _members_bytes(model_keras)
    config = json.loads(inner["config.json"])
    edit(config)
    inner["config.json"] = json.dumps(config).encode()
    return _zip_bytes(inner)


def _members_bytes(data: bytes) -> Dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        return {name: z.read(name) for name in z.namelist()}


def _zip_bytes(members: Mapping[str, bytes], compression: int = zipfile.ZIP_STORED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=compression) as z:
        for name, data in members.items():
            z.writestr(name, data)
    return buffer.getvalue()


def _conv_layer(config: dict) -> dict:
    return next(layer for layer in config["config"]["layers"] if layer["class_name"] in ("Conv2D", "SameConv2D"))


def _lambda_model_keras(marker: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> bytes:
    """A .keras file whose Lambda layer writes ``marker`` when the model is rebuilt.

    The path travels in an environment variable: Keras stores the lambda's bytecode, not its closure.
    """
    monkeypatch.setenv("PTYCHO_TEST_LAMBDA_MARKER", str(marker))
    inputs = keras.Input((4,))
    outputs = keras.layers.Lambda(
        lambda x: (open(__import__("os").environ["PTYCHO_TEST_LAMBDA_MARKER"], "w").close(), x)[1]
    )(inputs)
    path = tmp_path / "lambda.keras"
    keras.Model(inputs, outputs).save(path)
    marker.unlink()  # building the model above ran the lambda once
    return path.read_bytes()


def test_lambda_layer_is_refused_by_safe_mode(ours, tmp_path, monkeypatch):
    marker = tmp_path / "LAMBDA_RAN"
    lambda_keras = _lambda_model_keras(marker, tmp_path, monkeypatch)
    crafted = _write_zip(tmp_path / "wts.h5.zip", _forge(ours, {"diffraction_to_obj/model.keras": lambda_keras}))
    with pytest.raises(
        ArchiveError,
        match=r"member diffraction_to_obj/model.keras: Keras refused to rebuild the "
        r"model with safe_mode=True \(ValueError: .*Lambda",
    ):
        read_archive(crafted)
    assert not marker.exists()
    # control: the same file rebuilt without safe mode runs the lambda
    (tmp_path / "control.keras").write_bytes(lambda_keras)
    keras.saving.load_model(tmp_path / "control.keras", safe_mode=False)
    assert marker.exists()


@pytest.mark.parametrize("attack", ["unknown_class", "foreign_module", "non_modeling_api"])
def test_config_naming_code_is_refused(attack, ours, tmp_path, side_effect_module, monkeypatch):
    def edit(config: dict) -> None:
        layer = _conv_layer(config)
        if attack == "unknown_class":
            layer.update(class_name="EvilLayer", registered_name="evil>EvilLayer")
        elif attack == "foreign_module":
            layer.update(module="ptycho_evil_mod", class_name="Evil", registered_name=None)
        else:  # the CVE-2025-9906 pattern: switch safe mode off from inside the file
            layer.update(module="keras.config", class_name="enable_unsafe_deserialization", registered_name=None)

    model_keras = _with_config(ours["autoencoder/model.keras"], edit)
    crafted = _write_zip(tmp_path / "wts.h5.zip", _forge(ours, {"autoencoder/model.keras": model_keras}))
    with pytest.raises(
        ArchiveError, match="member autoencoder/model.keras: Keras refused to rebuild the model with safe_mode=True"
    ):
        read_archive(crafted)
    assert not side_effect_module.exists() and "ptycho_evil_mod" not in sys.modules
    # safe mode is still on afterwards: a Lambda is still refused
    lambda_keras = _lambda_model_keras(tmp_path / "LAMBDA_RAN", tmp_path, monkeypatch)
    crafted = _write_zip(tmp_path / "wts2.h5.zip", _forge(ours, {"diffraction_to_obj/model.keras": lambda_keras}))
    with pytest.raises(ArchiveError, match="Lambda"):
        read_archive(crafted)
    assert not (tmp_path / "LAMBDA_RAN").exists()


# --------------------------------------------------------------------------------------------- zip structure

TRAVERSAL = ["../evil", "/etc/evil", "autoencoder/../../evil", "..\\evil", "C:/evil", "C:\\evil", "a/../../../b"]


@pytest.mark.parametrize("name", TRAVERSAL)
def test_path_traversal_names_are_refused_before_reading(name, ours, tmp_path, reads):
    crafted = _write_zip(tmp_path / "wts.h5.zip", _forge(ours, {name: b"pwned"}))
    assert name in zipfile.ZipFile(crafted).namelist()
    reads.clear()
    with pytest.raises(ArchiveError, match=r"member name .* is absolute or climbs out of the archive"):
        read_archive(crafted)
    assert reads == []
    assert not (tmp_path.parent / "evil").exists()


def test_path_traversal_in_the_original_format_and_in_model_keras(ours, original, tmp_path, reads):
    crafted = _write_zip(tmp_path / "orig.zip", {**original, "../evil": b"pwned"})
    reads.clear()
    for loader in (read_archive, load_legacy_archive):
        with pytest.raises(ArchiveError, match=r"'\.\./evil' is absolute or climbs out"):
            loader(crafted)
    assert reads == []
    inner = _zip_bytes({**_members_bytes(ours["autoencoder/model.keras"]), "assets/../../evil": b"pwned"})
    crafted = _write_zip(tmp_path / "ours.zip", _forge(ours, {"autoencoder/model.keras": inner}))
    with pytest.raises(ArchiveError, match=r"member autoencoder/model.keras: member name 'assets/\.\./\.\./evil'"):
        read_archive(crafted)
    inner_orig = _zip_bytes({**_members_bytes(original["autoencoder/model.keras"]), "/abs": b"x"})
    with pytest.raises(ArchiveError, match=r"member autoencoder/model.keras: member name '/abs'"):
        load_legacy_archive(_write_zip(tmp_path / "orig2.zip", {**original, "autoencoder/model.keras": inner_orig}))


def test_huge_declared_size_is_refused_before_reading(ours, original, tmp_path, reads):
    three_gib = 3 << 30
    for members, loader, name in (
        (ours, read_archive, "autoencoder/params.json"),
        (original, load_legacy_archive, "diffraction_to_obj/model.h5"),
    ):
        raw = _zip_bytes(_forge(members))
        crafted = tmp_path / "wts.h5.zip"
        crafted.write_bytes(_patch_entry(raw, name, usize=three_gib))
        assert zipfile.ZipFile(crafted).getinfo(name).file_size == three_gib
        reads.clear()
        with pytest.raises(
            ArchiveError,
            match=rf"member '{name}' declares {three_gib} bytes uncompressed, above the "
            rf"{safe_zip.MAX_MEMBER_BYTES}-byte limit",
        ):
            loader(crafted)
        assert reads == []


def test_absurd_compression_ratio_is_refused_before_reading(ours, tmp_path, reads):
    bomb_size = 2 * safe_zip.RATIO_MIN_BYTES
    bomb = {"autoencoder/padding.bin": bytes(bomb_size)}
    crafted = tmp_path / "wts.h5.zip"
    with zipfile.ZipFile(crafted, "w") as z:
        for name, data in _forge({**ours, **bomb}).items():
            z.writestr(name, data, compress_type=zipfile.ZIP_DEFLATED if name in bomb else zipfile.ZIP_STORED)
    info = zipfile.ZipFile(crafted).getinfo("autoencoder/padding.bin")
    assert info.file_size / info.compress_size > safe_zip.MAX_RATIO
    reads.clear()
    with pytest.raises(
        ArchiveError,
        match=r"member 'autoencoder/padding.bin' declares \d+ bytes packed into \d+ "
        r"\(ratio above 100\): a zip bomb",
    ):
        read_archive(crafted)
    assert reads == []
    # the same bomb inside a model.keras is refused before Keras sees the file
    inner = _zip_bytes(
        {**_members_bytes(ours["autoencoder/model.keras"]), "assets/pad": bytes(bomb_size)},
        compression=zipfile.ZIP_DEFLATED,
    )
    crafted = _write_zip(tmp_path / "nested.zip", _forge(ours, {"autoencoder/model.keras": inner}))
    with pytest.raises(ArchiveError, match=r"member autoencoder/model.keras: member 'assets/pad' declares .* zip bomb"):
        read_archive(crafted)


def test_total_declared_size_is_limited(ours, tmp_path, monkeypatch, reads):
    crafted = _write_zip(tmp_path / "wts.h5.zip", ours)
    monkeypatch.setattr(safe_zip, "MAX_TOTAL_BYTES", 3_000_000)  # each member is below it, all together are not
    reads.clear()
    with pytest.raises(ArchiveError, match=r"members declare \d+ bytes uncompressed in all, above the 3000000-byte"):
        read_archive(crafted)
    assert reads == []


def test_reads_stop_at_the_declared_size(tmp_path):
    data = bytes(range(256)) * 40
    raw = _zip_bytes({"a.bin": data})
    short = _patch_entry(raw, "a.bin", usize=16, csize=16, crc=zipfile.crc32(data[:16]))  # stored: the rest follows
    with zipfile.ZipFile(io.BytesIO(short)) as z:
        assert read_member(z, "a.bin", "short.zip") == data[:16]
    lying = _patch_entry(_zip_bytes({"a.bin": data}, zipfile.ZIP_DEFLATED), "a.bin", usize=16)
    with zipfile.ZipFile(io.BytesIO(lying)) as z:
        with pytest.raises(ArchiveError, match="member 'a.bin' is damaged"):
            read_member(z, "a.bin", "lying.zip")


@pytest.mark.parametrize("fault", ["duplicate", "encrypted", "method"])
def test_odd_directory_entries_are_refused(fault, ours, tmp_path, reads):
    members = _forge(ours)
    crafted = tmp_path / "wts.h5.zip"
    if fault == "duplicate":  # two copies of params.dill: which one would be checked, which one loaded?
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            with zipfile.ZipFile(crafted, "w") as z:
                for name, data in members.items():
                    z.writestr(name, data)
                z.writestr("autoencoder/params.dill", _carrier("autoencoder/params.dill", "other"))
        expected = "'autoencoder/params.dill' appears twice"
    else:
        raw = _zip_bytes(members)
        patch = {"flags": 0x1} if fault == "encrypted" else {"method": 99}
        crafted.write_bytes(_patch_entry(raw, "autoencoder/params.dill", **patch))
        expected = "is encrypted" if fault == "encrypted" else "unknown compression method 99"
    reads.clear()
    with pytest.raises(ArchiveError, match=expected):
        read_archive(crafted)
    assert reads == []
