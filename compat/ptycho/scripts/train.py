"""``ptycho_train``: the original PtychoPINN's training script on this package.

    ptycho_train --train_data_file data.npz [--test_data_file test.npz] --output_dir out --nepochs 50 [--do_stitching]

Every ``TrainingConfig`` / ``ModelConfig`` field is a ``--name`` option, ``--config`` reads a YAML file (its values
are kept unless the option is given; the nested ``model:`` mapping beats top-level model keys), ``--backend
tensorflow|pytorch|torch|jax`` picks the Keras backend. Sampling is the original's: with ``--n_subsample``, that
many images are drawn and ``--n_groups`` groups formed; otherwise ``--n_groups`` (``--n_images``, deprecated)
counts both. ``nphotons`` comes from the training file's ``_metadata`` unless given.

Writes into ``--output_dir``: ``wts.h5.zip`` (the model), ``history.csv`` (per-epoch losses),
``train_debug.log``; with ``--do_stitching`` and test data ``reconstructed_amplitude.png`` / ``reconstructed_phase
.png`` and their ``.npy`` arrays; with ``--subsample_seed`` ``subsample_seed<k>_indices.txt``. Exit codes: 0 done,
1 the run failed (one ``ptycho_train: error:`` line; the traceback is in ``train_debug.log``), 2 a bad option or
an unknown or missing backend.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import io
import logging
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

from ptycho.config.config import TrainingConfig, load_yaml_config
from ptycho.workflows.configure import _add_config_arguments, setup_configuration

from ._common import (
    ScriptUsageError,
    add_ignored_torch_flags,
    engine_label,
    fail,
    file_metadata,
    given_torch_flags,
    history_csv,
    metadata_nphotons,
    script_logging,
    select_backend,
    write_indices,
)

PROG = "ptycho_train"
LOG_NAME = "train_debug.log"
TORCH_FLAGS = (
    "accelerator",
    "deterministic",
    "num-workers",
    "accumulate-grad-batches",
    "learning-rate",
    "scheduler",
    "plateau-factor",
    "plateau-patience",
    "plateau-min-lr",
    "plateau-threshold",
    "logger",
    "recon-log-every-n-epochs",
    "recon-log-num-patches",
    "recon-log-fixed-indices",
    "recon-log-stitch",
    "recon-log-max-stitch-samples",
    "enable-checkpointing",
    "checkpoint-save-top-k",
)
_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")

logger = logging.getLogger("ptycho.scripts.train")

__all__ = ["build_parser", "load_configuration", "main"]


def build_parser() -> argparse.ArgumentParser:
    """The original's options: ``--config``, ``--do_stitching``, one per config field, logging, ``--torch-*``."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Train PtychoPINN on an NPZ scan (the original's ptycho_train). Bool options take "
        "true/false; options not given keep the --config file's value, else the default.",
    )
    _add_config_arguments(parser, skip=("backend",))
    parser.add_argument(
        "--backend",
        default=None,
        metavar="{tensorflow,pytorch,torch,jax}",
        help="Keras backend (default: KERAS_BACKEND, else an installed one; pytorch = torch)",
    )
    verbosity = parser.add_mutually_exclusive_group()
    verbosity.add_argument("--quiet", action="store_true", help="console: warnings and errors only")
    verbosity.add_argument("--verbose", action="store_true", help="console: debug messages too")
    parser.add_argument("--console-level", choices=_LEVELS, default="INFO", help="console log level (default INFO)")
    add_ignored_torch_flags(parser, TORCH_FLAGS)
    return parser


def load_configuration(args: argparse.Namespace) -> Tuple[TrainingConfig, Optional[str], str, bool]:
    """``(config, requested backend or None, where it was requested, nphotons given?)`` from parsed options.

    Applies ``setup_configuration`` (which updates and seals ``ptycho.params.cfg``); the backend is requested by
    ``--backend`` or the YAML's ``backend`` key, and is set on the config by :func:`main` once chosen.
    """
    yaml_data: Dict[str, Any] = {}
    if args.config:
        loaded = load_yaml_config(Path(args.config))
        yaml_data = loaded if isinstance(loaded, dict) else {}
    requested, source = args.backend, "--backend"
    if requested is None and yaml_data.get("backend") is not None:
        requested, source = str(yaml_data["backend"]), f"backend: in {args.config}"
    config = setup_configuration(argparse.Namespace(**{**vars(args), "backend": None}), args.config)
    return config, requested, source, args.nphotons is not None or "nphotons" in yaml_data


