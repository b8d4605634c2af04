"""The steps of the main job — simulate, train, reconstruct — as functions (the CLI calls these).

Training and reconstruction go through the original-compatible API (:mod:`ptycho.workflows.components`,
``ptycho.raw_data``, ``ptycho.loader``, ``ptycho.model_manager``), i.e. exactly the path Ptychodus uses, so the
command line exercises what users of the library get. Keras (and so the backend) is imported only inside the
functions: set ``KERAS_BACKEND`` before calling them.

Every file is written atomically; an existing output is refused unless ``overwrite`` is set, and even then the
previous files are replaced only by complete new ones (images and arrays are kept as numbered backups).
"""

from __future__ import annotations

import csv
import io
import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from ptycho_core.atomic import atomic_write_bytes
from ptycho_core.types import Tensor

if TYPE_CHECKING:
    import keras

logger = logging.getLogger(__name__)

BUNDLE_NAME = "wts.h5.zip"
Report = Callable[[str], None]


class UserError(Exception):
    """A mistake in the command's input (missing file, bad data, existing output): shown as one line."""


def _quiet_report(message: str) -> None:
    logger.info(message)


@dataclass
class Stage:
    """Times a named step and reports ``[k/n] name … done in t s``."""

    report: Report
    total: int
    count: int = 0
    started: float = field(default_factory=time.perf_counter)

    def start(self, name: str) -> None:
        self.count += 1
        self.started = time.perf_counter()
        self.report(f"[{self.count}/{self.total}] {name} ...")

    def done(self, detail: str = "") -> float:
        elapsed = time.perf_counter() - self.started
        self.report(f"      done in {elapsed:.1f} s{(' — ' + detail) if detail else ''}")
        return elapsed


def _refuse_existing(paths: Sequence[Path], overwrite: bool) -> None:
    existing = [str(p) for p in paths if p.exists()]
    if existing and not overwrite:
        raise UserError(
            f"output already exists: {', '.join(existing)}; choose another --out folder or pass "
            f"--overwrite (previous images are then kept as numbered backups)"
        )


# ----------------------------------------------------------------------------------------------- simulate
def simulate(
    out: Path,
    *,
    seed: int = 0,
    N: int = 64,
    n_positions: int = 300,
    nphotons: float = 1e9,
    object_kind: str = "lines",
    scan: str = "raster",
    jitter: float = 0.0,
    overwrite: bool = False,
    report: Report = _quiet_report,
) -> Dict[str, Any]:
    """Simulate a scan and write it as an NPZ (the schema ``RawData.from_file`` reads); returns a summary."""
    from ptycho_core.simulation import default_dataset

    out = Path(out)
    _refuse_existing([out], overwrite)
    stage = Stage(report, 1)
    stage.start(f"simulate {n_positions} patterns of {N}x{N} ({object_kind} object, {scan} scan, {nphotons:g} photons)")
    try:
        dataset = default_dataset(
            seed=seed,
            N=N,
            n_positions=n_positions,
            nphotons=nphotons,
            object_kind=object_kind,
            scan=scan,
            jitter=jitter,
        )
    except ValueError as exc:
        raise UserError(str(exc)) from exc
    dataset.save_npz(out, overwrite=overwrite)
    stage.done(f"{len(dataset)} patterns → {out}")
    return {"path": str(out), "patterns": len(dataset), "N": dataset.N, "object_shape": list(dataset.object.shape)}


# ----------------------------------------------------------------------------------------------- train
def _read_raw(path: Path) -> Any:
    from ptycho.raw_data import RawData

    if not Path(path).is_file():
        raise UserError(f"data file not found: {path}")
    try:
        return RawData.from_file(str(path))
    except (KeyError, ValueError) as exc:
        raise UserError(f"{path}: {exc}") from exc


def _nphotons_of(raw: Any, default: float) -> float:
    meta = getattr(raw, "metadata", None) or {}
    value = (meta.get("physics_parameters") or {}).get("nphotons") if isinstance(meta, dict) else None
    return float(value) if value is not None else float(default)


