"""The original ``ptycho.nbutils.reconstruct_image``: run the inference model over a data container."""

from __future__ import annotations

from typing import Any, Optional, Tuple

import numpy as np

__all__ = ["reconstruct_image"]


def reconstruct_image(test_data: Any, diffraction_to_obj: Optional[Any] = None) -> Tuple[np.ndarray, np.ndarray]:
    """``(object patches (B, N, N, 1) complex64, global_offsets (B, 1, 2, 1) float64)`` for a container.

    The model (default: the ``ptycho.model.diffraction_to_obj`` singleton) is fed
    ``[X · cfg['intensity_scale'], local_offsets]``.
    """
    from . import model, params

    if diffraction_to_obj is None:
        diffraction_to_obj = model.diffraction_to_obj
    scaled = np.asarray(test_data.X) * params.params()["intensity_scale"]
    patches = diffraction_to_obj.predict([scaled, np.asarray(test_data.local_offsets)], verbose=0)
    return np.asarray(patches), test_data.global_offsets