def _sampling(config: TrainingConfig) -> Tuple[Optional[int], Optional[int]]:
    """The original's sampling rule: ``(images to draw, groups to form)``, logged."""
    gridsize = config.model.gridsize
    if config.n_subsample is not None:
        logger.info(
            "Independent sampling: %d images drawn, %s groups of %d formed",
            config.n_subsample,
            config.n_groups,
            gridsize**2,
        )
        return config.n_subsample, config.n_groups
    logger.info("Legacy sampling: --n_groups=%s counts both the images drawn and the groups", config.n_groups)
    return None, config.n_groups


def _with_file_photons(config: TrainingConfig, given: bool) -> TrainingConfig:
    """The config with ``nphotons`` from the training file's metadata, unless ``nphotons`` was given."""
    value = metadata_nphotons(file_metadata(Path(config.train_data_file or "")))
    if value is None or value == config.nphotons:
        return config
    if given:
        logger.warning(
            "Keeping the given nphotons %.3g; the training file's metadata says %.3g", config.nphotons, value
        )
        return config
    logger.info("Overriding nphotons from config (%.1e) with value from dataset metadata: %.1e", config.nphotons, value)
    return dataclasses.replace(config, nphotons=value)


def _train(args: argparse.Namespace, config: TrainingConfig, nphotons_given: bool) -> int:
    from ptycho import model_manager, params
    from ptycho.config.config import update_legacy_dict
    from ptycho.workflows.backend_selector import run_cdi_example_with_backend
    from ptycho.workflows.components import load_data, save_outputs
    from ptycho_core.atomic import atomic_write_bytes

    ignored = given_torch_flags(args, TORCH_FLAGS)
    if ignored:
        logger.warning("Ignoring %s (options of the original's separate PyTorch runner)", ", ".join(ignored))
    n_subsample, n_groups = _sampling(config)
    train_data = load_data(
        str(config.train_data_file),
        n_images=n_groups,
        n_subsample=n_subsample,
        subsample_seed=config.subsample_seed,
    )
    config = _with_file_photons(config, nphotons_given)
    test_data = None
    if config.test_data_file:
        test_data = load_data(str(config.test_data_file))
        logger.info("Loaded test data from %s", config.test_data_file)
    update_legacy_dict(params.cfg, config)
    logger.info("Final configuration: %s", config)
    amplitude, phase, results = run_cdi_example_with_backend(
        train_data, test_data, config, do_stitching=args.do_stitching
    )
    out = Path(config.output_dir)
    model_manager.save(str(out))
    save_outputs(amplitude, phase, results, str(out))
    history = results.get("history") or {}
    if history:
        atomic_write_bytes(out / "history.csv", history_csv(history), "backup")
    write_indices(out, config.subsample_seed, getattr(train_data, "sample_indices", None))
    logger.info("Model saved to %s", out / "wts.h5.zip")
    return 0


def _console_level(args: argparse.Namespace) -> int:
    if args.quiet:
        return logging.WARNING
    if args.verbose:
        return logging.DEBUG
    return int(getattr(logging, args.console_level))


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run ``ptycho_train`` with ``argv`` (default: the command line); returns the exit code."""
    args = build_parser().parse_args(argv)
    try:
        config, requested, source, nphotons_given = load_configuration(args)
    except Exception as exc:  # a missing or malformed YAML file, a bad value in it
        return fail(PROG, f"configuration: {exc}", 1)
    try:
        backend = select_backend(requested, source)
    except ScriptUsageError as exc:
        return fail(PROG, str(exc), 2)
    config.backend = engine_label(backend)
    problems: List[str] = []
    if config.train_data_file is None:
        problems.append("no training data: pass --train_data_file FILE (or train_data_file: in the --config YAML)")
    for name in ("train_data_file", "test_data_file"):
        path = getattr(config, name)
        if path is not None and not Path(path).is_file():
            problems.append(f"{name} not found: {path}")
    if problems:
        return fail(PROG, "; ".join(problems), 1)
    out = Path(config.output_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        return fail(PROG, f"cannot create the output folder {out}: {exc}", 1)
    log_file = out / LOG_NAME
    with script_logging(_console_level(args), log_file):
        logger.info("ptycho_train on the Keras backend %s, writing into %s", backend, out)
        try:
            with contextlib.redirect_stdout(io.StringIO()) if args.quiet else contextlib.nullcontext():
                return _train(args, config, nphotons_given)  # --quiet also drops Keras' progress bars
        except Exception as exc:
            logger.debug("An error occurred during execution: %s", exc, exc_info=True)
            return fail(PROG, f"{type(exc).__name__}: {exc} (traceback in {log_file})", 1)


if __name__ == "__main__":
    raise SystemExit(main())
