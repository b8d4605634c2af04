"""``ptycho_inference``: the original PtychoPINN's inference script on this package.

    ptycho_inference --model_path out --test_data data.npz [--output_dir inference_outputs] [--comparison_plot]

``--model_path`` is the folder holding ``wts.h5.zip`` (written by ``ptycho_train``, the original, or ``ptychopinn
train``); the archive's parameters (``N``, ``gridsize``, ...) govern, and ``--config`` reads only the YAML's
``model:`` mapping, as in the original. Every test pattern is used unless ``--n_images`` (images with gridsize 1,
groups with gridsize > 1) or ``--n_subsample`` (images drawn first) says otherwise; grouping uses K = 4 and seed
45, stitching ``M = 20``.

Writes into ``--output_dir``: ``reconstructed_amplitude.png``, ``reconstructed_phase.png``, the arrays
``reconstructed_amplitude.npy`` and ``reconstructed_phase.npy`` (radians), ``inference.log``; with
``--comparison_plot`` and a usable ``objectGuess`` ``comparison_plot.png``; with ``--debug_dump [DIR]`` the
diagnostics in ``debug_dump/`` (or DIR); with ``--subsample_seed`` ``subsample_seed<k>_indices.txt``. Exit codes:
0 done, 1 the run failed (one ``ptycho_inference: error:`` line), 2 a bad option or an unknown or missing backend.
"""

from __future__ import annotations

import argparse
import logging
from dataclasses import fields
from pathlib import Path
from typing import Any, Dict, Optional, Sequence, Tuple

from ptycho.config.config import InferenceConfig, ModelConfig, load_yaml_config, validate_inference_config

from ._common import (
    ScriptUsageError,
    add_ignored_torch_flags,
    engine_label,
    fail,
    given_torch_flags,
    script_logging,
    select_backend,
    write_indices,
)

PROG = "ptycho_inference"
LOG_NAME = "inference.log"
TORCH_FLAGS = ("accelerator", "num-workers", "inference-batch-size")
SEED, NEIGHBOURS, STITCH_M = 45, 4, 20  # the original's fixed grouping seed, K and stitching margin

logger = logging.getLogger("ptycho.scripts.inference")

__all__ = ["build_parser", "load_configuration", "main"]


def build_parser() -> argparse.ArgumentParser:
    """The original's options (hand-written there too), with ``--backend`` open to torch and jax."""
    parser = argparse.ArgumentParser(
        prog=PROG, description="Reconstruct an NPZ scan with a trained PtychoPINN model (the original's script)."
    )
    parser.add_argument("--model_path", required=True, help="folder holding wts.h5.zip")
    parser.add_argument("--test_data", required=True, help="NPZ scan to reconstruct")
    parser.add_argument("--config", default=None, help="YAML file; only its model: mapping is read")
    parser.add_argument("--output_dir", default="inference_outputs", help="output folder (default inference_outputs)")
    parser.add_argument("--debug", action="store_true", help="console: debug messages too")
    parser.add_argument("--comparison_plot", action="store_true", help="also plot against the NPZ's objectGuess")
    parser.add_argument("--n_images", type=int, default=None, help="images (gridsize 1) or groups (gridsize > 1)")
    parser.add_argument("--n_subsample", type=int, default=None, help="images drawn before grouping")
    parser.add_argument("--subsample_seed", type=int, default=None, help="seed of the subsampling")
    parser.add_argument("--phase_vmin", type=float, default=None, help="lower end of the phase colour scale")
    parser.add_argument("--phase_vmax", type=float, default=None, help="upper end of the phase colour scale")
    parser.add_argument(
        "--debug_dump",
        nargs="?",
        const="",
        default=None,
        metavar="DIR",
        help="write patch/offset/canvas diagnostics (default DIR: <output_dir>/debug_dump)",
    )
    parser.add_argument(
        "--backend",
        default=None,
        metavar="{tensorflow,pytorch,torch,jax}",
        help="Keras backend (default: KERAS_BACKEND, else an installed one; pytorch = torch)",
    )
    add_ignored_torch_flags(parser, TORCH_FLAGS)
    return parser


def load_configuration(args: argparse.Namespace) -> InferenceConfig:
    """The :class:`InferenceConfig` of the options (``model:`` of ``--config`` over the defaults), validated:
    ``model_path`` must hold a model (``ValueError`` otherwise)."""
    model_values: Dict[str, Any] = {f.name: f.default for f in fields(ModelConfig)}
    if args.config:
        loaded = load_yaml_config(Path(args.config))
        nested = loaded.get("model") if isinstance(loaded, dict) else None
        if isinstance(nested, dict):
            model_values.update({k: v for k, v in nested.items() if k in model_values})
    config = InferenceConfig(
        model=ModelConfig(**model_values),
        model_path=Path(args.model_path),
        test_data_file=Path(args.test_data),
        n_subsample=args.n_subsample,
        subsample_seed=args.subsample_seed,
        debug=args.debug,
        output_dir=Path(args.output_dir),
    )
    config.n_images = args.n_images  # after construction: this script's n_images is not the deprecated alias
    validate_inference_config(config)
    return config


