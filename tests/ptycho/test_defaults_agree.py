"""One set of defaults: the command line and the ``ptycho`` API build the same ModelSpec for the same settings.

The command line builds its spec with ``ptychopinn.jobs.model_spec`` (the engine's ``ModelSpec`` defaults); the
``ptycho`` face builds it from ``TrainingConfig``/``ModelConfig`` through ``params.cfg``
(``update_legacy_dict`` → ``train_pinn``'s intensity scale → ``ptycho.model.spec_from_cfg``), the way
``train_cdi_model`` does. Neither trains the probe or the intensity scale unless asked (the CLI) — the
``ptycho`` face never does, like the original.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ptycho import params, train_pinn
from ptycho.config.config import ModelConfig, TrainingConfig, update_legacy_dict
from ptycho.model import spec_from_cfg
from ptycho_core.data import Scan
from ptycho_core.spec import ModelSpec
from ptychopinn.jobs import model_spec


def _scan(N: int, nphotons=None) -> Scan:
    metadata = None if nphotons is None else {"physics_parameters": {"nphotons": nphotons}}
    x = np.arange(9, dtype=float)
    return Scan(np.ones((9, N, N), np.float32), x, x, np.ones((N, N), np.complex64), metadata=metadata)


def _ptycho_spec(**settings) -> ModelSpec:
    model_keys = {"N", "gridsize", "n_filters_scale"}
    config = TrainingConfig(
        model=ModelConfig(**{k: v for k, v in settings.items() if k in model_keys}),
        train_data_file=Path("unused.npz"),
        **{k: v for k, v in settings.items() if k not in model_keys},
    )
    params.cfg.pop("intensity_scale", None)
    update_legacy_dict(params.cfg, config)
    params.set("intensity_scale", train_pinn.calculate_intensity_scale())  # what train_cdi_model does
    return spec_from_cfg()


@pytest.mark.parametrize(
    "settings",
    [
        dict(N=64, gridsize=1, n_filters_scale=2, nphotons=1e9),
        dict(N=64, gridsize=2, n_filters_scale=1, nphotons=1e6),
        dict(N=128, gridsize=1, n_filters_scale=1, nphotons=1e9),
    ],
)
def test_cli_and_ptycho_build_the_same_spec(settings):
    cli = model_spec(
        _scan(settings["N"]),
        gridsize=settings["gridsize"],
        n_filters_scale=settings["n_filters_scale"],
        nphotons=settings["nphotons"],
        seed=None,
    )
    assert _ptycho_spec(**settings) == cli
    assert not cli.probe_trainable and not cli.intensity_scale_trainable
    # the nphotons of the file's metadata are what the CLI uses when none is given
    assert (
        model_spec(
            _scan(settings["N"], settings["nphotons"]),
            gridsize=settings["gridsize"],
            n_filters_scale=settings["n_filters_scale"],
            seed=None,
        )
        == cli
    )


def test_ptycho_defaults_are_the_engine_defaults():
    """TrainingConfig()/ModelConfig() defaults = ModelSpec() defaults (both at N=64, nphotons 1e9)."""
    assert _ptycho_spec(N=64) == ModelSpec()
    assert model_spec(_scan(64), n_filters_scale=2, seed=None) == ModelSpec()


def test_training_the_probe_and_scale_is_an_explicit_cli_choice():
    spec = model_spec(_scan(64), train_probe=True, train_intensity_scale=True)
    assert spec.probe_trainable and spec.intensity_scale_trainable and spec.init_seed == 0
    assert not _ptycho_spec(N=64, probe_trainable=True, intensity_scale_trainable=True).probe_trainable
