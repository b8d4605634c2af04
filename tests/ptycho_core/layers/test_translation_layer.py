"""Translation layer: same numbers as the function and the NumPy reference, the shared layer test, jitter."""

import keras
import numpy as np

from ptycho_core.layers import Translation
from ptycho_core.physics import translate
from ptycho_testing import reference as ref
from ptycho_testing.arrays import assert_close, to_numpy
from ptycho_testing.layer_case import run_layer_test


def test_layer_reference_config_save_and_training(tmp_path):
    rng = np.random.default_rng(3)
    images = rng.standard_normal((3, 12, 12, 1)).astype(np.float32)
    t = rng.uniform(-2, 2, (3, 2)).astype(np.float32)
    (out,) = run_layer_test(
        Translation,
        dict(jitter_stddev=0.0, seed=5, name="shift"),
        [images, t],
        expected_output_shape=(3, 12, 12, 1),
        expected_output_dtype="float32",
        expected_num_trainable_weights=0,
        tmp_path=tmp_path,
    )
    assert_close(out, ref.translate(images, t), 1e-6, "Translation")


def test_call_equals_function_and_config_round_trips():
    rng = np.random.default_rng(0)
    images = rng.standard_normal((4, 12, 12, 1)).astype(np.float32)
    t = rng.uniform(-2, 2, (4, 2)).astype(np.float32)
    layer = Translation(jitter_stddev=0.0, use_xla=False, name="shift")
    np.testing.assert_array_equal(to_numpy(layer([images, t])), to_numpy(translate(images, t)))
    config = layer.get_config()
    assert config["use_xla"] is True and config["jitter_stddev"] == 0.0
    clone = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
    assert type(clone) is Translation and clone.name == "shift"
    assert keras.saving.get_registered_name(Translation) == "ptycho>Translation"


def test_jitter_perturbs_offsets():
    images = np.zeros((2, 16, 16, 1), np.float32)
    images[:, 8, 8] = 1.0
    out = to_numpy(Translation(jitter_stddev=1.0, seed=3)([images, np.zeros((2, 2), np.float32)]))
    assert not np.array_equal(out, images)
    np.testing.assert_allclose(out.sum(axis=(1, 2, 3)), 1.0, rtol=1e-5)  # mass kept (pixel far from edges)