def history_csv(history: Dict[str, List[float]]) -> bytes:
    """Per-epoch history as CSV (``epoch`` then one column per series, sorted, ``loss`` first)."""
    keys = sorted(history, key=lambda k: (k != "loss", k))
    rows = max((len(v) for v in history.values()), default=0)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["epoch"] + keys)
    for i in range(rows):
        writer.writerow([i + 1] + [float(history[k][i]) if i < len(history[k]) else "" for k in keys])
    return buffer.getvalue().encode()


def loss_curve_png(history: Dict[str, List[float]]) -> bytes:
    """Training (and validation) loss per epoch as a PNG."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(6, 4))
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    for key in ("loss", "val_loss"):
        if history.get(key):
            axes.plot(range(1, len(history[key]) + 1), history[key], marker="o", label=key)
    axes.set_xlabel("epoch")
    axes.set_ylabel("loss (Poisson NLL + weighted terms)")
    axes.legend()
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def train(
    data: Path,
    out: Path,
    *,
    test_data: Optional[Path] = None,
    epochs: int = 8,
    batch_size: int = 16,
    gridsize: int = 1,
    n_groups: Optional[int] = None,
    n_filters_scale: int = 1,
    nphotons: Optional[float] = None,
    seed: int = 0,
    devices: int = 1,
    overwrite: bool = False,
    report: Report = _quiet_report,
) -> Dict[str, Any]:
    """Train on the NPZ ``data``; writes ``out/wts.h5.zip``, ``out/history.csv`` and ``out/loss.png``.

    ``devices > 1``: data-parallel training (:mod:`ptycho_core.parallel`); on a machine without GPUs the
    backend is given that many CPU devices, which must happen before it computes anything.

    ``seed`` fixes the initial weights (drawn with NumPy, identical on every backend) and the batch order
    (``keras.utils.set_random_seed``), so a run repeats on the same backend and starts from the same network on
    the others.
    """
    import keras

    from ptycho import model_manager, params
    from ptycho.config.config import ModelConfig, TrainingConfig, update_legacy_dict
    from ptycho.workflows.components import run_cdi_example

    out = Path(out)
    _refuse_existing([out / BUNDLE_NAME], overwrite)
    if devices > 1:
        from ptycho_core.parallel import request_virtual_cpu_devices

        request_virtual_cpu_devices(devices)  # harmless where GPUs exist: those are used first
    stage = Stage(report, 2)
    stage.start(f"read {data}")
    raw = _read_raw(Path(data))
    test_raw = _read_raw(Path(test_data)) if test_data is not None else None
    N = int(raw.diff3d.shape[-1])
    photons = _nphotons_of(raw, 1e9) if nphotons is None else float(nphotons)
    stage.done(f"{len(raw.xcoords)} patterns of {N}x{N}, nphotons {photons:g}")
    try:
        config = TrainingConfig(
            model=ModelConfig(N=N, gridsize=gridsize, n_filters_scale=n_filters_scale),
            train_data_file=Path(data),
            test_data_file=Path(test_data) if test_data else None,
            nepochs=epochs,
            batch_size=batch_size,
            n_groups=n_groups if n_groups is not None else len(raw.xcoords),
            nphotons=photons,
            output_dir=out,
            n_devices=int(devices),
        )
        params.cfg.pop("intensity_scale", None)
        params.cfg["init_seed"] = int(seed)  # the same initial weights on every backend
        keras.utils.set_random_seed(seed)
        update_legacy_dict(params.cfg, config)
        where = f"{devices} devices of " if devices > 1 else ""
        stage.start(
            f"train {epochs} epochs on {where}{keras.backend.backend()} (gridsize {gridsize}, batch {batch_size})"
        )
        _, _, results = run_cdi_example(raw, test_raw, config)
    except ValueError as exc:
        raise UserError(str(exc)) from exc
    history = {k: [float(x) for x in v] for k, v in results["history"].items()}
    model_manager.save(out)
    atomic_write_bytes(out / "history.csv", history_csv(history), "backup")
    atomic_write_bytes(out / "loss.png", loss_curve_png(history), "backup")
    seconds = stage.done(f"final loss {history['loss'][-1]:.6g} → {out / BUNDLE_NAME}")
    return {
        "bundle": str(out / BUNDLE_NAME),
        "history": history,
        "seconds": seconds,
        "backend": results.get("backend"),
        "epochs": len(history.get("loss", [])),
    }


# ----------------------------------------------------------------------------------------------- reconstruct
#: ``stream="auto"`` streams scans whose diffraction stack is larger than this (bytes, uncompressed).
STREAM_AUTO_BYTES = 1 << 30


def _diffraction_bytes(data: Path) -> int:
    """Uncompressed size of ``diff3d`` in an NPZ (0 if it cannot be told without reading it)."""
    import zipfile

    try:
        with zipfile.ZipFile(data) as archive:
            return int(archive.getinfo("diff3d.npy").file_size)
    except (zipfile.BadZipFile, KeyError, OSError):
        return 0


def _predict_in_memory(
    model: keras.Model, data: Path, N: int, gridsize: int, M: int, batch_size: int, verbose: int
) -> Tuple[np.ndarray, Any]:
    """Read the whole scan, group, normalise, predict and stitch: ``(image (H, W) complex64, raw)``."""
    from ptycho import loader, params, probe, tf_helper

    raw = _read_raw(Path(data))
    if raw.diff3d.shape[-1] != N:
        raise UserError(
            f"{data} holds {raw.diff3d.shape[-1]}x{raw.diff3d.shape[-1]} patterns but the model was "
            f"trained for N={N}; use data of the same detector size or train a model for it"
        )
    probe.set_probe_guess(None, raw.probeGuess)
    grouped = raw.generate_grouped_data(
        N, K=max(7, gridsize**2 + 1), nsamples=len(raw.xcoords), gridsize=gridsize, seed=0
    )
    container = loader.load(lambda: grouped, raw.probeGuess, which=None, create_split=False)
    patches = model.predict(
        [np.asarray(container.X) * params.get("intensity_scale"), np.asarray(container.local_offsets)],
        batch_size=batch_size,
        verbose=verbose,
    )
    image = np.squeeze(np.asarray(tf_helper.reassemble_position(patches, container.global_offsets, M=M)))
    return image, raw


def _predict_streaming(
    model: keras.Model, data: Path, N: int, gridsize: int, M: int, batch_size: int, chunk_bytes: int
) -> Tuple[np.ndarray, Any]:
    """The same result as :func:`_predict_in_memory`, reading the patterns a chunk at a time from the NPZ."""
    from ptycho import params, probe
    from ptycho.raw_data import RawData
    from ptycho_core.array_rows import open_rows
    from ptycho_core.streaming import reconstruct_streaming

    if not Path(data).is_file():
        raise UserError(f"data file not found: {data}")
    try:
        raw = RawData.from_file(str(data), load_diffraction=False)
        rows = open_rows(data, "diff3d")
    except (KeyError, ValueError) as exc:
        raise UserError(f"{data}: {exc}") from exc
    with rows:
        shape = tuple(rows.shape)
        if len(shape) != 3 or shape[1] != shape[2]:
            raise UserError(
                f"{data}: diff3d must be square diffraction patterns (M, N, N); got shape {shape} "
                f"(crop or pad them to N x N)"
            )
        if shape[0] != len(raw.xcoords):
            raise UserError(
                f"{data}: diff3d has {shape[0]} patterns but there are {len(raw.xcoords)} scan "
                f"positions; they must match one to one"
            )
        if shape[-1] != N:
            raise UserError(
                f"{data} holds {shape[-1]}x{shape[-1]} patterns but the model was trained for N={N}; "
                f"use data of the same detector size or train a model for it"
            )
        probe.set_probe_guess(None, raw.probeGuess)
        groups, global_offsets, local_offsets = raw.group_positions(
            nsamples=len(raw.xcoords), K=max(7, gridsize**2 + 1), seed=0, gridsize=gridsize
        )

        def predict(x: np.ndarray, offsets: np.ndarray) -> Tensor:
            return model.predict_on_batch([x, offsets])

        try:
            image = reconstruct_streaming(
                predict,
                rows,
                groups,
                global_offsets,
                local_offsets,
                intensity_scale=float(params.get("intensity_scale")),
                M=M,
                chunk_bytes=chunk_bytes,
                batch_size=batch_size,
            )
        except ValueError as exc:
            raise UserError(f"{data}: {exc}") from exc
    return np.squeeze(image), raw


def reconstruct(
    bundle: Path,
    data: Path,
    out: Path,
    *,
    M: int = 20,
    batch_size: int = 64,
    overwrite: bool = False,
    stream: str = "auto",
    chunk_mb: int = 64,
    report: Report = _quiet_report,
) -> Dict[str, Any]:
    """Reconstruct the object of ``data`` with the model in ``bundle`` (a folder holding ``wts.h5.zip``).

    Writes ``out/object.npy`` (complex64, 2-D), ``out/reconstructed_amplitude.png`` / ``.npy`` and
    ``out/reconstructed_phase.png`` / ``.npy`` (radians), and ``out/metrics.json`` (with the correlation of the
    amplitude with ``|objectGuess|`` when the data holds a true object).

    ``stream``: ``"on"`` reads, predicts and stitches the patterns ``chunk_mb`` MiB at a time, so memory does
    not grow with their number (:mod:`ptycho_core.streaming`); ``"off"`` reads the whole scan; ``"auto"``
    streams when ``diff3d`` is larger than :data:`STREAM_AUTO_BYTES`. Both give the same image up to float32
    rounding.
    """
    from ptycho.workflows.components import load_inference_bundle, save_outputs
    from ptycho_core.images import save_npy
    from ptycho_core.metrics import aligned_correlation

    if stream not in ("auto", "on", "off"):
        raise UserError(f"stream must be auto, on or off; got {stream!r}")
    if int(chunk_mb) < 1:
        raise UserError(f"chunk size must be at least 1 MiB; got {chunk_mb}")
    bundle, out = Path(bundle), Path(out)
    if bundle.is_file() and bundle.name == BUNDLE_NAME:
        bundle = bundle.parent
    targets = [out / "object.npy", out / "reconstructed_amplitude.png", out / "reconstructed_phase.png"]
    _refuse_existing(targets, overwrite)
    streaming = stream == "on" or (stream == "auto" and _diffraction_bytes(Path(data)) > STREAM_AUTO_BYTES)
    stage = Stage(report, 3)
    stage.start(f"load {bundle / BUNDLE_NAME}")
    try:
        model, cfg = load_inference_bundle(bundle)
    except (ValueError, FileNotFoundError, KeyError) as exc:
        raise UserError(str(exc)) from exc
    N, gridsize = int(cfg["N"]), int(cfg["gridsize"])
    stage.done(f"model N={N}, gridsize {gridsize}")
    stage.start(f"predict and stitch (M={M}) {data}" + (f", streaming {chunk_mb} MiB chunks" if streaming else ""))
    if streaming:
        image, raw = _predict_streaming(model, Path(data), N, gridsize, M, batch_size, int(chunk_mb) << 20)
    else:
        image, raw = _predict_in_memory(
            model, Path(data), N, gridsize, M, batch_size, verbose=0 if report is _quiet_report else 1
        )
    stage.done(f"{len(raw.xcoords)} patterns → object {image.shape[0]}x{image.shape[1]}")
    stage.start("write images")
    amplitude, phase = np.abs(image), np.angle(image)
    save_outputs(amplitude, phase, {}, str(out))
    save_npy(out / "object.npy", image.astype(np.complex64))
    metrics: Dict[str, Any] = {
        "object_shape": list(image.shape),
        "patterns": len(raw.xcoords),
        "M": M,
        "streamed": bool(streaming),
    }
    if raw.objectGuess is not None:
        truth = np.abs(np.asarray(raw.objectGuess))
        if truth.shape[0] >= amplitude.shape[0] and truth.shape[1] >= amplitude.shape[1]:
            metrics["amplitude_correlation"] = aligned_correlation(amplitude, truth, border=2)
    atomic_write_bytes(out / "metrics.json", json.dumps(metrics, indent=1).encode(), "backup")
    detail = f"→ {out}"
    if "amplitude_correlation" in metrics:
        detail += f" (amplitude correlation with the true object {metrics['amplitude_correlation']:.3f})"
    stage.done(detail)
    return {**metrics, "out": str(out), "amplitude_png": str(out / "reconstructed_amplitude.png")}