def _sampling(n_images: Optional[int], n_subsample: Optional[int], gridsize: int) -> Tuple[Optional[int], Any]:
    """``(n_images for load_data, groups wanted or None for all)`` under the model's ``gridsize``."""
    if n_subsample is not None:
        wanted = n_images if n_images is not None else n_subsample
        logger.info("Independent sampling: %d images drawn, %d used (gridsize %d)", n_subsample, wanted, gridsize)
        return None, wanted
    if n_images is None:
        logger.info("Using the full dataset")
        return None, None
    if gridsize == 1:
        logger.info("Using %d individual images (gridsize 1)", n_images)
        return n_images, n_images
    logger.info(
        "--n_images=%d counts groups of %d (gridsize %d); drawn from every image", n_images, gridsize**2, gridsize
    )
    return None, n_images


def _infer(args: argparse.Namespace, config: InferenceConfig) -> int:
    import numpy as np

    from ptycho import loader, nbutils, params, tf_helper
    from ptycho.workflows.backend_selector import load_inference_bundle_with_backend
    from ptycho.workflows.components import load_data, save_outputs
    from ptycho_core.atomic import atomic_write_bytes

    from ._figures import comparison_png, has_reference, image_png, write_debug_dump

    ignored = given_torch_flags(args, TORCH_FLAGS)
    if ignored:
        logger.warning("Ignoring %s (options of the original's separate PyTorch runner)", ", ".join(ignored))
    model, _ = load_inference_bundle_with_backend(config.model_path, config)
    N, gridsize = int(params.cfg["N"]), int(params.cfg.get("gridsize", 1))
    load_images, wanted = _sampling(args.n_images, args.n_subsample, gridsize)
    test_data = load_data(
        str(config.test_data_file),
        n_images=load_images,
        n_subsample=args.n_subsample,
        subsample_seed=args.subsample_seed,
    )
    available = len(test_data.xcoords) // (gridsize**2)
    nsamples = max(1, min(wanted, available) if wanted is not None else available)
    logger.info("Reconstructing %d group(s) of %d pattern(s) of %dx%d", nsamples, gridsize**2, N, N)
    np.random.seed(SEED)  # grouping draws from NumPy's global RNG, as in the original
    grouped = test_data.generate_grouped_data(N, K=NEIGHBOURS, nsamples=nsamples, gridsize=gridsize)
    container = loader.load(lambda: grouped, test_data.probeGuess, which=None, create_split=False)
    patches, global_offsets = nbutils.reconstruct_image(container, diffraction_to_obj=model)
    image = np.asarray(tf_helper.reassemble_position(patches, global_offsets, M=STITCH_M))
    amplitude, phase = np.abs(image), np.angle(image)
    out = Path(config.output_dir)
    save_outputs(amplitude, phase, {}, str(out))
    if args.phase_vmin is not None or args.phase_vmax is not None:
        phase_png = image_png(phase, "viridis", args.phase_vmin, args.phase_vmax)
        atomic_write_bytes(out / "reconstructed_phase.png", phase_png, "replace")
    if args.comparison_plot:
        if has_reference(test_data.objectGuess):
            png = comparison_png(amplitude, phase, test_data.objectGuess, args.phase_vmin, args.phase_vmax)
            atomic_write_bytes(out / "comparison_plot.png", png, "backup")
            logger.info("Comparison plot saved to %s", out / "comparison_plot.png")
        else:
            logger.info("Skipping comparison plot generation: the test data have no usable objectGuess")
    if args.debug_dump is not None:
        folder = Path(args.debug_dump) if args.debug_dump else out / "debug_dump"
        write_debug_dump(folder, np.asarray(patches), np.asarray(global_offsets), image)
        logger.info("Debug diagnostics written to %s", folder)
    write_indices(out, args.subsample_seed, getattr(test_data, "sample_indices", None))
    logger.info("Reconstruction %s written to %s", "x".join(map(str, np.squeeze(amplitude).shape)), out)
    return 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run ``ptycho_inference`` with ``argv`` (default: the command line); returns the exit code."""
    args = build_parser().parse_args(argv)
    try:
        backend = select_backend(args.backend)
    except ScriptUsageError as exc:
        return fail(PROG, str(exc), 2)
    try:
        config = load_configuration(args)
        config.backend = engine_label(backend)
        if not config.test_data_file.is_file():
            raise FileNotFoundError(f"test data not found: {config.test_data_file}")
        config.output_dir.mkdir(parents=True, exist_ok=True)
    except Exception as exc:  # a missing model or data file, a bad YAML file, an unwritable output folder
        return fail(PROG, str(exc), 1)
    log_file = config.output_dir / LOG_NAME
    with script_logging(logging.DEBUG if args.debug else logging.INFO, log_file):
        logger.info("ptycho_inference on the Keras backend %s, writing into %s", backend, config.output_dir)
        try:
            return _infer(args, config)
        except Exception as exc:
            logger.debug("Script execution failed: %s", exc, exc_info=True)
            return fail(PROG, f"{type(exc).__name__}: {exc} (traceback in {log_file})", 1)


if __name__ == "__main__":
    raise SystemExit(main())
