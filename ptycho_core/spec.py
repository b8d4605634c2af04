"""``ModelSpec``: the frozen, explicit configuration of a PtychoPINN model (no globals)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Dict, Mapping, Optional

import numpy as np

from .original_defaults import ORIGINAL_CFG

AMP_ACTIVATIONS = ("sigmoid", "swish", "softplus", "relu")
SUPPORTED_N = (64, 128, 256)


@dataclass(frozen=True)
class ModelSpec:
    """Everything that shapes the network and its physics.

    Attributes:
        N: patch size in pixels (64, 128 or 256).
        gridsize: patches per group side; ``C = gridsize²`` channels.
        n_filters_scale: multiplies every filter count.
        object_big: reassemble the ``C`` patches of a group onto one canvas (else pad each patch).
        probe_big: add the decoder border branch outside the central ``N/2`` window.
        pad_object: decoders predict the central ``N/2`` window and zero-pad it.
        probe_mask: multiply exit waves by the probe's disc mask.
        amp_activation: amplitude head activation (sigmoid, swish, softplus, relu).
        gaussian_smoothing_sigma: σ (pixels) of the 3×3 smoothing of exit waves; 0 = off.
        offset: the original's grid offset (pixels), enters the canvas size only.
        max_position_jitter: canvas margin (pixels).
        intensity_scale: initial ``s`` (counts scale); the model holds ``log s``.
        intensity_scale_trainable: train ``log s`` (the original never does).
        probe_trainable: train the probe (the original never does).
        mae_weight, nll_weight, realspace_weight, realspace_mae_weight, tv_weight: loss weights.
        init_seed: when set, the convolution kernels start from a NumPy-drawn Glorot-uniform sample of this seed
            (zero biases), identical on every backend; None keeps Keras' (backend-specific) random initialisers.
    """

    N: int = 64
    gridsize: int = 1
    n_filters_scale: int = 2
    object_big: bool = True
    probe_big: bool = True
    pad_object: bool = True
    probe_mask: bool = False
    amp_activation: str = "sigmoid"
    gaussian_smoothing_sigma: float = 0.0
    offset: int = 4
    max_position_jitter: int = 10
    intensity_scale: float = 988.2117919921875
    intensity_scale_trainable: bool = False
    probe_trainable: bool = False
    mae_weight: float = 0.0
    nll_weight: float = 1.0
    realspace_weight: float = 0.0
    realspace_mae_weight: float = 0.0
    tv_weight: float = 0.0
    init_seed: Optional[int] = None

    def __post_init__(self) -> None:
        if self.N not in SUPPORTED_N:
            raise ValueError(f"N must be one of {SUPPORTED_N} (the network's filter lists); got N={self.N}")
        if int(self.gridsize) != self.gridsize or self.gridsize < 1:
            raise ValueError(f"gridsize must be a positive integer; got {self.gridsize!r}")
        if int(self.n_filters_scale) != self.n_filters_scale or self.n_filters_scale < 1:
            raise ValueError(f"n_filters_scale must be a positive integer; got {self.n_filters_scale!r}")
        if self.amp_activation not in AMP_ACTIVATIONS:
            raise ValueError(f"amp_activation must be one of {AMP_ACTIVATIONS}; got {self.amp_activation!r}")
        if (self.padded_size - self.N) % 2:
            raise ValueError(
                f"padded size - N = (gridsize-1)*offset + max_position_jitter must be even; got "
                f"{self.padded_size - self.N} (gridsize={self.gridsize}, offset={self.offset}, "
                f"max_position_jitter={self.max_position_jitter})"
            )
        if not self.intensity_scale > 0:
            raise ValueError(f"intensity_scale must be > 0; got {self.intensity_scale!r}")

    @property
    def channels(self) -> int:
        return self.gridsize**2

    @property
    def padded_size(self) -> int:
        """Canvas size ``P = N + (gridsize-1)·offset + max_position_jitter``."""
        return self.N + (self.gridsize - 1) * self.offset + self.max_position_jitter

    def replace(self, **changes: Any) -> ModelSpec:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: Mapping[str, Any], strict: bool = False) -> ModelSpec:
        """Build from a mapping; unknown keys raise with ``strict``, else are ignored."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(values) - names
        if strict and unknown:
            raise ValueError(f"unknown ModelSpec fields: {sorted(unknown)}")
        return cls(**{k: v for k, v in values.items() if k in names})


