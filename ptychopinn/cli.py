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
from typing import List, Optional, Sequence

BACKENDS = ("torch", "tensorflow", "jax")
_BACKEND_MODULES = {"torch": "torch", "tensorflow": "tensorflow", "jax": "jax"}


def installed_backends() -> List[str]:
    """The Keras backends whose framework is importable here."""
    return [b for b in BACKENDS if importlib.util.find_spec(_BACKEND_MODULES[b]) is not None]


def _common() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--backend",
        default=argparse.SUPPRESS,
        help="Keras backend for this run: torch, tensorflow or jax (default: $KERAS_BACKEND, else Keras' default)",
    )
    common.add_argument("--quiet", action="store_true", default=argparse.SUPPRESS, help="no progress output")
    return common


def build_parser() -> argparse.ArgumentParser:
    common = _common()
    parser = argparse.ArgumentParser(
        prog="ptychopinn",
        parents=[common],
        description="PtychoPINN on Keras 3: ptychographic reconstruction with a "
        "physics-informed network, on torch, tensorflow or jax.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="command")

    def add(name: str, help_text: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, parents=[common], help=help_text, description=help_text)

    def simulation_options(p: argparse.ArgumentParser) -> None:
        p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
        p.add_argument("--N", type=int, default=64, help="pattern size in pixels, a multiple of 4 (default 64)")
        p.add_argument("--n-positions", type=int, default=300, help="number of scan points (default 300)")
        p.add_argument("--nphotons", type=float, default=1e9, help="photons per pattern (default 1e9)")
        p.add_argument(
            "--object",
            dest="object_kind",
            choices=("lines", "grf"),
            default="lines",
            help="simulated object (default lines)",
        )
        p.add_argument(
            "--scan", choices=("raster", "spiral", "random"), default="raster", help="scan pattern (default raster)"
        )

    def training_options(p: argparse.ArgumentParser, epochs: int) -> None:
        p.add_argument("--epochs", type=int, default=epochs, help=f"training epochs (default {epochs})")
        p.add_argument("--batch-size", type=int, default=16, help="batch size (default 16)")
        p.add_argument("--gridsize", type=int, default=1, choices=(1, 2, 3), help="patterns per group (side)")
        p.add_argument("--n-filters-scale", type=int, default=1, help="network width multiplier (default 1)")
        p.add_argument(
            "--devices",
            type=int,
            default=1,
            help="data-parallel training on this many devices (GPUs; without GPUs, CPU devices); "
            "--batch-size is the global batch and must be a multiple (default 1)",
        )
        p.add_argument(
            "--train-probe",
            action="store_true",
            help="also train the probe (off by default: the original never trains it)",
        )
        p.add_argument(
            "--train-intensity-scale",
            action="store_true",
            help="also train the log intensity scale (off by default: the original never trains it)",
        )

    p = add("demo", "simulate → train → reconstruct → images, on a small built-in simulation")
    p.add_argument(
        "--out", type=Path, default=Path("ptychopinn-demo"), help="output folder (default ./ptychopinn-demo)"
    )
    simulation_options(p)
    training_options(p, epochs=16)
    p.add_argument("--overwrite", action="store_true", help="replace results already in --out")

    p = add("simulate", "simulate a ptychography scan and write it as an NPZ")
    p.add_argument("--out", type=Path, required=True, help="NPZ file to write")
    simulation_options(p)
    p.add_argument("--overwrite", action="store_true", help="replace an existing file")

    p = add("train", "train a model on an NPZ scan; writes OUT/wts.h5.zip, history.csv, loss.png")
    p.add_argument("data", type=Path, help="training data (NPZ: diff3d, xcoords, ycoords, probeGuess, ...)")
    p.add_argument("--out", type=Path, required=True, help="output folder for the model bundle")
    p.add_argument(
        "--test-data", type=Path, default=None, help="optional NPZ checked before and reconstructed after training"
    )
    p.add_argument("--n-groups", type=int, default=None, help="training groups (default: one per scan point)")
    p.add_argument("--seed", type=int, default=0, help="seed of the initial weights and batch order (default 0)")
    p.add_argument(
        "--nphotons", type=float, default=None, help="photons per pattern (default: the NPZ metadata, else 1e9)"
    )
    training_options(p, epochs=8)
    p.add_argument("--overwrite", action="store_true", help="replace an existing bundle (atomically)")

    p = add("reconstruct", "reconstruct the object of an NPZ scan with a trained model")
    p.add_argument("bundle", type=Path, help="folder holding wts.h5.zip (or the file itself)")
    p.add_argument("data", type=Path, help="scan to reconstruct (NPZ)")
    p.add_argument("--out", type=Path, required=True, help="output folder")
    p.add_argument("--M", type=int, default=20, help="central crop of each patch used for stitching (default 20)")
    p.add_argument("--batch-size", type=int, default=64, help="patterns per prediction batch (default 64)")
    p.add_argument(
        "--stream",
        choices=("auto", "on", "off"),
        default="auto",
        help="read, predict and stitch the patterns a chunk at a time so memory does not grow with "
        "their number (default auto: when diff3d is over 1 GiB)",
    )
    p.add_argument("--chunk-mb", type=int, default=64, help="MiB of patterns per streamed chunk (default 64)")
    p.add_argument("--overwrite", action="store_true", help="replace results already in --out")

    p = add("compare-backends", "run the same model under every installed backend and tabulate differences")
    p.add_argument("--bundle", type=Path, default=None, help="model folder (default: a built-in untrained model)")
    p.add_argument("--data", type=Path, default=None, help="scan NPZ (default: a built-in small simulation)")
    p.add_argument("--backends", default=None, help="comma-separated (default: every installed backend)")
    p.add_argument("--train-steps", type=int, default=0, help="also compare N training steps (default 0)")
    p.add_argument("--n-patterns", type=int, default=32, help="patterns compared (default 32)")
    p.add_argument("--rtol", type=float, default=1e-4, help="largest relative difference accepted (default 1e-4)")
    p.add_argument("--json", type=Path, default=None, help="also write the table as JSON")
    p.add_argument("--perturb-backend", default=None, help=argparse.SUPPRESS)  # self-test of the check

    add("info", "versions, the active backend and its devices")
    return parser


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
        jobs.simulate(
            args.out,
            seed=args.seed,
            N=args.N,
            n_positions=args.n_positions,
            nphotons=args.nphotons,
            object_kind=args.object_kind,
            scan=args.scan,
            overwrite=args.overwrite,
            report=report,
        )
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
                overwrite=args.overwrite,
                report=report,
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
                overwrite=args.overwrite,
                report=report,
            )
        return 0
    if command == "demo":
        out = Path(args.out)
        data = out / "data.npz"
        with _silenced(quiet):
            jobs.simulate(
                data,
                seed=args.seed,
                N=args.N,
                n_positions=args.n_positions,
                nphotons=args.nphotons,
                object_kind=args.object_kind,
                scan=args.scan,
                overwrite=args.overwrite,
                report=report,
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
            )
            result = jobs.reconstruct(
                out / "model", data, out / "reconstruction", overwrite=args.overwrite, report=report
            )
        print(f"images: {result['amplitude_png']} and {Path(result['out']) / 'reconstructed_phase.png'}")
        if "amplitude_correlation" in result:
            print(f"amplitude correlation with the true object: {result['amplitude_correlation']:.3f}")
        return 0
    raise AssertionError(command)


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


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of the ``ptychopinn`` console script."""
    args = build_parser().parse_args(argv)
    _select_backend(args)
    from .jobs import UserError

    try:
        _writable(getattr(args, "out", None))
        return run(args)
    except UserError as exc:
        return _fail(str(exc))
    except (FileNotFoundError, FileExistsError, PermissionError, IsADirectoryError) as exc:
        return _fail(str(exc))
    except KeyboardInterrupt:
        return _fail("interrupted; nothing partial was written (outputs are written atomically)")
