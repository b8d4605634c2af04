"""Named type aliases for ptycho_core's signatures (annotations only: nothing here is checked at run time).

The engine runs on whichever Keras backend is active, so its tensors have no single static type; :data:`Tensor`
names them instead of a bare ``Any``. :data:`ArrayLike` (NumPy's) names host data that a function converts with
``np.asarray``; :data:`PathLike` a file-system path. This module imports no framework.
"""

from __future__ import annotations

import os
from typing import Any, Union

from numpy.typing import ArrayLike

#: A tensor of the active Keras backend (``torch.Tensor``, ``tf.Tensor``, ``jax.Array``) or a NumPy array
#: accepted by ``keras.ops`` (nested lists and Python numbers are usually accepted too). An alias of ``Any``:
#: the backend is chosen at run time, so no static type covers all of them.
Tensor = Any

#: A file-system path: a string or an ``os.PathLike`` such as :class:`pathlib.Path`.
PathLike = Union[str, os.PathLike[str]]

__all__ = ["ArrayLike", "PathLike", "Tensor"]
