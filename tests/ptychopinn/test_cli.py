"""The ``ptychopinn`` command under the backend of this test run.

Runs that do the work (simulate, train, reconstruct) go through ``python -m ptychopinn`` in a subprocess, as a
user runs them. Input mistakes, which are refused before any work, go through :func:`ptychopinn.cli.main` in this
process (:func:`cli_here`): the same code path, the same exit code and error line, without paying a new
interpreter and backend import for each refusal.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

BACKEND = os.environ.get("KERAS_BACKEND", "tensorflow")


def cli(*args: str, backend: str = BACKEND) -> subprocess.CompletedProcess:
    env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="2")
    return subprocess.run([sys.executable, "-m", "ptychopinn", *args], capture_output=True, text=True, env=env)


def cli_here(capsys: pytest.CaptureFixture, *args: str) -> subprocess.CompletedProcess:
    """``ptychopinn ARGS`` in this process; an exception that escapes ``main`` (a traceback) fails the test."""
    from ptychopinn.cli import main

    capsys.readouterr()
    try:
        code = main(list(args))
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    return subprocess.CompletedProcess(["ptychopinn", *args], code, out, err)


def assert_user_error(proc: subprocess.CompletedProcess, *words: str) -> None:
    """Exit code 2, one ``ptychopinn: error:`` line naming the problem, no traceback."""
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-2000:])
    assert "Traceback" not in proc.stderr, proc.stderr[-2000:]
    line = [ln for ln in proc.stderr.splitlines() if ln.startswith("ptychopinn: error:")]
    assert len(line) == 1, proc.stderr[-2000:]
    for word in words:
        assert word in line[0], (word, line[0])


def _png(path: Path) -> tuple:
    import matplotlib.image

    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    return matplotlib.image.imread(path).shape


@pytest.fixture(scope="module")
def small_scan(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("scan") / "scan.npz"
    proc = cli("simulate", "--out", str(path), "--n-positions", "40", "--quiet")
    assert proc.returncode == 0, proc.stderr[-2000:]
    return path


@pytest.mark.slow
def test_simulate_writes_a_rawdata_file_and_refuses_to_overwrite(small_scan, tmp_path, capsys):
    from ptycho.raw_data import RawData

    raw = RawData.from_file(str(small_scan))
    assert raw.diff3d.shape[1:] == (64, 64) and len(raw.xcoords) >= 40
    again = cli_here(capsys, "simulate", "--out", str(small_scan), "--n-positions", "40")
    assert_user_error(again, "already exists", "--overwrite")
    assert RawData.from_file(str(small_scan)).diff3d.shape == raw.diff3d.shape  # untouched


@pytest.mark.slow
def test_train_then_reconstruct(small_scan, tmp_path, capsys):
    model_dir, recon = tmp_path / "model", tmp_path / "recon"
    proc = cli(
        "train", str(small_scan), "--out", str(model_dir), "--epochs", "1", "--batch-size", "8",
        "--test-data", str(small_scan),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "[2/3] train 1 epoch on " + BACKEND in proc.stdout and "[3/3] reconstruct the test scan" in proc.stdout
    # stdout is not a terminal here: plain lines, no progress-bar redraws or colour codes
    assert not any(code in proc.stdout for code in ("\x1b", "\r", "\b")), repr(proc.stdout[-500:])
    assert "epoch 1/1: NLL above floor " in proc.stdout and "Poisson NLL above its floor " in proc.stdout
    assert (model_dir / "wts.h5.zip").is_file()
    test_metrics = json.loads((model_dir / "test_metrics.json").read_text())  # --test-data: printed and written
    assert -1 <= test_metrics["amplitude_correlation"] <= 1
    assert f"amplitude correlation with its true object {test_metrics['amplitude_correlation']:.3f}" in proc.stdout
    header = (model_dir / "history.csv").read_text().splitlines()[0].split(",")
    assert header[:2] == ["epoch", "loss"] and "val_loss" in header
    assert "poisson_nll_excess" in header and "val_poisson_nll_excess" in header
    assert _png(model_dir / "loss.png")[2] in (3, 4)
    proc = cli("reconstruct", str(model_dir), str(small_scan), "--out", str(recon), "--quiet")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout == ""  # --quiet: no progress
    obj = np.load(recon / "object.npy")
    assert obj.dtype == np.complex64 and obj.ndim == 2 and np.isfinite(obj).all()
    assert len(_png(recon / "reconstructed_amplitude.png")) == 3
    assert len(_png(recon / "reconstructed_phase.png")) == 3
    metrics = json.loads((recon / "metrics.json").read_text())
    assert metrics["object_shape"] == list(obj.shape) and -1 <= metrics["amplitude_correlation"] <= 1
    again = cli_here(capsys, "reconstruct", str(model_dir), str(small_scan), "--out", str(recon))
    assert_user_error(again, "already exists")
    again = cli_here(capsys, "train", str(small_scan), "--out", str(model_dir), "--epochs", "1")
    assert_user_error(again, "wts.h5.zip", "--overwrite")


@pytest.mark.slow
def test_train_on_two_devices_writes_a_bundle_that_reconstructs(small_scan, tmp_path):
    """``--devices 2``: data-parallel training (2 virtual CPU devices here), then an ordinary reconstruction."""
    model_dir = tmp_path / "model"
    proc = cli(
        "train", str(small_scan), "--out", str(model_dir), "--epochs", "1", "--batch-size", "8", "--devices", "2"
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"train 1 epoch on 2 devices of {BACKEND}" in proc.stdout
    rows = (model_dir / "history.csv").read_text().splitlines()
    assert rows[0].split(",")[:2] == ["epoch", "loss"] and len(rows) == 2
    assert np.isfinite(float(rows[1].split(",")[1]))
    proc = cli("reconstruct", str(model_dir), str(small_scan), "--out", str(tmp_path / "recon"), "--quiet")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert np.isfinite(np.load(tmp_path / "recon" / "object.npy")).all()
    bad = cli(
        "train", str(small_scan), "--out", str(tmp_path / "m2"), "--epochs", "1", "--batch-size", "5", "--devices", "2"
    )
    assert_user_error(bad, "batch_size 5 does not split over 2 devices")


@pytest.mark.slow
def test_streamed_reconstruction_equals_the_in_memory_one_and_names_bad_data(small_scan, tmp_path, capsys):
    """``--stream on`` (1 MiB chunks: several per scan) on a gridsize-2 model, from a stored and a compressed NPZ."""
    model_dir = tmp_path / "model"
    proc = cli(
        "train",
        str(small_scan),
        "--out",
        str(model_dir),
        "--epochs",
        "1",
        "--batch-size",
        "8",
        "--gridsize",
        "2",
        "--quiet",
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    scan = dict(np.load(small_scan))
    np.savez_compressed(tmp_path / "packed.npz", **scan)
    images = {}
    for name, data, stream in (
        ("off", small_scan, "off"),
        ("on", small_scan, "on"),
        ("packed", tmp_path / "packed.npz", "on"),
    ):
        proc = cli(
            "reconstruct",
            str(model_dir),
            str(data),
            "--out",
            str(tmp_path / name),
            "--stream",
            stream,
            "--chunk-mb",
            "1",
            "--quiet",
        )
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert json.loads((tmp_path / name / "metrics.json").read_text())["streamed"] == (stream == "on")
        images[name] = np.load(tmp_path / name / "object.npy")
    scale = np.max(np.abs(images["off"]))
    for name in ("on", "packed"):
        assert images[name].shape == images["off"].shape
        difference = np.max(np.abs(images[name] - images["off"])) / scale
        print(f"streamed ({name}) vs in-memory: max relative difference {difference:.1e}")
        assert difference <= 1e-5
    scan["diff3d"] = scan["diff3d"].copy()
    scan["diff3d"][3, 10, 10] = np.nan
    np.savez(tmp_path / "nan.npz", **scan)
    assert_user_error(
        cli_here(
            capsys,
            "reconstruct",
            str(model_dir),
            str(tmp_path / "nan.npz"),
            "--out",
            str(tmp_path / "n"),
            "--stream",
            "on",
        ),
        "pattern 3",
        "NaN",
    )
    del scan["diff3d"]
    np.savez(tmp_path / "nodiff.npz", **scan)
    assert_user_error(
        cli_here(
            capsys,
            "reconstruct",
            str(model_dir),
            str(tmp_path / "nodiff.npz"),
            "--out",
            str(tmp_path / "d"),
            "--stream",
            "on",
        ),
        "missing required key",
        "diff3d",
    )


def test_bad_input_gives_one_line_and_exit_2(tmp_path, capsys):
    assert_user_error(
        cli_here(capsys, "train", str(tmp_path / "missing.npz"), "--out", str(tmp_path / "m")), "not found"
    )
    np.savez(tmp_path / "wrong.npz", foo=np.zeros(3))
    assert_user_error(
        cli_here(capsys, "train", str(tmp_path / "wrong.npz"), "--out", str(tmp_path / "m")), "diff3d", "xcoords"
    )
    assert_user_error(cli_here(capsys, "info", "--backend", "mxnet"), "unknown backend", "torch")
    (tmp_path / "afile").write_text("x")
    assert_user_error(cli_here(capsys, "simulate", "--out", str(tmp_path / "afile" / "data.npz")), "not a folder")
    # the data are checked before the model is loaded; a missing key names the file once
    wrong = cli_here(capsys, "reconstruct", str(tmp_path), str(tmp_path / "wrong.npz"), "--out", str(tmp_path / "r"))
    assert_user_error(wrong, "missing required key", "diff3d")
    assert wrong.stderr.count(str(tmp_path / "wrong.npz")) == 1, wrong.stderr
    from ptycho_core.data import Scan, write_scan

    x = np.arange(4.0)
    write_scan(tmp_path / "ok.npz", Scan(np.ones((4, 64, 64), np.float32), x, x, np.ones((64, 64), np.complex64)))
    assert_user_error(
        cli_here(capsys, "reconstruct", str(tmp_path), str(tmp_path / "ok.npz"), "--out", str(tmp_path / "r")),
        "wts.h5.zip",
    )
    (tmp_path / "text.npz").write_text("not an archive")
    text = cli_here(capsys, "train", str(tmp_path / "text.npz"), "--out", str(tmp_path / "m"))
    assert_user_error(text, "not an NPZ file")
    assert "allow_pickle" not in text.stderr
    assert_user_error(
        cli_here(capsys, "train", str(tmp_path / "ok.npz"), "--out", str(tmp_path / "m"), "--epochs", "0"),
        "--epochs must be at least 1",
    )
    assert not (tmp_path / "m").exists()  # nothing trained, nothing written
    assert_user_error(cli_here(capsys, "simulate", "--out", str(tmp_path), "--overwrite"), "is a folder")
    assert_user_error(cli_here(capsys, "compare-backends", "--backends", "torch"), "at least two backends")
    bad = cli_here(capsys, "simulate", "--out", str(tmp_path / "x.npz"), "--N", "30")
    assert_user_error(bad, "multiple of 4")
    # intensities (squared amplitudes) are refused with the fix; --diffraction says what they are
    amplitudes = np.sqrt(np.random.default_rng(0).poisson(50.0, (4, 64, 64))).astype(np.float32)
    write_scan(tmp_path / "counts.npz", Scan(np.square(amplitudes), x, x, np.ones((64, 64), np.complex64)))
    for command in (
        ["train", str(tmp_path / "counts.npz")],
        ["reconstruct", str(tmp_path), str(tmp_path / "counts.npz")],
    ):
        counts = cli_here(capsys, *command, "--out", str(tmp_path / "m"))
        assert_user_error(counts, "looks like detector counts", "--diffraction intensity", "--diffraction amplitude")
    for kind in ("intensity", "amplitude"):  # accepted: the next check is the missing model
        given = cli_here(
            capsys, "reconstruct", str(tmp_path), str(tmp_path / "counts.npz"), "--out", str(tmp_path / "r"),
            "--diffraction", kind,
        )  # fmt: skip
        assert_user_error(given, "wts.h5.zip")
        assert "counts" not in given.stderr
    assert not (tmp_path / "m").exists() and not (tmp_path / "r").exists()


def test_info_names_the_backend(capsys):
    proc = cli_here(capsys, "info")
    assert proc.returncode == 0, proc.stderr[-2000:]
    info = json.loads(proc.stdout)
    assert info["backend"] == BACKEND and BACKEND in info["installed_backends"] and info["devices"]


# A shorter demo (5 epochs where the README's trains 20) with its own thresholds, measured on every
# backend (jax 0.913 / 0.924, tensorflow 0.922 / 0.925, torch 0.899 / 0.854; benchmarks/bench_demo.py measures
# the full one): held-out amplitude and phase correlations.
SMALL_DEMO = ("--n-positions", "600", "--epochs", "5")
SMALL_DEMO_MIN = {"amplitude_correlation": 0.85, "phase_correlation": 0.8}


@pytest.mark.slow
def test_demo_trains_on_one_scan_and_reconstructs_a_held_out_one(tmp_path):
    out = tmp_path / "demo"
    proc = cli("demo", "--out", str(out), *SMALL_DEMO)
    assert proc.returncode == 0, proc.stderr[-3000:]
    steps = [line.split("]")[0] + "]" for line in proc.stdout.splitlines() if line.startswith("[")]
    assert steps == [f"[{k}/7]" for k in range(1, 8)], proc.stdout  # one count over the three jobs
    assert "simulate held-out" in proc.stdout and "reconstructed in" in proc.stdout
    assert not any(code in proc.stdout for code in ("\x1b", "\r", "\b"))
    with np.load(out / "data.npz") as train, np.load(out / "held_out.npz") as held_out:
        assert train["diff3d"].shape[1:] == held_out["diff3d"].shape[1:]
        assert not np.array_equal(train["objectGuess"], held_out["objectGuess"])  # another object of the kind
        assert np.iscomplexobj(held_out["probeGuess"]) and np.abs(np.angle(held_out["probeGuess"])).max() > 0.5
    metrics = json.loads((out / "reconstruction" / "metrics.json").read_text())
    assert metrics["predict_and_stitch_seconds"] > 0
    for key, minimum in SMALL_DEMO_MIN.items():
        assert metrics[key] >= minimum, (key, metrics)


@pytest.mark.cross_backend
def test_compare_backends_agrees_and_catches_a_perturbed_backend(tmp_path):
    ok = cli("compare-backends", "--n-patterns", "8", "--train-steps", "2", "--json", str(tmp_path / "t.json"))
    assert ok.returncode == 0, ok.stdout + ok.stderr[-3000:]
    table = json.loads((tmp_path / "t.json").read_text())
    assert table["backends"] == ["torch", "tensorflow", "jax"] and len(table["pairs"]) == 3
    assert table["agree"] and table["worst"] <= 1e-4 and "backends agree" in ok.stdout
    bad = cli("compare-backends", "--backends", "torch,jax", "--n-patterns", "8", "--perturb-backend", "jax")
    assert bad.returncode == 1, bad.stdout + bad.stderr[-3000:]
    assert "DISAGREE" in bad.stdout
    assert_user_error(cli("compare-backends", "--backends", "torch,mxnet"), "unknown backend")


@pytest.mark.once
def test_a_keras_json_naming_a_missing_backend_is_not_a_trap(tmp_path):
    """Keras writes ~/.keras/keras.json ("tensorflow") on first import even where tensorflow is not installed;
    the CLI must not trust a file naming a backend it cannot import (a fresh $HOME, twice, then such a file)."""
    env = {k: v for k, v in os.environ.items() if k not in ("KERAS_BACKEND", "KERAS_HOME")}
    env.update(HOME=str(tmp_path), TF_CPP_MIN_LOG_LEVEL="2")

    def info() -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "ptychopinn", "info"], capture_output=True, text=True, env=env)

    for _ in range(2):
        proc = info()
        assert proc.returncode == 0, proc.stderr[-2000:]
    (tmp_path / ".keras").mkdir(exist_ok=True)
    (tmp_path / ".keras" / "keras.json").write_text(json.dumps({"backend": "mxnet"}))
    proc = info()
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "keras.json names the backend 'mxnet', which is not installed" in proc.stderr
    assert json.loads(proc.stdout)["backend"] == "tensorflow"  # Keras' own default, installed here
    (tmp_path / ".keras" / "keras.json").write_text(json.dumps({"backend": "jax"}))
    assert json.loads(info().stdout)["backend"] == "jax"  # an installed backend named there is respected
