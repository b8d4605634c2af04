"""The steps of the main job — simulate, train, reconstruct — as functions (the CLI calls these).

They are a thin shell over the engine's front door, :mod:`ptycho_core.pipeline` (read and check the scan, train,
save, load, reconstruct); this module adds the command line's policies: one-line errors (:class:`UserError`),
progress lines, refusing to overwrite results unless asked, and the extra files (history, loss curve, images,
metrics). Keras (and so the backend) is imported only inside the functions: set ``KERAS_BACKEND`` before
calling them.

Every file is written atomically; an existing output is refused unless ``overwrite`` is set, and even then the
previous files are replaced only by complete new ones (images and arrays are kept as numbered backups).
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, Optional, Tuple

from ptycho_core.atomic import atomic_write_bytes

from .inputs import UserError, read_checked_scan
from .job_common import BUNDLE_NAME, quiet_report, refuse_existing, scan_metrics
from .job_reconstruct import reconstruct
from .multiprocess import failed_run, join_run, open_rows
from .reports import Report, Stage, epoch_lines, history_csv, loss_curve_png, loss_summary

if TYPE_CHECKING:
    from ptycho_core.data import Scan
    from ptycho_core.spec import ModelSpec

logger = logging.getLogger(__name__)

__all__ = ["Stage", "UserError", "model_spec", "reconstruct", "simulate", "train", "history_csv", "loss_curve_png"]


# ----------------------------------------------------------------------------------------------- simulate
def simulate(
    out: Path,
    *,
    seed: int = 0,
    N: int = 64,
    n_positions: int = 300,
    nphotons: float = 1e9,
    object_kind: str = "lines",
    phase: str = "zero",
    probe_curvature: float = 0.0,
    scan: str = "raster",
    jitter: float = 0.0,
    overwrite: bool = False,
    report: Report = quiet_report,
    stage: Optional[Stage] = None,
    what: str = "",
) -> Dict[str, Any]:
    """Simulate a scan and write it as an NPZ (the scan schema, :mod:`ptycho_core.data.npz`); returns a summary.

    ``phase``: the object's phase, ``"zero"`` or ``"tanh"``; ``probe_curvature``: radians of defocus phase at the
    probe's edge (:func:`ptycho_core.simulation.default_dataset`);
    ``what`` names the scan in the progress line (e.g. ``"held-out "``)."""
    from ptycho_core.simulation import default_dataset

    out = Path(out)
    if out.is_dir():
        raise UserError(f"{out} is a folder; give the NPZ file to write, e.g. {out / 'data.npz'}")
    refuse_existing([out], overwrite)
    stage = stage or Stage(report, 1)
    phased = (f", {phase} phase" if phase != "zero" else "") + (
        f", probe curvature {probe_curvature:g} rad" if probe_curvature else ""
    )
    stage.start(
        f"simulate {what}{N}x{N} patterns at about {n_positions} positions "
        f"({object_kind} object{phased}, {scan} scan, {nphotons:g} photons, seed {seed})"
    )
    try:
        dataset = default_dataset(
            seed=seed,
            N=N,
            n_positions=n_positions,
            nphotons=nphotons,
            object_kind=object_kind,
            phase=phase,
            probe_curvature=probe_curvature,
            scan=scan,
            jitter=jitter,
        )
    except ValueError as exc:
        raise UserError(str(exc)) from exc
    dataset.save_npz(out, overwrite=overwrite)
    stage.done(f"{len(dataset)} patterns → {out}")
    return {"path": str(out), "patterns": len(dataset), "N": dataset.N, "object_shape": list(dataset.object.shape)}


# ----------------------------------------------------------------------------------------------- train
def model_spec(
    scan: Scan,
    *,
    gridsize: int = 1,
    n_filters_scale: int = 1,
    nphotons: Optional[float] = None,
    seed: Optional[int] = 0,
    train_probe: bool = False,
    train_intensity_scale: bool = False,
) -> ModelSpec:
    """The model the command line trains: the engine's defaults (:class:`~ptycho_core.spec.ModelSpec`, the same
    as the ``ptycho`` API's) with these settings; ``seed`` fixes the initial weights on every backend."""
    from ptycho_core.pipeline import spec_for

    return spec_for(
        scan,
        nphotons=nphotons,
        gridsize=gridsize,
        n_filters_scale=n_filters_scale,
        init_seed=seed,
        probe_trainable=train_probe,
        intensity_scale_trainable=train_intensity_scale,
    )


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
    train_probe: bool = False,
    train_intensity_scale: bool = False,
    diffraction: str = "auto",
    overwrite: bool = False,
    report: Report = quiet_report,
    stage: Optional[Stage] = None,
    coordinator: Optional[str] = None,
    num_processes: Optional[int] = None,
    process_id: Optional[int] = None,
    timeout: Optional[float] = None,
) -> Dict[str, Any]:
    """Train on the NPZ ``data``; writes ``out/wts.h5.zip``, ``out/history.csv`` and ``out/loss.png``.

    ``test_data``: a second scan, checked before training and reconstructed after it (its amplitude correlation
    with its true object, when it has one, is returned). ``devices > 1``: data-parallel training
    (:mod:`ptycho_core.parallel`); on a machine without GPUs the backend must have been given that many CPU
    devices before it computed anything (the CLI does). ``seed`` fixes the initial weights (drawn with NumPy,
    identical on every backend), the groups and the batch order (``keras.utils.set_random_seed``).
    ``train_probe`` / ``train_intensity_scale`` train the probe / the log intensity scale too (the original
    never does; off by default). ``diffraction``: what the patterns are (:func:`read_checked_scan`).
    ``coordinator``, ``num_processes``, ``process_id``, ``timeout``: a multi-process run (:func:`join_run`; by
    default detected from torchrun, Slurm or TF_CONFIG): each process reads and trains on its shard, process 0
    alone writes; if a process fails, the others stop with an error and nothing is written.
    """
    session = join_run(coordinator, num_processes, process_id, timeout)
    try:
        return _train(
            data,
            out,
            test_data=test_data,
            epochs=epochs,
            batch_size=batch_size,
            gridsize=gridsize,
            n_groups=n_groups,
            n_filters_scale=n_filters_scale,
            nphotons=nphotons,
            seed=seed,
            devices=devices,
            train_probe=train_probe,
            train_intensity_scale=train_intensity_scale,
            diffraction=diffraction,
            overwrite=overwrite,
            report=report,
            stage=stage,
            session=session,
        )
    except Exception as exc:
        if session is None:
            raise
        kept = f" (the existing {out / BUNDLE_NAME} is kept)" if (Path(out) / BUNDLE_NAME).exists() else ""
        raise failed_run(session, "multi-process training", exc, kept) from exc


