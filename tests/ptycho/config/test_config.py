"""ptycho.config.config: the dataclasses, the bridge into ``ptycho.params.cfg``, validators, YAML, pickling, hygiene.

Ports the intent of the original's config tests (the config-bridge baseline, the architecture validator, the
backend field, the execution-config auto accelerator) plus what Ptychodus 1.7.0 needs: an assignable
``ModelConfig.N``, pickling across a spawn boundary and a framework-free import.
"""

import dataclasses
import logging
import pickle
import subprocess
import sys
import textwrap
import types
import warnings
from pathlib import Path

import pytest

from ptycho import params
from ptycho.config import config as C
from ptycho.config.config import (
    KEY_MAPPINGS,
    InferenceConfig,
    ModelConfig,
    PyTorchExecutionConfig,
    TrainingConfig,
    dataclass_to_legacy_dict,
    load_yaml_config,
    update_legacy_dict,
    validate_inference_config,
    validate_model_config,
    validate_training_config,
)

_REQUIRED = dataclasses.MISSING

# (name, default) in declaration order, as in the original
MODEL_FIELDS = [
    ("N", 64),
    ("gridsize", 1),
    ("n_filters_scale", 2),
    ("model_type", "pinn"),
    ("architecture", "cnn"),
    ("fno_modes", 12),
    ("fno_width", 32),
    ("fno_blocks", 4),
    ("fno_cnn_blocks", 2),
    ("learned_input_channels", 1),
    ("max_hidden_channels", None),
    ("resnet_width", None),
    ("fno_input_transform", "none"),
    ("generator_output_mode", "real_imag"),
    ("amp_activation", "sigmoid"),
    ("object_big", True),
    ("probe_big", True),
    ("probe_mask", False),
    ("probe_mask_sigma", 1.0),
    ("probe_mask_diameter", None),
    ("pad_object", True),
    ("probe_scale", 4.0),
    ("gaussian_smoothing_sigma", 0.0),
]
TRAINING_FIELDS = [
    ("model", _REQUIRED),
    ("train_data_file", None),
    ("test_data_file", None),
    ("batch_size", 16),
    ("nepochs", 50),
    ("mae_weight", 0.0),
    ("nll_weight", 1.0),
    ("realspace_mae_weight", 0.0),
    ("realspace_weight", 0.0),
    ("nphotons", 1e9),
    ("n_groups", None),
    ("n_images", None),
    ("n_subsample", None),
    ("subsample_seed", None),
    ("neighbor_count", 4),
    ("enable_oversampling", False),
    ("neighbor_pool_size", None),
    ("positions_provided", True),
    ("probe_trainable", False),
    ("intensity_scale_trainable", True),
    ("output_dir", Path("training_outputs")),
    ("sequential_sampling", False),
    ("backend", "tensorflow"),
    ("torch_loss_mode", "poisson"),
    ("torch_mae_pred_l2_match_target", False),
    ("gradient_clip_val", None),
    ("gradient_clip_algorithm", "norm"),
    ("optimizer", "adam"),
    ("momentum", 0.9),
    ("weight_decay", 0.0),
    ("adam_beta1", 0.9),
    ("adam_beta2", 0.999),
    ("scheduler", "Default"),
    ("lr_warmup_epochs", 0),
    ("lr_min_ratio", 0.1),
    ("plateau_factor", 0.5),
    ("plateau_patience", 2),
    ("plateau_min_lr", 5e-5),
    ("plateau_threshold", 0.0),
]
INFERENCE_FIELDS = [
    ("model", _REQUIRED),
    ("model_path", _REQUIRED),
    ("test_data_file", _REQUIRED),
    ("n_groups", None),
    ("n_images", None),
    ("n_subsample", None),
    ("subsample_seed", None),
    ("neighbor_count", 4),
    ("enable_oversampling", False),
    ("neighbor_pool_size", None),
    ("debug", False),
    ("output_dir", Path("inference_outputs")),
    ("backend", "tensorflow"),
]
EXECUTION_FIELDS = [
    ("accelerator", "auto"),
    ("devices", 1),
    ("strategy", "auto"),
    ("deterministic", True),
    ("precision", "32-true"),
    ("gradient_clip_val", None),
    ("gradient_clip_algorithm", "norm"),
    ("accum_steps", 1),
    ("num_workers", 0),
    ("pin_memory", False),
    ("persistent_workers", False),
    ("prefetch_factor", None),
    ("learning_rate", 1e-3),
    ("scheduler", "Default"),
    ("enable_progress_bar", False),
    ("enable_checkpointing", True),
    ("checkpoint_save_top_k", 1),
    ("checkpoint_monitor_metric", "val_loss"),
    ("checkpoint_mode", "min"),
    ("early_stop_patience", 100),
    ("logger_backend", "csv"),
    ("recon_log_every_n_epochs", None),
    ("recon_log_num_patches", 4),
    ("recon_log_fixed_indices", None),
    ("recon_log_stitch", False),
    ("recon_log_max_stitch_samples", None),
    ("ffno_encoder_blocks", 24),
    ("ffno_encoder_modes", 12),
    ("ffno_encoder_share_weights", True),
    ("ffno_encoder_gate_init", 0.1),
    ("ffno_encoder_norm", "instance"),
    ("ffno_encoder_mlp_ratio", 2.0),
    ("spectral_bottleneck_blocks", 6),
    ("spectral_bottleneck_modes", 12),
    ("spectral_bottleneck_share_weights", True),
    ("spectral_bottleneck_gate_init", 0.1),
    ("spectral_bottleneck_gate_mode", "shared"),
    ("inference_batch_size", None),
    ("middle_trim", 0),
    ("pad_eval", False),
]
EXPECTED_MAPPINGS = {
    "object_big": "object.big",
    "probe_big": "probe.big",
    "probe_mask": "probe.mask",
    "probe_trainable": "probe.trainable",
    "intensity_scale_trainable": "intensity_scale.trainable",
    "positions_provided": "positions.provided",
    "output_dir": "output_prefix",
    "train_data_file": "train_data_file_path",
    "test_data_file": "test_data_file_path",
}
# cfg after the original's baseline sequence (the 31 keys its fixture pins)
BASELINE = {
    "N": 128,
    "amp_activation": "swish",
    "batch_size": 32,
    "debug": True,
    "gaussian_smoothing_sigma": 0.5,
    "gridsize": 3,
    "intensity_scale.trainable": True,
    "mae_weight": 0.3,
    "model_path": "/canonical/baseline/model_directory",
    "model_type": "pinn",
    "n_filters_scale": 2,
    "n_groups": 512,
    "n_subsample": 1024,
    "neighbor_count": 6,
    "nepochs": 100,
    "nll_weight": 0.7,
    "nphotons": 5e8,
    "object.big": False,
    "output_prefix": "/canonical/baseline/inference_outputs",
    "pad_object": False,
    "positions.provided": False,
    "probe.big": False,
    "probe.mask": True,
    "probe.trainable": True,
    "probe_scale": 2.0,
    "realspace_mae_weight": 0.05,
    "realspace_weight": 0.1,
    "sequential_sampling": True,
    "subsample_seed": 99,
    "test_data_file_path": "/canonical/baseline/inference_data.npz",
    "train_data_file_path": "/canonical/baseline/train_data.npz",
}


