"""Running the ORIGINAL PtychoPINN beside ours in one model benchmark: the parent's side.

The original's import package is also called ``ptycho``, so it runs in another interpreter, given by
``--original-python`` (plus ``--original-src``, the folder holding its ``ptycho/``, put on ``PYTHONPATH``).
:func:`check_original` asks that interpreter to import the original (``benchmarks/_original_worker.py --check``)
and raises :class:`OriginalUnavailable` with one message naming the problem and the fix when it cannot;
:func:`run_original` writes the benchmark's inputs to ``.npz`` files (:mod:`benchmarks._original_inputs`, in a
subprocess under one of our backends), then starts the original's worker once per configuration and returns a
payload shaped like our workers' (``backend`` ``"original"``, ``records``, ``errors``; a like-for-like record
also carries the issue's figure of the original and the ratio to it, ``reference`` / ``ratio``). The original's
processes get ``PYTHONPATH`` = the source folder only (or none), ``KERAS_BACKEND=tensorflow`` and a scratch
working folder, so nothing of this project is importable there.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from ._model_config import DEFAULT_N, REFERENCE_PATTERNS_S, Sizes, format_configs
from ._workers import REPO_ROOT

WORKER_SCRIPT = Path(__file__).resolve().parent / "_original_worker.py"
#: How to build an interpreter for the original, quoted in every error.
SETUP_HINT = (
    "build one outside this repository: python3.11 -m venv ENV && ENV/bin/pip install tensorflow-cpu==2.21.0 "
    "tensorflow-probability tf-keras scipy scikit-image matplotlib pandas dill pyyaml; export the original's "
    "source (github hoidn/PtychoPINN) to SRC; then pass --original-python ENV/bin/python --original-src SRC"
)
CHECK_TIMEOUT_S = 300


class OriginalUnavailable(RuntimeError):
    """The interpreter given for the original PtychoPINN cannot run it; the message names the problem and fix."""


def original_env(src: Optional[str]) -> Dict[str, str]:
    """Environment of the original's processes: ``PYTHONPATH`` = ``src`` only, TensorFlow as Keras's backend."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP")}
    if src:
        env["PYTHONPATH"] = str(Path(src).resolve())
    env.update(KERAS_BACKEND="tensorflow", TF_CPP_MIN_LOG_LEVEL="2", PYTHONUNBUFFERED="1")
    return env


def _describe(python: str, src: Optional[str]) -> str:
    return f"--original-python {python}" + (f" --original-src {src}" if src else "")


def check_original(python: str, src: Optional[str], timeout_s: float = CHECK_TIMEOUT_S) -> Dict[str, Any]:
    """Import the original in ``python`` (with ``src`` on ``PYTHONPATH``); its versions and where it lives.

    Raises :class:`OriginalUnavailable` when ``python`` is not an executable file, ``src`` is not a folder
    holding ``ptycho/``, the original (or its dependencies) does not import there, or the ``ptycho`` found is
    this project's compat layer.
    """
    given = _describe(python, src)
    path = Path(os.path.abspath(python))  # absolute, symlinks kept: a venv's python is a link to the base one
    if not path.is_file() or not os.access(path, os.X_OK):
        raise OriginalUnavailable(
            f"{given}: {python} is not an executable file. Give the python of an environment where the original "
            f"PtychoPINN imports; to {SETUP_HINT}"
        )
    if src is not None and not (Path(src) / "ptycho").is_dir():
        raise OriginalUnavailable(
            f"{given}: {src} has no ptycho/ folder. --original-src is the folder of the original's source tree "
            "that holds its ptycho/ package"
        )
    with tempfile.TemporaryDirectory(prefix="original-check-") as scratch:
        try:
            proc = subprocess.run(
                [str(path), str(WORKER_SCRIPT), "--check"],
                cwd=scratch,
                env=original_env(src),
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                timeout=timeout_s,
            )
        except subprocess.TimeoutExpired as exc:
            raise OriginalUnavailable(f"{given}: importing the original took over {timeout_s:.0f} s") from exc
        except OSError as exc:
            raise OriginalUnavailable(f"{given}: cannot start {python}: {exc}. To {SETUP_HINT}") from exc
    for line in proc.stdout.splitlines():
        if line.startswith("ORIGINAL-CHECK-OK "):
            return json.loads(line.split(" ", 1)[1])
    reasons = [ln.split(":", 1)[1].strip() for ln in proc.stdout.splitlines() if ln.startswith("ORIGINAL-CHECK-FAILED")]
    reason = reasons[0] if reasons else f"exit code {proc.returncode}: {proc.stdout.strip()[-600:]}"
    if "compat layer" in reason:
        fix = "give the python of a separate environment for the original (this project's own has its ptycho)"
    else:
        fix = "install its dependencies in that environment and pass the folder holding its ptycho/ as --original-src"
    raise OriginalUnavailable(
        f"{given}: the original PtychoPINN does not import there: {reason}. Fix: {fix}; to {SETUP_HINT}"
    )


