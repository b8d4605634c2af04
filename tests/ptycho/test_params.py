"""ptycho.params: the legacy global dict, its accessors, validation, the seal, and import hygiene."""

import importlib.metadata
import logging
import os
import subprocess
import sys

import pytest

from ptycho import params

EXPECTED_DEFAULTS = {
    "N": 128,
    "offset": 4,
    "gridsize": 2,
    "outer_offset_train": None,
    "outer_offset_test": None,
    "batch_size": 16,
    "nepochs": 60,
    "n_filters_scale": 2,
    "output_prefix": "outputs",
    "big_gridsize": 10,
    "max_position_jitter": 10,
    "sim_jitter_scale": 0.0,
    "default_probe_scale": 0.7,
    "mae_weight": 0.0,
    "nll_weight": 1.0,
    "tv_weight": 0.0,
    "realspace_mae_weight": 0.0,
    "realspace_weight": 0.0,
    "nphotons": 1e9,
    "nimgs_train": 9,
    "nimgs_test": 3,
    "data_source": "generic",
    "probe.trainable": False,
    "intensity_scale.trainable": False,
    "positions.provided": False,
    "object.big": True,
    "probe.big": False,
    "probe_scale": 10.0,
    "set_phi": False,
    "probe.mask": True,
    "pad_object": True,
    "model_type": "pinn",
    "label": "",
    "size": 392,
    "amp_activation": "sigmoid",
    "h5_path": "wts.h5",
    "npseed": 42,
    "debug": True,
    "gaussian_smoothing_sigma": 0.0,
    "use_xla_translate": True,
}


def test_default_cfg_has_the_40_original_keys_and_defaults():
    assert len(params.DEFAULT_CFG) == 40
    assert params.DEFAULT_CFG == EXPECTED_DEFAULTS
    for key, value in EXPECTED_DEFAULTS.items():  # types too (True == 1 would hide a wrong bool)
        assert type(params.DEFAULT_CFG[key]) is type(value), key
    assert "intensity_scale" not in params.DEFAULT_CFG and "probe" not in params.DEFAULT_CFG


def test_cfg_is_a_separate_live_dict():
    assert params.cfg is not params.DEFAULT_CFG
    params.cfg["N"] = 64
    assert params.DEFAULT_CFG["N"] == 128
    assert params.get("N") == 64


def test_get_keyerror_default_and_bign():
    with pytest.raises(KeyError):
        params.get("intensity_scale")
    assert params.get("intensity_scale", None) is None
    assert params.get("intensity_scale", 3.5) == 3.5
    params.cfg.update(N=64, gridsize=2, offset=4)
    assert params.get("bigN") == 68
    assert params.cfg["bigN"] == 68  # computed AND stored, as in the original


def test_ensure_defaults_reinserts_without_overwriting():
    params.cfg.clear()
    assert params.get("N") == 128
    assert set(params.cfg) >= set(EXPECTED_DEFAULTS)
    params.cfg["N"] = 32
    params.ensure_defaults()
    assert params.cfg["N"] == 32


def test_params_returns_a_copy_with_bign():
    params.cfg.update(N=64, gridsize=1)
    d = params.params()
    assert d is not params.cfg and d["bigN"] == 64 and d["N"] == 64
    d["N"] = 999
    assert params.cfg["N"] == 64
    assert "bigN" not in params.cfg or params.cfg["bigN"] == 64


@pytest.mark.parametrize("gridsize, bign, padding, padded", [(1, 64, 10, 74), (2, 68, 14, 78)])
def test_derived_sizes(gridsize, bign, padding, padded):
    params.cfg.update(N=64, gridsize=gridsize, offset=4, max_position_jitter=10)
    assert params.get_bigN() == bign
    assert params.get_padding_size() == padding
    assert params.get_padded_size() == padded


def test_rebinding_cfg_is_honoured():
    params.cfg = dict(params.DEFAULT_CFG, N=32, gridsize=1)
    assert params.get("N") == 32
    assert params.get_padded_size() == 42
    assert params.params()["N"] == 32
    params.set("nphotons", 1e5)
    assert params.cfg["nphotons"] == 1e5


def test_set_validates_data_source():
    params.set("data_source", "lines")
    assert params.cfg["data_source"] == "lines"
    with pytest.raises(ValueError, match="data source"):
        params.set("data_source", "nonsense")
    with pytest.raises(AssertionError):  # still an AssertionError for the original's callers
        params.validate()


def test_realspace_mae_weight_requires_realspace_weight():
    with pytest.raises(ValueError, match="realspace_weight"):
        params.set("realspace_mae_weight", 0.5)
    params.set("realspace_weight", 1.0)
    assert params.validate() is True


def test_post_seal_write_warns_with_caller_location(caplog):
    params.seal()
    with caplog.at_level(logging.WARNING, logger="ptycho.params"):
        params.set("nepochs", 3)  # never raises
        line = sys._getframe().f_lineno - 1
    assert params.cfg["nepochs"] == 3
    records = [r for r in caplog.records if r.name == "ptycho.params" and r.levelno == logging.WARNING]
    assert len(records) == 1
    message = records[0].getMessage()
    assert "post-seal" in message and "nepochs" in message
    assert f"{os.path.basename(__file__)}:{line}" in message


def test_seal_whitelist_and_unsealed_writes_are_silent(caplog):
    assert {"intensity_scale", "probe", "timestamp"} == params._SEAL_WHITELIST
    with caplog.at_level(logging.WARNING, logger="ptycho.params"):
        params.set("nepochs", 2)  # not sealed
        params.seal()
        assert params._sealed is True
        params.set("intensity_scale", 1.5)  # whitelisted
        params.unseal()
        assert params._sealed is False
        params.set("nepochs", 4)
    assert not [r for r in caplog.records if r.name == "ptycho.params"]


def test_import_is_backend_free_and_versioned():
    code = (
        "import ptycho, ptycho.params, sys; assert 'keras' not in sys.modules, 'keras imported'; "
        "print(ptycho.__version__)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == importlib.metadata.version("ptychopinn")