def _legacy(name):
    return EXPECTED_MAPPINGS.get(name, name)


def _fields(cls):
    return [
        (
            f.name,
            f.default
            if f.default is not _REQUIRED
            else (f.default_factory() if f.default_factory is not _REQUIRED else _REQUIRED),
        )
        for f in dataclasses.fields(cls)
    ]


def _inference(**kwargs):
    kwargs.setdefault("model", ModelConfig())
    kwargs.setdefault("model_path", Path("model_dir"))
    kwargs.setdefault("test_data_file", Path("test.npz"))
    return InferenceConfig(**kwargs)


def _baseline_configs():
    model = ModelConfig(
        N=128,
        gridsize=3,
        n_filters_scale=2,
        model_type="pinn",
        amp_activation="swish",
        object_big=False,
        probe_big=False,
        probe_mask=True,
        pad_object=False,
        probe_scale=2.0,
        gaussian_smoothing_sigma=0.5,
    )
    training = TrainingConfig(
        model=model,
        train_data_file=Path("/canonical/baseline/train_data.npz"),
        test_data_file=Path("/canonical/baseline/test_data.npz"),
        batch_size=32,
        nepochs=100,
        mae_weight=0.3,
        nll_weight=0.7,
        realspace_mae_weight=0.05,
        realspace_weight=0.1,
        nphotons=5e8,
        n_groups=1024,
        n_subsample=2048,
        subsample_seed=42,
        neighbor_count=6,
        positions_provided=False,
        probe_trainable=True,
        intensity_scale_trainable=True,
        output_dir=Path("/canonical/baseline/training_outputs"),
        sequential_sampling=True,
    )
    inference = InferenceConfig(
        model=model,
        model_path=Path("/canonical/baseline/model_directory"),
        test_data_file=Path("/canonical/baseline/inference_data.npz"),
        n_groups=512,
        n_subsample=1024,
        subsample_seed=99,
        neighbor_count=6,
        debug=True,
        output_dir=Path("/canonical/baseline/inference_outputs"),
    )
    return training, inference


