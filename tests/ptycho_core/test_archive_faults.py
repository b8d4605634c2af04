"""Faults: a save killed at random points, one changed byte in each member, truncation, foreign and non-archives.

A damaged archive must give an :class:`ArchiveError` (never another exception type, never a half-loaded model);
a save killed with SIGKILL must leave the previous archive or the complete new one at the target path.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import queue
import re
import subprocess
import sys
import threading
import time
import zipfile
import zlib
from pathlib import Path
from typing import Dict, List, Mapping, Tuple

import numpy as np
import pytest

from ptycho_core.archive import ArchiveError, read_archive, write_archive
from ptycho_core.factory import create_compiled_models, intensity_scale_of
from ptycho_core.legacy import load_legacy_archive
from ptycho_core.spec import ModelSpec

SPEC = dict(gridsize=2, n_filters_scale=1, intensity_scale=50.0, probe_mask=True)  # the tiny model of the tests
KILLS = 20


def _save(path: Path, tag: str) -> Path:
    autoencoder, d2o = create_compiled_models(ModelSpec(**SPEC))
    return write_archive(
        path,
        {"autoencoder": autoencoder, "diffraction_to_obj": d2o},
        {"N": 64, "gridsize": 2, "tag": tag, "probe": np.ones((64, 64, 1), np.complex64)},
        intensity_scale=intensity_scale_of(autoencoder),
    )


@pytest.fixture(scope="module")
def saved(tmp_path_factory) -> Path:
    return _save(tmp_path_factory.mktemp("faults") / "wts.h5.zip", "old")


def _members(path: Path) -> Dict[str, bytes]:
    with zipfile.ZipFile(path) as z:
        return {name: z.read(name) for name in z.namelist()}


def _write_zip(path: Path, members: Mapping[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as z:
        for name, data in members.items():
            z.writestr(name, data)
    return path


def _refused(path: Path) -> str:
    """Load ``path``; it must raise ArchiveError (and nothing else). Returns the message."""
    try:
        read_archive(path)
    except ArchiveError as exc:
        return str(exc)
    except Exception as exc:
        pytest.fail(f"{type(exc).__name__} instead of ArchiveError: {exc}")
    pytest.fail("a damaged archive loaded")


def _positions(size: int, rng: np.random.Generator, extra: int = 2) -> List[int]:
    return sorted({0, size // 2, size - 1, *rng.integers(0, size, extra).tolist()})


def _table(rows: List[Tuple[str, str, str]]) -> None:
    print("\n".join(f"{a:40s} {b:10s} {c}" for a, b, c in rows))


# --------------------------------------------------------------------------------------------- corruption


def test_a_flipped_byte_in_any_compressed_member_is_an_archive_error(saved, tmp_path):
    raw = saved.read_bytes()
    rng = np.random.default_rng(7)
    rows, loaded_intact = [], False
    members = _members(saved)
    with zipfile.ZipFile(saved) as z:
        infos = z.infolist()
    for info in infos:
        name_len, extra_len = (
            int.from_bytes(raw[info.header_offset + 26 : info.header_offset + 28], "little"),
            int.from_bytes(raw[info.header_offset + 28 : info.header_offset + 30], "little"),
        )
        start = info.header_offset + 30 + name_len + extra_len
        content = members[info.filename]
        for pos in _positions(info.compress_size, rng):
            bad = bytearray(raw)
            bad[start + pos] ^= 0xFF
            target = tmp_path / "wts.h5.zip"
            target.write_bytes(bytes(bad))
            if _inflates_to(bytes(bad[start : start + info.compress_size]), content):
                # the byte only held end-of-stream bits: every member still reads back intact, so the archive
                # must load as the original (loaded in full once; the reader is a function of the members)
                assert _members(target) == members
                if not loaded_intact:
                    assert read_archive(target)[1]["tag"] == "old"
                    loaded_intact = True
                rows.append((info.filename, f"@{pos}", "content unchanged (end-of-stream bits): loads intact"))
                continue
            message = _refused(target)
            assert info.filename in message, message
            rows.append((info.filename, f"@{pos}", message.split(": ", 1)[1][:90]))
    _table(rows)


def _inflates_to(compressed: bytes, content: bytes) -> bool:
    """Whether a raw deflate stream still yields ``content`` as its first ``len(content)`` bytes (what zip reads)."""
    try:
        out = zlib.decompressobj(-15).decompress(compressed, len(content) + 1)
    except zlib.error:
        return False
    return out[: len(content)] == content


def test_a_changed_byte_in_any_member_of_a_valid_zip_is_an_archive_error(saved, tmp_path):
    """The zip is rewritten valid (CRCs match the changed content): only the checksums can tell."""
    members = _members(saved)
    rng = np.random.default_rng(11)
    rows = []
    for name, data in members.items():
        for pos in _positions(len(data), rng):
            for flip in (0x01, 0xFF):
                changed = bytearray(data)
                changed[pos] ^= flip
                message = _refused(_write_zip(tmp_path / "wts.h5.zip", {**members, name: bytes(changed)}))
                expected = "manifest" if name == "manifest.json" else name
                assert expected in message and ("checksum" in message or "manifest.json" in message), message
                rows.append((name, f"@{pos}^{flip:#04x}", message.split(": ", 1)[1][:90]))
    _table(rows)


def test_every_byte_of_manifest_json_is_protected(saved, tmp_path):
    """manifest.json holds the checksums, so it must protect itself: a change anywhere in it is refused."""
    members = _members(saved)
    manifest = members.pop("manifest.json")
    template = _write_zip(tmp_path / "template.zip", {**members, "manifest.json": manifest}).read_bytes()
    start = template.rindex(manifest)  # stored: the content sits in the file as is; patch it and its CRCs
    central, local = _cd_entry(template, "manifest.json")
    hexdigits = set(b"0123456789abcdef")  # digests: sampled (each one costs hashing the members)
    positions = [p for p in range(len(manifest)) if manifest[p] not in hexdigits or p % 29 == 0]
    target = tmp_path / "wts.h5.zip"
    target.write_bytes(template)

    def patch(handle, content: bytes) -> None:
        crc = zipfile.crc32(content).to_bytes(4, "little")
        for offset, data in ((start, content), (central + 16, crc), (local + 14, crc)):
            handle.seek(offset)
            handle.write(data)
        handle.flush()

    with open(target, "r+b") as handle:
        for pos in positions:
            for flip in (0x01, 0x20):
                changed = bytearray(manifest)
                changed[pos] ^= flip
                patch(handle, bytes(changed))
                message = _refused(target)
                assert "manifest" in message or "checksum" in message, (pos, message)
        patch(handle, manifest)
    assert read_archive(target)[1]["tag"] == "old"  # control: the patching itself keeps a valid archive
    print(f"manifest.json: {len(positions)} of {len(manifest)} byte positions x 2 flips refused")


@pytest.mark.parametrize("where", ["0", "1", "21", "22", "100", "half", "-100", "-23", "-22", "-1"])
def test_a_truncated_archive_is_an_archive_error(where, saved, tmp_path):
    raw = saved.read_bytes()
    size = {"half": len(raw) // 2}.get(where) or (int(where) if int(where) >= 0 else len(raw) + int(where))
    target = tmp_path / "wts.h5.zip"
    target.write_bytes(raw[:size])
    assert "is not a zip archive (truncated, damaged" in _refused(target)


def _cd_entry(raw: bytes, member: str) -> Tuple[int, int]:
    """(offset of ``member``'s central directory entry, offset of its local header)."""
    pos = int.from_bytes(raw[-6:-2], "little")
    while raw[pos : pos + 4] == b"PK\x01\x02":
        nlen = int.from_bytes(raw[pos + 28 : pos + 30], "little")
        elen = int.from_bytes(raw[pos + 30 : pos + 32], "little")
        clen = int.from_bytes(raw[pos + 32 : pos + 34], "little")
        if raw[pos + 46 : pos + 46 + nlen].decode() == member:
            return pos, int.from_bytes(raw[pos + 42 : pos + 46], "little")
        pos += 46 + nlen + elen + clen
    raise KeyError(member)


# field → (header, offset) of zip structure whose damage must be detected. Not listed: fields zipfile ignores
# (times, attributes, versions, the EOCD entry counts), where a flip changes no content and the archive loads intact.
STRUCTURE = {
    "cd flags (encrypted bit)": ("cd", 8),
    "cd method": ("cd", 10),
    "cd crc": ("cd", 16),
    "cd uncompressed size": ("cd", 24),
    "cd name length": ("cd", 28),
    "cd local header offset": ("cd", 42),
    "cd name": ("cd", 47),
    "local signature": ("local", 1),
    "local name": ("local", 31),
    "eocd directory size": ("eocd", 12),
    "eocd directory offset": ("eocd", 16),
}


@pytest.mark.parametrize("field", sorted(STRUCTURE))
@pytest.mark.parametrize("member", ["manifest.json", "diffraction_to_obj/model.keras"])
def test_damaged_zip_structure_is_an_archive_error(field, member, saved, tmp_path):
    raw = bytearray(saved.read_bytes())
    where, offset = STRUCTURE[field]
    central, local = _cd_entry(bytes(raw), member)
    base = {"cd": central, "local": local, "eocd": len(raw) - 22}[where]
    raw[base + offset] ^= 0x01
    target = tmp_path / "wts.h5.zip"
    target.write_bytes(bytes(raw))
    message = _refused(target)
    print(f"{member:32s} {field:28s} {message.split(': ', 1)[-1][:100]}")


# --------------------------------------------------------------------------------------------- foreign inputs


def _manifest(version: str = "1.0", **extra) -> bytes:
    return pickle.dumps({"models": ["autoencoder", "diffraction_to_obj"], "version": version, **extra}, protocol=4)


FOREIGN = {
    "savedmodel": (
        {
            "manifest.dill": _manifest(),
            "autoencoder/saved_model.pb": b"\x08\x01",
            "autoencoder/variables/variables.index": b"",
            "autoencoder/params.dill": pickle.dumps({"N": 64}),
        },
        r"holds TensorFlow SavedModel directories \(autoencoder/saved_model.pb\).*To convert it",
    ),
    "ptycho_torch": (
        {
            "manifest.dill": _manifest("2.0-pytorch"),
            "diffraction_to_obj/model.pth": b"PK\x03\x04",
            "diffraction_to_obj/params.dill": b"\x80\x04cposix\nsystem\n(S'touch PWNED'\ntR.",
        },
        r"written by ptycho_torch, the original PtychoPINN's PyTorch backend \(version '2.0-pytorch'.*"
        r"this loader \(Keras backend '\w+'\)",
    ),
    "ptycho_torch_backend_key": ({"manifest.dill": _manifest("1.0", backend="pytorch")}, "written by ptycho_torch"),
    "ptycho_torch_pth_only": (
        {"manifest.dill": _manifest("1.0"), "autoencoder/model.pth": b""},
        r"written by ptycho_torch.*model.pth",
    ),
    "no_manifest": ({"autoencoder/model.keras": b"", "notes.txt": b"hello"}, "has no manifest.dill: not a PtychoPINN"),
    "a_bare_keras_file": (
        {"metadata.json": b"{}", "config.json": b"{}", "model.weights.h5": b""},
        "has no manifest.dill",
    ),
    "manifest_not_a_dict": ({"manifest.dill": pickle.dumps(["autoencoder"])}, "manifest.dill holds a list"),
    "manifest_without_models": ({"manifest.dill": pickle.dumps({"version": "1.0"})}, "lists models None"),
    "claims_ours_without_checksums": (
        {"manifest.dill": _manifest("2.0-keras")},
        "says version '2.0-keras' but has no manifest.json",
    ),
    "legacy_without_params": ({"manifest.dill": _manifest()}, "has no member 'autoencoder/params.dill'"),
}


@pytest.mark.parametrize("case", sorted(FOREIGN))
def test_foreign_archives_are_named(case, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    members, expected = FOREIGN[case]
    message = _refused(_write_zip(tmp_path / "wts.h5.zip", members))
    assert re.search(expected, message), message
    if case != "claims_ours_without_checksums":
        with pytest.raises(ArchiveError, match=expected):
            load_legacy_archive(tmp_path / "wts.h5.zip")
    assert not (tmp_path / "PWNED").exists()


def test_a_newer_format_asks_for_an_update(saved, tmp_path):
    members = _members(saved)
    members["manifest.dill"] = pickle.dumps({**pickle.loads(members["manifest.dill"]), "version": "3.0-keras"})
    manifest = json.loads(members["manifest.json"])
    manifest["version"] = "3.0-keras"
    manifest["sha256"] = {k: hashlib.sha256(v).hexdigest() for k, v in members.items() if k != "manifest.json"}
    members["manifest.json"] = json.dumps(manifest, indent=1, sort_keys=True).encode()
    assert "version '3.0-keras', which this package does not write; update" in _refused(
        _write_zip(tmp_path / "wts.h5.zip", members)
    )


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"hello, not an archive\n",
        b"\x89PNG\r\n\x1a\n" + bytes(100),
        b"PK\x03\x04" + bytes(60),
        bytes(range(256)) * 8,
    ],
)
def test_non_zip_files_are_named(content, tmp_path):
    target = tmp_path / "wts.h5.zip"
    target.write_bytes(content)
    assert "is not a zip archive (truncated, damaged, or not a PtychoPINN model archive" in _refused(target)
    with pytest.raises(ArchiveError, match="is not a zip archive"):
        load_legacy_archive(target)


