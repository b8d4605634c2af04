"""ptycho.custom_layers: sizes the original read from params.cfg when omitted still come from cfg."""

import keras
import numpy as np
from keras import ops

from ptycho import custom_layers, params
from ptycho_core import layers


def test_omitted_sizes_come_from_cfg_and_explicit_ones_win():
    params.cfg.update({"N": 16, "gridsize": 2, "offset": 4, "max_position_jitter": 6})
    padded = params.get_padded_size()  # N + (gridsize - 1)·offset + jitter = 26
    assert padded == 26
    assert custom_layers.ReassemblePatchesLayer().padded_size == padded
    assert custom_layers.PadReconstructionLayer().padded_size == padded
    assert custom_layers.TrimReconstructionLayer().output_size == 16
    assert custom_layers.ExtractPatchesPositionLayer().N == 16
    assert custom_layers.TrimReconstructionLayer(output_size=8).output_size == 8
    assert custom_layers.ReassemblePatchesLayer(padded_size=40).padded_size == 40
    assert isinstance(custom_layers.TrimReconstructionLayer(), layers.TrimReconstructionLayer)


def test_cfg_sized_layers_compute_and_round_trip():
    params.cfg.update({"N": 8, "gridsize": 1, "offset": 4, "max_position_jitter": 4})
    x = np.arange(2 * 8 * 8, dtype=np.float32).reshape(2, 8, 8, 1).astype(np.complex64)
    pad = custom_layers.PadReconstructionLayer()
    trim = custom_layers.TrimReconstructionLayer()
    padded = pad(x)
    assert tuple(padded.shape) == (2, 12, 12, 1)
    np.testing.assert_array_equal(ops.convert_to_numpy(trim(padded)), x)
    params.cfg["N"] = 4
    saved = keras.saving.get_registered_object("ptycho.custom_layers>TrimReconstructionLayer")
    assert saved is custom_layers.TrimReconstructionLayer
    assert saved.from_config(trim.get_config()).output_size == 8  # the saved config is explicit
