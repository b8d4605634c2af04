#!/usr/bin/env bash
# Build the wheel, install it (not editable) with the JAX backend into a fresh virtual environment, and check
# from outside the source tree that every module and package-data file of the source tree was installed, that
# `ptychopinn info` and `ptycho_train --help` / `ptycho_inference --help` run and that `import ptycho, ptycho_core`
# works. Catches modules left out of [tool.setuptools] packages and missing package data, which an editable
# install hides.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python="${PYTHON:-python3}"
# Build from a copy of the files git tracks or would track (a stale build/ folder here cannot leak into the wheel).
mkdir "$work/src"
git ls-files -z --cached --others --exclude-standard | tar --null --ignore-failed-read -T - -cf - 2>/dev/null | tar -xf - -C "$work/src"
"$python" -m pip wheel --quiet --disable-pip-version-check --no-deps -w "$work/dist" "$work/src" >/dev/null
wheel=$(ls "$work"/dist/ptychopinn-*.whl)
echo "built $(basename "$wheel")"
"$python" -m venv "$work/venv"
"$work/venv/bin/python" -m pip install --quiet --disable-pip-version-check -c ci/constraints.txt "$wheel[jax]"
cd "$work"  # nothing below may see the source tree
KERAS_BACKEND=jax "$work/venv/bin/ptychopinn" info
for script in ptycho_train ptycho_inference; do  # the original's console scripts: installed, and --help runs
  "$work/venv/bin/$script" --help >/dev/null
done
KERAS_BACKEND=jax "$work/venv/bin/python" - "$repo" <<'PY'
import pathlib, sys
import importlib
import ptycho, ptycho_core, ptychopinn

repo = pathlib.Path(sys.argv[1])
sources = {"ptycho_core": repo / "ptycho_core", "ptycho": repo / "compat" / "ptycho", "ptychopinn": repo / "ptychopinn"}
missing = []
for name, src in sources.items():
    installed = pathlib.Path(__import__(name).__file__).parent
    assert repo not in installed.parents, f"{name} imported from the source tree ({installed}), not the wheel"
    for f in src.rglob("*"):
        if f.is_file() and "__pycache__" not in f.parts and (f.suffix == ".py" or f.name == "py.typed"):
            if not (installed / f.relative_to(src)).is_file():
                missing.append(f"{name}/{f.relative_to(src)}")
if missing:
    sys.exit("the wheel lacks: " + ", ".join(sorted(missing)) + " (add them to [tool.setuptools] in pyproject.toml)")
for module in ("ptycho.config.config", "ptycho.workflows.components", "ptycho_core.physics", "ptycho_core.layers",
               "ptycho_core.simulation", "ptycho_core.data", "ptycho_core.pipeline", "ptychopinn.cli",
               "ptycho.scripts.train", "ptycho.scripts.inference"):
    importlib.import_module(module)
print(f"wheel install: ptycho_core, ptycho and ptychopinn import from {installed.parent}; no module missing")
PY