# --------------------------------------------------------------------------------------------- public surface


def test_all_lists_the_original_names_and_key_mappings():
    original = {
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
    }
    assert original <= set(C.__all__)
    assert set(C.__all__) - original == {"KEY_MAPPINGS"}
    for name in C.__all__:
        assert hasattr(C, name), name
    assert KEY_MAPPINGS == EXPECTED_MAPPINGS


# --------------------------------------------------------------------------------------- fields and defaults

#: Fields this package adds after the original's (README, "Deliberate differences").
ADDITIONS = {
    "TrainingConfig": [
        ("n_devices", 1),
        ("coordinator", None),
        ("num_processes", None),
        ("process_id", None),
        ("distributed_timeout", None),
    ]
}


@pytest.mark.parametrize(
    "cls, expected",
    [
        (ModelConfig, MODEL_FIELDS),
        (TrainingConfig, TRAINING_FIELDS),
        (InferenceConfig, INFERENCE_FIELDS),
        (PyTorchExecutionConfig, EXECUTION_FIELDS),
    ],
    ids=lambda v: getattr(v, "__name__", ""),
)
def test_fields_order_and_defaults_match_the_original(cls, expected):
    """The original's fields in its order with its defaults, then only this package's documented additions."""
    actual = _fields(cls)
    assert [name for name, _ in actual[: len(expected)]] == [name for name, _ in expected]
    assert actual[len(expected) :] == ADDITIONS.get(cls.__name__, [])
    for (name, value), (_, want) in zip(actual, expected, strict=False):
        assert value == want, name
        assert type(value) is type(want), name  # 4.0 not 4, True not 1


def test_default_instances_carry_the_defaults():
    model = ModelConfig()
    assert [getattr(model, name) for name, _ in MODEL_FIELDS] == [value for _, value in MODEL_FIELDS]
    training = TrainingConfig(model=model)
    for name, value in TRAINING_FIELDS[1:]:
        expected = 512 if name == "n_groups" else value
        assert getattr(training, name) == expected, name
    inference = _inference()
    for name, value in INFERENCE_FIELDS[3:]:
        assert getattr(inference, name) == value, name
    execution = PyTorchExecutionConfig(accelerator="cpu")
    for name, value in EXECUTION_FIELDS[1:]:
        assert getattr(execution, name) == value, name


def test_positional_construction_follows_field_order():
    model = ModelConfig(128, 2, 3, "supervised")
    assert (model.N, model.gridsize, model.n_filters_scale, model.model_type) == (128, 2, 3, "supervised")
    training = TrainingConfig(model, Path("a.npz"), Path("b.npz"), 8, 3)
    assert (training.train_data_file, training.test_data_file, training.batch_size, training.nepochs) == (
        Path("a.npz"),
        Path("b.npz"),
        8,
        3,
    )
    inference = InferenceConfig(model, Path("m"), Path("t.npz"), 10)
    assert (inference.model_path, inference.test_data_file, inference.n_groups) == (Path("m"), Path("t.npz"), 10)


def test_required_fields_are_required():
    with pytest.raises(TypeError):
        TrainingConfig()
    with pytest.raises(TypeError):
        InferenceConfig(model=ModelConfig())
    with pytest.raises(TypeError):
        InferenceConfig(model=ModelConfig(), model_path=Path("m"))


