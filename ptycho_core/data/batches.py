"""Training batches: model inputs and the original's three targets, built batch by batch.

For inputs ``X·s`` (normalised amplitudes times the intensity scale, ``(n, N, N, C)``) and positions
``(n, 1, 2, C)``, the targets are ``[center_channels(Y_I, positions)[..., :1], X·s, (X·s)²]``: the
ground-truth amplitude patches (ones without a ground truth), the predicted-amplitude target and the intensity
target in counts. :class:`TrainingBatches` (a ``keras.utils.PyDataset``) builds them one batch at a time, so
memory does not grow with the data; every training path (the engine's in-memory and streaming fits, the
``ptycho`` containers' ``as_dataset``) uses it or :func:`make_targets`.
"""

from __future__ import annotations

import math
from typing import Any, List, Optional, Tuple, Union

import keras
import numpy as np
from keras import ops

from ..physics.patches import center_channels
from ..types import ArrayLike

__all__ = ["TrainingBatches", "make_targets"]

Shuffler = Union[np.random.Generator, np.random.RandomState]


def make_targets(x_scaled: ArrayLike, positions: ArrayLike, y_amplitude: Optional[ArrayLike] = None) -> List:
    """``[centred Y_I[..., :1], X·s, (X·s)²]`` as float32 NumPy arrays (``Y_I`` ones when None)."""
    x_scaled = np.asarray(x_scaled, np.float32)
    if y_amplitude is None:
        y_centered = np.ones(x_scaled.shape[:3] + (1,), np.float32)
    else:
        y_centered = np.asarray(
            ops.convert_to_numpy(
                center_channels(np.asarray(y_amplitude, np.float32), np.asarray(positions, np.float32))
            )
        )[..., :1]
    return [y_centered, x_scaled, np.square(x_scaled)]


class TrainingBatches(keras.utils.PyDataset):
    """Batches ``((X·s, positions), targets)`` of ``x``; the order is reshuffled every epoch.

    Args:
        x: ``(n, N, N, C)`` amplitudes; each batch is multiplied by ``scale`` in float32 (1: already scaled).
        positions: ``(n, 1, 2, C)`` model position input.
        y_amplitude: ``(n, N, N, C)`` ground-truth amplitudes or None.
        batch_size: samples per batch (the last batch may be smaller).
        shuffle: reshuffle the order at the start and after every epoch with ``rng.shuffle``.
        rng: a NumPy ``Generator`` or ``RandomState`` (the ``ptycho`` face passes NumPy's global one, as the
            original shuffled with ``np.random.shuffle``); default ``np.random.default_rng(seed)``.
        seed: seed of the default generator.
    """

    def __init__(
        self,
        x: np.ndarray,
        positions: np.ndarray,
        y_amplitude: Optional[np.ndarray],
        batch_size: int,
        *,
        scale: float = 1.0,
        shuffle: bool = True,
        rng: Optional[Shuffler] = None,
        seed: int = 0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if int(batch_size) != batch_size or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer; got {batch_size!r}")
        self.x, self.positions, self.y = x, positions, y_amplitude
        self.batch_size, self.shuffle = int(batch_size), bool(shuffle)
        self.scale = np.float32(scale)
        self._rng: Shuffler = rng if rng is not None else np.random.default_rng(seed)
        self._order = np.arange(len(x))
        self.on_epoch_end()

    def __len__(self) -> int:
        return math.ceil(len(self.x) / self.batch_size)

    def __getitem__(self, index: int) -> Tuple[Tuple[np.ndarray, np.ndarray], Tuple[np.ndarray, ...]]:
        if not 0 <= index < len(self):
            raise IndexError(f"batch {index} out of range ({len(self)} batches)")
        rows = self._order[index * self.batch_size : (index + 1) * self.batch_size]
        x = np.asarray(self.x[rows], np.float32)
        if self.scale != 1:
            x = (self.scale * x).astype(np.float32, copy=False)
        pos = np.asarray(self.positions[rows], np.float32)
        y = None if self.y is None else np.asarray(self.y[rows], np.float32)
        return (x, pos), tuple(make_targets(x, pos, y))

    def on_epoch_end(self) -> None:
        if self.shuffle:
            self._rng.shuffle(self._order)

    def take(self, count: int):
        """The first ``count`` batches (as ``tf.data.Dataset.take``)."""
        for index in range(min(int(count), len(self))):
            yield self[index]
