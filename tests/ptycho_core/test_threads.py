"""Thread defaults: importing ptycho_core bounds OpenMP's spin-waiting unless the user chose a value."""

from __future__ import annotations

import os
import subprocess
import sys

import ptycho_core

PROBE = "import os, ptycho_core; print(os.environ.get('GOMP_SPINCOUNT'))"


def _spin_count(env_value):
    env = {k: v for k, v in os.environ.items() if k != "GOMP_SPINCOUNT"}
    if env_value is not None:
        env["GOMP_SPINCOUNT"] = env_value
    return subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, env=env).stdout.strip()


def test_import_sets_a_short_openmp_spin_and_keeps_the_users_choice():
    assert _spin_count(None) == ptycho_core.OPENMP_SPIN_COUNT == "10000"
    assert _spin_count("300000") == "300000"
