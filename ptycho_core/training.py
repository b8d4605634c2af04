"""Training of the autoencoder: the original's targets, validation split, callbacks; streaming for large data.

Inputs are ``X·s`` (normalised amplitudes times the intensity scale, ``(n, N, N, C)``) and positions
``(n, 1, 2, C)``. Targets are ``[center_channels(Y_I, positions)[..., :1], X·s, (X·s)²]`` (ground-truth amplitude
patches or ones, predicted-amplitude target, intensity target in counts).

* In memory (``n <= streaming_threshold``): ``fit`` with ``validation_split`` (Keras takes the LAST fraction of
  the samples, before shuffling), ``ReduceLROnPlateau(val_loss, 0.5, patience 2, min 1e-4)`` and
  ``EarlyStopping(loss, patience 3)``.
* Streaming (``n > streaming_threshold``): :class:`~ptycho_core.data.batches.TrainingBatches` builds each
  batch's targets on the fly, so memory does not grow with the data; no validation (as in the original), so
  no plateau schedule.

Any batch size works: reassembly is per sample.
"""

from __future__ import annotations

import logging
from typing import Any, Dict, List, Optional, Sequence

import keras
import numpy as np

from .data.batches import TrainingBatches, make_targets

__all__ = ["LossLogger", "STREAMING_THRESHOLD", "default_callbacks", "make_targets", "train"]

STREAMING_THRESHOLD = 10_000

logger = logging.getLogger(__name__)


class LossLogger(keras.callbacks.Callback):
    """Logs each epoch's losses (training and ``val_*``) at INFO on ``ptycho_core.training``.

    Host applications (Ptychodus) see training progress through the standard ``logging`` tree even when the
    progress bar is off; the same numbers end up in the returned history dict.
    """

    def __init__(self, epochs: Optional[int] = None) -> None:
        super().__init__()
        self.epochs = epochs

    def on_epoch_end(self, epoch: int, logs: Optional[Dict[str, Any]] = None) -> None:
        shown = ", ".join(
            f"{key}={float(value):.6g}"
            for key, value in sorted((logs or {}).items())
            if key == "loss" or key == "val_loss" or key.endswith("_loss")
        )
        total = f"/{self.epochs}" if self.epochs else ""
        logger.info("epoch %d%s: %s", epoch + 1, total, shown)


def _check_inputs(x_scaled: np.ndarray, positions: np.ndarray) -> None:
    if x_scaled.ndim != 4:
        raise ValueError(f"x_scaled must have shape (n, N, N, C); got {x_scaled.shape}")
    expected = (x_scaled.shape[0], 1, 2, x_scaled.shape[3])
    if positions.shape != expected:
        raise ValueError(f"positions must have shape {expected} (n, 1, 2, C); got {positions.shape}")
    if not np.all(np.isfinite(x_scaled)):
        raise ValueError("x_scaled contains NaN or inf; mask or drop those diffraction patterns before training")


def default_callbacks(
    has_validation: bool, verbose: int, epochs: Optional[int] = None
) -> List[keras.callbacks.Callback]:
    """The original's schedule: ReduceLROnPlateau on val_loss (if validating) and EarlyStopping on loss."""
    callbacks: List[keras.callbacks.Callback] = []
    if has_validation:
        callbacks.append(
            keras.callbacks.ReduceLROnPlateau(
                monitor="val_loss", factor=0.5, patience=2, min_lr=1e-4, verbose=1 if verbose else 0
            )
        )
    callbacks.append(keras.callbacks.EarlyStopping(monitor="loss", patience=3))
    callbacks.append(LossLogger(epochs))
    return callbacks


def train(
    autoencoder: keras.Model,
    x_scaled: np.ndarray,
    positions: np.ndarray,
    *,
    epochs: int,
    batch_size: int = 16,
    y_amplitude: Optional[np.ndarray] = None,
    validation_split: float = 0.05,
    verbose: int = 1,
    streaming_threshold: int = STREAMING_THRESHOLD,
    shuffle: bool = True,
    callbacks: Sequence[keras.callbacks.Callback] = (),
    seed: int = 0,
) -> Dict[str, List[float]]:
    """Fit a compiled autoencoder; returns the Keras history dict (``loss``, per-output losses, ``val_*``).

    Args:
        autoencoder: compiled model from :func:`ptycho_core.factory.create_compiled_models`.
        x_scaled: ``(n, N, N, C)`` inputs ``X·s``.
        positions: ``(n, 1, 2, C)`` relative positions.
        epochs, batch_size: as in Keras.
        y_amplitude: optional ``(n, N, N, C)`` ground-truth amplitude patches (real-space target).
        validation_split: fraction taken from the END of the data (in-memory mode only).
        verbose: 0 silent, 1 progress bar, 2 one line per epoch.
        streaming_threshold: above this many samples, stream batches instead of holding all targets.
        callbacks: extra callbacks, after the original's two.
    """
    x_scaled = np.asarray(x_scaled, np.float32)
    positions = np.asarray(positions, np.float32)
    _check_inputs(x_scaled, positions)
    if int(batch_size) < 1:
        raise ValueError(f"batch_size must be >= 1; got {batch_size}")
    n = len(x_scaled)
    if n > streaming_threshold:
        data = TrainingBatches(x_scaled, positions, y_amplitude, batch_size, shuffle=shuffle, seed=seed)
        history = autoencoder.fit(
            data, epochs=epochs, verbose=verbose, callbacks=default_callbacks(False, verbose, epochs) + list(callbacks)
        )
        return dict(history.history)
    has_validation = validation_split > 0 and n - int(n * (1 - validation_split)) > 0
    history = autoencoder.fit(
        [x_scaled, positions],
        make_targets(x_scaled, positions, y_amplitude),
        batch_size=int(batch_size),
        epochs=epochs,
        verbose=verbose,
        shuffle=shuffle,
        validation_split=validation_split if has_validation else 0.0,
        callbacks=default_callbacks(has_validation, verbose, epochs) + list(callbacks),
    )
    return dict(history.history)
