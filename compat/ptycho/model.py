"""The original ``ptycho.model`` API, built on :mod:`ptycho_core.factory` from ``ptycho.params.cfg``.

Importing this module builds no model. The lazily created singletons ``autoencoder``, ``diffraction_to_obj`` and
``autoencoder_no_nll`` appear on first access (with a ``DeprecationWarning``, as in the original) and are
assignable (``ptycho.model.autoencoder = trained`` shadows the lazy attribute; ``model_manager.save`` reads it).

The layer classes ``ProbeIllumination``, ``IntensityScaler`` and ``IntensityScaler_inv`` are thin subclasses of
the :mod:`ptycho_core.layers` ones that, as the original's, take what the caller leaves out from ``params.cfg``
when constructed. Models built here never train the probe or the log intensity scale, whatever cfg says (as in
the original; logged once). Differences from the original: README.md.
"""

from __future__ import annotations

import logging
import warnings
from typing import Any, Dict, Optional, Tuple

import keras
import numpy as np
from keras import ops

from ptycho_core import factory, pipeline, training
from ptycho_core import layers as _layers
from ptycho_core.layers import ActivationLayer  # noqa: F401  (the original exposes it here)
from ptycho_core.losses import negloglik
from ptycho_core.physics.scaling import intensity_scale
from ptycho_core.spec import ModelSpec, spec_from_legacy_params

from . import params as p
from . import probe as _probe
from .gaussian_filter import complex_gaussian_filter2d, gaussian_filter2d

params = p.params
logger = logging.getLogger(__name__)

_lazy_cache: Dict[str, Any] = {}
_model_construction_done = False

__all__ = [
    "params",
    "negloglik",
    "complex_gaussian_filter2d",
    "gaussian_filter2d",
    "ProbeIllumination",
    "IntensityScaler",
    "IntensityScaler_inv",
    "create_model_with_gridsize",
    "create_compiled_model",
    "prepare_inputs",
    "prepare_outputs",
    "train",
    "get_amp_activation",
    "scale",
    "inv_scale",
    "spec_from_cfg",
]


_register = keras.saving.register_keras_serializable(package=__name__)  # "ptycho.model>ProbeIllumination", …
_ignored_trainable_warned: set = set()  # the cfg trainable keys already warned about (once per process)


def _note_ignored_trainable(keys: Tuple[str, ...] = ("probe.trainable", "intensity_scale.trainable")) -> None:
    """Log (once per process and set of keys) that cfg asks to train the probe or the scale, which is ignored."""
    asked = tuple(key for key in keys if p.get(key, False))
    if asked and asked not in _ignored_trainable_warned:
        _ignored_trainable_warned.add(asked)
        # TrainingConfig asks for the scale by default (as the original's did): that alone is only INFO
        level = logging.WARNING if "probe.trainable" in asked else logging.INFO
        logger.log(
            level,
            "params.cfg asks to train %s (%s); ignored: as in the original PtychoPINN, models built by ptycho "
            "never train the probe nor the intensity scale. Training them is an explicit choice: "
            "ptycho_core.spec.ModelSpec(probe_trainable=..., intensity_scale_trainable=...), or on the command "
            "line ptychopinn train --train-probe / --train-intensity-scale",
            " and ".join("the probe" if key == "probe.trainable" else "the intensity scale" for key in asked),
            ", ".join(f"{key}=True" for key in asked),
        )


def spec_from_cfg(gridsize: Optional[int] = None, N: Optional[int] = None) -> ModelSpec:
    """The :class:`~ptycho_core.spec.ModelSpec` that ``params.cfg`` describes (explicit gridsize/N win).

    As in the original, the probe and the intensity scale are never trained: the spec always has
    ``probe_trainable=False, intensity_scale_trainable=False``, whatever ``cfg['probe.trainable']`` and
    ``cfg['intensity_scale.trainable']`` say (one warning per process when cfg asks for either).
    """
    cfg = p.params()
    overrides: Dict[str, Any] = {"probe_trainable": False, "intensity_scale_trainable": False}
    if gridsize is not None:
        overrides["gridsize"] = int(gridsize)
    if N is not None:
        overrides["N"] = int(N)
    _note_ignored_trainable()
    return spec_from_legacy_params(cfg, **overrides)