def test_type_hints_are_not_enforced():
    # Ptychodus 1.7.0 builds ModelConfig(N=0) in its parent and patches N in the child; any int N is allowed.
    assert ModelConfig(N=0).N == 0
    assert ModelConfig(N=96).N == 96
    assert TrainingConfig(model=ModelConfig(), train_data_file="plain.npz").train_data_file == "plain.npz"


def test_training_n_groups_defaults_to_512_and_migrates_n_images():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no warning without n_images
        assert TrainingConfig(model=ModelConfig()).n_groups == 512
        assert TrainingConfig(model=ModelConfig(), n_groups=7).n_groups == 7
        kept = TrainingConfig(model=ModelConfig(), n_groups=7, n_images=9)  # n_groups wins, silently
    assert (kept.n_groups, kept.n_images) == (7, 9)
    with pytest.warns(DeprecationWarning, match="n_images") as record:
        migrated = TrainingConfig(model=ModelConfig(), n_images=33)
    assert (migrated.n_groups, migrated.n_images) == (33, 33)
    assert record[0].filename == __file__  # attributed to the caller


def test_inference_n_groups_stays_none_and_migrates_n_images():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert _inference().n_groups is None
    with pytest.warns(DeprecationWarning, match="n_groups"):
        migrated = _inference(n_images=5)
    assert migrated.n_groups == 5


def test_backend_field():
    assert TrainingConfig(model=ModelConfig()).backend == "tensorflow"
    assert TrainingConfig(model=ModelConfig(), backend="pytorch").backend == "pytorch"
    assert _inference().backend == "tensorflow"
    assert _inference(backend="pytorch").backend == "pytorch"


# ------------------------------------------------------------------------- mutability, hashing and pickling


def test_model_config_is_mutable_but_hashable():
    training = TrainingConfig(model=ModelConfig(N=0))
    training.model.N = 128  # what Ptychodus 1.7.0 does in its worker process
    assert training.model.N == 128
    assert not ModelConfig.__dataclass_params__.frozen
    a, b = ModelConfig(N=128, gridsize=2), ModelConfig(N=128, gridsize=2)
    assert a == b and hash(a) == hash(b) and len({a, b}) == 1
    assert a != ModelConfig(N=64, gridsize=2)
    assert {a: "x"}[ModelConfig(N=128, gridsize=2)] == "x"


def test_other_configs_are_mutable_and_unhashable_like_the_original():
    training = TrainingConfig(model=ModelConfig())
    training.nepochs = 3
    assert training.nepochs == 3
    for obj in (training, _inference(), PyTorchExecutionConfig(accelerator="cpu")):
        with pytest.raises(TypeError):
            hash(obj)


def _all_four():
    training = TrainingConfig(
        model=ModelConfig(N=0, gridsize=2, amp_activation="swish"),
        train_data_file=Path(),
        test_data_file=None,
        output_dir=Path("out"),
    )
    inference = _inference(model=ModelConfig(N=128), model_path=Path(), test_data_file=Path(), debug=True)
    execution = PyTorchExecutionConfig(accelerator="cpu", devices="auto", recon_log_fixed_indices=[1, 2])
    return [ModelConfig(N=256, probe_mask_diameter=12.5), training, inference, execution]


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_all_four_configs_pickle_round_trip(protocol):
    for obj in _all_four():
        clone = pickle.loads(pickle.dumps(obj, protocol=protocol))
        assert type(clone) is type(obj)
        assert clone == obj and clone is not obj
        assert dataclasses.asdict(clone) == dataclasses.asdict(obj)
    model = _all_four()[0]
    assert hash(pickle.loads(pickle.dumps(model, protocol=protocol))) == hash(model)


def test_unpickled_training_config_accepts_the_ptychodus_17_n_patch():
    training = _all_four()[1]
    clone = pickle.loads(pickle.dumps(training))
    clone.model.N = 64
    assert clone.model.N == 64 and training.model.N == 0
    assert clone.n_groups == 512  # __post_init__ is not re-run, the pickled value is kept
    update_legacy_dict(params.cfg, clone)
    assert params.cfg["N"] == 64 and params.cfg["gridsize"] == 2


# ---------------------------------------------------------------------------------- dataclass_to_legacy_dict


