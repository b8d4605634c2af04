"""What ``ptycho_train`` and ``ptycho_inference`` share: the backend choice, logging, errors and extra files.

Nothing here imports Keras at module level: :func:`select_backend` must set ``KERAS_BACKEND`` first.
"""

from __future__ import annotations

import contextlib
import csv
import importlib.util
import io
import json
import logging
import os
import sys
import zipfile
from pathlib import Path
from typing import Any, Dict, Iterator, List, Literal, Optional, Sequence

import numpy as np

from ptycho_core.atomic import atomic_write_bytes

__all__ = [
    "BACKEND_ALIASES",
    "ScriptUsageError",
    "fail",
    "select_backend",
    "script_logging",
    "engine_label",
    "history_csv",
    "write_indices",
    "add_ignored_torch_flags",
    "given_torch_flags",
    "file_metadata",
    "metadata_nphotons",
]

#: ``--backend`` spellings -> Keras backend (the original knew ``tensorflow`` and ``pytorch``)
BACKEND_ALIASES: Dict[str, str] = {"tensorflow": "tensorflow", "pytorch": "torch", "torch": "torch", "jax": "jax"}
_EXTRAS = {"tensorflow": "tensorflow", "torch": "torch", "jax": "jax"}
_PREFERENCE = ("tensorflow", "torch", "jax")  # the original's default first
LOG_FORMAT = "%(asctime)s - %(levelname)s - %(message)s"


class ScriptUsageError(Exception):
    """A choice the script cannot honour (backend unknown or not installed): one error line, exit code 2."""


def fail(prog: str, message: str, code: int) -> int:
    """Print ``<prog>: error: <message>`` (one line) on stderr; returns ``code``."""
    print(f"{prog}: error: {' '.join(str(message).split())}", file=sys.stderr)
    return code


def _installed(module: str) -> bool:
    """Whether ``module`` is a real installed package (a stray folder of that name, a namespace package, is not)."""
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return False
    return spec is not None and spec.origin not in (None, "namespace")


def select_backend(requested: Optional[str], source: str = "--backend") -> str:
    """Choose the Keras backend, set ``KERAS_BACKEND`` and return it (``tensorflow``, ``torch`` or ``jax``).

    ``requested`` (a :data:`BACKEND_ALIASES` spelling, from ``source``) wins; else ``KERAS_BACKEND``; else the
    backend of an already imported Keras; else the first installed of tensorflow, torch, jax. Raises
    :class:`ScriptUsageError` for an unknown or uninstalled backend, or one that differs from the backend of a
    Keras already imported in this process.
    """
    if requested is None and os.environ.get("KERAS_BACKEND"):
        requested, source = os.environ["KERAS_BACKEND"], "KERAS_BACKEND"
    if requested is None:
        if "keras" in sys.modules:
            import keras

            return str(keras.backend.backend())
        available = [name for name in _PREFERENCE if _installed(name)]
        if not available:
            raise ScriptUsageError(
                "no Keras backend is installed; install one: pip install 'ptychopinn[tensorflow]' (or [torch], [jax])"
            )
        backend = available[0]
    else:
        backend = BACKEND_ALIASES.get(str(requested).strip().lower(), "")
        if not backend:
            raise ScriptUsageError(
                f"unknown backend {requested!r} (from {source}); choose tensorflow, pytorch (or torch) or jax"
            )
        if not _installed(backend):
            raise ScriptUsageError(
                f"backend {requested!r} (from {source}) needs the {backend} package, which is not installed: "
                f"pip install 'ptychopinn[{_EXTRAS[backend]}]', or choose another with --backend"
            )
    if "keras" in sys.modules:
        import keras

        current = keras.backend.backend()
        if current != backend:
            raise ScriptUsageError(
                f"this process already runs Keras on {current!r}, so backend {backend!r} cannot be used here; "
                f"run the script in a new process"
            )
    os.environ["KERAS_BACKEND"] = backend
    return backend


def engine_label(backend: str) -> Literal["tensorflow", "pytorch"]:
    """The ``backend`` value the ``ptycho`` configs accept for a Keras backend (``'pytorch'`` for torch)."""
    return "pytorch" if backend == "torch" else "tensorflow"


@contextlib.contextmanager
def script_logging(console_level: int, log_file: Optional[Path] = None) -> Iterator[None]:
    """Log ``ptycho*`` messages to stdout at ``console_level`` and, when given, everything from DEBUG (``ptycho``
    and ``ptycho_core``) and INFO (other libraries) to ``log_file``; the handlers are removed on exit."""
    root = logging.getLogger()
    formatter = logging.Formatter(LOG_FORMAT)
    handlers: List[logging.Handler] = [logging.StreamHandler(sys.stdout)]
    handlers[0].setLevel(console_level)
    if log_file is not None:
        handlers.append(logging.FileHandler(log_file, encoding="utf-8"))
        handlers[1].setLevel(logging.DEBUG)
    saved = root.level, {name: logging.getLogger(name).level for name in ("ptycho", "ptycho_core")}
    root.setLevel(min(console_level, logging.INFO))
    for name in saved[1]:
        logging.getLogger(name).setLevel(logging.DEBUG if log_file is not None else console_level)
    for handler in handlers:
        handler.setFormatter(formatter)
        root.addHandler(handler)
    try:
        yield
    finally:
        for handler in handlers:
            root.removeHandler(handler)
            handler.close()
        root.setLevel(saved[0])
        for name, level in saved[1].items():
            logging.getLogger(name).setLevel(level)