def _initial_probe(size: int) -> np.ndarray:
    """``cfg['probe']`` when it has size N, else the raw default probe (the original's fallback)."""
    probe = p.cfg.get("probe")
    if probe is not None and np.shape(probe)[0] == size:
        return np.asarray(ops.convert_to_numpy(probe) if ops.is_tensor(probe) else probe)
    return _probe.get_default_probe(size, fmt="np").astype(np.complex64)


def create_model_with_gridsize(gridsize: int, N: int, **kwargs: Any) -> Tuple[keras.Model, keras.Model]:
    """Uncompiled ``(autoencoder, diffraction_to_obj)`` for ``gridsize`` and ``N``.

    ``kwargs`` are cfg keys applied while building (and, as in the original, left in cfg afterwards).
    """
    for key, value in kwargs.items():
        p.cfg[key] = value
    spec = spec_from_cfg(gridsize, N)
    autoencoder, diffraction_to_obj = factory.build_models(spec, probe=_initial_probe(spec.N))
    _lazy_cache["log_scale"] = autoencoder.get_layer("intensity_scaler").log_scale
    return autoencoder, diffraction_to_obj


def create_compiled_model(gridsize: Optional[int] = None, N: Optional[int] = None) -> Tuple[keras.Model, keras.Model]:
    """``create_model_with_gridsize`` compiled with Adam(1e-3) and the cfg loss weights."""
    gridsize = gridsize if gridsize is not None else p.get("gridsize")
    N = N if N is not None else p.get("N")
    autoencoder, diffraction_to_obj = create_model_with_gridsize(gridsize, N)
    jit = bool(p.cfg.get("use_xla_compile", False))
    factory.compile_autoencoder(autoencoder, spec_from_cfg(gridsize, N), jit_compile=jit or "auto")
    return autoencoder, diffraction_to_obj


def _get_log_scale():
    """The log-scale variable of the most recently built model, else a fresh one: ``float32(log s)`` with
    ``s = cfg['intensity_scale']`` (``sqrt(nphotons)/(N/2)`` while unset)."""
    if "log_scale" not in _lazy_cache:
        scale = p.get("intensity_scale", None)
        if scale is None:
            scale = intensity_scale(float(p.get("nphotons")), int(p.get("N")))
        _lazy_cache["log_scale"] = keras.Variable(
            factory.log_scale_of(float(np.asarray(scale))), trainable=False, name="log_scale"
        )
    return _lazy_cache["log_scale"]


@_register
class ProbeIllumination(_layers.ProbeIllumination):
    """The original's layer: ``[patches (n, N, N, 1) complex]`` → ``(ψ, probe (1, 1, N, N, 1))``.

    ``ψ = M · G_σ(P · O)``: the probe ``P`` times the patches, smoothed by the 3×3 Gaussian ``G_σ`` (reflect
    borders; skipped when σ = 0), then multiplied by the disc mask ``M`` (radius ``N//4``) when the mask is on;
    the second output is ``M·P`` (or ``P``). What the caller leaves out (None) is read from ``params.cfg`` at
    construction, as the original does; explicit arguments win:

    * ``N``: the size of ``initial_probe``, else ``cfg['N']``;
    * ``initial_probe``: ``cfg['probe']`` when it has size N, else the un-normalised default probe;
    * ``probe_mask``: ``cfg['probe.mask']``; ``smoothing_sigma``: ``cfg['gaussian_smoothing_sigma']`` (pixels);
    * ``probe_trainable``: False; ``cfg['probe.trainable']`` is logged and ignored (the original's probe
      variable was never trained).
    """

    def __init__(
        self,
        name: Optional[str] = None,
        initial_probe: Optional[Any] = None,
        N: Optional[int] = None,
        probe_mask: Optional[bool] = None,
        smoothing_sigma: Optional[float] = None,
        probe_trainable: Optional[bool] = None,
        **kwargs: Any,
    ) -> None:
        if initial_probe is None:
            N = int(p.get("N")) if N is None else int(N)
            initial_probe = _initial_probe(N)
        if probe_trainable is None:
            _note_ignored_trainable(("probe.trainable",))
        super().__init__(
            name=name,
            initial_probe=initial_probe,
            N=N,
            probe_mask=bool(p.get("probe.mask")) if probe_mask is None else probe_mask,
            smoothing_sigma=float(p.get("gaussian_smoothing_sigma")) if smoothing_sigma is None else smoothing_sigma,
            probe_trainable=False if probe_trainable is None else probe_trainable,
            **kwargs,
        )


