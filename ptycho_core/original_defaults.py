"""The original PtychoPINN's legacy configuration defaults (its ``params.cfg``): the one place they live.

The ``ptycho`` face starts its global ``params.cfg`` from these, and the engine reads them where it meets the
original's parameters (:func:`ptycho_core.spec.spec_from_legacy_params` fills missing keys from here, and
:func:`ptycho_core.spec.legacy_params_from_spec` writes them into archives). Note ``N=128``, ``gridsize=2``,
``probe.big=False``, ``probe.mask=True``, ``probe_scale=10``: the original's cfg defaults, which differ from its
``ModelConfig``/``TrainingConfig`` dataclass defaults (and so from :class:`~ptycho_core.spec.ModelSpec`'s).
Plain data only (no framework import).
"""

from __future__ import annotations

from typing import Any, Dict

__all__ = ["ORIGINAL_CFG"]

ORIGINAL_CFG: Dict[str, Any] = {
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
