"""The original's console scripts ``ptycho_train`` and ``ptycho_inference`` under the backend of this test run.

Option parsing and refusals run in this process (no training). One slow test trains in a subprocess, as a user
runs the script, then reconstructs with ``ptycho_inference`` here, and checks the original's output layout (plus
this package's additions) and that the inference image equals the one training stitched from the same model.
"""

from __future__ import annotations

import os
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

import numpy as np
import pytest

from ptycho.scripts import inference, train

BACKEND = os.environ.get("KERAS_BACKEND", "tensorflow")

#: the original's files (ORIGINAL_SCRIPTS.md §5) and this package's additions, per script
TRAIN_ORIGINAL = {"wts.h5.zip", "reconstructed_amplitude.png", "reconstructed_phase.png"}
TRAIN_ADDED = {"reconstructed_amplitude.npy", "reconstructed_phase.npy", "history.csv", "train_debug.log"}
INFER_ORIGINAL = {"reconstructed_amplitude.png", "reconstructed_phase.png", "comparison_plot.png"}
INFER_ADDED = {"reconstructed_amplitude.npy", "reconstructed_phase.npy", "inference.log"}


def run_here(capsys: pytest.CaptureFixture, module, *args: str) -> subprocess.CompletedProcess:
    """``module.main(args)`` in this process; argparse's exits become the return code."""
    capsys.readouterr()
    try:
        code = module.main(list(args))
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    return subprocess.CompletedProcess(list(args), code, out, err)


def assert_one_error_line(proc: subprocess.CompletedProcess, prog: str, code: int, *words: str) -> None:
    assert proc.returncode == code, (proc.returncode, proc.stderr[-2000:])
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith(f"{prog}: error:"), proc.stderr
    for word in words:
        assert word in lines[0], (word, lines[0])


def configured(*args: str):
    return train.load_configuration(train.build_parser().parse_args(list(args)))[0]


def test_console_scripts_are_declared():
    scripts = {ep.name: ep.value for ep in entry_points(group="console_scripts")}
    assert scripts.get("ptycho_train") == "ptycho.scripts.train:main"
    assert scripts.get("ptycho_inference") == "ptycho.scripts.inference:main"


def test_bool_flags_parse_their_text(capsys):
    parse = train.build_parser().parse_args
    assert parse(["--probe_mask", "False"]).probe_mask is False  # the original: True
    assert parse(["--probe_mask", "true"]).probe_mask is True
    assert parse(["--object_big", "0", "--pad_object", "no"]).object_big is False
    assert parse(["--probe_mask"]).probe_mask is True
    assert parse(["--object_big", ""]).object_big is False  # the original's only way to say False
    assert parse([]).probe_mask is None  # not given: the YAML value or the default
    proc = run_here(capsys, train, "--probe_mask", "maybe")
    assert proc.returncode == 2 and "invalid bool value: 'maybe'" in proc.stderr


def test_n_and_optional_flags_can_be_set(capsys):
    config = configured(
        "--N", "128", "--probe_mask_diameter", "20", "--max_hidden_channels", "8", "--gradient_clip_val", "0.5"
    )
    assert config.model.N == 128 and config.model.probe_mask_diameter == 20.0
    assert config.model.max_hidden_channels == 8 and config.gradient_clip_val == 0.5
    assert run_here(capsys, train, "--N", "100").returncode == 2  # still one of 64, 128, 256


def test_yaml_values_survive_unless_a_flag_is_given(tmp_path):
    pytest.importorskip("yaml")
    path = tmp_path / "train.yaml"
    path.write_text(
        "nepochs: 3\nbatch_size: 8\nn_groups: 77\noutput_dir: yaml_out\nprobe_trainable: true\n"
        "model: {n_filters_scale: 1, gridsize: 2, probe_mask: true}\n"
    )
    config = configured("--config", str(path), "--batch_size", "4", "--gridsize", "1")
    assert (config.nepochs, config.n_groups, config.output_dir, config.probe_trainable) == (
        3,
        77,
        Path("yaml_out"),
        True,
    )
    assert config.batch_size == 4 and config.model.gridsize == 1  # given flags win, over model: too
    assert config.model.n_filters_scale == 1 and config.model.probe_mask is True


