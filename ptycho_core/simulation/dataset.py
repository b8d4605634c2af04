"""Simulated ptychography datasets: object patches → exit waves → far-field amplitudes with Poisson noise → NPZ.

Forward model (ptycho_core's physics, any Keras backend):

1. **Patch** at position ``(x, y)`` (object pixels, ``[x, y]`` rows, x = column): ``patch(r, q) =
   O(r + y − N/2, q + x − N/2)``, bilinear between pixels, zero outside the object — the convention of
   ``RawData``'s ground-truth patches and of ``ptycho.tf_helper.reassemble_position`` (the patch's pixel
   ``(N/2, N/2)`` sits on object pixel ``(row y, column x)``). Computed with
   :func:`ptycho_core.physics.extract_patches_position` on a small window around each position.
2. **Exit wave** ``ψ = P·patch`` (:func:`ptycho_core.physics.illuminate`, probe used as given).
3. **Far field** ``A = |FFT2(ψ)|/N``, zero frequency at ``(N/2, N/2)`` (:func:`ptycho_core.physics.diffract`);
   Parseval: ``Σ A² = Σ |ψ|²``.
4. **Dose**: ``s = sqrt(nphotons / mean_patterns(Σ A²))`` so that the expected total count per pattern,
   averaged over the dataset, is ``nphotons`` (the original's ``scale_nphotons``).
5. **Noise**: counts ``~ Poisson((s·A)²)`` drawn with ``numpy.random.Generator.poisson``; the dataset holds
   AMPLITUDES ``sqrt(counts)`` (photon-count scale; unlike the original, the scale ``s`` is *not* divided out
   again — ``RawData`` re-normalises the data anyway, §6.1).

Units: positions in object pixels, amplitudes in sqrt(photons), phases in radians, ``nphotons`` in photons
per pattern. The NPZ written by :func:`save_npz` is the schema read by ``ptycho.raw_data.RawData.from_file``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterator, Mapping, Optional, Tuple

import numpy as np
from keras import ops

from .. import physics
from ..atomic import atomic_target
from ..types import ArrayLike, PathLike
from .objects import OBJECT_KINDS, default_object_size, make_object
from .scans import Seed, as_generator, check_patch_size, make_scan

_CHUNK_PIXELS = 1 << 22  # window pixels per backend call (bounds memory; chunks are padded to powers of two)

NPZ_KEYS = ("diff3d", "xcoords", "ycoords", "xcoords_start", "ycoords_start", "probeGuess", "objectGuess", "scan_index")
"""Arrays written by :func:`save_npz` (plus ``_metadata`` when metadata is given)."""


class OutputExistsError(FileExistsError, ValueError):
    """The output file exists and ``overwrite`` was not allowed (both a ``FileExistsError`` and a ``ValueError``)."""


# ----------------------------------------------------------------------------------------------- checks
def check_probe(probe: ArrayLike) -> np.ndarray:
    """Validate a probe: square ``(N, N)`` or ``(N, N, 1)``, finite, not all zero, N a multiple of 4 (>= 16).

    Returns:
        complex64 ``(N, N)``.
    """
    arr = np.asarray(probe)
    if arr.ndim == 3 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    if arr.ndim != 2 or arr.shape[0] != arr.shape[1]:
        raise ValueError(f"probe must be a square 2-D array (N, N) or (N, N, 1); got shape {np.shape(probe)}")
    if arr.dtype.kind not in "biufc":
        raise ValueError(f"probe must be numeric (real or complex); got dtype {arr.dtype}")
    check_patch_size(arr.shape[0])
    if not np.all(np.isfinite(arr)):
        raise ValueError("probe contains NaN or inf values")
    if not np.any(arr):
        raise ValueError("probe is zero everywhere; nothing would be illuminated")
    return arr.astype(np.complex64)


def check_object(obj: ArrayLike, N: int) -> np.ndarray:
    """Validate an object: ``(H, W)`` or ``(H, W, 1)``, finite, at least ``N × N``. Returns complex64 ``(H, W)``."""
    arr = np.asarray(obj)
    if arr.ndim == 3 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    if arr.ndim != 2:
        raise ValueError(f"object must be a 2-D array (H, W); got shape {np.shape(obj)}")
    if arr.dtype.kind not in "biufc":
        raise ValueError(f"object must be numeric (real or complex); got dtype {arr.dtype}")
    if arr.shape[0] < N or arr.shape[1] < N:
        raise ValueError(
            f"object of shape {arr.shape} is smaller than the probe ({N} x {N}); every patch must fit inside the object"
        )
    if not np.all(np.isfinite(arr)):
        raise ValueError("object contains NaN or inf values")
    return arr.astype(np.complex64)


def check_positions(
    positions: ArrayLike, object_shape: Optional[Tuple[int, int]] = None, N: Optional[int] = None
) -> np.ndarray:
    """Validate scan positions ``(n, 2)`` rows ``[x, y]`` (n >= 1, finite); returns float64 ``(n, 2)``.

    With ``object_shape`` and ``N``: every patch must lie inside the object, i.e.
    ``N/2 <= x <= W - N/2`` and ``N/2 <= y <= H - N/2`` (the scan generators keep a margin of ``N/2 + 1``).
    """
    arr = np.asarray(positions)
    if arr.ndim != 2 or arr.shape[1] != 2:
        raise ValueError(f"positions must have shape (n, 2) with rows [x, y]; got shape {arr.shape}")
    if arr.dtype.kind not in "biuf":
        raise ValueError(f"positions must be real numbers; got dtype {arr.dtype}")
    if len(arr) == 0:
        raise ValueError("positions is empty; give at least one scan position")
    arr = arr.astype(np.float64)
    if not np.all(np.isfinite(arr)):
        raise ValueError("positions contain NaN or inf values")
    if object_shape is not None and N is not None:
        H, W = object_shape
        half = N / 2
        bad = (arr[:, 0] < half) | (arr[:, 0] > W - half) | (arr[:, 1] < half) | (arr[:, 1] > H - half)
        if np.any(bad):
            first = int(np.argmax(bad))
            raise ValueError(
                f"{int(bad.sum())} scan position(s) put the {N}x{N} patch outside the object of shape (H, W) = "
                f"({H}, {W}) (first: index {first}, [x, y] = {arr[first].tolist()}); positions must satisfy "
                f"{half:g} <= x <= {W - half:g} and {half:g} <= y <= {H - half:g} (use ptycho_core.simulation "
                f"scans, which keep a margin of N/2+1)"
            )
    return arr


def check_nphotons(nphotons: Any) -> float:
    """``nphotons`` must be a finite number > 0 (photons per pattern); returns it as float."""
    try:
        value = float(nphotons)
    except (TypeError, ValueError):
        raise ValueError(f"nphotons must be a positive number of photons per pattern; got {nphotons!r}") from None
    if isinstance(nphotons, bool) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"nphotons must be a positive finite number of photons per pattern; got {nphotons!r}")
    return value


# ----------------------------------------------------------------------------------------------- forward model
def _chunks(n: int, window: int) -> Iterator[Tuple[int, int, int]]:
    """``(start, stop, padded)`` row ranges; ``padded`` is a power of two >= ``stop - start`` (few shapes)."""
    limit = max(1, _CHUNK_PIXELS // (window * window))
    limit = 1 << (limit.bit_length() - 1)
    for start in range(0, n, limit):
        stop = min(start + limit, n)
        yield start, stop, min(limit, 1 << (stop - start - 1).bit_length())


def _windows(obj: np.ndarray, origin: np.ndarray, size: int) -> np.ndarray:
    """``(k, size, size)`` windows of ``obj`` whose pixel (0, 0) is object pixel ``(origin_y, origin_x)``; zero
    outside the object."""
    H, W = obj.shape
    span = np.arange(size)
    rows = origin[:, 1, None] + span
    cols = origin[:, 0, None] + span
    inside = ((rows >= 0) & (rows < H))[:, :, None] & ((cols >= 0) & (cols < W))[:, None, :]
    return obj[np.clip(rows, 0, H - 1)[:, :, None], np.clip(cols, 0, W - 1)[:, None, :]] * inside


def _pad_rows(x: np.ndarray, rows: int) -> np.ndarray:
    if len(x) == rows:
        return x
    return np.concatenate([x, np.zeros((rows - len(x),) + x.shape[1:], x.dtype)])


def _forward(
    obj: np.ndarray, probe: Optional[np.ndarray], positions: np.ndarray, N: int, want_patches: bool
) -> Tuple[Optional[np.ndarray], Optional[np.ndarray]]:
    """Patches ``(n, N, N)`` complex64 and/or unit-dose amplitudes ``(n, N, N)`` float32 (validated inputs)."""
    n = len(positions)
    window = N + 2  # one extra pixel each side: the trim of extract_patches_position is symmetric
    whole = np.floor(positions)
    frac = positions - whole
    origin = whole.astype(np.int64) - (N // 2 + 1)
    patches = np.empty((n, N, N), np.complex64) if want_patches else None
    amplitude = np.empty((n, N, N), np.float32) if probe is not None else None
    probe_t = None if probe is None else probe[..., None]
    for start, stop, padded in _chunks(n, window):
        k = stop - start
        win = _pad_rows(_windows(obj, origin[start:stop], window), padded)[..., None]
        # extraction shifts by +o and keeps the centre: o = -frac samples the window at (r + 1 + fy, q + 1 + fx)
        offsets = _pad_rows(-frac[start:stop], padded).astype(np.float32).reshape(padded, 1, 2, 1)
        cut = physics.extract_patches_position(win, offsets, N)
        if patches is not None:  # want_patches
            patches[start:stop] = ops.convert_to_numpy(cut)[:k, :, :, 0]
        if amplitude is not None:  # probe is not None
            amp = physics.diffract(physics.illuminate(cut, probe_t))
            amplitude[start:stop] = ops.convert_to_numpy(amp)[:k, :, :, 0]
    return patches, amplitude


def object_patches(obj: ArrayLike, positions: ArrayLike, N: int) -> np.ndarray:
    """The ``N × N`` object patches at the scan positions.

    ``patch[k](r, q) = O(r + y_k − N/2, q + x_k − N/2)``: bilinear interpolation between object pixels, zero
    outside the object (so the patch's pixel ``(N/2, N/2)`` is object pixel ``(row y_k, column x_k)``).

    Args:
        obj: complex (or real) object ``(H, W)``.
        positions: ``(n, 2)`` rows ``[x, y]`` in object pixels.
        N: patch size (multiple of 4, >= 16).
    Returns:
        complex64 ``(n, N, N)``.
    """
    N = check_patch_size(N)
    obj = check_object(obj, N)
    positions = check_positions(positions)
    patches = _forward(obj, None, positions, N, want_patches=True)[0]
    assert patches is not None
    return patches


def diffraction_amplitude(obj: ArrayLike, probe: ArrayLike, positions: ArrayLike) -> np.ndarray:
    """Noise-free far-field amplitudes at unit dose: ``fftshift(|FFT2(P · patch_k)|) / N``.

    Args:
        obj: complex object ``(H, W)``.
        probe: complex probe ``(N, N)`` (or ``(N, N, 1)``), used as given (not normalised).
        positions: ``(n, 2)`` rows ``[x, y]``; every patch must lie inside the object.
    Returns:
        float32 ``(n, N, N)``, zero frequency at ``(N/2, N/2)``; ``Σ A² = Σ |P·patch|²`` per pattern.
    """
    probe = check_probe(probe)
    N = probe.shape[0]
    obj = check_object(obj, N)
    positions = check_positions(positions, obj.shape, N)
    amplitude = _forward(obj, probe, positions, N, want_patches=False)[1]
    assert amplitude is not None
    return amplitude


def photon_scale(amplitude: ArrayLike, nphotons: float) -> float:
    """``s = sqrt(nphotons / mean_k Σ_xy A_k²)``: multiplying amplitudes ``(n, N, N)`` by ``s`` makes the mean
    total intensity per pattern ``nphotons`` (float64 sums)."""
    nphotons = check_nphotons(nphotons)
    energy = float(np.mean(np.sum(np.square(np.asarray(amplitude, dtype=np.float64)), axis=(-2, -1))))
    if not energy > 0:
        raise ValueError("the simulated diffraction is zero everywhere (is the object zero under the probe?)")
    return math.sqrt(nphotons / energy)


def _simulate(
    obj: ArrayLike, probe: ArrayLike, positions: ArrayLike, nphotons: float, seed: Optional[Seed], poisson: bool
) -> Tuple[np.ndarray, float, np.ndarray, np.ndarray, np.ndarray]:
    probe = check_probe(probe)
    N = probe.shape[0]
    obj = check_object(obj, N)
    positions = check_positions(positions, obj.shape, N)
    nphotons = check_nphotons(nphotons)
    gen = as_generator(seed, "seed") if poisson else None
    amplitude = _forward(obj, probe, positions, N, want_patches=False)[1]
    assert amplitude is not None
    scale = photon_scale(amplitude, nphotons)
    if poisson:
        assert gen is not None
        counts = gen.poisson(np.square(scale * amplitude.astype(np.float64)))
        observed = np.sqrt(counts).astype(np.float32)
    else:
        observed = (scale * amplitude.astype(np.float64)).astype(np.float32)
    return observed, scale, obj, probe, positions


def simulate(
    obj: ArrayLike, probe: ArrayLike, positions: ArrayLike, nphotons: float, seed: Optional[Seed], poisson: bool = True
) -> np.ndarray:
    """Simulated diffraction AMPLITUDES of a ptychographic scan (see the module docstring for the model).

    Args:
        obj: complex object ``(H, W)`` (row = y, column = x), at least ``N × N``, finite.
        probe: complex probe ``(N, N)`` or ``(N, N, 1)``; N a multiple of 4, >= 16; finite, not all zero.
        positions: ``(n, 2)`` float rows ``[x, y]`` in object pixels; each patch must lie inside the object.
        nphotons: mean total photon count per pattern (> 0).
        seed: integer seed or ``numpy.random.Generator`` for the Poisson draws (required when ``poisson``;
            ignored otherwise). The same seed gives bit-identical data on the same backend and machine.
            Across Keras backends the noise-free amplitudes agree to float32 round-off (~2e-7 relative), but
            NumPy's Poisson sampler consumes a rate-dependent number of random numbers, so a last-bit
            difference in one rate changes the rest of the realisation: to compare backends on the same
            noisy data, simulate once and share the NPZ.
        poisson: draw Poisson counts; False returns the noise-free amplitudes ``s·A``.
    Returns:
        float32 ``(n, N, N)`` amplitudes ``sqrt(counts)``, zero frequency at ``(N/2, N/2)``; the mean over
        patterns of ``Σ amplitude²`` is ``nphotons`` (exactly without noise, in expectation with it).
    Raises:
        ValueError: bad N, object smaller than the probe, positions outside the object, ``nphotons <= 0``,
            NaN/inf in the object, probe or positions, missing seed.
    """
    return _simulate(obj, probe, positions, nphotons, seed, poisson)[0]


# ----------------------------------------------------------------------------------------------- NPZ
def save_npz(
    path: PathLike,
    diffraction: ArrayLike,
    positions: ArrayLike,
    probe: ArrayLike,
    obj: ArrayLike,
    *,
    scan_index: Optional[ArrayLike] = None,
    metadata: Optional[Mapping[str, Any]] = None,
    overwrite: bool = False,
) -> Path:
    """Write a dataset in the NPZ schema read by ``ptycho.raw_data.RawData.from_file``, atomically.

    Keys: ``diff3d`` float32 ``(n, N, N)`` amplitudes; ``xcoords``, ``ycoords``, ``xcoords_start``,
    ``ycoords_start`` float64 ``(n,)`` (object pixels; the ``_start`` copies equal the positions);
    ``probeGuess`` complex64 ``(N, N)``; ``objectGuess`` complex64 ``(H, W)``; ``scan_index`` int64 ``(n,)``
    (zeros by default); and, when ``metadata`` is given, ``_metadata``: a 0-d string array holding JSON (the
    original's metadata key; readable without pickle).

    The file is written uncompressed to a temporary file in the target folder, fsynced and renamed onto
    ``path`` (``os.replace``), so a reader never sees a partial file. The name is used exactly as given (no
    ``.npz`` is appended).

    Raises:
        OutputExistsError: ``path`` exists and ``overwrite`` is False (a ``ValueError`` and ``FileExistsError``).
        ValueError: inconsistent shapes or non-finite values.
    """
    target = Path(path)
    if target.exists() and not overwrite:
        raise OutputExistsError(
            f"{target} already exists; choose another output path or pass overwrite=True to replace it"
        )
    if target.exists() and target.is_dir():
        raise ValueError(f"{target} is a directory; give a file path such as {target / 'data.npz'}")
    probe = check_probe(probe)
    N = probe.shape[0]
    obj = check_object(obj, N)
    positions = check_positions(positions)
    diff = np.asarray(diffraction)
    n = len(positions)
    if diff.ndim != 3 or diff.shape != (n, N, N):
        raise ValueError(
            f"diffraction must have shape (n, N, N) = ({n}, {N}, {N}) to match the positions and the "
            f"probe; got {diff.shape}"
        )
    if diff.dtype.kind not in "biuf" or not np.all(np.isfinite(diff)):
        raise ValueError("diffraction must hold finite real amplitudes")
    if scan_index is None:
        index = np.zeros(n, dtype=np.int64)
    else:
        index = np.asarray(scan_index)
        if index.shape != (n,) or index.dtype.kind not in "iu":
            raise ValueError(f"scan_index must be an integer array of shape ({n},); got {index.dtype} {index.shape}")
        index = index.astype(np.int64)
    # Any, not np.ndarray: mypy checks each value of np.savez(**arrays) against its allow_pickle: bool too
    arrays: Dict[str, Any] = {
        "diff3d": diff.astype(np.float32),
        "xcoords": positions[:, 0].copy(),
        "ycoords": positions[:, 1].copy(),
        "xcoords_start": positions[:, 0].copy(),
        "ycoords_start": positions[:, 1].copy(),
        "probeGuess": probe,
        "objectGuess": obj,
        "scan_index": index,
    }
    if metadata is not None:
        arrays["_metadata"] = np.array(json.dumps(dict(metadata), default=_json_default))
    try:
        with atomic_target(target, "replace" if overwrite else "refuse") as tmp:
            with open(tmp, "wb") as handle:
                np.savez(handle, **arrays)
    except FileExistsError as exc:
        raise OutputExistsError(str(exc)) from None
    return target


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"metadata value {value!r} is not JSON-serialisable")


# ----------------------------------------------------------------------------------------------- datasets
@dataclass(frozen=True, eq=False)
class SimulatedDataset:
    """A simulated scan and its ground truth (all NumPy).

    Attributes:
        diffraction: float32 ``(n, N, N)`` amplitudes, sqrt(photon counts).
        positions: float64 ``(n, 2)`` rows ``[x, y]`` in object pixels.
        probe: complex64 ``(N, N)`` probe used in the simulation (not normalised).
        object: complex64 ``(H, W)`` true object (phase in radians).
        nphotons: target mean total count per pattern.
        scale: the dose scale ``s`` (amplitudes = sqrt(Poisson((s·A)²)), A the unit-dose amplitude).
        metadata: JSON-serialisable description (seed, generators...) written to the NPZ's ``_metadata``.
    """

    diffraction: np.ndarray
    positions: np.ndarray
    probe: np.ndarray
    object: np.ndarray
    nphotons: float
    scale: float
    metadata: Dict[str, Any] = field(default_factory=dict)

    @property
    def N(self) -> int:
        """Patch (probe, diffraction pattern) size in pixels."""
        return int(self.probe.shape[0])

    def __len__(self) -> int:
        return len(self.positions)

    def patches(self) -> np.ndarray:
        """The true object patches at the positions, complex64 ``(n, N, N)`` (see :func:`object_patches`)."""
        return object_patches(self.object, self.positions, self.N)

    def save_npz(self, path: PathLike, overwrite: bool = False) -> Path:
        """:func:`save_npz` of this dataset (with its metadata)."""
        return save_npz(
            path, self.diffraction, self.positions, self.probe, self.object, metadata=self.metadata, overwrite=overwrite
        )


def simulate_dataset(
    obj: ArrayLike,
    probe: ArrayLike,
    positions: ArrayLike,
    nphotons: float,
    seed: Optional[Seed],
    poisson: bool = True,
    metadata: Optional[Mapping[str, Any]] = None,
) -> SimulatedDataset:
    """:func:`simulate`, returning a :class:`SimulatedDataset` (data, inputs as validated arrays, the scale).

    ``metadata`` entries are added to the dataset's metadata (which records N, nphotons, the seed when it is
    an integer, and poisson).
    """
    observed, scale, obj_c, probe_c, pos = _simulate(obj, probe, positions, nphotons, seed, poisson)
    meta: Dict[str, Any] = {
        "schema_version": "1.0.0",
        "creation_info": {"script": "ptycho_core.simulation"},
        "physics_parameters": {"nphotons": float(nphotons), "N": int(probe_c.shape[0]), "gridsize": 1},
        "simulation": {
            "poisson": bool(poisson),
            "scale": scale,
            "seed": int(seed) if isinstance(seed, (int, np.integer)) else None,
        },
    }
    if metadata:
        meta["simulation"].update(dict(metadata))
    return SimulatedDataset(observed, pos, probe_c, obj_c, float(nphotons), scale, meta)


def default_dataset(
    seed: int = 0,
    N: int = 64,
    n_positions: int = 300,
    nphotons: float = 1e9,
    *,
    object_kind: str = "lines",
    phase: str = "zero",
    scan: str = "raster",
    jitter: float = 0.0,
    object_size: Optional[int] = None,
    poisson: bool = True,
) -> SimulatedDataset:
    """The small standard simulation (the CLI's built-in default).

    A ``lines`` object of ``3.5·N`` pixels (224 for N = 64, zero phase), the original's default probe (a
    smoothed disc, real, not normalised), a raster scan of about ``n_positions`` points (17 × 18 = 306 for
    300; 9.3-9.9 px steps for N = 64) inside the object with a margin of N/2+1, and Poisson-noisy amplitudes at
    ``nphotons`` photons per pattern.

    Args:
        seed: one integer; independent streams for the object, the scan jitter/random positions and the Poisson
            noise are derived from it (``numpy.random.SeedSequence(seed).spawn(3)``).
        N: patch size (multiple of 4, >= 16).
        n_positions: target number of scan points (exact for ``spiral``/``random``, approximate for ``raster``).
        nphotons: mean total counts per pattern.
        object_kind: ``"lines"`` or ``"grf"``; phase: ``"zero"`` or ``"tanh"``.
        scan: ``"raster"``, ``"spiral"`` or ``"random"``; jitter: Gaussian position jitter (pixels).
        object_size: object side in pixels (default ``3.5·N`` rounded to even).
        poisson: draw Poisson noise.
    Returns:
        :class:`SimulatedDataset`.
    """
    from ..physics.probe import default_probe

    N = check_patch_size(N)
    if object_kind not in OBJECT_KINDS:
        raise ValueError(f"unknown object kind {object_kind!r}; choose one of {OBJECT_KINDS}")
    size = default_object_size(N) if object_size is None else int(object_size)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer; got {seed!r}")
    object_seq, scan_seq, noise_seq = np.random.SeedSequence(int(seed)).spawn(3)
    obj = make_object(object_kind, size, np.random.default_rng(object_seq), phase=phase)
    positions = make_scan(scan, obj.shape, N, n_positions, jitter=jitter, rng=np.random.default_rng(scan_seq))
    probe = default_probe(N).astype(np.complex64)
    info = {
        "seed": int(seed),
        "object_kind": object_kind,
        "phase": phase,
        "object_size": size,
        "scan": scan,
        "jitter": float(jitter),
        "n_positions_requested": int(n_positions),
        "probe": "default_probe",
    }
    return simulate_dataset(
        obj, probe, positions, nphotons, np.random.default_rng(noise_seq), poisson=poisson, metadata=info
    )
