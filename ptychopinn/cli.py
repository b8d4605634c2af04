"""The ``ptychopinn`` command.

    ptychopinn demo --out runs/demo                 simulate → train → reconstruct → images (the main job)
    ptychopinn simulate --out data.npz              a simulated scan in the NPZ scan schema
    ptychopinn train data.npz --out model/          → model/wts.h5.zip, history.csv, loss.png
    ptychopinn reconstruct model/ data.npz --out recon/   → object.npy, amplitude/phase PNGs, metrics.json
    ptychopinn compare-backends [--bundle model/ --data data.npz]   one table: do torch, tensorflow, jax agree?
    ptychopinn info                                 versions, backend, devices

``--backend torch|tensorflow|jax`` (anywhere on the line) sets ``KERAS_BACKEND`` for the run; ``--quiet``
silences progress. Mistakes in the input (missing files, wrong NPZ keys, an unknown backend, an unwritable or
existing output) give one line ``error: … `` naming the fix and exit code 2; a traceback means a bug.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import io
import json
import os
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

import ptycho_core  # noqa: F401  (its thread defaults must be set before a framework loads)

from .parser import BACKENDS, build_parser
from .reports import Report

_BACKEND_MODULES = {"torch": "torch", "tensorflow": "tensorflow", "jax": "jax"}

__all__ = ["BACKENDS", "build_parser", "installed_backends", "main", "run"]


def installed_backends() -> List[str]:
    """The Keras backends whose framework is importable here."""
    return [b for b in BACKENDS if importlib.util.find_spec(_BACKEND_MODULES[b]) is not None]


def _keras_json_backend() -> Optional[str]:
    """The backend Keras' own ``keras.json`` names (None if there is no readable file)."""
    path = Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")) / "keras.json"
    try:
        value = json.loads(path.read_text(encoding="utf-8")).get("backend")
    except (OSError, ValueError, AttributeError):
        return None
    return str(value) if value else None