def test_legacy_dict_of_training_config_flattens_model_and_renames_keys():
    training = TrainingConfig(model=ModelConfig(N=128), train_data_file=Path("/d/train.npz"))
    legacy = dataclass_to_legacy_dict(training)
    expected_keys = (
        {_legacy(name) for name, _ in MODEL_FIELDS}
        | {_legacy(name) for name, _ in TRAINING_FIELDS if name != "model"}
        | {"n_devices", "coordinator", "num_processes", "process_id", "distributed_timeout"}
    )  # + ours
    assert set(legacy) == expected_keys and len(legacy) == 66
    assert "model" not in legacy
    for field_name in EXPECTED_MAPPINGS:
        assert field_name not in legacy
    assert legacy["N"] == 128 and legacy["object.big"] is True and legacy["probe.mask"] is False
    assert legacy["train_data_file_path"] == "/d/train.npz"
    assert legacy["output_prefix"] == "training_outputs"
    assert legacy["test_data_file_path"] is None  # mapped None values are kept here (skipped by update)
    assert legacy["gradient_clip_val"] is None
    assert legacy["backend"] == "tensorflow" and legacy["n_groups"] == 512


def test_legacy_dict_of_inference_config_keeps_unmapped_paths():
    legacy = dataclass_to_legacy_dict(_inference(model_path=Path("/m/dir"), test_data_file=Path("/t.npz")))
    assert len(legacy) == 35
    assert legacy["model_path"] == Path("/m/dir") and isinstance(legacy["model_path"], Path)
    assert legacy["test_data_file_path"] == "/t.npz" and legacy["output_prefix"] == "inference_outputs"
    assert legacy["debug"] is False and legacy["n_groups"] is None


def test_legacy_dict_of_model_config_alone_and_is_a_deep_copy():
    model = ModelConfig(object_big=False)
    legacy = dataclass_to_legacy_dict(model)
    assert set(legacy) == {_legacy(name) for name, _ in MODEL_FIELDS}
    assert legacy["object.big"] is False
    execution = PyTorchExecutionConfig(accelerator="cpu", recon_log_fixed_indices=[3])
    legacy = dataclass_to_legacy_dict(execution)
    legacy["recon_log_fixed_indices"].append(4)
    assert execution.recon_log_fixed_indices == [3]
    with pytest.raises(TypeError):
        dataclass_to_legacy_dict({"N": 64})


# --------------------------------------------------------------------------------------- update_legacy_dict


def test_update_mutates_the_live_cfg_in_place_and_returns_none():
    live = params.cfg
    assert update_legacy_dict(params.cfg, TrainingConfig(model=ModelConfig(N=64, gridsize=2))) is None
    assert params.cfg is live
    assert live["N"] == 64 and live["gridsize"] == 2
    assert params.get("gridsize") == 2 and params.params()["N"] == 64


def test_update_skips_none_and_converts_paths():
    cfg = {"test_data_file_path": "keep.npz", "max_hidden_channels": 7, "gradient_clip_val": 1.5, "other": 1}
    update_legacy_dict(cfg, TrainingConfig(model=ModelConfig(), train_data_file=Path("a/b.npz")))
    assert cfg["test_data_file_path"] == "keep.npz"  # None in the config: untouched
    assert cfg["max_hidden_channels"] == 7 and cfg["gradient_clip_val"] == 1.5 and cfg["other"] == 1
    assert cfg["train_data_file_path"] == str(Path("a/b.npz"))
    assert cfg["output_prefix"] == "training_outputs"
    assert not any(isinstance(value, Path) for value in cfg.values())
    assert "n_images" not in cfg and "resnet_width" not in cfg


def test_update_with_ptychodus_inference_config():
    # PDg reconstruct(): InferenceConfig(model_path=Path(), test_data_file=Path(), output_dir=Path(), ...)
    params.cfg["intensity_scale"] = 123.0
    params.cfg["nphotons"] = 2e6
    inference = InferenceConfig(
        model=ModelConfig(N=64, gridsize=1), model_path=Path(), test_data_file=Path(), debug=False, output_dir=Path()
    )
    update_legacy_dict(params.cfg, inference)
    assert params.cfg["model_path"] == "." and type(params.cfg["model_path"]) is str
    assert params.cfg["test_data_file_path"] == "." and params.cfg["output_prefix"] == "."
    assert params.cfg["intensity_scale"] == 123.0 and params.cfg["nphotons"] == 2e6
    assert params.cfg["debug"] is False and params.cfg["N"] == 64


