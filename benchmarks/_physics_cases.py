"""The measured cases of the physics benchmark: sizes, seeded data, diffraction / translation / stitching timings.

Besides the measurements (``bench_diffraction``, ``bench_translation``, ``bench_stitching``) this holds the
original's ``reassemble_position`` times the stitching figures are compared with. Each ``bench_*`` function
runs inside a worker process whose ``KERAS_BACKEND`` is already set and returns
:class:`~benchmarks._common.Record` objects; :mod:`benchmarks.bench_physics` runs them and reports.
"""

from __future__ import annotations

import math
import statistics
import time
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Tuple

import numpy as np

from ._common import Engine, Record, throughput_record

#: Original PtychoPINN (TF) ``reassemble_position(M=20)`` seconds for N=64 patches, raster scan, ~70% overlap.
REFERENCE_TF_SECONDS: Dict[int, float] = {1024: 5.0, 4096: 127.0}
#: Issue target: stitching at least this many times faster than the original at 4,096 patches.
TARGET_SPEEDUP = 50.0
TARGET_SPEEDUP_PATCHES = 4096
#: An optional larger stitching size runs only if one call is expected to take less than this (seconds).
OPTIONAL_STITCH_LIMIT_S = 60.0


@dataclass(frozen=True)
class Sizes:
    """Problem sizes of one run.

    Attributes:
        batch: patterns per diffraction / translation call.
        n: exit-wave and patch side ``N`` (pixels).
        image: translated image side (pixels); images have 2 channels.
        max_shift: translations are uniform in ``[-max_shift, max_shift]`` pixels on each axis.
        window: stitching window ``M`` (pixels, even).
        step: raster scan step (pixels); overlap of neighbouring windows is ``1 - step / window``.
        jitter: scan positions get uniform noise in ``[-jitter, jitter]`` pixels.
        stitch_counts: patch counts always stitched.
        optional_counts: larger counts stitched only when a call is expected under the limit.
        repeat_s: target duration of one throughput repeat (seconds); iterations per repeat follow from it.
    """

    batch: int = 64
    n: int = 64
    image: int = 74
    max_shift: float = 4.0
    window: int = 20
    step: float = 6.0
    jitter: float = 0.3
    stitch_counts: Tuple[int, ...] = (1024, 4096)
    optional_counts: Tuple[int, ...] = (16384,)
    repeat_s: float = 1.0


FULL = Sizes()
QUICK = Sizes(batch=8, stitch_counts=(64, 256), optional_counts=(), repeat_s=0.05)


# --------------------------------------------------------------------------------------------- data (NumPy)


def exit_waves(rng: np.random.Generator, batch: int, n: int) -> Tuple[np.ndarray, np.ndarray]:
    """Random exit waves as ``(re, im)``, each float32 ``(batch, n, n, 1)`` (standard normal, arbitrary units)."""
    re = rng.standard_normal((batch, n, n, 1), dtype=np.float32)
    im = rng.standard_normal((batch, n, n, 1), dtype=np.float32)
    return re, im


def shifted_images(rng: np.random.Generator, batch: int, size: int, max_shift: float) -> Tuple[np.ndarray, np.ndarray]:
    """Images float32 ``(batch, size, size, 2)`` and translations float32 ``(batch, 2)`` rows ``[dx, dy]`` (px)."""
    images = rng.standard_normal((batch, size, size, 2), dtype=np.float32)
    shifts = rng.uniform(-max_shift, max_shift, size=(batch, 2)).astype(np.float32)
    return images, shifts


