"""The README's Python example runs as written (a fresh process, in an empty folder) and does what it says."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def _python_example() -> str:
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## Using the engine from Python") :]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match, "README has no python block under 'Using the engine from Python'"
    return match.group(1)


@pytest.mark.once
def test_readme_python_example_runs_as_written(tmp_path):
    code = _python_example()
    assert 'os.environ["KERAS_BACKEND"] = "jax"' in code  # as written: it chooses its backend itself
    env = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"}
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-4000:]
    printed = proc.stdout.strip().splitlines()[-1]
    stated = re.search(r"print\(.*\)\s*# (.*?):", code).group(1)
    assert printed == stated, (printed, stated)  # the comment in the README states the output
    assert (tmp_path / "model" / "wts.h5.zip").is_file() and (tmp_path / "scan.npz").is_file()
