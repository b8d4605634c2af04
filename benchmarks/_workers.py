"""The worker subprocess of every benchmark: spawning it from the parent, and its own checks and progress lines.

``KERAS_BACKEND`` must be set before Keras is imported, so each backend runs in its own process: the parent
calls :func:`spawn_worker`, which runs ``python -m benchmarks.<name> --worker BACKEND --out FILE`` and reads the
JSON the worker writes to ``FILE``; the worker checks its backend (:func:`require_worker_env`,
:func:`check_worker_backend`) and reports progress on stderr (:func:`worker_progress`), which the parent relays.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Dict, Sequence

REPO_ROOT = Path(__file__).resolve().parent.parent


def worker_progress(backend: str) -> Callable[[str], None]:
    """``progress(message)``: one ``[backend] message`` line on stderr (the parent relays these lines)."""

    def progress(message: str) -> None:
        print(f"[{backend}] {message}", file=sys.stderr, flush=True)

    return progress


def check_worker_backend(backend: str) -> None:
    """Raise unless Keras was imported with ``backend`` (the parent sets ``KERAS_BACKEND`` for the worker)."""
    import keras

    if keras.backend.backend() != backend:
        raise RuntimeError(f"KERAS_BACKEND selects {keras.backend.backend()!r}, expected {backend!r}")


def spawn_worker(module: str, backend: str, worker_args: Sequence[str]) -> Dict[str, Any]:
    """Run ``python -m module --worker backend --out FILE *worker_args`` with ``KERAS_BACKEND=backend``.

    Returns the worker's JSON payload plus ``worker_wall_s``, or ``{"backend", "error", "log"}`` on failure. The
    worker's ``[backend] ...`` progress lines are relayed to stderr.
    """
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / f"{backend}.json"
        cmd = [sys.executable, "-m", module, "--worker", backend, "--out", str(out), *worker_args]
        env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="2")
        start = time.perf_counter()
        proc = subprocess.run(cmd, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        elapsed = time.perf_counter() - start
        if proc.returncode != 0 or not out.exists():
            return {"backend": backend, "error": f"worker exited with {proc.returncode}", "log": proc.stdout}
        payload = json.loads(out.read_text())
    payload["worker_wall_s"] = elapsed
    progress_lines = [line for line in proc.stdout.splitlines() if line.startswith(f"[{backend}]")]
    print("\n".join(progress_lines + [f"[{backend}] done in {elapsed:.1f} s"]), file=sys.stderr, flush=True)
    return payload


def require_worker_env(backend: str) -> None:
    """Exit unless the environment selects ``backend`` (checked before Keras is imported)."""
    if os.environ.get("KERAS_BACKEND") != backend:
        raise SystemExit(f"--worker {backend} needs KERAS_BACKEND={backend} in the environment")
