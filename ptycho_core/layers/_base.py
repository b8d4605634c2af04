"""Shared plumbing for the ptycho layers: registration under the original package name and dtype handling."""

from __future__ import annotations

from typing import Any, Sequence, Union

import keras

from ..types import Tensor

PACKAGE = "ptycho"


def register(cls):
    """Register ``cls`` as ``ptycho>ClassName`` (the name the original's saved configs use)."""
    return keras.saving.register_keras_serializable(package=PACKAGE)(cls)


def pop_dtype(kwargs: dict, default: Any = None) -> dict:
    """Drop a saved ``dtype`` entry (the original stores complex64 policies); use ``default`` instead."""
    kwargs = dict(kwargs)
    kwargs.pop("dtype", None)
    if default is not None:
        kwargs["dtype"] = default
    return kwargs


def first(inputs: Union[Tensor, Sequence[Tensor]]) -> Tensor:
    """The original's layers take a one-element list ``[x]``; accept that or a bare tensor."""
    if isinstance(inputs, (list, tuple)):
        if len(inputs) != 1:
            raise ValueError(f"expected one input tensor, got {len(inputs)}")
        return inputs[0]
    return inputs
