"""The original's legacy global configuration: one live dictionary ``cfg`` plus accessors.

Behaviour follows the original ``ptycho.params`` module:

* ``DEFAULT_CFG`` holds the 40 legacy defaults (a copy of
  :data:`ptycho_core.original_defaults.ORIGINAL_CFG`; note ``N=128``, ``gridsize=2``, ``probe_scale=10`` here, unlike
  the dataclass defaults); ``cfg`` starts as a copy of it and is THE live dict that callers mutate in place.
  ``intensity_scale`` and ``probe`` are not defaults: they appear only after training, ``set_probe`` or a load.
* Every function reads ``cfg`` through this module's attribute at call time, so code (and tests) that rebind
  ``ptycho.params.cfg = other_dict`` are honoured.
* ``get``, ``params``, ``validate`` and ``get_bigN`` first re-insert missing defaults (never overwrite).
* ``seal()`` makes later writes of non-whitelisted keys log a WARNING (never raise).

A failing :func:`validate` raises :class:`ParamsValidationError` (a ``ValueError`` and an ``AssertionError``).

Only the standard library, NumPy and plain data from ``ptycho_core`` are imported here (no Keras, no backend).
"""

from __future__ import annotations

import inspect
import logging
from typing import Any, Dict

import numpy as np

from ptycho_core.original_defaults import ORIGINAL_CFG

logger = logging.getLogger(__name__)

DEFAULT_CFG: Dict[str, Any] = dict(ORIGINAL_CFG)

cfg: Dict[str, Any] = DEFAULT_CFG.copy()

VALID_DATA_SOURCES = ("lines", "grf", "experimental", "points", "testimg", "diagonals", "xpp", "V", "generic")

_sealed = False
#: keys that may still be written after ``seal()`` without a warning (computed artefacts)
_SEAL_WHITELIST = {"intensity_scale", "probe", "timestamp"}

_NO_DEFAULT = object()


class ParamsValidationError(ValueError, AssertionError):
    """An invalid combination in ``cfg`` (a ``ValueError`` and, for old callers, an ``AssertionError``)."""


def seal() -> None:
    """From now on, writes through :func:`set` of non-whitelisted keys log a 'post-seal' warning."""
    global _sealed
    _sealed = True


def unseal() -> None:
    """Lift the seal (entry points call this first so re-runs in one process start clean)."""
    global _sealed
    _sealed = False


def ensure_defaults() -> None:
    """Re-insert every ``DEFAULT_CFG`` key missing from ``cfg`` (existing values are never overwritten)."""
    live = cfg
    for key, value in DEFAULT_CFG.items():
        if key not in live:
            live[key] = value


def get_bigN() -> int:
    """Side of a group's region in pixels: ``N + (gridsize - 1) * offset``."""
    ensure_defaults()
    live = cfg
    return live["N"] + (live["gridsize"] - 1) * live["offset"]


def get_padding_size() -> int:
    """``(gridsize - 1) * offset + max_position_jitter`` pixels (unused by the model)."""
    live = cfg
    return (live["gridsize"] - 1) * live["offset"] + live["max_position_jitter"]


def get_padded_size() -> int:
    """Model canvas size ``P = bigN + max_position_jitter`` (74 for N=64, gridsize 1 with defaults)."""
    return get_bigN() + cfg["max_position_jitter"]


def params() -> Dict[str, Any]:
    """A new shallow copy of ``cfg`` with the derived key ``'bigN'`` added (mutating it leaves cfg alone)."""
    ensure_defaults()
    out = dict(cfg)
    out["bigN"] = get_bigN()
    return out


def validate() -> bool:
    """Check ``data_source`` and that ``realspace_mae_weight > 0`` comes with ``realspace_weight > 0``.

    Returns True; raises :class:`ParamsValidationError` otherwise.
    """
    ensure_defaults()
    live = cfg
    if live["data_source"] not in VALID_DATA_SOURCES:
        raise ParamsValidationError(
            f"Invalid data source: {live['data_source']!r}. Must be one of {list(VALID_DATA_SOURCES)}."
        )
    if live["realspace_mae_weight"] > 0.0 and not live["realspace_weight"] > 0:
        raise ParamsValidationError(
            f"realspace_mae_weight={live['realspace_mae_weight']!r} > 0 requires realspace_weight > 0 "
            f"(got realspace_weight={live['realspace_weight']!r}); set realspace_weight or zero the MAE weight"
        )
    return True


def set(key: str, value: Any) -> None:
    """Assign ``cfg[key] = value`` and validate.

    After :func:`seal`, a write of a key outside ``_SEAL_WHITELIST`` logs a WARNING on logger
    ``ptycho.params`` naming the key and the caller's ``file:line``; it never raises for that. The value is
    assigned before validation (as in the original), so an invalid value stays in ``cfg`` when this raises.
    """
    logger.debug("Setting %s to %s in params", key, value)
    if _sealed and key not in _SEAL_WHITELIST:
        frame = inspect.currentframe()
        caller = frame.f_back if frame is not None else None
        where = f"{caller.f_code.co_filename}:{caller.f_lineno}" if caller is not None else "<unknown>"
        logger.warning("post-seal params.cfg write: %s (from %s)", key, where)
    cfg[key] = value
    validate()


def get(key: str, default: Any = _NO_DEFAULT) -> Any:
    """``cfg[key]`` after :func:`ensure_defaults`.

    ``'bigN'`` is computed and also stored into ``cfg``. Without ``default`` a missing key raises ``KeyError``
    (callers rely on this for ``intensity_scale``); with one, ``cfg.get(key, default)``.
    """
    ensure_defaults()
    live = cfg
    if key == "bigN":
        live["bigN"] = get_bigN()
        return live["bigN"]
    if default is _NO_DEFAULT:
        return live[key]
    return live.get(key, default)


def _as_array(value: Any):
    """NumPy view of an array-like parameter (NumPy, TF/torch/jax tensors), or None for scalars/others."""
    if isinstance(value, np.ndarray):
        return value
    if hasattr(value, "shape") and hasattr(value, "dtype"):
        for convert in (lambda v: np.asarray(v), lambda v: np.asarray(v.detach().cpu())):
            try:
                return convert(value)
            except Exception:  # pragma: no cover - exotic tensor types
                continue
    return None


def print_params() -> None:
    """Print all parameters sorted by key; array-likes are summarised by shape, mean, std, min and max."""
    print("Current Parameters:")
    print("-" * 20)
    for key, value in sorted(params().items()):
        arr = _as_array(value)
        if arr is None or arr.size == 0:
            print(f"{key}: {value}")
            continue
        print(f"{key}:")
        print(f"  shape: {tuple(arr.shape)}")
        print(f"  mean: {np.mean(arr):.3f}")
        print(f"  std: {np.std(arr):.3f}")
        print(f"  min: {np.min(arr):.3f}")
        print(f"  max: {np.max(arr):.3f}")
