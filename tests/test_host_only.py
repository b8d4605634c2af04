"""The host-only pass refuses ML frameworks: a host test that imports one fails loudly, naming the module.

Runs pytest in a subprocess on a scratch tree whose conftest is this suite's conftest with a scratch
``HOST_ONLY`` list, so the real hooks are what is checked.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

CONFTEST = Path(__file__).resolve().parent / "conftest.py"


def _scratch_suite(root: Path) -> None:
    (root / "conftest.py").write_text(
        textwrap.dedent(
            f"""
            import importlib.util
            from pathlib import Path

            _spec = importlib.util.spec_from_file_location("ptycho_suite_conftest", {str(CONFTEST)!r})
            _real = importlib.util.module_from_spec(_spec)
            _spec.loader.exec_module(_real)
            _real.TESTS_ROOT = Path(__file__).resolve().parent
            _real.HOST_ONLY = ("test_plain.py", "test_swallows.py", "test_top_level.py")
            for _name in dir(_real):
                if _name.startswith("pytest_"):
                    globals()[_name] = getattr(_real, _name)
            """
        )
    )
    (root / "test_plain.py").write_text("import numpy as np\n\ndef test_numpy():\n    assert np.ones(2).sum() == 2\n")
    (root / "test_swallows.py").write_text(
        "def test_quietly_tries_torch():\n"
        "    try:\n"
        "        import torch  # noqa: F401\n"
        "    except ImportError:\n"
        "        pass\n"
    )
    (root / "test_top_level.py").write_text("import keras  # noqa: F401\n\ndef test_never_runs():\n    pass\n")
    (root / "test_backend.py").write_text("import jax  # noqa: F401\n\ndef test_not_collected():\n    pass\n")


def test_a_host_test_that_imports_a_framework_fails_loudly(tmp_path: Path) -> None:
    _scratch_suite(tmp_path)
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "--host-only", "-p", "no:cacheprovider", "-q", str(tmp_path)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out
    # the top-level import is refused at collection, naming the module and the fix
    assert "'keras' may not be imported" in out and "HOST_ONLY" in out, out
    # the backend module outside HOST_ONLY was not collected
    assert "test_backend.py" not in out, out
    # a collection error stops the run: the two importable modules on their own
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "--host-only",
            "-p",
            "no:cacheprovider",
            "-q",
            "-rA",
            "test_plain.py",
            "test_swallows.py",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    out = proc.stdout + proc.stderr
    assert "1 failed, 1 passed" in out, out
    assert "PASSED test_plain.py::test_numpy" in out, out
    # a swallowed ImportError still fails the test that tried
    assert "test_quietly_tries_torch is a host-only test but imported ['torch']" in out, out
