"""Model factory: ``autoencoder`` and ``diffraction_to_obj`` from an explicit :class:`ModelSpec`.

Graph (names are the original's)::

    input (B,N,N,C) ─ intensity_scaler (÷e^λ) ─ encoder/decoders ─ obj (complex)
    obj, input_positions (B,1,2,C) ─ padded_obj_2 (reassembly or padding, (B,P,P,1)) ─ trimmed_obj (B,N,N,1)
    padded_obj_2 ─ padded_objs_with_offsets (B·C,N,N,1) ─ probe_illumination ─ pred_amplitude
      ─ pred_diff_channels (B,N,N,C) ─ intensity_scaler_inv (×e^λ) ─ pred_intensity (square)

``autoencoder`` outputs ``[trimmed_obj, intensity_scaler_inv, pred_intensity]``; ``diffraction_to_obj`` outputs
``trimmed_obj`` (complex64). λ and the probe are real Keras weights (one shared λ).
"""

from __future__ import annotations

import zlib
from typing import Dict, Optional, Tuple, Union

import keras
import numpy as np

from .layers import (
    CombineComplexLayer,
    ExtractPatchesPositionLayer,
    FlatToChannelLayer,
    IntensityScaler,
    IntensityScaler_inv,
    PadAndDiffractLayer,
    PadReconstructionLayer,
    ProbeIllumination,
    ReassemblePatchesLayer,
    SquareLayer,
    TrimReconstructionLayer,
    tie_log_scale,
)
from .losses import RealspaceLoss, negloglik
from .network import build_network
from .spec import ModelSpec
from .types import Tensor

OUTPUT_NAMES = ("trimmed_obj", "intensity_scaler_inv", "pred_intensity")


def log_scale_of(intensity_scale: float) -> float:
    """``float32(log s)``, the initial value of the log-scale weight."""
    return float(np.float32(np.log(np.float32(intensity_scale))))


def build_models(spec: ModelSpec, probe: Optional[Tensor] = None) -> Tuple[keras.Model, keras.Model]:
    """Build (uncompiled) ``autoencoder`` and ``diffraction_to_obj`` sharing all layers.

    Args:
        spec: the model configuration.
        probe: complex ``(N, N[, 1])`` probe (normalised as the caller wants); default: the un-normalised default
            probe, as in the original when no probe of size N is set.
    """
    n, c, p = spec.N, spec.channels, spec.padded_size
    image = keras.Input(shape=(n, n, c), name="input")
    positions = keras.Input(shape=(1, 2, c), name="input_positions")
    log_scale = log_scale_of(spec.intensity_scale)
    scaler = IntensityScaler(
        log_scale=log_scale, log_scale_trainable=spec.intensity_scale_trainable, name="intensity_scaler"
    )
    amplitude, phase = build_network(scaler([image]), spec)
    obj = CombineComplexLayer(name="obj")([amplitude, phase])
    if spec.object_big:
        canvas = ReassemblePatchesLayer(padded_size=p, N=n, gridsize=spec.gridsize, name="padded_obj_2")(
            [obj, positions]
        )
    else:
        canvas = PadReconstructionLayer(padded_size=p, name="padded_obj_2")(obj)
    trimmed = TrimReconstructionLayer(output_size=n, name="trimmed_obj")(canvas)
    patches = ExtractPatchesPositionLayer(jitter=0.0, N=n, gridsize=spec.gridsize, name="padded_objs_with_offsets")(
        [canvas, positions]
    )
    illuminated, _ = ProbeIllumination(
        name="probe_illumination",
        initial_probe=probe,
        N=n,
        probe_mask=spec.probe_mask,
        smoothing_sigma=spec.gaussian_smoothing_sigma,
        probe_trainable=spec.probe_trainable,
    )([patches])
    _, amplitude_pred = PadAndDiffractLayer(h=n, w=n, pad=False, name="pred_amplitude")(illuminated)
    channels = FlatToChannelLayer(N=n, gridsize=spec.gridsize, name="pred_diff_channels")(amplitude_pred)
    inverse = IntensityScaler_inv(
        log_scale=log_scale, log_scale_trainable=spec.intensity_scale_trainable, name="intensity_scaler_inv"
    )
    tie_log_scale(scaler, inverse)
    scaled = inverse([channels])
    intensity = SquareLayer(name="pred_intensity")(scaled)
    autoencoder = keras.Model([image, positions], [trimmed, scaled, intensity], name="autoencoder")
    diffraction_to_obj = keras.Model([image, positions], trimmed, name="diffraction_to_obj")
    if spec.init_seed is not None:
        initialize_conv_weights(autoencoder, spec.init_seed)
    return autoencoder, diffraction_to_obj


