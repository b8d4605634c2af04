"""The bridge from the configuration dataclasses to the legacy ``ptycho.params.cfg`` dict, and YAML loading.

Part of :mod:`ptycho.config.config`, which re-exports every name here (import them from there): ``KEY_MAPPINGS``,
``dataclass_to_legacy_dict``, ``update_legacy_dict`` and ``load_yaml_config`` are described in its docstring.
Imports only the standard library (PyYAML lazily, inside :func:`load_yaml_config`).
"""

from dataclasses import asdict
from pathlib import Path
from typing import Any, Dict

__all__ = ["KEY_MAPPINGS", "dataclass_to_legacy_dict", "load_yaml_config", "update_legacy_dict"]

#: dataclass field name -> key used in the legacy ``ptycho.params.cfg`` dictionary
KEY_MAPPINGS: Dict[str, str] = {
    "object_big": "object.big",
    "probe_big": "probe.big",
    "probe_mask": "probe.mask",
    "probe_trainable": "probe.trainable",
    "intensity_scale_trainable": "intensity_scale.trainable",
    "positions_provided": "positions.provided",
    "output_dir": "output_prefix",
    "train_data_file": "train_data_file_path",
    "test_data_file": "test_data_file_path",
}


def load_yaml_config(path: Path) -> Dict[str, Any]:
    """Parse a YAML file with ``yaml.safe_load`` (an empty file gives ``None``).

    Raises the same exception type as the failure (``OSError`` subclass or ``yaml.YAMLError`` subclass) with the
    message prefixed by ``"Failed to load config from <path>: "``, and ``ImportError`` when PyYAML is missing.
    """
    try:
        import yaml
    except ImportError as exc:
        raise ImportError("load_yaml_config needs PyYAML, which is not installed: pip install pyyaml") from exc
    try:
        with open(path) as handle:
            return yaml.safe_load(handle)
    except (OSError, yaml.YAMLError) as exc:
        raise type(exc)(f"Failed to load config from {path}: {exc}") from exc


def dataclass_to_legacy_dict(obj: Any) -> Dict[str, Any]:
    """Flatten a config dataclass into a dict keyed by legacy ``cfg`` names (see the module docstring)."""
    flat = asdict(obj)  # deep copy; a nested ModelConfig becomes a dict
    if "model" in flat:
        flat.update(flat.pop("model"))  # model fields land at the top level (they win on a clash)
    for field_name, legacy_key in KEY_MAPPINGS.items():
        if field_name in flat:
            value = flat.pop(field_name)
            flat[legacy_key] = str(value) if isinstance(value, Path) else value
    return flat


def update_legacy_dict(cfg: Dict[str, Any], dataclass_obj: Any) -> None:
    """Write the config's values into the legacy dict ``cfg`` in place (``None`` values are skipped).

    Call it before any data loading or grouping: legacy code reads ``N``, ``gridsize``, ... from ``cfg``.
    """
    for key, value in dataclass_to_legacy_dict(dataclass_obj).items():
        if value is None:
            continue
        cfg[key] = str(value) if isinstance(value, Path) else value