# --------------------------------------------------------------------------------------------- killed saves

_ZYGOTE = r"""
import json, os, signal, sys, time, warnings
warnings.filterwarnings("ignore")
import numpy as np
from ptycho_core.archive import write_archive
from ptycho_core.factory import create_compiled_models, intensity_scale_of
from ptycho_core.spec import ModelSpec

target = sys.argv[1]
folder = os.path.dirname(target)
autoencoder, d2o = create_compiled_models(ModelSpec(**json.loads(sys.argv[2])))
models = {"autoencoder": autoencoder, "diffraction_to_obj": d2o}

def save(path, tag):
    write_archive(path, models, {"N": 64, "gridsize": 2, "tag": tag, "probe": np.ones((64, 64, 1), np.complex64)},
                  intensity_scale_of(autoencoder))

save(os.path.join(folder, "warmup", "wts.h5.zip"), "warmup")  # first saves pay for lazy imports
print("@@ready", flush=True)
for line in sys.stdin:
    delay = float(line)  # seconds after the fork; inf: let it finish
    start = time.perf_counter()
    pid = os.fork()
    if pid == 0:  # the writer: saves over the target, to be killed at a random point
        try:
            save(target, "new")
        finally:
            os._exit(0)
    temp_seen, outcome = None, None
    while outcome is None:
        now = time.perf_counter() - start
        if temp_seen is None and any(n.endswith(".tmp") for n in os.listdir(folder)):
            temp_seen = now
        if os.waitpid(pid, os.WNOHANG)[0]:
            outcome = "finished"
        elif now >= delay:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            outcome = "killed"
        else:
            time.sleep(0.001)
    print("@@" + json.dumps({"outcome": outcome, "at": now, "temp_seen": temp_seen}), flush=True)
"""


