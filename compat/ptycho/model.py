"""The original ``ptycho.model`` names that need no network: ``negloglik``, ``complex_gaussian_filter2d``, ``params``.

``params`` is the same callable as :func:`ptycho.params.params` (Ptychodus calls ``ptycho.model.params()``;
the original had lost that attribute). Importing this module builds no model.
"""

from __future__ import annotations

from typing import Any

from ptycho_core import physics as core

from . import params as p
from .gaussian_filter import complex_gaussian_filter2d, gaussian_filter2d

params = p.params

__all__ = ["negloglik", "complex_gaussian_filter2d", "gaussian_filter2d", "params"]


def negloglik(y_true: Any, y_pred: Any):
    """Elementwise Poisson negative log-likelihood without the ``log(y!)`` term: ``exp(log ŷ) - y·log ŷ``.

    Args:
        y_true: measured intensity in counts.
        y_pred: predicted intensity in counts, > 0 (0 gives inf/NaN, as in the original).
    Returns:
        Tensor of the inputs' shape (Keras reduces it to the mean over all elements).
    """
    return core.poisson_nll(y_true, y_pred)