def raster_scan(rng: np.random.Generator, count: int, step: float, jitter: float) -> np.ndarray:
    """Raster scan of ``count`` positions, float32 ``(count, 1, 2, 1)`` holding ``[x, y]`` in pixels.

    Positions fill rows of ``ceil(sqrt(count))`` columns ``step`` pixels apart, each with uniform jitter in
    ``[-jitter, jitter]`` on both axes (the original's ``global_offsets`` layout).
    """
    side = int(math.ceil(math.sqrt(count)))
    index = np.arange(count)
    grid = np.stack([index % side, index // side], axis=1).astype(np.float64) * step
    grid += rng.uniform(-jitter, jitter, size=grid.shape)
    return grid.astype(np.float32).reshape(count, 1, 2, 1)


def object_patches(rng: np.random.Generator, count: int, n: int) -> np.ndarray:
    """Random complex patches, complex64 ``(count, n, n, 1)`` (unit-ish amplitude, arbitrary phase)."""
    amplitude = rng.uniform(0.5, 1.0, size=(count, n, n, 1)).astype(np.float32)
    phase = rng.uniform(-np.pi, np.pi, size=(count, n, n, 1)).astype(np.float32)
    return (amplitude * np.exp(1j * phase)).astype(np.complex64)


# ------------------------------------------------------------------------------------------- measurements


def bench_diffraction(engine: Engine, sizes: Sizes, rng: np.random.Generator, repeats: int) -> List[Record]:
    """Diffraction of ``sizes.batch`` exit waves ``(batch, N, N, 1)``: forward+backward and forward only."""
    from keras import ops

    from ptycho_core.physics import diffract

    re, im = exit_waves(rng, sizes.batch, sizes.n)
    args = (engine.tensor(re, True), engine.tensor(im, True))

    def loss(real: Any, imag: Any) -> Any:
        return ops.sum(diffract((real, imag)))

    size = f"{sizes.batch}x{sizes.n}x{sizes.n}"
    both = throughput_record(
        engine,
        "diffraction fwd+bwd",
        engine.grad_mode,
        size,
        sizes.batch,
        engine.value_and_grad(loss, 2),
        args,
        repeats,
        sizes.repeat_s,
    )
    fwd = throughput_record(
        engine,
        "diffraction fwd",
        engine.forward_mode,
        size,
        sizes.batch,
        engine.forward(lambda real, imag: diffract((real, imag))),
        args,
        repeats,
        sizes.repeat_s,
    )
    return [both, fwd]


def bench_translation(engine: Engine, sizes: Sizes, rng: np.random.Generator, repeats: int) -> List[Record]:
    """Translation of ``sizes.batch`` images ``(batch, S, S, 2)``: forward+backward (images, shifts), forward."""
    from keras import ops

    from ptycho_core.physics import translate

    images, shifts = shifted_images(rng, sizes.batch, sizes.image, sizes.max_shift)
    args = (engine.tensor(images, True), engine.tensor(shifts, True))

    def loss(x: Any, t: Any) -> Any:
        return ops.sum(ops.square(translate(x, t)))

    size = f"{sizes.batch}x{sizes.image}x{sizes.image}x2"
    both = throughput_record(
        engine,
        "translation fwd+bwd",
        engine.grad_mode,
        size,
        sizes.batch,
        engine.value_and_grad(loss, 2),
        args,
        repeats,
        sizes.repeat_s,
    )
    fwd = throughput_record(
        engine,
        "translation fwd",
        engine.forward_mode,
        size,
        sizes.batch,
        engine.forward(translate),
        args,
        repeats,
        sizes.repeat_s,
    )
    return [both, fwd]


def stitch_once(patches: Any, offsets: np.ndarray, window: int) -> Tuple[float, np.ndarray]:
    """One timed ``reassemble_position`` call; returns ``(seconds, stitched complex64 (Pc, Pc, 1))``."""
    from ptycho_core.physics import reassemble_position

    start = time.perf_counter()
    out = reassemble_position(patches, offsets, M=window)
    return time.perf_counter() - start, out


def check_stitched(image: np.ndarray, count: int) -> None:
    """Sanity check: the stitched ``(Pc, Pc, 1)`` image is finite and, being a weighted average of patches with
    amplitude <= 1, has amplitude <= 1 (plus float32 slack)."""
    if not np.all(np.isfinite(image)) or float(np.max(np.abs(image))) > 1.0 + 1e-3:
        raise RuntimeError(f"reassemble_position returned an implausible image for {count} patches")


def stitch_record(engine: Engine, sizes: Sizes, rng: np.random.Generator, count: int, repeats: int) -> Record:
    """``reassemble_position`` of ``count`` patches: one warm-up call, then the median of ``repeats`` calls.

    Patches are a backend tensor (as a model would hand them over); offsets are host NumPy. The stitched
    image is sanity-checked with :func:`check_stitched`.
    """
    patches = engine.tensor(object_patches(rng, count, sizes.n))
    offsets = raster_scan(rng, count, sizes.step, sizes.jitter)
    first, out = stitch_once(patches, offsets, sizes.window)
    samples = [stitch_once(patches, offsets, sizes.window)[0] for _ in range(repeats)]
    check_stitched(out, count)
    seconds = statistics.median(samples)
    extra: Dict[str, Any] = {
        "patches": count,
        "canvas": int(out.shape[0]),
        "s_per_1000": 1e3 * seconds / count,
        "overlap": 1.0 - sizes.step / sizes.window,
    }
    reference = REFERENCE_TF_SECONDS.get(count)
    if reference is not None:
        extra.update(reference_s=reference, speedup=reference / seconds)
    mode = "eager (host-orchestrated, chunked segment_sum)"
    return Record(
        engine.name,
        "reassemble_position",
        mode,
        f"{count}x{sizes.n}x{sizes.n} M={sizes.window}",
        seconds,
        "s",
        samples,
        1,
        first,
        extra,
    )


def bench_stitching(
    engine: Engine, sizes: Sizes, rng: np.random.Generator, repeats: int, progress: Callable[[str], None]
) -> List[Record]:
    """``reassemble_position`` at every count of ``sizes.stitch_counts``, then the optional larger counts.

    An optional count runs only if linear extrapolation from the largest measured count (×1.5 margin)
    predicts under :data:`OPTIONAL_STITCH_LIMIT_S` per call; otherwise it is skipped (noted on stderr).
    """
    records = []
    for count in sizes.stitch_counts:
        progress(f"reassemble_position {count} patches")
        records.append(stitch_record(engine, sizes, rng, count, repeats))
    for count in sizes.optional_counts:
        last = records[-1]
        predicted = 1.5 * last.value * count / last.extra["patches"]
        if predicted >= OPTIONAL_STITCH_LIMIT_S:
            progress(f"skipping {count} patches (predicted {predicted:.0f} s per call)")
            continue
        progress(f"reassemble_position {count} patches")
        records.append(stitch_record(engine, sizes, rng, count, repeats))
    return records
