"""Scan trajectories: raster, Fermat spiral and uniform random positions, with optional Gaussian jitter.

Conventions (those of ``RawData`` and ``ptycho.tf_helper.reassemble_position``):

* a position is ``[x, y]`` in object pixels, x = column index (axis 1 of the ``(H, W)`` object), y = row index
  (axis 0); integer values are pixel centres (no half-pixel offset);
* the patch "at" ``(x, y)`` has its pixel ``(N/2, N/2)`` on object pixel ``(row y, column x)``, so it covers
  rows ``y - N/2 … y + N/2 - 1`` (plus one more row for the bilinear weights of a fractional ``y``);
* every generator keeps positions inside ``[m, W - 1 - m] × [m, H - 1 - m]`` with the margin
  ``m = N/2 + 1`` pixels, so every patch (including its interpolation neighbours) lies inside the object.

Every function returns a float64 ``(n, 2)`` array of ``[x, y]`` rows. Randomness comes only from the
``numpy.random.Generator`` (or integer seed) passed in; nothing touches NumPy's global RNG.
"""

from __future__ import annotations

import math
from typing import Optional, Sequence, Tuple, Union

import numpy as np

RandomSource = Union[np.random.Generator, np.random.RandomState]
Seed = Union[int, np.integer, np.random.Generator, np.random.RandomState]

MIN_PATCH_SIZE = 16
"""Smallest supported patch (probe) size N in pixels; N must also be a multiple of 4."""

GOLDEN_ANGLE = math.pi * (3.0 - math.sqrt(5.0))
"""Angle between consecutive points of a Fermat (sunflower) spiral, in radians (≈ 2.39996)."""

SCAN_KINDS = ("raster", "spiral", "random")


# ----------------------------------------------------------------------------------------------- checks
def check_patch_size(N: int) -> int:
    """Validate a patch (probe) size: an integer multiple of 4, at least :data:`MIN_PATCH_SIZE`.

    Returns:
        ``int(N)``.
    Raises:
        ValueError: otherwise (the message says which rule failed).
    """
    try:
        ok = int(N) == N
    except (TypeError, ValueError):
        ok = False
    if not ok or isinstance(N, bool):
        raise ValueError(f"N (patch/probe size) must be an integer number of pixels; got {N!r}")
    N = int(N)
    if N < MIN_PATCH_SIZE:
        raise ValueError(f"N (patch/probe size) must be at least {MIN_PATCH_SIZE} pixels; got N={N}")
    if N % 4:
        raise ValueError(f"N (patch/probe size) must be a multiple of 4 (e.g. 64, 128); got N={N}")
    return N


def as_generator(seed: Optional[Seed], what: str = "seed") -> RandomSource:
    """A random source from an integer seed (``numpy.random.default_rng(seed)``) or an existing generator.

    ``numpy.random.Generator`` and ``numpy.random.RandomState`` instances are used as given (their state
    advances). ``None`` is refused: every random draw here must be reproducible from an explicit seed.
    """
    if isinstance(seed, (np.random.Generator, np.random.RandomState)):
        return seed
    if seed is None or isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ValueError(f"{what} must be an integer seed or a numpy.random.Generator; got {seed!r}")
    if seed < 0:
        raise ValueError(f"{what} must be a non-negative integer; got {seed}")
    return np.random.default_rng(int(seed))


def _object_shape(object_shape: Sequence[int]) -> Tuple[int, int]:
    try:
        shape = tuple(int(s) for s in object_shape)
    except (TypeError, ValueError):
        raise ValueError(f"object_shape must be (H, W) in pixels; got {object_shape!r}") from None
    if len(shape) != 2 or min(shape) <= 0:
        raise ValueError(f"object_shape must be (H, W) with positive sizes; got {object_shape!r}")
    return shape


def scan_margin(N: int) -> float:
    """Distance (pixels) kept between every position and the object border: ``N/2 + 1``."""
    return check_patch_size(N) / 2 + 1.0


def scan_bounds(object_shape: Sequence[int], N: int) -> Tuple[float, float, float, float]:
    """The box allowed for positions: ``(x_min, x_max, y_min, y_max)`` in object pixels.

    ``x ∈ [m, W - 1 - m]``, ``y ∈ [m, H - 1 - m]`` with ``m = N/2 + 1``.

    Raises:
        ValueError: if the object is too small to hold one patch with that margin (needs ``H, W >= N + 3``).
    """
    H, W = _object_shape(object_shape)
    m = scan_margin(N)
    if W - 1 - m < m or H - 1 - m < m:
        raise ValueError(
            f"object of shape (H, W) = ({H}, {W}) is too small for N={N} patches: scan positions need a margin "
            f"of N/2+1 = {m:g} px on every side, i.e. an object of at least {int(2 * m + 1)} x {int(2 * m + 1)} "
            f"pixels"
        )
    return m, W - 1 - m, m, H - 1 - m


