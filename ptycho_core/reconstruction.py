"""Reconstruct a scan's object with a trained model: group, predict, stitch; in memory, streamed or sharded.

Every scan point seeds one group of ``gridsize²`` neighbours; the model predicts each group's object patch from
``X · s`` and the positions relative to the group centre, and the patches' central ``M × M`` pixels are averaged
at the group centres (:func:`~ptycho_core.physics.reassemble_position`). A scan whose diffraction is over
:data:`STREAM_AUTO_BYTES`, or given as rows on disk, is streamed (:mod:`ptycho_core.streaming`) with the same
result to float32 rounding. Predictions go through a
:class:`~ptycho_core._backend.torch_compile.CompiledPredictor` (``compile``): on torch the inference model is
exported and compiled where that is faster, on JAX and TensorFlow it is the model's own ``predict_on_batch``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Optional, Union

import numpy as np

from ._backend.torch_compile import COMPILE_CHOICES, CompiledPredictor
from .array_rows import ArrayRows
from .cluster import contiguous_shard
from .data import Scan, diffraction_bytes, group_neighbours, group_scan, open_diffraction, read_scan
from .physics import reassemble_position
from .streaming import DEFAULT_CHUNK_BYTES, reconstruct_streaming
from .types import PathLike

if TYPE_CHECKING:
    from .distributed import Session
    from .pipeline import TrainedModel

#: ``stream="auto"`` streams scans whose diffraction stack is larger than this (bytes, uncompressed).
STREAM_AUTO_BYTES = 1 << 30


@dataclass(frozen=True)
class Reconstruction:
    """A stitched object: ``image`` complex64 ``(H, W)``, from ``n_patterns`` patterns (``streamed`` or not)."""

    image: np.ndarray
    n_patterns: int
    streamed: bool

    @property
    def amplitude(self) -> np.ndarray:
        return np.abs(self.image)

    @property
    def phase(self) -> np.ndarray:
        """Radians."""
        return np.angle(self.image)


def neighbours_for(gridsize: int) -> int:
    """``K``, the nearest neighbours a group is drawn from: ``max(7, gridsize² + 1)``."""
    return max(7, gridsize**2 + 1)


@dataclass(frozen=True)
class _Run:
    """The settings of one reconstruction (see :func:`reconstruct`)."""

    M: int
    batch_size: int
    chunk_bytes: int
    seed: int
    progress: Optional[Callable[[int, int], None]]
    compile: str

    def predictor(self, model: TrainedModel, rows: int) -> CompiledPredictor:
        return CompiledPredictor(model.diffraction_to_obj, self.batch_size, self.compile, rows=rows)


def reconstruct(
    model: TrainedModel,
    scan: Union[Scan, PathLike],
    *,
    M: int = 20,
    batch_size: int = 64,
    stream: str = "auto",
    chunk_bytes: int = DEFAULT_CHUNK_BYTES,
    seed: int = 0,
    progress: Optional[Callable[[int, int], None]] = None,
    session: Optional[Session] = None,
    compile: str = "auto",
) -> Reconstruction:
    """Reconstruct the object of ``scan`` (a :class:`Scan` or an NPZ path) with ``model``.

    Every scan point seeds one group of ``gridsize²`` neighbours (``K = max(7, gridsize² + 1)``, ``seed``);
    the model predicts each group's object patch from ``X · s`` and the positions relative to the group centre,
    ``batch_size`` groups at a time, and the central ``M x M`` pixels of the patches are averaged at the group
    centres.

    Args:
        stream: ``"on"`` reads, predicts and stitches ``chunk_bytes`` of patterns at a time (memory does not grow
            with the scan), ``"off"`` works in memory, ``"auto"`` streams NPZ files whose ``diff3d`` is over
            :data:`STREAM_AUTO_BYTES` and scans whose diffraction is rows on disk.
        session: a multi-process run (:func:`ptycho_core.distributed.initialize`): each process reads, predicts
            and stitches a contiguous shard of the groups (from the file: only its patterns), and the
            normalisation energy and the canvas sums are summed over the processes with the runtime's
            all-reduce; every process returns the whole image (the single-process one to float32 rounding).
        compile: torch only, ``"auto"``, ``"on"`` or ``"off"``: predict with the inference model exported and
            compiled (:class:`~ptycho_core._backend.torch_compile.CompiledPredictor`; ``auto`` compiles on CUDA
            for batches up to 1,024 and on the CPU for scans of 20,000 groups or more). The image is the same to
            float32 rounding.
    Raises:
        ScanError (a ``ValueError``): invalid data, patterns of another size than the model's N.
    """
    if stream not in ("auto", "on", "off"):
        raise ValueError(f"stream must be auto, on or off; got {stream!r}")
    if compile not in COMPILE_CHOICES:
        raise ValueError(f"compile must be one of {', '.join(COMPILE_CHOICES)}; got {compile!r}")
    run = _Run(M, batch_size, chunk_bytes, seed, progress, compile)
    if session is not None and session.num_processes > 1:
        return _reconstruct_sharded(model, scan, run, session)
    if isinstance(scan, Scan):
        streamed = stream == "on" or (stream == "auto" and not isinstance(scan.diffraction, np.ndarray))
        if streamed:
            if isinstance(scan.diffraction, np.ndarray):
                scan = scan.replace(diffraction=ArrayRows(scan.diffraction))
            return _reconstruct_streaming(model, scan, run)
        return _reconstruct_in_memory(model, scan, run)
    path = Path(scan)
    streamed = stream == "on" or (stream == "auto" and diffraction_bytes(path) > STREAM_AUTO_BYTES)
    if not streamed:
        return _reconstruct_in_memory(model, read_scan(path), run)
    header = read_scan(path, load_diffraction=False)
    with open_diffraction(path) as rows:
        return _reconstruct_streaming(model, header.replace(diffraction=rows), run)


def _reconstruct_in_memory(model: TrainedModel, scan: Scan, run: _Run) -> Reconstruction:
    spec = model.spec
    scan.validate(N=spec.N, gridsize=spec.gridsize)
    grouped = group_scan(scan, gridsize=spec.gridsize, K=neighbours_for(spec.gridsize), seed=run.seed)
    x = grouped.X * np.float32(model.intensity_scale)
    relative, batch = grouped.groups.relative, run.batch_size
    predict = run.predictor(model, len(x))
    patches = np.concatenate([predict(x[i : i + batch], relative[i : i + batch]) for i in range(0, len(x), batch)])
    image = np.squeeze(np.asarray(reassemble_position(patches, grouped.groups.offsets, M=run.M)))
    return Reconstruction(image.astype(np.complex64), len(scan), streamed=False)


def _reconstruct_sharded(
    model: TrainedModel, scan: Union[Scan, PathLike], run: _Run, session: Session
) -> Reconstruction:
    """This process's shard of the groups through the streaming path; sums combined over the processes."""
    if isinstance(scan, Scan):
        rows = scan.diffraction if not isinstance(scan.diffraction, np.ndarray) else ArrayRows(scan.diffraction)
        return _reconstruct_streaming(model, scan.replace(diffraction=rows), run, session)
    header = read_scan(Path(scan), load_diffraction=False)
    with open_diffraction(Path(scan)) as reader:
        return _reconstruct_streaming(model, header.replace(diffraction=reader), run, session)


def _reconstruct_streaming(
    model: TrainedModel, scan: Scan, run: _Run, session: Optional[Session] = None
) -> Reconstruction:
    spec = model.spec
    scan.validate(N=spec.N, gridsize=spec.gridsize)
    groups = group_neighbours(
        scan.x, scan.y, gridsize=spec.gridsize, n_groups=len(scan), K=neighbours_for(spec.gridsize), seed=run.seed
    )
    assert isinstance(scan.diffraction, ArrayRows)
    shard = None
    if session is not None:
        shard = contiguous_shard(len(groups), session.num_processes, session.process_id)
    rows = len(groups) if shard is None else shard[1] - shard[0]
    image = reconstruct_streaming(
        run.predictor(model, rows),
        scan.diffraction,
        groups.indices,
        groups.offsets,
        groups.relative,
        intensity_scale=model.intensity_scale,
        M=run.M,
        chunk_bytes=run.chunk_bytes,
        batch_size=run.batch_size,
        progress=run.progress,
        shard=shard,
        all_reduce=None if session is None else session.all_reduce_sum,
    )
    return Reconstruction(np.squeeze(image).astype(np.complex64), len(scan), streamed=True)
