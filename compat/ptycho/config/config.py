"""Configuration dataclasses of the original PtychoPINN API (``ptycho.config.config``) and their validators.

``ModelConfig``, ``TrainingConfig``, ``InferenceConfig`` and ``PyTorchExecutionConfig`` have the original's
fields, order and defaults (positional construction, ``fields`` and ``asdict`` agree; type hints are not checked:
Ptychodus 1.7.0 builds ``ModelConfig(N=0)`` and sets ``N`` later), plus ``TrainingConfig.n_devices``,
``coordinator``, ``num_processes``, ``process_id`` and ``distributed_timeout`` last. The ``validate_*_config``
functions raise ``ValueError`` and are never called automatically. ``KEY_MAPPINGS``,
``dataclass_to_legacy_dict``, ``update_legacy_dict`` (writes into ``cfg`` in place, skipping ``None``) and
``load_yaml_config`` come from :mod:`ptycho.config._legacy_map`. Imports the standard library only (the Ptychodus
GUI process imports it with no ML framework); the classes pickle by field name. Differences: README.
"""

import math
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, List, Literal, Optional, Union

from ._legacy_map import KEY_MAPPINGS, dataclass_to_legacy_dict, load_yaml_config, update_legacy_dict

__all__ = [
    "ModelConfig",
    "TrainingConfig",
    "InferenceConfig",
    "PyTorchExecutionConfig",
    "update_legacy_dict",
    "validate_model_config",
    "validate_training_config",
    "validate_inference_config",
    "load_yaml_config",
    "dataclass_to_legacy_dict",
    "KEY_MAPPINGS",
]

_ARCHITECTURES = ("cnn", "ffno", "fno", "fno_vanilla", "neuralop_uno")


def _migrate_n_images(config: Any) -> None:
    """Copy the deprecated ``n_images`` into ``n_groups`` when only the former was given (with a warning)."""
    if config.n_images is not None and config.n_groups is None:
        warnings.warn(
            "'n_images' is deprecated and will go away; pass 'n_groups' instead "
            "(it counts groups, whatever the gridsize).",
            DeprecationWarning,
            stacklevel=4,  # _migrate_n_images <- __post_init__ <- generated __init__ <- caller
        )
        config.n_groups = config.n_images


@dataclass(unsafe_hash=True)
class ModelConfig:
    """Architecture of the network (mutable, but hashable: see the module docstring)."""

    N: Literal[64, 128, 256] = 64
    gridsize: int = 1
    n_filters_scale: int = 2
    model_type: Literal["pinn", "supervised"] = "pinn"
    architecture: Literal["cnn", "ffno", "fno", "fno_vanilla", "neuralop_uno"] = "cnn"
    fno_modes: int = 12
    fno_width: int = 32
    fno_blocks: int = 4
    fno_cnn_blocks: int = 2
    learned_input_channels: int = 1
    max_hidden_channels: Optional[int] = None
    resnet_width: Optional[int] = None
    fno_input_transform: Literal["none", "sqrt", "log1p", "instancenorm"] = "none"
    generator_output_mode: Literal["real_imag", "amp_phase_logits", "amp_phase"] = "real_imag"
    amp_activation: Literal["sigmoid", "swish", "softplus", "relu"] = "sigmoid"
    object_big: bool = True
    probe_big: bool = True
    probe_mask: bool = False
    probe_mask_sigma: float = 1.0
    probe_mask_diameter: Optional[float] = None
    pad_object: bool = True
    probe_scale: float = 4.0
    gaussian_smoothing_sigma: float = 0.0


