"""The ``ptychopinn`` command line's arguments (:func:`build_parser`); :mod:`ptychopinn.cli` runs them."""

from __future__ import annotations

import argparse
from pathlib import Path

BACKENDS = ("torch", "tensorflow", "jax")
#: ``--diffraction`` choices (the same as :data:`ptychopinn.jobs.DIFFRACTION_KINDS`)
DIFFRACTION_KINDS = ("auto", "amplitude", "intensity")

# The demo's own choices, measured (README, "What the demo shows"): an object with phase, a probe whose curved
# wavefront breaks the twin-image symmetry, a dense scan, small batches. `simulate` keeps the original's zero phase
# and real probe, `train` the original's batch size 16.
DEMO_PHASE = "tanh"
DEMO_PROBE_CURVATURE = 3.0
DEMO_POSITIONS = 600
DEMO_EPOCHS = 20
DEMO_BATCH_SIZE = 8

__all__ = [
    "BACKENDS",
    "DEMO_BATCH_SIZE",
    "DEMO_EPOCHS",
    "DEMO_PHASE",
    "DEMO_POSITIONS",
    "DEMO_PROBE_CURVATURE",
    "DIFFRACTION_KINDS",
    "build_parser",
]


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

    def simulation_options(
        p: argparse.ArgumentParser, phase: str = "zero", curvature: float = 0.0, positions: int = 300
    ) -> None:
        p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
        p.add_argument("--N", type=int, default=64, help="pattern size in pixels, a multiple of 4 (default 64)")
        p.add_argument(
            "--n-positions", type=int, default=positions, help=f"number of scan points (default {positions})"
        )
        p.add_argument("--nphotons", type=float, default=1e9, help="photons per pattern (default 1e9)")
        p.add_argument(
            "--object",
            dest="object_kind",
            choices=("lines", "grf"),
            default="lines",
            help="simulated object (default lines)",
        )
        p.add_argument(
            "--phase",
            choices=("zero", "tanh"),
            default=phase,
            help="the object's phase: zero, or tanh (the original's phase that follows the amplitude, "
            f"-0.3..0.75 rad for lines) (default {phase})",
        )
        p.add_argument(
            "--probe-curvature",
            type=float,
            default=curvature,
            help="radians of quadratic (defocus) phase at the probe disc's edge; 0 is the original's real probe, "
            f"whose symmetry lets a patch and its twin image give the same pattern (default {curvature:g})",
        )
        p.add_argument(
            "--scan", choices=("raster", "spiral", "random"), default="raster", help="scan pattern (default raster)"
        )

    def training_options(p: argparse.ArgumentParser, epochs: int, batch_size: int = 16) -> None:
        p.add_argument("--epochs", type=int, default=epochs, help=f"training epochs (default {epochs})")
        p.add_argument("--batch-size", type=int, default=batch_size, help=f"batch size (default {batch_size})")
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

    def distributed_options(p: argparse.ArgumentParser) -> None:
        g = p.add_argument_group(
            "multi-process (multi-node) runs",
            "detected from torchrun (RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT), Slurm (SLURM_PROCID, SLURM_NTASKS, "
            "SLURM_STEP_NODELIST) or TF_CONFIG when not given; process 0 writes the results",
        )
        g.add_argument(
            "--coordinator",
            default=None,
            help="host:port of process 0 (TensorFlow: every process's host:port, comma-separated, in order)",
        )
        g.add_argument("--num-processes", type=int, default=None, help="processes taking part")
        g.add_argument("--process-id", type=int, default=None, help="this process, 0 .. num-processes - 1")
        g.add_argument(
            "--timeout",
            type=float,
            default=None,
            help="seconds to wait for the other processes to join, for one collective or for a silent peer "
            "before stopping with an error (default 300)",
        )

    def diffraction_option(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--diffraction",
            choices=DIFFRACTION_KINDS,
            default="auto",
            help="what diff3d holds: amplitudes (square roots of counts) or intensities (counts, whose square root "
            "is taken); default auto refuses data that look like counts",
        )

    p = add(
        "demo",
        "simulate a scan and a held-out scan of the same kind of object → train on the first → reconstruct the "
        "held-out one → images and scores",
    )
    p.add_argument(
        "--out", type=Path, default=Path("ptychopinn-demo"), help="output folder (default ./ptychopinn-demo)"
    )
    simulation_options(p, phase=DEMO_PHASE, curvature=DEMO_PROBE_CURVATURE, positions=DEMO_POSITIONS)
    training_options(p, epochs=DEMO_EPOCHS, batch_size=DEMO_BATCH_SIZE)
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
    diffraction_option(p)
    distributed_options(p)
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
    p.add_argument(
        "--compile",
        choices=("auto", "on", "off"),
        default="auto",
        help="torch: predict with the model exported and compiled (default auto: on CUDA for batches up to "
        "1024, on the CPU for 20,000 patterns or more; the same image to float32 rounding)",
    )
    diffraction_option(p)
    distributed_options(p)
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
