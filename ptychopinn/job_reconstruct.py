"""The reconstruct job: a model bundle and an NPZ scan → object.npy, amplitude/phase images, metrics.json."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, Optional

import numpy as np

from ptycho_core.atomic import atomic_write_bytes

from .inputs import UserError, as_amplitudes, counts_warning_silenced, naming
from .job_common import BUNDLE_NAME, load_bundle, quiet_report, refuse_existing, scan_metrics
from .multiprocess import failed_run, join_run
from .reports import Report, Stage


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
    compile: str = "auto",
    diffraction: str = "auto",
    report: Report = quiet_report,
    stage: Optional[Stage] = None,
    coordinator: Optional[str] = None,
    num_processes: Optional[int] = None,
    process_id: Optional[int] = None,
    timeout: Optional[float] = None,
) -> Dict[str, Any]:
    """Reconstruct the object of ``data`` with the model in ``bundle`` (a folder holding ``wts.h5.zip``).

    Writes ``out/object.npy`` (complex64, 2-D), ``out/reconstructed_amplitude.png`` / ``.npy`` and
    ``out/reconstructed_phase.png`` / ``.npy`` (radians), and ``out/metrics.json`` (scored against the true
    object when the data holds one: :func:`ptycho_core.metrics.score_reconstruction`).

    ``stream``: ``"on"`` reads, predicts and stitches the patterns ``chunk_mb`` MiB at a time, so memory does
    not grow with their number (:mod:`ptycho_core.streaming`); ``"off"`` reads the whole scan; ``"auto"``
    streams when ``diff3d`` is larger than :data:`ptycho_core.pipeline.STREAM_AUTO_BYTES`. Both give the same
    image up to float32 rounding. ``compile``: torch's compiled inference (:func:`ptycho_core.pipeline.
    reconstruct`). ``diffraction``: what the patterns are (:func:`read_checked_scan`).
    With several processes (:func:`join_run`), each reads, predicts and stitches its shard of the scan (always
    streamed), the sums are combined with the backend's all-reduce, and process 0 writes the outputs.
    """
    session = join_run(coordinator, num_processes, process_id, timeout)
    if session is not None:
        stream = "on"
    from ptycho_core.data import diffraction_bytes, open_diffraction, read_scan
    from ptycho_core.images import save_npy, save_png
    from ptycho_core.pipeline import STREAM_AUTO_BYTES
    from ptycho_core.pipeline import reconstruct as reconstruct_scan

    if stream not in ("auto", "on", "off"):
        raise UserError(f"stream must be auto, on or off; got {stream!r}")
    if int(chunk_mb) < 1:
        raise UserError(f"chunk size must be at least 1 MiB; got {chunk_mb}")
    if compile not in ("auto", "on", "off"):
        raise UserError(f"compile must be auto, on or off; got {compile!r}")
    bundle, out, data = Path(bundle), Path(out), Path(data)
    if bundle.is_file() and bundle.name == BUNDLE_NAME:
        bundle = bundle.parent
    targets = [out / "object.npy", out / "reconstructed_amplitude.png", out / "reconstructed_phase.png"]
    refuse_existing(targets, overwrite)
    if not data.is_file():
        raise UserError(f"data file not found: {data}")
    streamed = stream == "on" or (stream == "auto" and diffraction_bytes(data) > STREAM_AUTO_BYTES)
    try:  # the data are checked before the model is loaded (which takes longer)
        if streamed:
            header = read_scan(data, load_diffraction=False)
            with open_diffraction(data) as rows:
                as_amplitudes(header.replace(diffraction=rows), data, diffraction)
                with counts_warning_silenced(diffraction != "auto"):
                    header.replace(diffraction=rows).validate()
        else:
            header = as_amplitudes(read_scan(data), data, diffraction)
            with counts_warning_silenced(diffraction != "auto"):
                header.validate()
    except (KeyError, ValueError) as exc:
        raise UserError(naming(data, exc)) from exc
    stage = stage or Stage(report, 3)
    stage.start(f"load {bundle / BUNDLE_NAME}")
    model = load_bundle(bundle)
    stage.done(f"model N={model.spec.N}, gridsize {model.spec.gridsize}")
    stage.start(f"predict and stitch (M={M}) {data}" + (f", streaming {chunk_mb} MiB chunks" if streamed else ""))
    try:
        result = reconstruct_scan(
            model,
            data if streamed else header,
            M=M,
            batch_size=batch_size,
            stream="on" if streamed else "off",
            chunk_bytes=int(chunk_mb) << 20,
            session=session,
            compile=compile,
        )
    except Exception as exc:
        if session is not None:
            raise failed_run(session, "sharded reconstruction", exc, "") from exc
        if not isinstance(exc, (KeyError, ValueError)):
            raise
        raise UserError(naming(data, exc)) from exc
    image = result.image
    predict_seconds = stage.done(f"{result.n_patterns} patterns → object {image.shape[0]}x{image.shape[1]}")
    if session is not None:
        session.close()
        if not session.is_chief:  # process 0 writes the outputs
            return {"out": str(out), "process_id": session.process_id}
    stage.start("write images")
    out.mkdir(parents=True, exist_ok=True)
    save_png(out / "reconstructed_amplitude.png", result.amplitude, cmap="gray")
    save_png(out / "reconstructed_phase.png", result.phase, cmap="viridis")
    save_npy(out / "reconstructed_amplitude.npy", result.amplitude)
    save_npy(out / "reconstructed_phase.npy", result.phase)
    save_npy(out / "object.npy", image.astype(np.complex64))
    metrics = {
        **scan_metrics(image, header),
        "M": M,
        "streamed": bool(result.streamed),
        "predict_and_stitch_seconds": round(predict_seconds, 2),
    }
    atomic_write_bytes(out / "metrics.json", json.dumps(metrics, indent=1).encode(), "backup")
    detail = f"→ {out}"
    if "amplitude_correlation" in metrics:
        detail += f" (amplitude correlation with the true object {metrics['amplitude_correlation']:.3f})"
        if metrics.get("phase_correlation") is not None:
            detail = detail[:-1] + f", phase {metrics['phase_correlation']:.3f})"
    stage.done(detail)
    return {**metrics, "out": str(out), "amplitude_png": str(out / "reconstructed_amplitude.png")}
