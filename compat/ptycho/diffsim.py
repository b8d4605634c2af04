"""The original ``ptycho.diffsim`` simulation primitives, returning NumPy arrays.

Forward model: exit wave ``ψ = s·Y_I·exp(iY_phi)·P``, far-field amplitude ``A = |FFT2 ψ|/N`` (zero frequency at
the centre), observed amplitude ``sqrt(Poisson(A²))``. ``s`` (the simulation scale) makes the expected total
count per pattern, averaged over the dataset, equal ``cfg['nphotons']``.

Poisson counts come from NumPy's global RNG (``np.random.seed`` reproduces a simulation). Differences from the
original: README.

Object generators (``mk_lines_img``, ``dummy_phi``, ``sim_object_image``) are thin adapters over
:mod:`ptycho_core.simulation.objects`. Without an ``rng`` they draw from NumPy's legacy global RNG like the
original (``np.random.seed`` reproduces them); ``sim_object_image`` supports the ``'lines'`` and ``'grf'`` data
sources (the GRF is statistically equivalent to the original's ``powerbox`` field, not the same realisation).
"""

from __future__ import annotations

from typing import Any, Optional, Tuple

import numpy as np

from ptycho_core import physics as core
from ptycho_core.simulation import objects as _objects

from . import params as p
from . import tf_helper as hh
from ._host import HostArray, host, to_numpy

__all__ = [
    "observe_amplitude",
    "count_photons",
    "scale_nphotons",
    "diffract_obj",
    "illuminate_and_diffract",
    "mk_lines_img",
    "dummy_phi",
    "sim_object_image",
]

_DIFFRACT_CHUNK = 256  # patterns per backend call (memory bound only)


def observe_amplitude(amplitude: Any) -> np.ndarray:
    """``sqrt`` of Poisson counts drawn with mean ``amplitude²`` (``np.random.poisson``), float32, same shape."""
    a = to_numpy(amplitude).astype(np.float32)
    return np.sqrt(np.random.poisson(np.square(a)).astype(np.float32))


def count_photons(obj: Any) -> np.ndarray:
    """``Σ_xy |obj|²`` per pattern and channel: ``(n, H, W, ch)`` → ``(n, ch)`` (NumPy)."""
    return to_numpy(core.count_photons(obj))


def scale_nphotons(padded_obj: Any) -> HostArray:
    """Simulation scale ``sqrt(cfg['nphotons'] / mean(count_photons(padded_obj)))``.

    ``padded_obj``: ``(n, H, W, ch)`` amplitudes. Multiplying them by the result makes the mean total
    intensity per pattern equal ``nphotons``. Returns a 0-d float32 :class:`HostArray` (``.numpy()`` gives
    the ``np.float32`` that original callers took from the TF scalar; ``float()`` works too).
    """
    amp = to_numpy(padded_obj)
    if not np.iscomplexobj(amp):
        amp = amp.astype(np.float32)
    return host(np.float32(to_numpy(core.simulation_scale(amp, float(p.get("nphotons"))))))


def diffract_obj(sample: Any, draw_poisson: bool = True) -> np.ndarray:
    """Diffraction amplitude of exit waves ``(n, N, N, 1)`` (N = cfg N), Poisson-sampled if ``draw_poisson``.

    Returns float32 ``(n, N, N, 1)`` NumPy amplitudes (sqrt of counts when sampled).
    """
    N = int(p.get("N"))
    amplitude = to_numpy(hh.pad_and_diffract(sample, N, N, pad=False)[1])
    return observe_amplitude(amplitude) if draw_poisson else amplitude


def _as_probe(probe: Any) -> np.ndarray:
    arr = to_numpy(probe)
    if arr.ndim == 2 and arr.shape[0] == arr.shape[1]:
        return arr[..., None]
    if arr.ndim == 3 and arr.shape[-1] == 1 and arr.shape[0] == arr.shape[1]:
        return arr
    raise ValueError(f"probe must be square with shape (N, N) or (N, N, 1); got {arr.shape}")


