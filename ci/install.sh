#!/usr/bin/env bash
# Create .venv (if absent) and install ptychopinn editable with torch, tensorflow-cpu and jax and the test extras.
# Pins live in ci/constraints.txt (torch==2.13.0 is a CPU wheel; a bare `torch` would pull a multi-GB CUDA build).
# pip's own byte-compilation runs on one core; compileall does the same work on every core afterwards.
# (On 2 cores a fresh venv took 51 s + 38 s this way; inside .ci/run the whole step measured 143 s against
# 146 s before, so the gain there is small.)
set -euo pipefail
cd "$(dirname "$0")/.."
python="${PYTHON:-python3}"
[ -x .venv/bin/python ] || "$python" -m venv .venv
.venv/bin/python -m pip install --quiet --disable-pip-version-check --no-compile \
    -c ci/constraints.txt -r ci/requirements-ci.txt -e ".[torch,jax,test,ptychodus]"
site=$(.venv/bin/python -c "import sysconfig; print(sysconfig.get_path('purelib'))")
.venv/bin/python -m compileall -q -j 0 "$site" >/dev/null || true
.venv/bin/python - <<'PY'
import importlib.metadata as m
print("installed:", ", ".join(f"{p} {m.version(p)}" for p in
      ("ptychopinn", "keras", "torch", "tensorflow-cpu", "jax", "numpy", "scipy")))
PY
