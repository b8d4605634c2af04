"""Suite-wide set-up: backend checks, the host-only pass, and the JAX compilation cache.

Two kinds of test module live in this tree:

* **backend tests** run once per backend (``KERAS_BACKEND=torch|tensorflow|jax``); the backend named by
  ``KERAS_BACKEND`` must be importable, or the run fails (it never skips);
* **host tests** (the modules listed in :data:`HOST_ONLY`, marked ``host``) never touch a Keras backend and run
  once, in ``pytest --host-only``. In that pass every import of keras, torch, tensorflow or jax is refused and
  the test that tried fails with a message naming the module, so a host test that starts to need a backend is
  found at once instead of silently running under one backend only.

Tests marked ``cross_backend`` or ``once`` spawn one subprocess per backend themselves and run once
(see ci/test.sh). A plain ``pytest`` with one backend runs host and backend tests alike.
"""

from __future__ import annotations

import importlib
import importlib.abc
import os
import sys
from pathlib import Path
from typing import List, Optional, Sequence

import pytest

FRAMEWORK_MODULES = {"torch": "torch", "tensorflow": "tensorflow", "jax": "jax"}
FRAMEWORKS = ("keras", "torch", "tensorflow", "jax")
TESTS_ROOT = Path(__file__).resolve().parent

# Backend-independent test modules (paths relative to tests/): pure NumPy/SciPy, file formats, configuration.
HOST_ONLY: Sequence[str] = (
    "benchmarks/test_original_flag.py",
    "ptycho/config/test_config.py",
    "ptycho/test_evaluation.py",
    "ptycho/image/test_stitching.py",
    "ptycho/test_params.py",
    "ptycho_core/data/test_grouping.py",
    "ptycho_core/data/test_npz.py",
    "ptycho_core/data/test_scan.py",
    "ptycho_core/test_array_rows.py",
    "ptycho_core/test_atomic.py",
    "ptycho_core/test_threads.py",
    "ptycho_core/test_cluster.py",
    "ptycho_core/test_metrics.py",
    "test_host_only.py",
)


def _fail(message: str) -> None:
    pytest.exit(message, returncode=3)


class FrameworkImportRefused(ImportError):
    """Raised in the host-only pass when anything imports an ML framework."""


class _FrameworkBlocker(importlib.abc.MetaPathFinder):
    """Refuses (and records) every import of keras/torch/tensorflow/jax and their submodules."""

    def __init__(self) -> None:
        self.attempts: List[str] = []

    def find_spec(self, fullname: str, path: Optional[Sequence[str]] = None, target: object = None) -> None:
        top = fullname.partition(".")[0]
        if top in FRAMEWORKS:
            self.attempts.append(fullname)
            raise FrameworkImportRefused(
                f"host-only test run: {fullname!r} may not be imported. A module listed in HOST_ONLY "
                f"(tests/conftest.py) must not need a Keras backend; remove it from that list so it runs under "
                f"every backend, or keep the backend out of what it imports."
            )
        return None


_BLOCKER = _FrameworkBlocker()


def _relative(path: Path) -> Optional[str]:
    try:
        return path.resolve().relative_to(TESTS_ROOT).as_posix()
    except ValueError:
        return None


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--host-only",
        action="store_true",
        help="run only the backend-independent tests (HOST_ONLY in tests/conftest.py), with every import of "
        "keras/torch/tensorflow/jax refused",
    )


def pytest_configure(config: pytest.Config) -> None:
    if config.getoption("--host-only"):
        already = [name for name in FRAMEWORKS if name in sys.modules]
        if already:
            _fail(f"--host-only: {already} were imported before the tests started (a plugin or conftest?)")
        sys.meta_path.insert(0, _BLOCKER)
        return
    requested = os.environ.get("KERAS_BACKEND", "tensorflow")
    if requested not in FRAMEWORK_MODULES:
        _fail(f"KERAS_BACKEND={requested!r} is not one of {sorted(FRAMEWORK_MODULES)}")
    if requested == "jax":
        _enable_jax_compilation_cache()
    try:
        importlib.import_module(FRAMEWORK_MODULES[requested])
    except Exception as exc:  # a missing backend fails the run, it is never skipped
        _fail(
            f"backend {requested!r} is not installed or does not import ({exc}); install the project with ci/install.sh"
        )
    import keras

    if keras.backend.backend() != requested:
        _fail(f"keras picked backend {keras.backend.backend()!r} but KERAS_BACKEND={requested!r}")
    # Parity needs full float32 precision everywhere (no TF32 / reduced-precision matmul).
    if requested == "jax":
        import jax

        jax.config.update("jax_default_matmul_precision", "highest")
    elif requested == "tensorflow":
        import tensorflow as tf

        tf.config.experimental.enable_tensor_float_32_execution(False)
    elif requested == "torch":
        import torch

        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False


def _enable_jax_compilation_cache() -> None:
    """JAX's persistent compilation cache, shared by this process and the subprocesses it spawns.

    ``JAX_COMPILATION_CACHE_DIR`` (set by ci/test.sh for the whole run) wins; otherwise a folder under the
    user's cache. Every compilation is cached (no minimum compile time), so the same model built again, in
    another test or another process, is loaded instead of compiled.
    """
    cache = os.environ.setdefault(
        "JAX_COMPILATION_CACHE_DIR", str(Path.home() / ".cache" / "ptychopinn-tests" / "jax-compilation")
    )
    Path(cache).mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
    os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES", "0")


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> Optional[bool]:
    """In the host-only pass, collect only the HOST_ONLY modules (and the folders holding them)."""
    if not config.getoption("--host-only"):
        return None
    rel = _relative(collection_path)
    if rel is None or rel == ".":
        return None
    if collection_path.is_dir():
        return not any(h.startswith(rel + "/") for h in HOST_ONLY)
    if collection_path.name == "conftest.py":
        return None
    return rel not in HOST_ONLY


@pytest.hookimpl(tryfirst=True)  # before -m selects on the marker
def pytest_collection_modifyitems(config: pytest.Config, items: List[pytest.Item]) -> None:
    host = set(HOST_ONLY)
    for item in items:
        if _relative(Path(str(item.path))) in host:
            item.add_marker(pytest.mark.host)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item):
    """In the host-only pass, a test that tried to import a framework fails, even if it caught the error."""
    before = len(_BLOCKER.attempts)
    result = yield
    tried = _BLOCKER.attempts[before:]
    if tried and item.config.getoption("--host-only"):
        raise AssertionError(
            f"{item.nodeid} is a host-only test but imported {sorted(set(tried))}; "
            f"take its module out of HOST_ONLY in tests/conftest.py"
        )
    return result


@pytest.fixture(scope="session")
def backend() -> str:
    import keras

    return keras.backend.backend()