@dataclass
class TrainingConfig:
    """Settings of a training run; ``n_groups`` ends up 512 when neither it nor ``n_images`` is given."""

    model: ModelConfig
    train_data_file: Optional[Path] = None
    test_data_file: Optional[Path] = None
    batch_size: int = 16
    nepochs: int = 50
    mae_weight: float = 0.0
    nll_weight: float = 1.0
    realspace_mae_weight: float = 0.0
    realspace_weight: float = 0.0
    nphotons: float = 1e9
    n_groups: Optional[int] = None
    n_images: Optional[int] = None  # deprecated spelling of n_groups
    n_subsample: Optional[int] = None
    subsample_seed: Optional[int] = None
    neighbor_count: int = 4
    enable_oversampling: bool = False
    neighbor_pool_size: Optional[int] = None
    positions_provided: bool = True
    probe_trainable: bool = False
    intensity_scale_trainable: bool = True
    output_dir: Path = Path("training_outputs")
    sequential_sampling: bool = False
    backend: Literal["tensorflow", "pytorch"] = "tensorflow"
    torch_loss_mode: Literal["poisson", "mae"] = "poisson"
    torch_mae_pred_l2_match_target: bool = False
    gradient_clip_val: Optional[float] = None
    gradient_clip_algorithm: Literal["norm", "value", "agc"] = "norm"
    optimizer: Literal["adam", "adamw", "sgd"] = "adam"
    momentum: float = 0.9
    weight_decay: float = 0.0
    adam_beta1: float = 0.9
    adam_beta2: float = 0.999
    scheduler: Literal["Default", "Exponential", "WarmupCosine", "ReduceLROnPlateau"] = "Default"
    lr_warmup_epochs: int = 0
    lr_min_ratio: float = 0.1
    plateau_factor: float = 0.5
    plateau_patience: int = 2
    plateau_min_lr: float = 5e-5
    plateau_threshold: float = 0.0
    n_devices: int = 1  # this package's addition: data-parallel training on this many devices (cfg 'n_devices')
    # this package's multi-process (multi-node) training; None: detected from torchrun, Slurm or TF_CONFIG
    coordinator: Optional[str] = None  # host:port of process 0 (TensorFlow: every worker's, comma-separated)
    num_processes: Optional[int] = None
    process_id: Optional[int] = None
    distributed_timeout: Optional[float] = None  # seconds to wait for peers before an error (default 300)

    def __post_init__(self) -> None:
        _migrate_n_images(self)
        if self.n_groups is None:
            self.n_groups = 512
        if isinstance(self.n_devices, bool) or not isinstance(self.n_devices, int) or self.n_devices < 1:
            raise ValueError(
                f"n_devices must be a positive integer (devices for data-parallel training); got {self.n_devices!r}"
            )


@dataclass
class InferenceConfig:
    """Settings of an inference run; ``n_groups=None`` means "use every group"."""

    model: ModelConfig
    model_path: Path
    test_data_file: Path
    n_groups: Optional[int] = None
    n_images: Optional[int] = None  # deprecated spelling of n_groups
    n_subsample: Optional[int] = None
    subsample_seed: Optional[int] = None
    neighbor_count: int = 4
    enable_oversampling: bool = False
    neighbor_pool_size: Optional[int] = None
    debug: bool = False
    output_dir: Path = Path("inference_outputs")
    backend: Literal["tensorflow", "pytorch"] = "tensorflow"

    def __post_init__(self) -> None:
        _migrate_n_images(self)


_ACCELERATORS = ("auto", "cpu", "gpu", "cuda", "mps")
_PRECISIONS = ("32-true", "16-mixed", "bf16-mixed")
_CHECKPOINT_MODES = ("min", "max")
_GATE_MODES = ("shared", "per_block")


