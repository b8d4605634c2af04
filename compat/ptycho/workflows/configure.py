"""Configuration entry points of the original's ``ptycho.workflows.components`` (re-exported there):
``update_config_from_dict``, ``parse_arguments``, ``setup_configuration``.

``parse_arguments`` leaves options that were not given at ``None``, so a YAML file's values are not overridden by
command-line defaults (README: differences).
"""

from __future__ import annotations

import argparse
import logging
import typing
from dataclasses import MISSING, fields
from pathlib import Path
from typing import Any, Dict, Optional, Sequence, Tuple, Union

from ptycho import params
from ptycho.config.config import ModelConfig, TrainingConfig, load_yaml_config, update_legacy_dict

logger = logging.getLogger("ptycho.workflows.components")

__all__ = ["update_config_from_dict", "parse_arguments", "setup_configuration"]


def _config_defaults() -> Tuple[Dict[str, Any], Dict[str, Any]]:
    model_defaults = {f.name: f.default for f in fields(ModelConfig)}
    training_defaults = {f.name: f.default for f in fields(TrainingConfig) if f.name != "model"}
    return model_defaults, training_defaults


def update_config_from_dict(config_updates: Dict[str, Any]) -> TrainingConfig:
    """Build configs from the defaults plus ``config_updates`` and apply them to ``params.cfg`` (notebooks).

    Unknown keys are logged and ignored. Returns the ``TrainingConfig`` (the original returned None).
    """
    model_defaults, training_defaults = _config_defaults()
    model_args, training_args = {}, {}
    for key, value in config_updates.items():
        if key in model_defaults:
            model_args[key] = value
        elif key in training_defaults:
            training_args[key] = value
        else:
            logger.warning("Configuration key %r is not a recognized parameter.", key)
    if training_args.get("train_data_file") is None:
        training_args["train_data_file"] = Path("dummy_path.npz")
    config = TrainingConfig(model=ModelConfig(**model_args), **training_args)
    update_legacy_dict(params.cfg, config)
    logger.info("Configuration updated programmatically for interactive session.")
    return config


def _optional_inner(annotation: Any) -> Any:
    if typing.get_origin(annotation) is Union:
        inner = [a for a in typing.get_args(annotation) if a is not type(None)]
        return inner[0] if inner else str
    return annotation


def _add_field_argument(parser: argparse.ArgumentParser, name: str, annotation: Any, help_text: str) -> None:
    annotation = _optional_inner(annotation)
    if typing.get_origin(annotation) is typing.Literal:
        parser.add_argument(
            f"--{name}", type=str, choices=list(typing.get_args(annotation)), default=None, help=help_text
        )
    elif annotation is bool:
        parser.add_argument(
            f"--{name}",
            type=lambda v: str(v).lower() in ("1", "true", "yes", "on"),
            default=None,
            metavar="{true,false}",
            help=help_text,
        )
    elif annotation is Path:
        parser.add_argument(f"--{name}", type=Path, default=None, help=help_text)
    elif annotation in (int, float, str):
        parser.add_argument(f"--{name}", type=annotation, default=None, help=help_text)
    else:
        parser.add_argument(f"--{name}", type=str, default=None, help=help_text)


def parse_arguments(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """Command-line options for every ``TrainingConfig`` / ``ModelConfig`` field, plus ``--config`` (YAML) and
    ``--do_stitching``. Options not given stay ``None`` so YAML values are kept."""
    parser = argparse.ArgumentParser(description="PtychoPINN training (non-grid CDI)")
    parser.add_argument("--config", type=str, help="Path to YAML configuration file")
    parser.add_argument(
        "--do_stitching",
        action="store_true",
        default=False,
        help="Perform image stitching after training (default: False)",
    )
    model_hints = typing.get_type_hints(ModelConfig)
    for field in fields(ModelConfig):
        _add_field_argument(parser, field.name, model_hints[field.name], f"Model parameter (default {field.default!r})")
    training_hints = typing.get_type_hints(TrainingConfig)
    for field in fields(TrainingConfig):
        if field.name != "model":
            default = None if field.default is MISSING else field.default
            _add_field_argument(
                parser, field.name, training_hints[field.name], f"Training parameter (default {default!r})"
            )
    return parser.parse_args(argv)


def setup_configuration(args: argparse.Namespace, yaml_path: Optional[Union[str, Path]]) -> TrainingConfig:
    """Merge defaults, a YAML file and CLI arguments (CLI wins where given) into a ``TrainingConfig``.

    ``params.cfg`` is updated from it and then sealed, as in the original.
    """
    params.unseal()
    merged: Dict[str, Any] = dict(load_yaml_config(yaml_path) or {}) if yaml_path else {}
    for key, value in vars(args).items():
        if value is not None:
            merged[key] = value
    for key in ("train_data_file", "test_data_file", "output_dir"):
        if merged.get(key) is not None:
            merged[key] = Path(merged[key])
    model_defaults, training_defaults = _config_defaults()
    model_args = {k: v for k, v in merged.items() if k in model_defaults}
    if isinstance(merged.get("model"), dict):
        model_args.update({k: v for k, v in merged["model"].items() if k in model_defaults})
    training_args = {k: v for k, v in merged.items() if k in training_defaults}
    config = TrainingConfig(model=ModelConfig(**model_args), **training_args)
    update_legacy_dict(params.cfg, config)
    params.seal()
    logger.info("Configuration setup complete: %s", config)
    return config
