"""Reading pickles from model archives without running code from the file.

Archives of the original PtychoPINN hold dill pickles (``manifest.dill``, ``params.dill``,
``custom_objects.dill``). Unpickling normally imports and calls whatever the file names, so an archive from an
untrusted source could run arbitrary code. :func:`safe_load` allows only plain data — dict, list, tuple, set,
str, bytes, numbers, bool, None, NumPy arrays and dtypes — plus the few constructors those archives are known to
use, each mapped to a harmless NumPy equivalent (the TensorFlow tensor that holds the probe becomes a NumPy array,
so no TensorFlow is needed). Class references of the original (``ptycho.model.ProbeIllumination``, …) are
returned as :class:`ClassReference` placeholders: never imported by the name in the file. Anything else raises
:class:`UnsafeArchiveError` naming the member and the global it asked for.
"""

from __future__ import annotations

import importlib
import io
import pickle
from typing import Any, cast

import numpy as np


class ArchiveError(ValueError):
    """A model archive that cannot be opened here: damaged, crafted, foreign, or from another program.

    Defined here, the lowest module of the archive readers, so that :mod:`ptycho_core.legacy` and
    :mod:`ptycho_core.archive` raise the same type (both re-export it).
    """


class UnsafeArchiveError(ArchiveError):
    """A pickle asked for something other than plain data or a known reference (nothing was imported or run)."""


class ClassReference(str):
    """Placeholder for a class or function the original pickled by reference (``module.qualname``)."""

    @property
    def name(self) -> str:
        return self.rsplit(".", 1)[-1]


def _create_array(factory, args, state, npdict=None):
    """dill's array reconstructor, restricted to NumPy's own ``_reconstruct``."""
    if factory is not _reconstruct:
        raise UnsafeArchiveError("array reconstructor other than numpy's _reconstruct")
    array = cast(np.ndarray, factory(*args))  # numpy's _reconstruct makes an ndarray (of the pickled subtype)
    array.__setstate__(state)
    if npdict:
        raise UnsafeArchiveError("array with extra attributes")
    return array


def _to_numpy(value, *args, **kwargs):
    """Stands in for ``tensorflow...convert_to_tensor`` (and similar): the data as a NumPy array."""
    return np.asarray(value)


try:  # NumPy >= 2
    from numpy._core import multiarray as _multiarray

    _reconstruct, _scalar = _multiarray._reconstruct, _multiarray.scalar
except (ImportError, AttributeError):  # pragma: no cover - NumPy 1.x
    _multiarray = importlib.import_module("numpy.core.multiarray")
    _reconstruct, _scalar = _multiarray._reconstruct, _multiarray.scalar

_ALLOWED = {
    ("builtins", "set"): set,
    ("builtins", "frozenset"): frozenset,
    ("builtins", "complex"): complex,
    ("builtins", "slice"): slice,
    ("collections", "OrderedDict"): dict,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy._core.multiarray", "scalar"): _scalar,
    ("numpy.core.multiarray", "scalar"): _scalar,
    ("dill._dill", "_create_array"): _create_array,
    ("tensorflow.python.framework.ops", "convert_to_tensor"): _to_numpy,
    ("tensorflow.python.framework.constant_op", "constant"): _to_numpy,
}
_REFERENCE_MODULES = ("ptycho.", "ptycho_core.")
_DILL_TYPES = {"_load_type"}


class _RestrictedUnpickler(pickle.Unpickler):
    def __init__(self, data: bytes, member: str) -> None:
        super().__init__(io.BytesIO(data))
        self.member = member

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _ALLOWED:
            return _ALLOWED[(module, name)]
        if module.startswith(_REFERENCE_MODULES) or module == "ptycho":
            return ClassReference(f"{module}.{name}")
        if module == "dill._dill" and name in _DILL_TYPES:
            return _dill_type
        raise UnsafeArchiveError(
            f"{self.member} asks to load {module}.{name}, which is not plain data: refused (the archive may be "
            f"corrupt or crafted; only open archives from sources you trust)"
        )


def _dill_type(name: str):
    safe = {
        "ComplexType": complex,
        "FloatType": float,
        "IntType": int,
        "ListType": list,
        "DictType": dict,
        "TupleType": tuple,
        "StringType": str,
        "BooleanType": bool,
        "NoneType": type(None),
    }
    if name not in safe:
        raise UnsafeArchiveError(f"dill type {name!r} is not plain data: refused")
    return safe[name]


def safe_load(data: bytes, member: str = "<pickle>") -> Any:
    """Unpickle ``data`` allowing only plain data and known references (see module docstring).

    Raises:
        UnsafeArchiveError: the pickle names anything else; nothing from it was imported or called.
    """
    try:
        return _RestrictedUnpickler(data, member).load()
    except UnsafeArchiveError:
        raise
    except Exception as exc:  # truncated or corrupt bytes
        raise UnsafeArchiveError(f"{member} is not a readable pickle ({type(exc).__name__}: {exc})") from exc