@dataclass
class PyTorchExecutionConfig:
    """Execution-only knobs of the original's PyTorch (Lightning) runner; never written into ``cfg``.

    Kept for API compatibility: construction validates the values (``ValueError``) and resolves
    ``accelerator='auto'`` to ``'cuda'`` or ``'cpu'`` the way the original did.
    """

    # trainer
    accelerator: str = "auto"
    devices: Union[int, Literal["auto"]] = 1
    strategy: str = "auto"
    deterministic: Union[bool, Literal["warn"]] = True
    precision: Literal["32-true", "16-mixed", "bf16-mixed"] = "32-true"
    gradient_clip_val: Optional[float] = None
    gradient_clip_algorithm: Literal["norm", "value", "agc"] = "norm"
    accum_steps: int = 1
    # data loading
    num_workers: int = 0
    pin_memory: bool = False
    persistent_workers: bool = False
    prefetch_factor: Optional[int] = None
    # optimisation
    learning_rate: float = 1e-3
    scheduler: str = "Default"
    # checkpoints and progress
    enable_progress_bar: bool = False
    enable_checkpointing: bool = True
    checkpoint_save_top_k: int = 1
    checkpoint_monitor_metric: str = "val_loss"
    checkpoint_mode: str = "min"
    early_stop_patience: int = 100
    # logging
    logger_backend: Optional[str] = "csv"
    recon_log_every_n_epochs: Optional[int] = None
    recon_log_num_patches: int = 4
    recon_log_fixed_indices: Optional[List[int]] = None
    recon_log_stitch: bool = False
    recon_log_max_stitch_samples: Optional[int] = None
    # torch-only encoder / bottleneck structure
    ffno_encoder_blocks: int = 24
    ffno_encoder_modes: int = 12
    ffno_encoder_share_weights: bool = True
    ffno_encoder_gate_init: float = 0.1
    ffno_encoder_norm: str = "instance"
    ffno_encoder_mlp_ratio: float = 2.0
    spectral_bottleneck_blocks: int = 6
    spectral_bottleneck_modes: int = 12
    spectral_bottleneck_share_weights: bool = True
    spectral_bottleneck_gate_init: float = 0.1
    spectral_bottleneck_gate_mode: Literal["shared", "per_block"] = "shared"
    # inference
    inference_batch_size: Optional[int] = None
    middle_trim: int = 0
    pad_eval: bool = False

    def __post_init__(self) -> None:
        devices_ok = not isinstance(self.devices, bool) and (
            (isinstance(self.devices, int) and self.devices > 0) or self.devices == "auto"
        )
        if not devices_ok:
            raise ValueError(f"devices must be a positive integer or 'auto', got {self.devices!r}")
        if not isinstance(self.precision, str) or self.precision not in _PRECISIONS:
            raise ValueError(f"Invalid precision {self.precision!r}; allowed: {sorted(_PRECISIONS)}")
        if self.accelerator == "tpu":
            raise ValueError("accelerator='tpu' (Torch-XLA) is not supported; use 'cpu', 'gpu'/'cuda' or 'mps'")
        if self.accelerator not in _ACCELERATORS:
            raise ValueError(f"Invalid accelerator {self.accelerator!r}; allowed: {sorted(_ACCELERATORS)}")
        if self.accelerator == "auto":
            self.accelerator = _resolve_auto_accelerator()

        if self.num_workers < 0:
            raise ValueError(f"num_workers must be non-negative, got {self.num_workers}")
        if self.learning_rate <= 0:
            raise ValueError(f"learning_rate must be positive, got {self.learning_rate}")
        if self.inference_batch_size is not None and self.inference_batch_size <= 0:
            raise ValueError(f"inference_batch_size must be positive, got {self.inference_batch_size}")
        if self.accum_steps <= 0:
            raise ValueError(f"accum_steps must be positive, got {self.accum_steps}")
        if self.checkpoint_save_top_k < 0:
            raise ValueError(f"checkpoint_save_top_k must be non-negative, got {self.checkpoint_save_top_k}")
        if self.early_stop_patience <= 0:
            raise ValueError(f"early_stop_patience must be positive, got {self.early_stop_patience}")
        if self.checkpoint_mode not in _CHECKPOINT_MODES:
            raise ValueError(f"Invalid checkpoint_mode {self.checkpoint_mode!r}; allowed: {sorted(_CHECKPOINT_MODES)}")

        for name in ("spectral_bottleneck_blocks", "spectral_bottleneck_modes"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if not math.isfinite(float(self.spectral_bottleneck_gate_init)):
            raise ValueError(f"spectral_bottleneck_gate_init must be finite, got {self.spectral_bottleneck_gate_init}")
        if self.spectral_bottleneck_gate_mode not in _GATE_MODES:
            raise ValueError(
                f"Invalid spectral_bottleneck_gate_mode {self.spectral_bottleneck_gate_mode!r}; "
                f"allowed: {sorted(_GATE_MODES)}"
            )
        for name in ("ffno_encoder_blocks", "ffno_encoder_modes"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        for name in ("ffno_encoder_gate_init", "ffno_encoder_mlp_ratio"):
            value = float(getattr(self, name))
            if not math.isfinite(value) or value <= 0.0:
                raise ValueError(f"{name} must be finite and > 0, got {getattr(self, name)}")


def _resolve_auto_accelerator() -> str:
    """``'cuda'`` when torch sees a CUDA device, else ``'cpu'`` with a POLICY-001 ``UserWarning``."""
    try:
        import torch  # only here: importing this module never loads a framework
    except ImportError:
        warnings.warn(
            "POLICY-001: PyTorch is not installed, so accelerator='auto' falls back to 'cpu'. "
            "Install torch>=2.2 to run on a GPU.",
            UserWarning,
            stacklevel=4,
        )
        return "cpu"
    if torch.cuda.is_available():
        return "cuda"
    warnings.warn(
        "POLICY-001: the PyTorch backend prefers a GPU. No CUDA device detected, so "
        "accelerator='auto' falls back to 'cpu' (pass accelerator='cpu' to silence this).",
        UserWarning,
        stacklevel=4,
    )
    return "cpu"


def validate_model_config(config: ModelConfig) -> None:
    """Raise ``ValueError`` for an unknown architecture or a non-positive size/scale setting."""
    if config.architecture not in _ARCHITECTURES:
        raise ValueError(f"Invalid architecture {config.architecture!r}; allowed: {sorted(_ARCHITECTURES)}")
    if config.gridsize <= 0:
        raise ValueError(f"gridsize must be positive, got {config.gridsize}")
    if config.n_filters_scale <= 0:
        raise ValueError(f"n_filters_scale must be positive, got {config.n_filters_scale}")
    if config.probe_scale <= 0:
        raise ValueError(f"probe_scale must be positive, got {config.probe_scale}")
    if config.gaussian_smoothing_sigma < 0:
        raise ValueError(f"gaussian_smoothing_sigma must be non-negative, got {config.gaussian_smoothing_sigma}")


def validate_training_config(config: TrainingConfig) -> None:
    """The model checks, then: batch size a positive power of two, epochs > 0, weights in [0, 1], photons > 0."""
    validate_model_config(config.model)
    batch = config.batch_size
    if batch <= 0 or batch & (batch - 1):
        raise ValueError(f"batch_size must be positive power of 2, got {batch}")
    if config.nepochs <= 0:
        raise ValueError(f"nepochs must be positive, got {config.nepochs}")
    for name in ("mae_weight", "nll_weight"):
        value = getattr(config, name)
        if not 0 <= value <= 1:
            raise ValueError(f"{name} must be in [0,1], got {value}")
    if config.nphotons <= 0:
        raise ValueError(f"nphotons must be positive, got {config.nphotons}")


def validate_inference_config(config: InferenceConfig) -> None:
    """The model checks, then: ``model_path`` must name an existing model archive.

    A directory must contain ``wts.h5.zip``. Any other path must exist itself, or with its suffix replaced by
    ``.zip``, or (for a path named ``wts.h5``) as ``wts.h5.zip``.
    """
    validate_model_config(config.model)
    path = config.model_path
    if path.is_dir():
        archive = path / "wts.h5.zip"
        if not archive.exists():
            raise ValueError(f"Model archive not found: {archive}")
        return
    if path.exists():
        return
    candidates = [path.with_suffix(".zip")]
    if path.name == "wts.h5":
        candidates.append(path.with_suffix(".h5.zip"))
    if not any(candidate.exists() for candidate in candidates):
        checked = " and ".join(str(candidate) for candidate in candidates)
        raise ValueError(f"model_path does not exist: {path} (also checked {checked})")