def test_help_writes_nothing_and_loads_no_backend(tmp_path):
    code = (
        "import sys\nfrom ptycho.scripts import inference, train\n"
        "for module in (train, inference):\n"
        "    try:\n        module.main(['--help'])\n    except SystemExit as exc:\n        assert exc.code == 0\n"
        "assert not {'keras', 'torch', 'tensorflow', 'jax'} & set(sys.modules), sorted(sys.modules)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "--train_data_file" in proc.stdout and "--model_path" in proc.stdout
    assert list(tmp_path.iterdir()) == []


def test_backend_choice_refusals(capsys, monkeypatch, tmp_path):
    proc = run_here(capsys, train, "--backend", "foo", "--train_data_file", "x.npz")
    assert_one_error_line(proc, "ptycho_train", 2, "unknown backend 'foo'")
    proc = run_here(capsys, inference, "--model_path", "m", "--test_data", "d.npz", "--backend", "foo")
    assert_one_error_line(proc, "ptycho_inference", 2, "unknown backend 'foo'")
    other = "jax" if BACKEND != "jax" else "torch"
    proc = run_here(capsys, train, "--backend", other, "--train_data_file", "x.npz")
    assert_one_error_line(proc, "ptycho_train", 2, "already runs Keras")
    monkeypatch.setattr("ptycho.scripts._common._installed", lambda name: False)
    proc = run_here(capsys, train, "--backend", "pytorch", "--train_data_file", "x.npz")
    assert_one_error_line(proc, "ptycho_train", 2, "'pytorch'", "not installed", "pip install")
    assert list(tmp_path.iterdir()) == []


def test_missing_inputs_fail_with_one_line(capsys, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    assert_one_error_line(run_here(capsys, train, "--nepochs", "1"), "ptycho_train", 1, "--train_data_file")
    proc = run_here(capsys, train, "--train_data_file", "nope.npz", "--output_dir", "out")
    assert_one_error_line(proc, "ptycho_train", 1, "nope.npz")
    proc = run_here(capsys, train, "--config", "missing.yaml")
    assert_one_error_line(proc, "ptycho_train", 1, "missing.yaml")
    proc = run_here(capsys, inference, "--model_path", "nope", "--test_data", "d.npz")
    assert_one_error_line(proc, "ptycho_inference", 1, "does not exist: nope")
    assert list(tmp_path.iterdir()) == []  # no log, no output folder for a refused run


@pytest.mark.slow
def test_train_then_inference_write_the_original_layout(tmp_path, capsys, monkeypatch):
    from ptycho_core.simulation import default_dataset

    data = default_dataset(seed=0, N=64, n_positions=40).save_npz(tmp_path / "data.npz")
    env = dict(os.environ, KERAS_BACKEND=BACKEND, TF_CPP_MIN_LOG_LEVEL="2")
    flags = ["--train_data_file", "data.npz", "--test_data_file", "data.npz", "--output_dir", "out", "--nepochs", "2"]
    proc = subprocess.run(
        [sys.executable, "-m", "ptycho.scripts.train", *flags, "--n_filters_scale", "1", "--do_stitching", "--quiet"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    out = tmp_path / "out"
    assert {p.name for p in out.iterdir()} == TRAIN_ORIGINAL | TRAIN_ADDED
    history = (out / "history.csv").read_text().splitlines()
    assert history[0].startswith("epoch,loss,") and len(history) == 3

    monkeypatch.chdir(tmp_path)
    flags = ["--model_path", "out", "--test_data", str(data), "--output_dir", "inf", "--comparison_plot"]
    proc = run_here(capsys, inference, *flags)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    inf = tmp_path / "inf"
    assert {p.name for p in inf.iterdir()} == INFER_ORIGINAL | INFER_ADDED
    assert {p.name for p in tmp_path.iterdir()} == {"data.npz", "out", "inf"}  # nothing else in the cwd
    pngs = [out / n for n in TRAIN_ORIGINAL if n.endswith(".png")] + [inf / n for n in INFER_ORIGINAL]
    assert all(path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for path in pngs)

    amplitude, phase = np.load(inf / "reconstructed_amplitude.npy"), np.load(inf / "reconstructed_phase.npy")
    assert amplitude.ndim == 2 and amplitude.shape == phase.shape and min(amplitude.shape) > 64
    assert np.isfinite(amplitude).all() and np.isfinite(phase).all()
    assert amplitude.min() >= 0 and amplitude.std() > 0 and np.abs(phase).max() <= np.pi + 1e-6
    # the same model, data and grouping: the image training stitched is the one inference stitches
    trained = np.load(out / "reconstructed_amplitude.npy")
    np.testing.assert_allclose(amplitude, trained, rtol=1e-4, atol=1e-5 * float(trained.max()))
