"""The original ``ptycho.probe``: default probe, probe mask, normalisation into ``params.cfg['probe']``.

Probe construction is host work: results are NumPy (``fmt='tf'`` results and the mask are
:class:`~ptycho._host.HostArray`, which has the ``.numpy()`` of the TF tensors the original returned).
All numerics come from ``ptycho_core.physics.probe``.

Conventions: a probe is ``(N, N)`` or ``(N, N, 1)`` complex, pixel ``(i, j)`` = row ``i``, column ``j``; the
mask is the disc ``distance < N//4`` about ``(N/2 - 0.5, N/2 - 0.5)``. Differences from the original: README.md.
"""

from __future__ import annotations

from typing import Any, Optional

import numpy as np

from ptycho_core.data.scan import as_probe_2d
from ptycho_core.physics import probe as _core_probe

from . import params
from ._host import HostArray, host, to_numpy

_p = params  # the params module, also when a function argument is named ``params``

__all__ = [
    "get_lowpass_filter",
    "get_default_probe",
    "get_probe",
    "to_np",
    "get_squared_distance",
    "get_probe_mask_real",
    "get_probe_mask",
    "set_probe",
    "set_probe_guess",
    "set_default_probe",
]


def get_lowpass_filter(scale: float, N: int) -> np.ndarray:
    """1-D Gaussian window of std ``N/(scale·π²)`` pixels divided by its maximum, float64 ``(N,)``."""
    return _core_probe.lowpass_filter(scale, int(N))


def get_default_probe(N: int, fmt: str = "tf"):
    """The idealised disc probe (scale ``cfg['default_probe_scale']``), real values.

    Args:
        N: probe size in pixels.
        fmt: ``'np'`` → float64 ``(N, N)`` ndarray; ``'tf'`` → complex64 ``(N, N, 1)`` :class:`HostArray`.
    Raises:
        ValueError: any other ``fmt``.
    """
    if fmt not in ("np", "tf"):
        raise ValueError(f"Invalid format specified: fmt must be 'np' or 'tf'; got {fmt!r}")
    probe = _core_probe.default_probe(int(N), params.get("default_probe_scale"))
    if fmt == "np":
        return probe
    return host(probe[..., None], np.complex64)


def get_probe(params: Any = None):
    """``params.get('probe')`` (must be 3-D ``(N, N, 1)``); ``params`` is the params module or a dict-like."""
    probe = (_p if params is None else params).get("probe")
    if len(np.shape(probe)) != 3:
        raise ValueError(f"cfg['probe'] must have shape (N, N, 1); got {np.shape(probe)}")
    return probe


def to_np(probe: Any) -> np.ndarray:
    """A 3-D ``(N, N, 1)`` probe as a 2-D NumPy ``(N, N)`` array (copy)."""
    if len(np.shape(probe)) != 3:
        raise ValueError(f"probe must have shape (N, N, 1); got {np.shape(probe)}")
    return np.array(to_numpy(probe)[:, :, 0])


def get_squared_distance(N: int) -> np.ndarray:
    """Distance (not squared, despite the name) of each pixel from the probe centre, float64 ``(N, N)``."""
    return _core_probe.probe_distance(int(N))


def get_probe_mask_real(N: int) -> np.ndarray:
    """Boolean disc mask ``(N, N, 1)`` (812 pixels for N = 64)."""
    return _core_probe.probe_mask(int(N))[..., None]


def get_probe_mask(N: int) -> HostArray:
    """The disc mask as complex64 ``(N, N, 1)``."""
    return host(get_probe_mask_real(N), np.complex64)


def _square_probe(probe: Any) -> np.ndarray:
    """``(N, N, 1)`` or ``(N, N, 1, 1)`` probe as a NumPy ``(N, N, 1)`` array, else ``ValueError``."""
    arr = to_numpy(probe)
    if arr.ndim == 4 and arr.shape[-2:] == (1, 1):
        arr = arr[..., 0]
    if arr.ndim != 3 or arr.shape[-1] != 1 or arr.shape[0] != arr.shape[1]:
        raise ValueError(f"probe must have shape (N, N, 1) or (N, N, 1, 1); got {np.shape(probe)}")
    return arr


def set_probe(probe: Any) -> None:
    """Normalise ``probe`` and store it in ``cfg['probe']`` (through ``params.set``).

    The stored probe is ``probe / (cfg['probe_scale'] · mean(|mask · probe|))`` over all ``N²`` pixels, so
    ``mean(|mask · P|) = 1/probe_scale`` afterwards; complex64 ``(N, N, 1)`` :class:`HostArray`.

    Raises:
        ValueError: wrong shape, a size other than ``cfg['N']``, a non-finite probe or one zero on the mask.
    """
    arr = _square_probe(probe)
    N = int(params.get("N"))
    if arr.shape[0] != N:
        raise ValueError(
            f"probe is {arr.shape[0]}x{arr.shape[1]} but cfg['N'] = {N}; the probe must be N x N "
            f"(set params.cfg['N'] first or resample the probe)"
        )
    normalised = _core_probe.normalize_probe(arr[..., 0], params.get("probe_scale"))
    params.set("probe", host(normalised, np.complex64))


def _probe_from_guess(probe_guess: Any) -> np.ndarray:
    """``(N, N, 1)`` from ``(N, N)``, ``(N, N, 1)`` or a mode stack (``ptycho_core.data.scan.as_probe_2d``)."""
    arr = to_numpy(probe_guess)
    if arr.ndim not in (2, 3):
        raise ValueError(f"probe_guess must have 2 or 3 dimensions; got shape {arr.shape}")
    return as_probe_2d(arr, "probe_guess")[..., None]


def set_probe_guess(X_train: Optional[Any] = None, probe_guess: Optional[Any] = None) -> HostArray:
    """Set ``cfg['probe']`` from a given probe or from a Gaussian estimated from diffraction data.

    Args:
        X_train: ``(B, N, N, C)`` diffraction amplitudes, used only when ``probe_guess`` is None.
        probe_guess: ``(N, N)``, ``(N, N, 1)``, or a mode stack ``(modes, N, N)`` (mode 0 used, warning).
    Returns:
        The UN-normalised ``(N, N, 1)`` probe: complex64 for a given guess, float32 for the estimate.
    Raises:
        ValueError: ``probe_guess`` not 2-D/3-D ("probe_guess must have 2 or 3 dimensions"), wrong size, or
            neither argument given.
    """
    N = int(params.get("N"))
    if probe_guess is None:
        if X_train is None:
            raise ValueError("set_probe_guess needs X_train (B, N, N, C) diffraction data or a probe_guess")
        guess = host(_core_probe.estimate_probe(to_numpy(X_train), N, params.get("default_probe_scale")), np.float32)
    else:
        guess = host(_probe_from_guess(probe_guess), np.complex64)
    set_probe(guess)
    return guess


def set_default_probe() -> None:
    """``set_probe(get_default_probe(cfg['N']))``: the idealised disc probe (simulated-data workflows)."""
    set_probe(get_default_probe(params.get("N"), fmt="tf"))