def _log_scale_args(log_scale: Optional[float], log_scale_trainable: Optional[bool]) -> Dict[str, Any]:
    """Explicit values, else the value of :func:`_get_log_scale` (as the original's layers) and not trainable."""
    if log_scale is None:
        log_scale = float(ops.convert_to_numpy(_get_log_scale()))
    if log_scale_trainable is None:
        _note_ignored_trainable(("intensity_scale.trainable",))
    return {"log_scale": log_scale, "log_scale_trainable": bool(log_scale_trainable)}


@_register
class IntensityScaler(_layers.IntensityScaler):
    """The original's layer: ``[x]`` → ``x / exp(λ)``.

    Without ``log_scale``, ``λ`` starts from :func:`_get_log_scale` (that of the most recently built model, else
    ``log cfg['intensity_scale']``), as the original's layer uses its process-wide log scale. The weight is not
    trainable unless ``log_scale_trainable=True`` is passed (``cfg['intensity_scale.trainable']`` is ignored).
    """

    def __init__(
        self, log_scale: Optional[float] = None, log_scale_trainable: Optional[bool] = None, **kwargs: Any
    ) -> None:
        super().__init__(**_log_scale_args(log_scale, log_scale_trainable), **kwargs)


@_register
class IntensityScaler_inv(_layers.IntensityScaler_inv):
    """The original's layer: ``[x]`` → ``exp(λ) · x``; ``λ`` as in :class:`IntensityScaler`."""

    def __init__(
        self, log_scale: Optional[float] = None, log_scale_trainable: Optional[bool] = None, **kwargs: Any
    ) -> None:
        super().__init__(**_log_scale_args(log_scale, log_scale_trainable), **kwargs)


def scale(inputs: Any):
    """``[x]`` → ``x / exp(log_scale)``."""
    (x,) = inputs
    return x / ops.exp(_get_log_scale())


def inv_scale(inputs: Any):
    """``[x]`` → ``exp(log_scale) · x``."""
    (x,) = inputs
    return ops.exp(_get_log_scale()) * x


def get_amp_activation():
    """The amplitude activation named by ``cfg['amp_activation']``."""
    name = p.get("amp_activation")
    table = {
        "sigmoid": keras.activations.sigmoid,
        "swish": keras.activations.silu,
        "softplus": keras.activations.softplus,
        "relu": keras.activations.relu,
    }
    if name not in table:
        raise ValueError(f"amp_activation must be one of {sorted(table)}; got {name!r}")
    return table[name]


def prepare_inputs(train_data: Any) -> list:
    """``[X·s, coords]`` with ``s = cfg['intensity_scale']``."""
    return [np.asarray(train_data.X) * p.get("intensity_scale"), np.asarray(train_data.coords)]