#: ModelSpec field → the original's cfg key (the fields not listed keep their names)
LEGACY_KEYS = {
    "object_big": "object.big",
    "probe_big": "probe.big",
    "probe_mask": "probe.mask",
    "intensity_scale_trainable": "intensity_scale.trainable",
    "probe_trainable": "probe.trainable",
}


def spec_from_legacy_params(params: Mapping[str, Any], **overrides: Any) -> ModelSpec:
    """The :class:`ModelSpec` described by the original's ``params.cfg`` keys (``object.big``, ``probe.mask``, …).

    Missing keys take the original's defaults (:data:`ptycho_core.original_defaults.ORIGINAL_CFG`); a missing
    ``intensity_scale`` becomes ``sqrt(nphotons)/(N/2)``. ``overrides`` (ModelSpec field names) win over
    ``params``.
    """
    if "N" not in params and "N" not in overrides:
        raise ValueError("the parameters lack 'N' (the patch size): not a PtychoPINN configuration")

    def get(key: str) -> Any:
        return params.get(key, ORIGINAL_CFG.get(key))

    size = int(overrides["N"] if "N" in overrides else params["N"])
    scale = params.get("intensity_scale")
    if scale is None:
        scale = float(np.float32(np.sqrt(np.float32(float(get("nphotons")))) / (size / 2)))
    values: Dict[str, Any] = {}
    for field in dataclasses.fields(ModelSpec):
        if field.name in ("N", "intensity_scale", "init_seed"):
            continue
        value = get(LEGACY_KEYS.get(field.name, field.name))
        if value is None:
            value = field.default
        values[field.name] = {"int": int, "bool": bool, "float": float, "str": str}[str(field.type)](value)
    init_seed = params.get("init_seed")
    values.update(
        N=size, intensity_scale=float(np.asarray(scale)), init_seed=None if init_seed is None else int(init_seed)
    )
    values.update(overrides)
    return ModelSpec(**values)


def legacy_params_from_spec(spec: ModelSpec, known: Optional[Mapping[str, Any]] = None) -> Dict[str, Any]:
    """The original's cfg for ``spec``: its defaults (:data:`~ptycho_core.original_defaults.ORIGINAL_CFG`), then
    the ``known`` parameters (e.g. the training's ``nphotons``, ``probe_scale``, ``probe``), then the spec's own
    keys, which win: the parameters an archive stores so the ``ptycho`` face and Ptychodus read the model back."""
    params = dict(ORIGINAL_CFG)
    params.update(known or {})
    for field, value in spec.to_dict().items():
        if value is not None:
            params[LEGACY_KEYS.get(field, field)] = value
    return params


def filter_lists(spec: ModelSpec) -> tuple[list[int], list[int]]:
    """Encoder and decoder filter counts for N (the original's lists, scaled by ``n_filters_scale``)."""
    n = spec.n_filters_scale
    encoder = {64: [32, 64, 128], 128: [16, 32, 64, 128], 256: [8, 16, 32, 64, 128]}[spec.N]
    decoder = {64: [64, 32], 128: [128, 64, 32], 256: [256, 128, 64, 32]}[spec.N]
    return [n * f for f in encoder], [n * f for f in decoder]


def resolution_scale_factor(size: int) -> int:
    """Border-branch filter factor ``2048 // N`` (N a power of two in [64, 1024])."""
    if size < 64 or size > 1024 or size & (size - 1):
        raise ValueError(f"N must be a power of two between 64 and 1024; got {size}")
    return 2048 // size


def spec_or_default(spec: Optional[ModelSpec]) -> ModelSpec:
    return spec if spec is not None else ModelSpec()