def illuminate_and_diffract(
    Y_I: Any, Y_phi: Any, probe: Any, intensity_scale: Optional[float] = None
) -> Tuple[np.ndarray, np.ndarray, np.ndarray, np.float32]:
    """Simulate Poisson-noisy diffraction of illuminated object patches.

    Args:
        Y_I: flat ``(n, N, N, 1)`` object amplitude (before illumination).
        Y_phi: flat ``(n, N, N, 1)`` object phase in radians.
        probe: ``(N, N)`` or ``(N, N, 1)`` probe (used as given, not normalised).
        intensity_scale: simulation scale ``s``; None computes it with :func:`scale_nphotons` of
            ``Y_I · |probe|``.
    Returns:
        ``(X, Y_I, Y_phi, s)``: channel-format ``(B, N, N, C)`` arrays (``C = cfg gridsize²``), X the observed
        amplitudes divided by ``s``, Y_I the illuminated amplitude ``|P·O|`` (divided back by ``s``), Y_phi
        the input phase unchanged (not illuminated), and the float32 scale ``s``. Mean over patterns of
        ``Σ(X·s)²`` ≈ ``nphotons``.
    """
    probe = _as_probe(probe)
    amp = to_numpy(Y_I).astype(np.float32)
    phase = to_numpy(Y_phi).astype(np.float32)
    if amp.ndim != 4 or amp.shape[-1] != 1 or amp.shape[1:3] != probe.shape[:2] or phase.shape != amp.shape:
        raise ValueError(
            f"Y_I and Y_phi must both have shape (n, N, N, 1) matching the probe {probe.shape}; "
            f"got {amp.shape} and {phase.shape}"
        )
    if intensity_scale is None:
        intensity_scale = scale_nphotons(amp * np.abs(probe)[None].astype(np.float32)).numpy()
    scale = np.float32(intensity_scale)
    if not (np.isfinite(scale) and scale > 0):
        raise ValueError(f"intensity_scale must be a positive finite number; got {intensity_scale!r}")

    obj = to_numpy(core.illuminate(core.combine_complex(scale * amp, phase), probe.astype(np.complex64)))
    X = (
        np.concatenate([diffract_obj(obj[i : i + _DIFFRACT_CHUNK]) for i in range(0, len(obj), _DIFFRACT_CHUNK)])
        if len(obj)
        else np.zeros_like(amp)
    )
    X = X / scale
    Y_I_out = np.abs(obj) / scale

    X, Y_I_out, phase = (to_numpy(g) for g in hh.grid_to_channel(*hh.togrid(X, Y_I_out, phase)))
    return X, Y_I_out, phase, scale


# ------------------------------------------------------------------------------------------- object generators
def _random_source(rng: Any) -> Any:
    """``rng`` as given, or NumPy's legacy global ``RandomState`` (the original's ``np.random``) when None."""
    return np.random.mtrand._rand if rng is None else rng


def mk_lines_img(N: int = 64, nlines: int = 10, *, rng: Any = None) -> np.ndarray:
    """The original's lines image: float64 ``(N, N, 3)`` (three identical channels).

    ``nlines`` random segments (endpoints drawn as ``int(N·U)`` in the order r0, c0, r1, c1 from ``rng``, or
    from ``np.random`` when None), blurred as ``gf(·, 1) + 2·gf(·, 5) + 5·gf(·, 10)``
    (:func:`ptycho_core.simulation.objects.lines_image`).
    """
    image = _objects.lines_image(N, nlines, _random_source(rng))
    return np.repeat(image[..., None], 3, axis=-1)


def dummy_phi(Y_I: Any) -> HostArray:
    """The original's placeholder phase ``π·tanh((Y − max(Y)/2) / (3·mean(Y)))`` (radians; max and mean over the
    whole array), float32 :class:`HostArray` of ``Y_I``'s shape."""
    return host(_objects.tanh_phase(to_numpy(Y_I)).astype(np.float32))


def sim_object_image(size: int, which: str = "train") -> np.ndarray:
    """One object amplitude for ``cfg['data_source']`` (``'lines'`` or ``'grf'``), float64 ``(size, size, 1)``.

    ``'lines'``: ``mk_lines_img(2·size, 400)`` centre-cropped to ``size``; ``'grf'``: the Gaussian random field
    of :func:`ptycho_core.simulation.objects.grf_amplitude` (even ``size``). Both draw from ``np.random``.
    ``which`` is accepted for signature compatibility (it only mattered for the ``testimg`` sources).

    Raises:
        NotImplementedError: the original's other sources (``points``, ``diagonals``, ``testimg``, ``V``).
        ValueError: an unknown data source.
    """
    source = p.get("data_source")
    if source == "lines":
        return _objects.lines_amplitude(size, _random_source(None))[..., None]
    if source == "grf":
        return _objects.grf_amplitude(size, _random_source(None))[..., None]
    if source in ("points", "testimg", "testimg_reverse", "diagonals", "V"):
        raise NotImplementedError(
            f"data_source {source!r} is not ported; use 'lines' or 'grf' (ptycho_core.simulation.objects)"
        )
    raise ValueError(f"unknown data_source {source!r}; supported: 'lines', 'grf'")