def _jitter_and_clip(
    positions: np.ndarray, bounds: Tuple[float, float, float, float], jitter: float, rng: Optional[Seed]
) -> np.ndarray:
    jitter = float(jitter)
    if not math.isfinite(jitter) or jitter < 0:
        raise ValueError(f"jitter must be a finite standard deviation in pixels >= 0; got {jitter!r}")
    if jitter > 0:
        if rng is None:
            raise ValueError("jitter > 0 needs a seed: pass rng=<int seed or numpy.random.Generator>")
        gen = as_generator(rng, "rng")
        positions = positions + jitter * gen.standard_normal(positions.shape)
    x_min, x_max, y_min, y_max = bounds
    positions[:, 0] = np.clip(positions[:, 0], x_min, x_max)
    positions[:, 1] = np.clip(positions[:, 1], y_min, y_max)
    return positions


def _check_count(n_positions: int) -> int:
    try:
        ok = int(n_positions) == n_positions and int(n_positions) >= 1 and not isinstance(n_positions, bool)
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ValueError(f"n_positions must be a positive integer; got {n_positions!r}")
    return int(n_positions)


# ----------------------------------------------------------------------------------------------- scans
def raster_scan(
    object_shape: Sequence[int],
    N: int,
    *,
    step: Optional[float] = None,
    n_positions: Optional[int] = None,
    jitter: float = 0.0,
    rng: Optional[Seed] = None,
) -> np.ndarray:
    """A rectangular grid of positions in raster order (rows of constant y, x increasing along a row).

    Give exactly one of:

    * ``step`` (pixels): grid spacing on both axes; the grid holds every ``lo + k·step`` that fits in the
      allowed box and is centred in it (the leftover is split equally between the two sides);
    * ``n_positions``: an ``ny × nx`` grid spanning the whole allowed box with ``nx·ny ≈ n_positions`` and
      ``nx/ny`` close to the box's aspect ratio (e.g. 17 × 18 = 306 for 300 on a square box).

    Args:
        object_shape: ``(H, W)`` of the object in pixels.
        N: patch size (sets the margin ``N/2 + 1``).
        jitter: standard deviation (pixels) of independent Gaussian displacements added to x and y; the
            result is clipped back into the allowed box.
        rng: seed or generator for the jitter (required when ``jitter > 0``).
    Returns:
        float64 ``(n, 2)`` rows ``[x, y]``.
    """
    x_min, x_max, y_min, y_max = bounds = scan_bounds(object_shape, N)
    width, height = x_max - x_min, y_max - y_min
    if (step is None) == (n_positions is None):
        raise ValueError("raster_scan needs exactly one of step= (pixels) or n_positions=")
    if step is not None:
        step = float(step)
        if not math.isfinite(step) or step <= 0:
            raise ValueError(f"step must be a positive number of pixels; got {step!r}")
        nx = int(math.floor(width / step + 1e-9)) + 1
        ny = int(math.floor(height / step + 1e-9)) + 1
        xs = x_min + (width - (nx - 1) * step) / 2 + step * np.arange(nx)
        ys = y_min + (height - (ny - 1) * step) / 2 + step * np.arange(ny)
    else:
        assert n_positions is not None  # exactly one of step / n_positions, checked above
        n = _check_count(n_positions)
        if width == 0 and height == 0:
            nx = ny = 1
        elif height == 0:
            nx, ny = n, 1
        elif width == 0:
            nx, ny = 1, n
        else:
            nx = max(1, int(round(math.sqrt(n * width / height))))
            ny = max(1, int(round(n / nx)))
        xs = np.linspace(x_min, x_max, nx) if nx > 1 else np.array([(x_min + x_max) / 2])
        ys = np.linspace(y_min, y_max, ny) if ny > 1 else np.array([(y_min + y_max) / 2])
    yy, xx = np.meshgrid(ys, xs, indexing="ij")
    positions = np.stack([xx.ravel(), yy.ravel()], axis=1).astype(np.float64)
    return _jitter_and_clip(positions, bounds, jitter, rng)


