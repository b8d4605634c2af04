"""Ptychodus integration tests: shared set-up.

* This folder goes on ``sys.path`` so the test modules can import :mod:`ptychodus_product` and
  :mod:`ptychodus_git_reconstructor` (the suite runs with ``--import-mode=importlib``).
* ``ptychodus`` is a test dependency (the ``ptychodus`` extra, installed by ci/install.sh): when it is missing
  these tests FAIL at collection, they are never skipped.
* Every test runs against a snapshot of ``ptycho.params.cfg`` and the ``ptycho.model`` singletons, restored after.
* Ptychodus's subprocess machinery waits on its queue without a timeout, so a child that dies without reporting
  would hang the run; :func:`watchdog` dumps every thread's stack and exits the run after a generous limit instead.
"""

from __future__ import annotations

import faulthandler
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import ptychodus  # noqa: E402,F401  (a missing test dependency fails collection here)

HANG_LIMIT_S = 900


@pytest.fixture(autouse=True)
def restore_ptycho_state():
    """Snapshot ``ptycho.params.cfg`` (object, contents, seal) and the ``ptycho.model`` singletons; restore after."""
    import ptycho.model as model
    from ptycho import params

    live, saved, sealed = params.cfg, dict(params.cfg), params._sealed
    cache = dict(model._lazy_cache)
    yield
    params.cfg = live
    live.clear()
    live.update(saved)
    params._sealed = sealed
    model._lazy_cache.clear()
    model._lazy_cache.update(cache)
    for name in ("autoencoder", "diffraction_to_obj"):
        model.__dict__.pop(name, None)


@pytest.fixture
def watchdog():
    """Abort the run (with tracebacks) if the test is still running after ``HANG_LIMIT_S`` seconds."""
    faulthandler.dump_traceback_later(HANG_LIMIT_S, exit=True)
    yield
    faulthandler.cancel_dump_traceback_later()