def test_update_does_not_validate_and_logs_no_seal_warning(caplog):
    params.seal()
    with caplog.at_level(logging.DEBUG, logger="ptycho.params"):
        update_legacy_dict(params.cfg, TrainingConfig(model=ModelConfig(gridsize=0, architecture="nope"), batch_size=3))
    assert params.cfg["gridsize"] == 0 and params.cfg["architecture"] == "nope" and params.cfg["batch_size"] == 3
    assert not [r for r in caplog.records if r.name.startswith("ptycho")]


def test_update_keeps_value_types():
    cfg = {}
    update_legacy_dict(cfg, TrainingConfig(model=ModelConfig(), nepochs=3, nphotons=1e6))
    assert type(cfg["probe.mask"]) is bool and type(cfg["nepochs"]) is int and type(cfg["nphotons"]) is float
    assert type(cfg["probe_scale"]) is float


def test_params_cfg_matches_the_original_baseline():
    training, inference = _baseline_configs()
    params.cfg.clear()
    update_legacy_dict(params.cfg, training)
    update_legacy_dict(params.cfg, inference)
    actual = {key: params.cfg[key] for key in BASELINE}
    assert actual == BASELINE
    for key, value in BASELINE.items():
        assert type(params.cfg[key]) is type(value), key
    # training-only keys survive the inference update; the union has all training keys plus the inference extras
    assert params.cfg["n_groups"] == 512 and params.cfg["train_data_file_path"] == "/canonical/baseline/train_data.npz"
    skipped_none = {
        "max_hidden_channels",
        "resnet_width",
        "probe_mask_diameter",
        "n_images",
        "neighbor_pool_size",
        "gradient_clip_val",
        "coordinator",  # this package's multi-process fields default to None (detected from the environment)
        "num_processes",
        "process_id",
        "distributed_timeout",
    }
    assert set(params.cfg) == (set(dataclass_to_legacy_dict(training)) | {"model_path", "debug"}) - skipped_none


# -------------------------------------------------------------------------------------------------- validators


def test_validate_model_config_accepts_defaults_and_every_architecture():
    validate_model_config(ModelConfig())
    for arch in ("cnn", "ffno", "fno", "fno_vanilla", "neuralop_uno"):
        validate_model_config(ModelConfig(architecture=arch))


@pytest.mark.parametrize(
    "kwargs, word",
    [
        ({"architecture": "not-a-real-arch"}, "architecture"),
        ({"gridsize": 0}, "gridsize must be"),
        ({"n_filters_scale": 0}, "n_filters_scale"),
        ({"probe_scale": 0.0}, "probe_scale"),
        ({"gaussian_smoothing_sigma": -0.1}, "gaussian_smoothing_sigma"),
    ],
)
def test_validate_model_config_errors(kwargs, word):
    with pytest.raises(ValueError, match=word):
        validate_model_config(ModelConfig(**kwargs))


def test_validate_training_config():
    validate_training_config(TrainingConfig(model=ModelConfig()))
    for batch in (1, 2, 64):
        validate_training_config(TrainingConfig(model=ModelConfig(), batch_size=batch, mae_weight=1, nll_weight=0))
    with pytest.raises(ValueError, match="gridsize"):
        validate_training_config(TrainingConfig(model=ModelConfig(gridsize=-1)))


@pytest.mark.parametrize(
    "kwargs, word",
    [
        ({"batch_size": 0}, "batch_size"),
        ({"batch_size": 12}, "power of 2"),
        ({"batch_size": -4}, "batch_size"),
        ({"nepochs": 0}, "nepochs"),
        ({"mae_weight": 1.5}, "mae_weight"),
        ({"nll_weight": -0.1}, "nll_weight"),
        ({"nphotons": 0.0}, "nphotons"),
    ],
)
def test_validate_training_config_errors(kwargs, word):
    with pytest.raises(ValueError, match=word):
        validate_training_config(TrainingConfig(model=ModelConfig(), **kwargs))