def history_csv(history: Dict[str, Sequence[float]]) -> bytes:
    """Per-epoch losses as CSV: ``epoch`` (from 1), then one column per series (``loss`` first, then sorted)."""
    keys = sorted(history, key=lambda key: (key != "loss", key))
    rows = max((len(history[key]) for key in keys), default=0)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["epoch", *keys])
    for i in range(rows):
        writer.writerow([i + 1, *(float(history[key][i]) if i < len(history[key]) else "" for key in keys)])
    return buffer.getvalue().encode()


def write_indices(folder: Path, seed: Optional[int], indices: Any) -> Optional[Path]:
    """Write the subsampled scan indices as ``<folder>/subsample_seed<seed>_indices.txt`` (one per line) when a
    seed was given (the original wrote ``./tmp/subsample_seed<seed>_indices.txt`` in the working directory)."""
    if seed is None or indices is None:
        return None
    text = "".join(f"{int(i)}\n" for i in np.asarray(indices).ravel())
    return atomic_write_bytes(folder / f"subsample_seed{seed}_indices.txt", text.encode(), "backup")


def add_ignored_torch_flags(parser: Any, names: Sequence[str]) -> None:
    """Accept the original's ``--torch-*`` execution flags named in ``names`` (they tuned its separate PyTorch
    runner; here they are parsed and ignored, with a warning)."""
    specs: Dict[str, Dict[str, Any]] = {
        "accelerator": dict(choices=["auto", "cpu", "cuda", "gpu", "mps", "tpu"]),
        "deterministic": dict(action="store_true"),
        "num-workers": dict(type=int),
        "accumulate-grad-batches": dict(type=int),
        "learning-rate": dict(type=float),
        "scheduler": dict(choices=["Default", "ReduceLROnPlateau", "CosineAnnealing"]),
        "plateau-factor": dict(type=float),
        "plateau-patience": dict(type=int),
        "plateau-min-lr": dict(type=float),
        "plateau-threshold": dict(type=float),
        "logger": dict(choices=["csv", "tensorboard", "mlflow", "none"]),
        "recon-log-every-n-epochs": dict(type=int),
        "recon-log-num-patches": dict(type=int),
        "recon-log-fixed-indices": dict(type=int, nargs="+"),
        "recon-log-stitch": dict(action="store_true"),
        "recon-log-max-stitch-samples": dict(type=int),
        "enable-checkpointing": dict(action="store_true"),
        "checkpoint-save-top-k": dict(type=int),
        "inference-batch-size": dict(type=int),
    }
    group = parser.add_argument_group("PyTorch-runner flags of the original (accepted and ignored)")
    for name in names:
        group.add_argument(f"--torch-{name}", default=None, help="ignored", **specs[name])


def given_torch_flags(args: Any, names: Sequence[str]) -> List[str]:
    """The ``--torch-<name>`` flags among ``names`` that were given (not ``None`` or False)."""
    given = [(name, getattr(args, "torch_" + name.replace("-", "_"), None)) for name in names]
    return [f"--torch-{name}" for name, value in given if value is not None and value is not False]


def file_metadata(path: Path) -> Optional[Dict[str, Any]]:
    """The JSON ``_metadata`` of the NPZ ``path`` as a dict (None when absent or unreadable).

    A plain string array is read as is; the original's pickled string is unpickled with
    :func:`ptycho_core.safe_pickle.safe_load` (plain data only: nothing named in the file is imported or run).
    """
    from ptycho_core.safe_pickle import safe_load

    try:
        with zipfile.ZipFile(path) as archive, archive.open("_metadata.npy") as member:
            version = np.lib.format.read_magic(member)
            read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else None
            _, _, dtype = (read_header or np.lib.format.read_array_header_2_0)(member)
            if dtype.hasobject:
                value = safe_load(member.read(), "_metadata")
            else:
                with np.load(path, allow_pickle=False) as data:
                    value = data["_metadata"]
        parsed = json.loads(str(np.asarray(value).item()))
    except (KeyError, OSError, ValueError, TypeError, zipfile.BadZipFile):
        return None
    return parsed if isinstance(parsed, dict) else None


def metadata_nphotons(metadata: Optional[Dict[str, Any]]) -> Optional[float]:
    """``nphotons`` at the top of ``metadata``, else under ``physics_parameters`` (the original's order)."""
    if not metadata:
        return None
    physics = metadata.get("physics_parameters")
    value = metadata.get("nphotons", physics.get("nphotons") if isinstance(physics, dict) else None)
    try:
        return None if value is None else float(value)
    except (TypeError, ValueError):
        return None
