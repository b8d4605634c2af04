"""Configuration entry points of the original's ``ptycho.workflows.components`` (re-exported there):
``update_config_from_dict``, ``parse_arguments``, ``setup_configuration``.

``parse_arguments`` leaves options that were not given at ``None``, so a YAML file's values are not overridden by
command-line defaults; bool options parse their text (``--probe_mask false`` is False), ``--N`` takes a number and
``Optional`` options their inner type; ``setup_configuration`` lets a given option beat the YAML's nested
``model:`` mapping (README: differences). The ``ptycho_train`` script builds its parser from the same helpers.
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


_TRUE_WORDS = ("1", "true", "t", "yes", "y", "on")
_FALSE_WORDS = ("", "0", "false", "f", "no", "n", "off")


def _parse_bool(text: str) -> bool:
    """A command-line truth value: ``true/false``, ``yes/no``, ``on/off``, ``1/0`` (any case; ``""`` is False).

    Anything else raises ``argparse.ArgumentTypeError`` (argparse reports it and exits with code 2). The original
    used ``type=bool``, under which every non-empty text, ``"False"`` included, meant True.
    """
    word = str(text).strip().lower()
    if word in _TRUE_WORDS:
        return True
    if word in _FALSE_WORDS:
        return False
    raise argparse.ArgumentTypeError(f"invalid bool value: {text!r} (use true or false)")


def _add_field_argument(parser: argparse.ArgumentParser, name: str, annotation: Any, help_text: str) -> None:
    annotation = _optional_inner(annotation)
    if typing.get_origin(annotation) is typing.Literal:
        choices = list(typing.get_args(annotation))
        kinds = {type(choice) for choice in choices}
        kind = kinds.pop() if len(kinds) == 1 else str  # int choices (N) parse as int; the original used str
        parser.add_argument(f"--{name}", type=kind, choices=choices, default=None, help=help_text)
    elif annotation is bool:
        parser.add_argument(
            f"--{name}",
            type=_parse_bool,
            nargs="?",
            const=True,
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


def _add_config_arguments(parser: argparse.ArgumentParser, skip: Sequence[str] = ()) -> None:
    """Add ``--config``, ``--do_stitching`` and one option per ``ModelConfig`` / ``TrainingConfig`` field (except
    those named in ``skip``) to ``parser``; field options default to ``None`` (not given)."""
    parser.add_argument("--config", type=str, help="Path to YAML configuration file")
    parser.add_argument(
        "--do_stitching",
        action="store_true",
        default=False,
        help="Perform image stitching after training (default: False)",
    )
    model_hints = typing.get_type_hints(ModelConfig)
    for field in fields(ModelConfig):
        if field.name not in skip:
            help_text = f"Model parameter (default {field.default!r})"
            _add_field_argument(parser, field.name, model_hints[field.name], help_text)
    training_hints = typing.get_type_hints(TrainingConfig)
    for field in fields(TrainingConfig):
        if field.name != "model" and field.name not in skip:
            default = None if field.default is MISSING else field.default
            help_text = f"Training parameter (default {default!r})"
            _add_field_argument(parser, field.name, training_hints[field.name], help_text)


def parse_arguments(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """Command-line options for every ``TrainingConfig`` / ``ModelConfig`` field, plus ``--config`` (YAML) and
    ``--do_stitching``. Options not given stay ``None`` so YAML values are kept."""
    parser = argparse.ArgumentParser(description="PtychoPINN training (non-grid CDI)")
    _add_config_arguments(parser)
    return parser.parse_args(argv)


def setup_configuration(args: argparse.Namespace, yaml_path: Optional[Union[str, Path]]) -> TrainingConfig:
    """Merge defaults, a YAML file and CLI arguments into a ``TrainingConfig``.

    Precedence, lowest first: the dataclass defaults, the YAML file's top-level keys, its nested ``model:``
    mapping, then every argument that is not ``None`` (given on the command line). Unknown YAML keys are logged
    and ignored. ``params.cfg`` is updated from the result and then sealed, as in the original.
    """
    params.unseal()
    loaded = load_yaml_config(Path(yaml_path)) if yaml_path else None
    if loaded is not None and not isinstance(loaded, dict):
        raise ValueError(f"{yaml_path}: a configuration file must hold a mapping of keys, not {type(loaded).__name__}")
    yaml_data: Dict[str, Any] = dict(loaded or {})
    given = {key: value for key, value in vars(args).items() if value is not None}
    merged = {**yaml_data, **given}
    for key in ("train_data_file", "test_data_file", "output_dir"):
        if merged.get(key) is not None:
            merged[key] = Path(merged[key])
    model_defaults, training_defaults = _config_defaults()
    unknown = sorted(set(yaml_data) - set(model_defaults) - set(training_defaults) - {"model"})
    nested = yaml_data.get("model")
    if isinstance(nested, dict):
        unknown += sorted(f"model.{key}" for key in set(nested) - set(model_defaults))
    if unknown:
        logger.warning("Ignoring unknown configuration key(s) in %s: %s", yaml_path, ", ".join(unknown))
    model_args = {k: v for k, v in yaml_data.items() if k in model_defaults}
    if isinstance(nested, dict):
        model_args.update({k: v for k, v in nested.items() if k in model_defaults})
    model_args.update({k: v for k, v in given.items() if k in model_defaults})
    training_args = {k: v for k, v in merged.items() if k in training_defaults}
    config = TrainingConfig(model=ModelConfig(**model_args), **training_args)
    update_legacy_dict(params.cfg, config)
    params.seal()
    logger.info("Configuration setup complete: %s", config)
    return config