class _Zygote:
    """A process holding the tiny model that forks one writer per trial (so imports are paid once)."""

    def __init__(self, target: Path) -> None:
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _ZYGOTE, str(target), json.dumps(SPEC)],
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            bufsize=1,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        for line in self.proc.stdout:
            if line.startswith("@@"):
                self.lines.put(line[2:].strip())

    def receive(self, timeout: float = 300.0) -> str:
        try:
            return self.lines.get(timeout=timeout)
        except queue.Empty:
            pytest.fail(f"the save process did not answer within {timeout} s (exit code {self.proc.poll()})")

    def trial(self, delay: float) -> dict:
        self.proc.stdin.write(f"{delay}\n")
        self.proc.stdin.flush()
        return json.loads(self.receive(120.0))

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait()


@pytest.mark.slow
def test_a_killed_save_leaves_the_old_or_the_complete_new_archive(saved, tmp_path):
    target = tmp_path / "out" / "wts.h5.zip"
    target.parent.mkdir()
    began = time.perf_counter()
    zygote = _Zygote(target)
    try:
        old = saved.read_bytes()
        assert read_archive(saved)[1]["tag"] == "old"  # the old archive loads; unchanged bytes load the same
        assert zygote.receive() == "ready"
        ready = time.perf_counter() - began

        def temps() -> List[Path]:
            return sorted(target.parent.glob(".wts.h5.zip.*.tmp"))

        target.write_bytes(old)
        runs = [zygote.trial(float("inf")) for _ in range(3)]  # calibration: three complete saves
        duration = float(np.median([r["at"] for r in runs]))
        write_start = float(np.median([r["temp_seen"] or 0.0 for r in runs]))  # None: no temp file seen
        assert all(r["outcome"] == "finished" for r in runs) and read_archive(target)[1]["tag"] == "new"
        rng = np.random.default_rng(20260101)
        half = KILLS // 2  # half spread over the whole save, half over the part that writes the file
        delays = [(i + rng.random()) / half * 1.1 * duration for i in range(half)]
        delays += [write_start + (i + rng.random()) / half * (duration - write_start) for i in range(half)]
        rows, killed_mid_write = [], 0
        for delay in delays:
            target.write_bytes(old)
            result = zygote.trial(delay)
            data = target.read_bytes()
            if data == old:
                state = "old"
            else:
                models, params = read_archive(target)  # must be complete: checksums verified
                assert params["tag"] == "new" and set(models) == {"autoencoder", "diffraction_to_obj"}
                state = "new"
            stray = temps()
            killed_mid_write += bool(stray) and result["outcome"] == "killed"
            rows.append(f"{delay:7.3f}s {result['outcome']:8s} target={state:3s} stray temp files={len(stray)}")
            for path in stray:  # written by the killed writer of this test
                path.unlink()
        print(
            f"\nsave process ready after {ready:.1f}s; a save takes {duration:.3f}s, its temp file appears at "
            f"{write_start:.3f}s; {KILLS} kills took {time.perf_counter() - began - ready:.1f}s"
        )
        print("\n".join(rows))
        print(f"{killed_mid_write} kills landed while the temp file was being written (left as stray temps)")
        assert killed_mid_write >= 1, "no kill landed inside the write: the test did not exercise the rename"
    finally:
        zygote.close()