def _write_inputs(scratch: Path, sizes: Sizes, backend: str) -> List[Dict[str, Any]]:
    """Run :mod:`benchmarks._original_inputs` under ``backend``; the plan it wrote."""
    cmd = [sys.executable, "-m", "benchmarks._original_inputs", "--out-dir", str(scratch)]
    cmd += ["--train", format_configs(sizes.train), "--predict", format_configs(sizes.predict)]
    cmd += ["--train-steps", str(sizes.train_steps), "--predict-batches", str(sizes.predict_batches)]
    cmd += ["--n-filters-scale", str(sizes.n_filters_scale)]
    env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="2")
    proc = subprocess.run(cmd, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"writing the original's inputs failed ({proc.returncode}): {proc.stdout[-2000:]}")
    return json.loads((scratch / "plan.json").read_text())


def _measure_one(
    python: str, src: Optional[str], case: Dict[str, Any], repeats: int, repeat_s: float, scratch: Path
) -> Tuple[Dict[str, Any], Dict[str, Any]]:
    """One configuration in a fresh process of the original's interpreter: ``(record, info)`` or raises."""
    out = scratch / f"{Path(case['inputs']).stem}.json"
    cmd = [
        os.path.abspath(python),
        str(WORKER_SCRIPT),
        "--inputs",
        case["inputs"],
        "--measurement",
        case["measurement"],
    ]
    cmd += ["--size", case["size"], "--gridsize", str(case["gridsize"]), "--batch", str(case["batch"])]
    cmd += ["--n", str(case["n"]), "--n-filters-scale", str(case["n_filters_scale"])]
    cmd += ["--nphotons", repr(case["nphotons"]), "--intensity-scale", repr(case["intensity_scale"])]
    cmd += ["--repeats", str(repeats), "--repeat-s", repr(repeat_s), "--out", str(out)]
    proc = subprocess.run(
        cmd, cwd=scratch, env=original_env(src), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    if proc.returncode != 0 or not out.exists():
        tail = [ln for ln in proc.stdout.splitlines() if ln.strip() and "DEBUG" not in ln][-15:]
        raise RuntimeError(f"original worker exited with {proc.returncode}: " + " | ".join(tail))
    result = json.loads(out.read_text())
    return result["record"], result["info"]


def run_original(python: str, src: Optional[str], sizes: Sizes, repeats: int, inputs_backend: str) -> Dict[str, Any]:
    """Measure every configuration of ``sizes`` with the original; a payload like our workers' (see module doc).

    ``inputs_backend`` is the Keras backend under which our simulation writes the inputs. A failing
    configuration is recorded under ``errors`` and the others still run.
    """
    start = time.perf_counter()
    records: List[Dict[str, Any]] = []
    errors: List[Dict[str, str]] = []
    info: Dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="original-bench-") as tmp:
        scratch = Path(tmp)
        try:
            plan = _write_inputs(scratch, sizes, inputs_backend)
        except Exception as exc:  # reported like a failed worker, so that our figures are still printed
            plan = []
            errors.append({"measurement": "inputs", "size": "all", "error": str(exc)[:2000]})
            print(f"[original] FAILED: {errors[-1]['error'][:300]}", file=sys.stderr, flush=True)
        for case in plan:
            label = f"{case['measurement']} N {case['n']} gridsize {case['gridsize']} batch {case['batch']}"
            print(f"[original] {label} (at {time.perf_counter() - start:.0f} s)", file=sys.stderr, flush=True)
            try:
                record, info = _measure_one(python, src, case, repeats, sizes.repeat_s, scratch)
                key = (case["measurement"], case["gridsize"], case["batch"])
                if case["n"] == DEFAULT_N and key in REFERENCE_PATTERNS_S:  # this machine vs the figure
                    reference = REFERENCE_PATTERNS_S[key]
                    record["extra"].update(reference=reference, ratio=record["value"] / reference)
                records.append(record)
            except Exception as exc:  # one failing configuration must not lose the others
                errors.append({"measurement": case["measurement"], "size": case["size"], "error": str(exc)[:2000]})
                print(f"[original] FAILED: {errors[-1]['error'][:300]}", file=sys.stderr, flush=True)
    elapsed = time.perf_counter() - start
    print(f"[original] done in {elapsed:.1f} s", file=sys.stderr, flush=True)
    return {
        "backend": "original",
        "python": python,
        "src": src,
        "info": info,
        "records": records,
        "errors": errors,
        "worker_wall_s": elapsed,
    }