def initialize_conv_weights(model: keras.Model, seed: int) -> None:
    """Backend-independent start: every conv kernel from NumPy Glorot-uniform, every conv bias zero.

    Each kernel ``(kh, kw, in, out)`` is drawn from ``U(±sqrt(6 / (kh·kw·(in + out))))`` (Keras'
    ``glorot_uniform``) with a generator seeded by ``(seed, crc32(weight path))``, so the values depend only on
    the seed and the layer's name — the same on torch, tensorflow and jax.
    """
    for layer in model.layers:
        if not isinstance(layer, (keras.layers.Conv2D, keras.layers.Conv2DTranspose)):
            continue
        kernel = layer.kernel
        kh, kw, fan_in_channels, fan_out_channels = (int(d) for d in kernel.shape)
        limit = np.sqrt(6.0 / (kh * kw * (fan_in_channels + fan_out_channels)))
        rng = np.random.default_rng([int(seed), zlib.crc32(kernel.path.encode())])
        kernel.assign(rng.uniform(-limit, limit, size=tuple(kernel.shape)).astype(np.float32))
        if layer.use_bias:
            layer.bias.assign(np.zeros(tuple(layer.bias.shape), np.float32))


def relink_loaded(models: Dict[str, keras.Model]) -> Dict[str, keras.Model]:
    """Restore the sharing of a freshly built pair in models loaded from separate ``.keras`` files.

    Deserialising gives ``intensity_scaler_inv`` its own copy of the log scale and ``diffraction_to_obj`` its own
    copy of every layer. Here the inverse scaler is tied back to the scaler's variable, and
    ``diffraction_to_obj`` is rebuilt as the autoencoder's first output (same weights, so identical predictions),
    so that training a loaded autoencoder also updates the loaded inference model. Returns ``models``, updated.
    """
    autoencoder = models.get("autoencoder")
    if autoencoder is None:
        return models
    try:
        tie_log_scale(autoencoder.get_layer("intensity_scaler"), autoencoder.get_layer("intensity_scaler_inv"))
    except ValueError:  # not a model built by build_models
        return models
    if "diffraction_to_obj" in models:
        models["diffraction_to_obj"] = keras.Model(
            autoencoder.inputs, autoencoder.outputs[0], name="diffraction_to_obj"
        )
    return models


def compile_autoencoder(
    autoencoder: keras.Model, spec: ModelSpec, learning_rate: float = 1e-3, jit_compile: Union[bool, str] = "auto"
) -> keras.Model:
    """Adam(1e-3), losses ``[real-space, MAE, Poisson NLL]`` weighted ``[realspace, mae, nll]``."""
    autoencoder.compile(
        optimizer=keras.optimizers.Adam(learning_rate=learning_rate),
        loss=[
            RealspaceLoss(spec.probe_big, spec.tv_weight, spec.realspace_mae_weight),
            "mean_absolute_error",
            negloglik,
        ],
        loss_weights=[spec.realspace_weight, spec.mae_weight, spec.nll_weight],
        jit_compile=jit_compile,
    )
    if jit_compile == "auto":
        _keep_auto_jit_compile(autoencoder)
    return autoencoder


def _keep_auto_jit_compile(model: keras.Model) -> None:
    """Save ``jit_compile="auto"`` in the model's compile configuration, not what it resolved to here.

    Keras records the resolved value (True on JAX), so a ``.keras`` file written under JAX would make torch
    compile every step with ``torch.compile`` on load (a minute and more per function on a CPU) and TensorFlow
    use XLA. Keeping ``"auto"`` lets each backend choose its own default when it loads the file.
    """
    config = getattr(model, "_compile_config", None)
    if config is not None and isinstance(getattr(config, "config", None), dict):
        config.config["jit_compile"] = "auto"


def create_compiled_models(
    spec: ModelSpec, probe: Optional[Tensor] = None, jit_compile: Union[bool, str] = "auto"
) -> Tuple[keras.Model, keras.Model]:
    """:func:`build_models` then :func:`compile_autoencoder`."""
    autoencoder, diffraction_to_obj = build_models(spec, probe)
    compile_autoencoder(autoencoder, spec, jit_compile=jit_compile)
    return autoencoder, diffraction_to_obj


def probe_layer(model: keras.Model) -> ProbeIllumination:
    return model.get_layer("probe_illumination")


def intensity_scale_of(model: keras.Model) -> float:
    """Current ``exp(λ)`` of a model built here."""
    layer = model.get_layer("intensity_scaler")
    return float(np.exp(keras.ops.convert_to_numpy(layer.log_scale)))