def test_validate_inference_config(tmp_path):
    good_dir = tmp_path / "bundle"
    good_dir.mkdir()
    (good_dir / "wts.h5.zip").touch()
    (tmp_path / "model.zip").touch()
    (tmp_path / "weights").mkdir()
    (tmp_path / "weights" / "wts.h5.zip").touch()
    (tmp_path / "plain.bin").touch()
    for ok in (
        good_dir,
        tmp_path / "model",
        tmp_path / "model.zip",
        tmp_path / "weights" / "wts.h5",
        tmp_path / "plain.bin",
    ):
        validate_inference_config(_inference(model_path=ok))
    empty_dir = tmp_path / "empty"
    empty_dir.mkdir()
    with pytest.raises(ValueError, match="wts.h5.zip"):
        validate_inference_config(_inference(model_path=empty_dir))
    for bad in (tmp_path / "missing", tmp_path / "other" / "wts.h5"):
        with pytest.raises(ValueError, match="does not exist"):
            validate_inference_config(_inference(model_path=bad))
    with pytest.raises(ValueError, match="architecture"):
        validate_inference_config(_inference(model=ModelConfig(architecture="x"), model_path=good_dir))


# ----------------------------------------------------------------------------------------------------- YAML


def test_load_yaml_config_round_trip_into_dataclasses(tmp_path):
    yaml = pytest.importorskip("yaml")
    data = {
        "model": {"N": 128, "gridsize": 2, "amp_activation": "swish", "object_big": False},
        "train_data_file": "data/train.npz",
        "nepochs": 3,
        "nphotons": 1.0e6,
        "n_groups": None,
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data))
    loaded = load_yaml_config(path)
    assert loaded == data
    training = TrainingConfig(model=ModelConfig(**loaded.pop("model")), **loaded)
    assert training.model.N == 128 and training.n_groups == 512 and training.nphotons == 1e6
    cfg = {}
    update_legacy_dict(cfg, training)
    assert cfg["object.big"] is False and cfg["train_data_file_path"] == "data/train.npz"
    assert load_yaml_config(str(path)) == data  # a str path works too
    (tmp_path / "empty.yaml").write_text("")
    assert load_yaml_config(tmp_path / "empty.yaml") is None


def test_load_yaml_config_errors_keep_their_type(tmp_path):
    yaml = pytest.importorskip("yaml")
    missing = tmp_path / "nope.yaml"
    with pytest.raises(FileNotFoundError, match="Failed to load config from"):
        load_yaml_config(missing)
    bad = tmp_path / "bad.yaml"
    bad.write_text("a: [1, 2\nb: {")
    with pytest.raises(yaml.YAMLError, match="Failed to load config from") as info:
        load_yaml_config(bad)
    assert str(bad) in str(info.value)


def test_load_yaml_config_without_pyyaml_names_the_install(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "yaml", None)  # makes `import yaml` raise ImportError
    with pytest.raises(ImportError, match="pip install pyyaml"):
        load_yaml_config(tmp_path / "x.yaml")


# ------------------------------------------------------------------------------------- PyTorchExecutionConfig


def test_execution_auto_accelerator_prefers_cuda(monkeypatch):
    fake = types.SimpleNamespace(cuda=types.SimpleNamespace(is_available=lambda: True))
    monkeypatch.setitem(sys.modules, "torch", fake)
    assert PyTorchExecutionConfig().accelerator == "cuda"


def test_execution_auto_accelerator_falls_back_to_cpu_with_warning(monkeypatch):
    fake = types.SimpleNamespace(cuda=types.SimpleNamespace(is_available=lambda: False))
    monkeypatch.setitem(sys.modules, "torch", fake)
    with pytest.warns(UserWarning, match="No CUDA device detected") as record:
        assert PyTorchExecutionConfig().accelerator == "cpu"
    assert "POLICY-001" in str(record[0].message)
    assert record[0].filename == __file__


def test_execution_auto_accelerator_without_torch(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)
    with pytest.warns(UserWarning, match="POLICY-001"):
        assert PyTorchExecutionConfig().accelerator == "cpu"


def test_execution_explicit_accelerators_are_kept():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for name in ("cpu", "gpu", "cuda", "mps"):
            assert PyTorchExecutionConfig(accelerator=name).accelerator == name