def prepare_outputs(train_data: Any) -> list:
    """``[center_channels(Y_I, coords)[..., :1], X·s, (X·s)²]``."""
    x_scaled = np.asarray(train_data.X) * p.get("intensity_scale")
    return training.make_targets(x_scaled, np.asarray(train_data.coords), np.asarray(train_data.Y_I))


class _History:
    """What ``Model.fit`` returns, reduced to the ``history`` dict callers read."""

    def __init__(self, history: Dict[str, list]) -> None:
        self.history = history
        self.epoch = list(range(len(next(iter(history.values()), []))))


def train(
    epochs: int, trainset: Any, model_instance: Optional[keras.Model] = None, use_streaming: Optional[bool] = None
) -> _History:
    """Fit ``model_instance`` (default: the ``autoencoder`` singleton) on a ``PtychoDataContainer``.

    The engine's :func:`ptycho_core.pipeline.fit` with ``cfg['batch_size']``: streaming above 10,000 samples
    unless ``use_streaming`` says otherwise; with ``cfg['n_devices'] > 1`` (``TrainingConfig.n_devices``) data
    parallel (:mod:`ptycho_core.parallel`, in memory).
    """
    model_instance = model_instance if model_instance is not None else __getattr__("autoencoder")
    x_scaled, coords = prepare_inputs(trainset)
    threshold = training.STREAMING_THRESHOLD
    if use_streaming is not None:
        threshold = -1 if use_streaming else max(threshold, len(x_scaled))
    options = pipeline.TrainOptions(
        epochs=int(epochs),
        batch_size=int(p.get("batch_size")),
        devices=int(p.cfg.get("n_devices", 1) or 1),
        verbose=1,
        streaming_threshold=threshold,
        session=_session(),
    )
    spec = spec_from_cfg(N=int(np.shape(x_scaled)[1]))
    multi = options.session is not None
    history = pipeline.fit(
        model_instance,
        spec,
        x_scaled,
        coords,
        options,
        y_amplitude=np.asarray(trainset.Y_I),
        probe=_initial_probe(spec.N) if options.devices > 1 or multi else None,
    )
    return _History(history)


_sessions: Dict[str, Any] = {}  # the process's one multi-process run (the runtimes allow one per process)


def _session() -> Any:
    """The multi-process run of ``cfg`` (``TrainingConfig.coordinator``, ``num_processes``, ``process_id``,
    ``distributed_timeout``) or of the launcher's environment (torchrun, Slurm, TF_CONFIG); None for one process.
    JAX and TensorFlow can join only before they compute anything, so through this API (which builds models
    first) only torch joins; use ``ptychopinn train`` or :mod:`ptycho_core.distributed` for the others."""
    if "session" not in _sessions:
        from ptycho_core.cluster import detect_cluster

        cluster = detect_cluster(
            coordinator=p.cfg.get("coordinator"),
            num_processes=p.cfg.get("num_processes"),
            process_id=p.cfg.get("process_id"),
            timeout_s=p.cfg.get("distributed_timeout"),
        )
        if cluster is None:
            return None
        from ptycho_core.distributed import initialize

        _sessions["session"] = initialize(cluster)
    return _sessions["session"]


def _build_module_level_models() -> None:
    global _model_construction_done
    autoencoder, diffraction_to_obj = create_compiled_model()
    _lazy_cache["autoencoder"] = autoencoder
    _lazy_cache["diffraction_to_obj"] = diffraction_to_obj
    _lazy_cache["autoencoder_no_nll"] = keras.Model(autoencoder.inputs, autoencoder.outputs[1])
    _model_construction_done = True


def __getattr__(name: str) -> Any:
    if name in ("autoencoder", "diffraction_to_obj", "autoencoder_no_nll"):
        if name not in _lazy_cache:
            warnings.warn(
                f"ptycho.model.{name} builds a model from params.cfg on first access; prefer create_compiled_model()",
                DeprecationWarning,
                stacklevel=2,
            )
            _build_module_level_models()
        return _lazy_cache[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
