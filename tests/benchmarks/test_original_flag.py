"""``--original-python`` / ``--original-src`` of the model benchmark and the suite: parsing, the check of the
interpreter (one clear error when the original does not import there) and the table with measured figures.

Backend-independent (no Keras import; the spawned checks import at most NumPy and this project's ``ptycho``
package, which stays free of Keras) and quick. Nothing here needs the original PtychoPINN installed.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from benchmarks import __main__ as suite  # noqa: E402
from benchmarks import bench_model  # noqa: E402
from benchmarks._model_report import format_table, target_lines  # noqa: E402
from benchmarks._original_run import OriginalUnavailable, check_original, original_env  # noqa: E402


def test_model_benchmark_parses_the_original_flags():
    args = bench_model.parse_args(["--original-python", "/env/bin/python", "--original-src", "/src", "--quick"])
    assert (args.original_python, args.original_src) == ("/env/bin/python", "/src")
    plain = bench_model.parse_args(["--quick"])
    assert plain.original_python is None and plain.original_src is None
    with pytest.raises(SystemExit):
        bench_model.parse_args(["--original-src", "/src"])


def test_suite_passes_the_original_flags_to_the_model_part_only():
    args = suite.parse_args(["--original-python", "/env/bin/python", "--original-src", "/src"])
    assert suite.original_argv(args) == ["--original-python", "/env/bin/python", "--original-src", "/src"]
    assert suite.original_argv(suite.parse_args([])) == []
    assert bench_model.parse_args(suite.original_argv(args)).original_python == "/env/bin/python"


def test_original_env_puts_only_the_source_on_the_path(monkeypatch):
    monkeypatch.setenv("PYTHONPATH", str(REPO))
    monkeypatch.setenv("KERAS_BACKEND", "jax")
    env = original_env("/some/src")
    assert env["PYTHONPATH"] == str(Path("/some/src").resolve()) and env["KERAS_BACKEND"] == "tensorflow"
    assert "PYTHONPATH" not in original_env(None)


def test_missing_interpreter_is_one_clear_error(tmp_path):
    with pytest.raises(OriginalUnavailable, match="not an executable file.*--original-python ENV/bin/python"):
        check_original(str(tmp_path / "nope" / "python"), None)


def test_source_folder_without_ptycho_is_refused(tmp_path):
    with pytest.raises(OriginalUnavailable, match="has no ptycho/ folder"):
        check_original(sys.executable, str(tmp_path))


def test_this_projects_ptycho_is_not_taken_for_the_original():
    """``sys.executable`` imports our compat ``ptycho``: refused by name, with the fix."""
    with pytest.raises(
        OriginalUnavailable, match="compat layer.*not the original.*Fix: give the python of a separate environment"
    ):
        check_original(sys.executable, None)


def test_original_that_does_not_import_names_the_import_error(tmp_path):
    (tmp_path / "ptycho").mkdir()
    (tmp_path / "ptycho" / "__init__.py").write_text("raise ImportError('No module named tensorflow_probability')\n")
    with pytest.raises(OriginalUnavailable, match="does not import there: 'import ptycho' failed: ImportError.*"):
        check_original(sys.executable, str(tmp_path))


def test_bad_interpreter_stops_the_benchmark_before_any_worker(tmp_path):
    with pytest.raises(SystemExit, match="^error: --original-python .*not an executable file"):
        bench_model.main(["--original-python", str(tmp_path / "python"), "--backends", "torch", "--quick"])


def _record(backend: str, measurement: str, value: float, **extra):
    return {
        "backend": backend,
        "measurement": measurement,
        "mode": "m",
        "size": "gs1 b16",
        "value": value,
        "unit": "patterns/s",
        "samples": [value],
        "iters": 1,
        "first_call_s": 1.0,
        "extra": {"gflops": 10.0, "peak_rss_mib": 100.0, **extra},
    }


def test_table_and_targets_show_the_original_measured_in_the_same_run():
    ours = [{"backend": "torch", "records": [_record("torch", "train", 20.0, reference=9.25, ratio=20 / 9.25)]}]
    original = {"backend": "original", "records": [_record("original", "train", 10.0, reference=9.25)]}
    without = format_table(ours)
    assert "orig. (measured)" not in without and "original" in without.splitlines()[0]
    table = format_table(ours, original).splitlines()
    assert "orig. (issue)" in table[0] and "ratio (measured)" in table[0]
    torch_row = next(line for line in table if line.startswith("torch"))
    assert "10.00" in torch_row and "2.00x" in torch_row
    assert any(line.startswith("original") for line in table)
    lines = target_lines(ours, original)
    assert any("vs original measured here" in line and "2.00x -> MET" in line for line in lines)
    assert any("vs issue's figure" in line for line in lines)