def spiral_scan(
    object_shape: Sequence[int],
    N: int,
    n_positions: int,
    *,
    step: Optional[float] = None,
    jitter: float = 0.0,
    rng: Optional[Seed] = None,
) -> np.ndarray:
    """A Fermat (sunflower) spiral centred in the allowed box.

    Point ``k = 0 … n-1`` sits at radius ``c·sqrt(k)`` and angle ``k·φ`` (``φ`` = :data:`GOLDEN_ANGLE`) from the
    box centre: ``x = xc + r cos θ``, ``y = yc + r sin θ``. Each point covers an area ``π c²`` on average, i.e.
    a mean spacing of about ``c·sqrt(π)``.

    Args:
        object_shape: ``(H, W)`` in pixels.
        N: patch size (margin ``N/2 + 1``).
        n_positions: number of points.
        step: mean spacing in pixels (``c = step/sqrt(π)``); default: the spiral just fills the circle
            inscribed in the allowed box (``c = R/sqrt(n-1)``).
        jitter: Gaussian standard deviation in pixels (then clipped into the box).
        rng: seed or generator for the jitter.
    Returns:
        float64 ``(n, 2)`` rows ``[x, y]``, in spiral order (centre first).
    Raises:
        ValueError: a ``step`` too large for ``n_positions`` points to fit in the allowed box.
    """
    n = _check_count(n_positions)
    x_min, x_max, y_min, y_max = bounds = scan_bounds(object_shape, N)
    xc, yc = (x_min + x_max) / 2, (y_min + y_max) / 2
    radius = min(x_max - x_min, y_max - y_min) / 2
    k = np.arange(n, dtype=np.float64)
    if step is None:
        c = radius / math.sqrt(n - 1) if n > 1 else 0.0
    else:
        step = float(step)
        if not math.isfinite(step) or step <= 0:
            raise ValueError(f"step must be a positive number of pixels; got {step!r}")
        c = step / math.sqrt(math.pi)
    r = c * np.sqrt(k)
    theta = k * GOLDEN_ANGLE
    positions = np.stack([xc + r * np.cos(theta), yc + r * np.sin(theta)], axis=1)
    tol = 1e-9 * max(1.0, radius)
    outside = (
        (positions[:, 0] < x_min - tol)
        | (positions[:, 0] > x_max + tol)
        | (positions[:, 1] < y_min - tol)
        | (positions[:, 1] > y_max + tol)
    )
    if np.any(outside):
        raise ValueError(
            f"a spiral of {n} points with step {step:g} px reaches radius {r[-1]:.1f} px, beyond the allowed box "
            f"(half-size {radius:.1f} px for N={N}); use a smaller step, fewer points or a larger object"
        )
    return _jitter_and_clip(positions, bounds, jitter, rng)


def random_scan(object_shape: Sequence[int], N: int, n_positions: int, rng: Seed, *, jitter: float = 0.0) -> np.ndarray:
    """Positions drawn uniformly in the allowed box: all x first (``rng.uniform(x_min, x_max, n)``), then y.

    Args:
        object_shape: ``(H, W)`` in pixels.
        N: patch size (margin ``N/2 + 1``).
        n_positions: number of points.
        rng: seed or generator (required); the jitter, if any, is drawn from it after the positions.
        jitter: Gaussian standard deviation in pixels (then clipped into the box).
    Returns:
        float64 ``(n, 2)`` rows ``[x, y]``.
    """
    n = _check_count(n_positions)
    gen = as_generator(rng, "rng")
    x_min, x_max, y_min, y_max = bounds = scan_bounds(object_shape, N)
    x = gen.uniform(x_min, x_max, n)
    y = gen.uniform(y_min, y_max, n)
    return _jitter_and_clip(np.stack([x, y], axis=1).astype(np.float64), bounds, jitter, gen)


def make_scan(
    kind: str, object_shape: Sequence[int], N: int, n_positions: int, *, jitter: float = 0.0, rng: Optional[Seed] = None
) -> np.ndarray:
    """Dispatch on ``kind`` ∈ :data:`SCAN_KINDS` with a target number of positions.

    ``raster`` gives a grid of about ``n_positions`` points (see :func:`raster_scan`), ``spiral`` and
    ``random`` exactly ``n_positions``. ``rng`` (seed or generator) is required for ``random`` and for
    ``jitter > 0``. Returns float64 ``(n, 2)`` rows ``[x, y]``.
    """
    if kind == "raster":
        return raster_scan(object_shape, N, n_positions=n_positions, jitter=jitter, rng=rng)
    if kind == "spiral":
        return spiral_scan(object_shape, N, n_positions, jitter=jitter, rng=rng)
    if kind == "random":
        if rng is None:
            raise ValueError("a random scan needs a seed: pass rng=<int seed or numpy.random.Generator>")
        return random_scan(object_shape, N, n_positions, rng, jitter=jitter)
    raise ValueError(f"unknown scan kind {kind!r}; choose one of {SCAN_KINDS}")
