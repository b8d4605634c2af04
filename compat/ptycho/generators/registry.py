"""``resolve_generator(config)``: the generator named by ``config.model.architecture``."""

from __future__ import annotations

from typing import Any, Dict, Type

from .cnn import CnnGenerator

_REGISTRY: Dict[str, Type[CnnGenerator]] = {"cnn": CnnGenerator}

__all__ = ["resolve_generator"]


def resolve_generator(config: Any) -> CnnGenerator:
    """The generator for ``config.model.architecture``; ``ValueError`` for architectures not built here."""
    architecture = config.model.architecture
    if architecture not in _REGISTRY:
        raise ValueError(
            f"Unknown architecture {architecture!r}. Available: {sorted(_REGISTRY)} "
            f"(the FNO variants of the original are not part of this package)"
        )
    return _REGISTRY[architecture](config)