def _train(
    data: Path,
    out: Path,
    *,
    test_data: Optional[Path],
    epochs: int,
    batch_size: int,
    gridsize: int,
    n_groups: Optional[int],
    n_filters_scale: int,
    nphotons: Optional[float],
    seed: int,
    devices: int,
    train_probe: bool,
    train_intensity_scale: bool,
    diffraction: str,
    overwrite: bool,
    report: Report,
    stage: Optional[Stage],
    session: Any,
) -> Dict[str, Any]:
    import keras

    from ptycho_core.pipeline import TrainOptions
    from ptycho_core.pipeline import train as train_model

    out = Path(out)
    for name, value in (("--epochs", epochs), ("--batch-size", batch_size), ("--devices", devices)):
        if int(value) < 1:
            raise UserError(f"{name} must be at least 1; got {value}")
    if n_groups is not None and int(n_groups) < 1:
        raise UserError(f"--n-groups must be at least 1; got {n_groups}")
    refuse_existing([out / BUNDLE_NAME], overwrite)
    stage = stage or Stage(report, 2 if test_data is None else 3)
    stage.start(f"read {data}")
    reader = None
    if session is None:
        scan = read_checked_scan(Path(data), diffraction, gridsize=gridsize)
    else:  # each process reads only its shard's patterns: the header now, rows on demand
        scan, reader = open_rows(Path(data), diffraction, gridsize)
    test_scan = None
    if test_data is not None:
        test_scan = read_checked_scan(Path(test_data), diffraction, N=scan.N, gridsize=gridsize)
    try:
        spec = model_spec(
            scan,
            gridsize=gridsize,
            n_filters_scale=n_filters_scale,
            nphotons=nphotons,
            seed=seed,
            train_probe=train_probe,
            train_intensity_scale=train_intensity_scale,
        )
    except ValueError as exc:
        raise UserError(f"{data}: {exc}") from exc
    photons = nphotons if nphotons is not None else scan.nphotons or 1e9
    stage.done(f"{len(scan)} patterns of {scan.N}x{scan.N}, nphotons {photons:g}")
    keras.utils.set_random_seed(seed)  # the application's choice: Keras' own shuffling repeats too
    where = f"{devices} devices of " if devices > 1 else ""
    stage.start(
        f"train {epochs} epoch{'s' if epochs != 1 else ''} on {where}{keras.backend.backend()} "
        f"(gridsize {gridsize}, batch {batch_size})"
    )
    verbose: int = 0
    callbacks: Tuple[Any, ...] = ()
    if report is not quiet_report:  # a progress bar on a terminal, else plain lines (a log file stays readable)
        verbose, callbacks = (1, ()) if sys.stdout.isatty() else (0, (epoch_lines(report, epochs, scan.N**2),))
    options = TrainOptions(
        epochs=epochs,
        batch_size=batch_size,
        n_groups=n_groups,
        seed=seed,
        devices=int(devices),
        verbose=verbose,
        callbacks=callbacks,
        session=session,
    )
    try:
        model = train_model(scan, spec, options)
    except ValueError as exc:
        raise UserError(str(exc)) from exc
    finally:
        if reader is not None:
            reader.close()
    if session is None or session.is_chief:  # one writer, atomically; the others only trained
        model.save(out, existing="backup")  # with --overwrite the previous bundle is kept as wts.h5.~N~.zip
        atomic_write_bytes(out / "history.csv", history_csv(model.history), "backup")
        atomic_write_bytes(out / "loss.png", loss_curve_png(model.history), "backup")
    writer = "" if session is None or session.is_chief else " (written by process 0)"
    seconds = stage.done(f"{loss_summary(model.history, scan.N**2)} → {out / BUNDLE_NAME}{writer}")
    result: Dict[str, Any] = {
        "bundle": str(out / BUNDLE_NAME),
        "history": model.history,
        "seconds": seconds,
        "backend": keras.backend.backend(),
        "epochs": len(model.history.get("loss", [])),
    }
    if test_scan is not None:
        from ptycho_core.pipeline import reconstruct as reconstruct_scan

        stage.start(f"reconstruct the test scan {test_data}")
        image = reconstruct_scan(model, test_scan, session=session).image
        metrics = scan_metrics(image, test_scan)
        if session is None or session.is_chief:
            atomic_write_bytes(out / "test_metrics.json", json.dumps(metrics, indent=1).encode(), "backup")
        correlation = metrics.get("amplitude_correlation")
        stage.done(
            f"object {image.shape[0]}x{image.shape[1]}"
            + ("" if correlation is None else f", amplitude correlation with its true object {correlation:.3f}")
            + f" → {out / 'test_metrics.json'}"
        )
        result["test_metrics"] = metrics
    if session is not None:
        session.barrier()  # every process ends with the chief's bundle written
        session.close()
    return result