def _select_backend(args: argparse.Namespace) -> None:
    backend = getattr(args, "backend", None) or os.environ.get("KERAS_BACKEND") or None
    if backend is None and "keras" in sys.modules:
        return  # called in a process that already imported Keras: its backend is chosen
    if backend is None:
        available = installed_backends()
        if not available:
            raise SystemExit(
                _fail(
                    "no Keras backend is installed; install one with `pip install "
                    "'ptychopinn[torch]'` (or [tensorflow], [jax])"
                )
            )
        configured = _keras_json_backend()
        if configured in available:
            backend = configured
        else:
            # Keras defaults to tensorflow, and writes that into ~/.keras/keras.json on first import, even where
            # only torch or jax is installed: take one that is, and say why when the file named another.
            backend = "tensorflow" if "tensorflow" in available else available[0]
            if configured is not None:
                print(
                    f"ptychopinn: note: keras.json names the backend {configured!r}, which is not installed; "
                    f"using {backend} (choose with --backend or KERAS_BACKEND)",
                    file=sys.stderr,
                )
    if backend not in BACKENDS:
        raise SystemExit(_fail(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}"))
    if importlib.util.find_spec(_BACKEND_MODULES[backend]) is None:
        raise SystemExit(
            _fail(f"backend {backend!r} is not installed; install it with `pip install 'ptychopinn[{backend}]'`")
        )
    if "keras" in sys.modules and os.environ.get("KERAS_BACKEND") != backend:
        raise SystemExit(_fail("the backend cannot change after Keras was imported; run the command in a new process"))
    os.environ["KERAS_BACKEND"] = backend


def _fail(message: str) -> int:
    print(f"ptychopinn: error: {message}", file=sys.stderr)
    return 2


def _configure_output(quiet: bool) -> None:
    import logging

    logging.basicConfig(level=logging.WARNING, format="%(message)s")


def _silenced(quiet: bool) -> contextlib.AbstractContextManager:
    """With ``--quiet``, drop what the steps print (Keras progress bars write to stdout)."""
    if not quiet:
        return contextlib.nullcontext()
    return contextlib.redirect_stdout(io.StringIO())


def _report(quiet: bool):
    if quiet:
        return lambda message: None
    return lambda message: print(message, flush=True)


def run(args: argparse.Namespace) -> int:
    """Execute a parsed command; returns the exit code."""
    from . import jobs

    quiet = bool(getattr(args, "quiet", False))
    report = _report(quiet)
    command = args.command
    if command == "compare-backends":
        from .compare import compare_backends, format_table

        backends = args.backends.split(",") if args.backends else installed_backends()
        if len(backends) < 2:
            raise jobs.UserError(
                f"compare-backends needs at least two backends; {'given' if args.backends else 'installed'}: "
                f"{', '.join(backends) or 'none'}. Install another with `pip install "
                f"'ptychopinn[{next(b for b in BACKENDS if b not in backends)}]'`"
            )
        unknown = [b for b in backends if b not in BACKENDS]
        if unknown:
            raise jobs.UserError(f"unknown backend(s) {unknown}; choose from {', '.join(BACKENDS)}")
        missing = [b for b in backends if b not in installed_backends()]
        if missing:
            raise jobs.UserError(
                f"backend(s) {missing} not installed; install with `pip install "
                f"'ptychopinn[{','.join(missing)}]'` or leave them out of --backends"
            )
        table = compare_backends(
            backends,
            bundle=args.bundle,
            data=args.data,
            train_steps=args.train_steps,
            n_patterns=args.n_patterns,
            rtol=args.rtol,
            report=report,
            perturb_backend=args.perturb_backend,
        )
        print(format_table(table))
        if args.json:
            from ptycho_core.atomic import atomic_write_bytes

            atomic_write_bytes(args.json, json.dumps(table, indent=1).encode())
        return 0 if table["agree"] else 1

    _configure_output(quiet)
    if getattr(args, "devices", 1) > 1:  # before the backend computes anything (virtual CPU devices)
        from ptycho_core.parallel import request_virtual_cpu_devices

        request_virtual_cpu_devices(args.devices)
    if command == "info":
        from .info import info

        print(json.dumps(info(installed_backends()), indent=1))
        return 0
    if command == "simulate":
        jobs.simulate(args.out, seed=args.seed, overwrite=args.overwrite, report=report, **_simulation(args))
        return 0
    if command == "train":
        with _silenced(quiet):
            jobs.train(
                args.data,
                args.out,
                test_data=args.test_data,
                epochs=args.epochs,
                batch_size=args.batch_size,
                gridsize=args.gridsize,
                n_groups=args.n_groups,
                n_filters_scale=args.n_filters_scale,
                nphotons=args.nphotons,
                seed=args.seed,
                devices=args.devices,
                train_probe=args.train_probe,
                train_intensity_scale=args.train_intensity_scale,
                diffraction=args.diffraction,
                overwrite=args.overwrite,
                report=report,
                **_distributed(args),
            )
        return 0
    if command == "reconstruct":
        with _silenced(quiet):
            jobs.reconstruct(
                args.bundle,
                args.data,
                args.out,
                M=args.M,
                batch_size=args.batch_size,
                stream=args.stream,
                chunk_mb=args.chunk_mb,
                compile=args.compile,
                diffraction=args.diffraction,
                overwrite=args.overwrite,
                report=report,
                **_distributed(args),
            )
        return 0
    if command == "demo":
        return _demo(args, report, quiet)
    raise AssertionError(command)


def _simulation(args: argparse.Namespace) -> Dict[str, Any]:
    """The simulation options shared by ``simulate`` and ``demo`` (parser.simulation_options), for jobs.simulate."""
    names = ("N", "n_positions", "nphotons", "object_kind", "phase", "probe_curvature", "scan")
    return {name: getattr(args, name) for name in names}


def _demo(args: argparse.Namespace, report: Report, quiet: bool) -> int:
    """The main job: simulate a training scan (``--seed``) and a held-out scan of the same kind (``--seed`` + 1),
    train on the first, reconstruct the second (the way a beamline uses a trained network), score it."""
    from . import jobs

    out = Path(args.out)
    data, held_out = out / "data.npz", out / "held_out.npz"
    stage = jobs.Stage(report, 7)  # one count over the jobs: simulate 2, train 2, reconstruct 3
    with _silenced(quiet):
        for path, seed, what in ((data, args.seed, ""), (held_out, args.seed + 1, "held-out ")):
            jobs.simulate(
                path, seed=seed, overwrite=args.overwrite, report=report, stage=stage, what=what, **_simulation(args)
            )
        jobs.train(
            data,
            out / "model",
            epochs=args.epochs,
            batch_size=args.batch_size,
            gridsize=args.gridsize,
            n_filters_scale=args.n_filters_scale,
            seed=args.seed,
            devices=args.devices,
            train_probe=args.train_probe,
            train_intensity_scale=args.train_intensity_scale,
            overwrite=args.overwrite,
            report=report,
            stage=stage,
        )
        result = jobs.reconstruct(
            out / "model", held_out, out / "reconstruction", overwrite=args.overwrite, report=report, stage=stage
        )
    print(f"images: {result['amplitude_png']} and {Path(result['out']) / 'reconstructed_phase.png'}")
    print(
        f"held-out scan ({result['patterns']} patterns) reconstructed in {result['predict_and_stitch_seconds']:.1f} s"
        " (predict and stitch, after loading the model)"
    )
    if "amplitude_correlation" in result:
        line = f"correlation with the true object: amplitude {result['amplitude_correlation']:.3f}"
        if result.get("phase_correlation") is not None:
            line += f", phase {result['phase_correlation']:.3f}"
        print(line)
    return 0


def _writable(path: Optional[Path]) -> None:
    """Refuse an output whose nearest existing ancestor is not a writable folder."""
    if path is None:
        return
    probe = Path(path).absolute()
    if probe.exists():
        return  # the step itself decides about an existing output (refuse, or --overwrite)
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir():
        raise PermissionError(f"{path}: {probe} is a file, not a folder; choose another output path")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise PermissionError(f"{path}: cannot write into {probe}; choose a writable output folder")


def _distributed(args: argparse.Namespace) -> Dict[str, Any]:
    """The multi-process options of ``train`` / ``reconstruct`` (None: detect from the environment)."""
    names = ("coordinator", "num_processes", "process_id", "timeout")
    return {name: getattr(args, name) for name in names}


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of the ``ptychopinn`` console script."""
    args = build_parser().parse_args(argv)
    _select_backend(args)
    from .jobs import UserError

    try:
        _writable(getattr(args, "out", None))
        return run(args)
    except UserError as exc:
        code = _fail(str(exc))
        if getattr(exc, "abandon_run", False):  # a failed multi-process run: no teardown that waits for the dead
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
        return code
    except (FileNotFoundError, FileExistsError, PermissionError, IsADirectoryError) as exc:
        return _fail(str(exc))
    except KeyboardInterrupt:
        return _fail("interrupted; nothing partial was written (outputs are written atomically)")
