"""``ProbeIllumination``: multiply object patches by the probe; the probe is two real Keras weights."""

from __future__ import annotations

from typing import Any, Optional

import keras
import numpy as np
from keras import ops

from ..physics.complex import complex_from_parts
from ..physics.probe import default_probe, illuminate
from ..physics.probe import probe_mask as disc_mask
from ..types import ArrayLike, Tensor
from ._base import first, pop_dtype, register


@register
class ProbeIllumination(keras.layers.Layer):
    """``[patches (n,N,N,1) complex]`` → ``(P·O [smoothed, masked], probe (1,1,N,N,1))``.

    The probe is stored as ``probe_real`` and ``probe_imag`` float32 weights of shape ``(1, N, N, 1)``
    (trainable when ``probe_trainable``; the original never trains it). Without ``initial_probe`` the layer starts
    from the un-normalised default probe, as the original's factory does when no probe of size N is set.

    Args:
        initial_probe: complex ``(N,N)``, ``(N,N,1)`` or ``(1,N,N,1)``.
        N: probe size.
        probe_mask: multiply the exit wave by the disc mask of radius ``N//4``.
        smoothing_sigma: σ (pixels) of the 3×3 Gaussian smoothing of the exit wave; 0 disables it.
        probe_trainable: train the probe.
    """

    def __init__(
        self,
        name: Optional[str] = None,
        initial_probe: Optional[Tensor] = None,
        N: Optional[int] = None,
        probe_mask: bool = False,
        smoothing_sigma: float = 0.0,
        probe_trainable: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(name=name, **pop_dtype(kwargs))
        if initial_probe is None:
            if N is None:
                raise ValueError("ProbeIllumination needs N or an initial_probe")
            initial = default_probe(int(N)).astype(np.complex64)
        else:
            initial = np.asarray(
                ops.convert_to_numpy(initial_probe) if ops.is_tensor(initial_probe) else initial_probe
            ).astype(np.complex64)
        initial = np.squeeze(initial)
        if initial.ndim != 2 or initial.shape[0] != initial.shape[1]:
            given = () if initial_probe is None else np.shape(initial_probe)
            raise ValueError(f"initial_probe must be square (N, N[, 1]); got shape {given}")
        if N is not None and initial.shape[0] != int(N):
            raise ValueError(f"initial_probe has size {initial.shape[0]} but N={N}; give a probe of size N")
        self.N = int(initial.shape[0])
        self.use_probe_mask = bool(probe_mask)
        self.smoothing_sigma = float(smoothing_sigma)
        self.probe_trainable = bool(probe_trainable)
        shape = (1, self.N, self.N, 1)
        self.probe_real = self.add_weight(
            shape=shape, name="probe_real", trainable=self.probe_trainable, initializer="zeros"
        )
        self.probe_imag = self.add_weight(
            shape=shape, name="probe_imag", trainable=self.probe_trainable, initializer="zeros"
        )
        self.set_probe(initial)
        self._mask = disc_mask(self.N)[..., None].astype(np.float32)

    def probe(self):
        """The probe as complex64 ``(1, N, N, 1)``."""
        return complex_from_parts(self.probe_real, self.probe_imag)

    def set_probe(self, probe: ArrayLike) -> None:
        """Overwrite the probe weights with a complex ``(N, N[, 1])`` array."""
        arr = np.squeeze(np.asarray(probe)).astype(np.complex64)
        if arr.shape != (self.N, self.N):
            raise ValueError(f"probe must have shape ({self.N}, {self.N}[, 1]); got {np.shape(probe)}")
        self.probe_real.assign(arr.real[None, :, :, None])
        self.probe_imag.assign(arr.imag[None, :, :, None])

    def call(self, inputs):
        x = first(inputs)
        probe = self.probe()
        mask = self._mask if self.use_probe_mask else None
        psi = illuminate(x, probe, mask=mask, smoothing_sigma=self.smoothing_sigma)
        if self.use_probe_mask:
            probe = probe * ops.cast(ops.convert_to_tensor(self._mask[None]), "complex64")
        return psi, ops.expand_dims(probe, 0)

    def compute_output_spec(self, inputs):
        x = first(inputs)
        return (
            keras.KerasTensor(x.shape, dtype="complex64"),
            keras.KerasTensor((1, 1, self.N, self.N, 1), dtype="complex64"),
        )

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "N": self.N,
            "probe_mask": self.use_probe_mask,
            "smoothing_sigma": self.smoothing_sigma,
            "probe_trainable": self.probe_trainable,
        }
