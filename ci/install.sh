#!/usr/bin/env bash
# Create .venv (if absent) and install ptychopinn editable with torch, tensorflow-cpu and jax and the test extras.
# Pins live in ci/constraints.txt (torch==2.13.0 is a CPU wheel; a bare `torch` would pull a CUDA build).
set -euo pipefail
cd "$(dirname "$0")/.."
python="${PYTHON:-python3}"
[ -x .venv/bin/python ] || "$python" -m venv .venv
.venv/bin/python -m pip install --quiet --disable-pip-version-check \
    -c ci/constraints.txt -r ci/requirements-ci.txt -e ".[torch,jax,test,ptychodus]"
.venv/bin/python - <<'PY'
import importlib.metadata as m
print("installed:", ", ".join(f"{p} {m.version(p)}" for p in
      ("ptychopinn", "keras", "torch", "tensorflow-cpu", "jax", "numpy", "scipy")))
PY