@pytest.mark.parametrize(
    "kwargs, word",
    [
        ({"devices": 0}, "devices"),
        ({"devices": True}, "devices"),
        ({"devices": "two"}, "devices"),
        ({"precision": "16"}, "precision"),
        ({"accelerator": "tpu"}, "tpu"),
        ({"accelerator": "xpu"}, "accelerator"),
        ({"num_workers": -1}, "num_workers"),
        ({"learning_rate": 0.0}, "learning_rate"),
        ({"inference_batch_size": 0}, "inference_batch_size"),
        ({"accum_steps": 0}, "accum_steps"),
        ({"checkpoint_save_top_k": -1}, "checkpoint_save_top_k"),
        ({"early_stop_patience": 0}, "early_stop_patience"),
        ({"checkpoint_mode": "avg"}, "checkpoint_mode"),
        ({"spectral_bottleneck_blocks": 0}, "spectral_bottleneck_blocks"),
        ({"spectral_bottleneck_modes": 0}, "spectral_bottleneck_modes"),
        ({"spectral_bottleneck_gate_init": float("nan")}, "spectral_bottleneck_gate_init"),
        ({"spectral_bottleneck_gate_mode": "all"}, "spectral_bottleneck_gate_mode"),
        ({"ffno_encoder_blocks": 0}, "ffno_encoder_blocks"),
        ({"ffno_encoder_modes": 0}, "ffno_encoder_modes"),
        ({"ffno_encoder_gate_init": 0.0}, "ffno_encoder_gate_init"),
        ({"ffno_encoder_mlp_ratio": float("inf")}, "ffno_encoder_mlp_ratio"),
    ],
)
def test_execution_config_rejects_bad_values(kwargs, word):
    kwargs = {"accelerator": "cpu", **kwargs}
    with pytest.raises(ValueError, match=word):
        PyTorchExecutionConfig(**kwargs)


def test_execution_config_accepts_edge_values():
    config = PyTorchExecutionConfig(
        accelerator="cpu",
        devices="auto",
        deterministic="warn",
        precision="bf16-mixed",
        checkpoint_save_top_k=0,
        spectral_bottleneck_gate_init=-0.5,
        spectral_bottleneck_gate_mode="per_block",
        checkpoint_mode="max",
    )
    assert config.devices == "auto" and config.spectral_bottleneck_gate_init == -0.5


# -------------------------------------------------------------------------------------------- import hygiene

_HYGIENE_SNIPPET = textwrap.dedent("""
    import sys
    import importlib.abc

    BLOCKED = ("keras", "tensorflow", "torch", "jax", "jaxlib")

    class _Blocker(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in BLOCKED:
                raise ImportError("blocked by the hygiene test: " + name)
            return None

    sys.meta_path.insert(0, _Blocker())

    import pickle
    import ptycho
    import ptycho.config
    import ptycho.config.config as C

    training = C.TrainingConfig(model=C.ModelConfig(N=128))
    clone = pickle.loads(pickle.dumps(training))
    assert clone == training and clone.model.N == 128, clone
    clone.model.N = 64
    inference = pickle.loads(pickle.dumps(C.InferenceConfig(model=C.ModelConfig(), model_path=".", test_data_file=".")))
    cfg = {}
    C.update_legacy_dict(cfg, clone)
    assert cfg["N"] == 64

    loaded = sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED + ("yaml",))
    assert not loaded, loaded
    try:
        import keras
    except ImportError:
        pass
    else:
        raise AssertionError("the blocker did not block keras")
    print("HYGIENE-OK")
""")


def test_config_imports_and_pickles_without_any_framework(tmp_path):
    result = subprocess.run(
        [sys.executable, "-c", _HYGIENE_SNIPPET], capture_output=True, text=True, timeout=120, cwd=tmp_path
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == "HYGIENE-OK"


def test_n_devices_is_checked_and_reaches_the_legacy_dict():
    """``TrainingConfig.n_devices`` (this package's addition): a positive int, copied to ``cfg['n_devices']``."""
    for bad in (0, -1, 1.5, True, "2"):
        with pytest.raises(ValueError, match="n_devices must be a positive integer"):
            TrainingConfig(model=ModelConfig(), n_devices=bad)
    cfg = {}
    update_legacy_dict(cfg, TrainingConfig(model=ModelConfig(), n_devices=2))
    assert cfg["n_devices"] == 2
