"""Keras layers wrapping the physics functions, serialisable and registered under package ``ptycho``."""

from .translation import Translation

__all__ = ["Translation"]
