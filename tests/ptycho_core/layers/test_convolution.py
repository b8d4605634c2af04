"""SameConv2D: the network's 3×3 convolution (a copy-free forward on torch) against SciPy and keras Conv2D."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from keras import ops
from scipy.signal import correlate

from ptycho_core.layers import SameConv2D
from ptycho_testing.grad import check_directional
from ptycho_testing.layer_case import run_layer_test


def _reference(x, kernel, bias):
    """'same' cross-correlation in float64: out[b, i, j, o] = Σ x[b, i+u-1, j+v-1, c] kernel[u, v, c, o] + bias."""
    b, h, w, _ = x.shape
    out = np.zeros((b, h, w, kernel.shape[3]))
    for n in range(b):
        for o in range(kernel.shape[3]):
            out[n, :, :, o] = (
                correlate(x[n].astype(np.float64), kernel[:, :, :, o].astype(np.float64), mode="same")[
                    :, :, kernel.shape[2] // 2
                ]
                + bias[o]
            )
    return out


def _layer(x, kernel, bias, cls=SameConv2D, activation=None):
    layer = cls(kernel.shape[3], kernel.shape[:2], padding="same", activation=activation)
    layer.build(x.shape)
    layer.set_weights([kernel, bias])
    return layer


@pytest.mark.parametrize("activation", [None, "relu"])
def test_matches_scipy_and_keras_conv2d(activation):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 12, 10, 5)).astype(np.float32)
    kernel = rng.standard_normal((3, 3, 5, 7)).astype(np.float32)
    bias = rng.standard_normal(7).astype(np.float32)
    out = ops.convert_to_numpy(_layer(x, kernel, bias, activation=activation)(x))
    expected = _reference(x, kernel, bias)
    if activation == "relu":
        expected = np.maximum(expected, 0)
    assert out.shape == (3, 12, 10, 7)
    np.testing.assert_allclose(out, expected, rtol=0, atol=2e-5 * np.abs(expected).max())
    plain = ops.convert_to_numpy(_layer(x, kernel, bias, keras.layers.Conv2D, activation)(x))
    np.testing.assert_allclose(out, plain, rtol=0, atol=1e-5 * np.abs(plain).max())


def test_gradient_with_respect_to_the_input():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 8, 8, 3)).astype(np.float32)
    layer = _layer(
        x, rng.standard_normal((3, 3, 3, 4)).astype(np.float32) * 0.5, rng.standard_normal(4).astype(np.float32)
    )
    check_directional(lambda t: ops.sum(ops.sin(layer(t))), [x], eps=1e-2, rtol=2e-3)


def test_one_training_step_updates_the_weights_as_keras_conv2d_does():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((4, 8, 8, 3)).astype(np.float32)
    y = rng.standard_normal((4, 8, 8, 2)).astype(np.float32)
    kernel = rng.standard_normal((3, 3, 3, 2)).astype(np.float32)
    bias = rng.standard_normal(2).astype(np.float32)
    updated = []
    for cls in (SameConv2D, keras.layers.Conv2D):
        inputs = keras.Input((8, 8, 3))
        model = keras.Model(inputs, cls(2, (3, 3), padding="same", activation="relu")(inputs))
        model.layers[1].set_weights([kernel, bias])
        model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
        model.train_on_batch(x, y)
        updated.append(model.layers[1].get_weights())
    for ours, theirs in zip(*updated, strict=True):
        np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6)
    assert np.abs(updated[0][0] - kernel).max() > 1e-3  # the step moved the weights


def test_layer_config_save_and_training(tmp_path):
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 8, 8, 3)).astype(np.float32)
    run_layer_test(
        SameConv2D,
        dict(filters=4, kernel_size=(3, 3), padding="same", activation="relu", name="conv2d_3"),
        x,
        expected_output_shape=(2, 8, 8, 4),
        expected_output_dtype="float32",
        expected_num_trainable_weights=2,
        tmp_path=tmp_path,
    )


def test_config_round_trip_keeps_the_class():
    layer = SameConv2D(4, (3, 3), padding="same", activation="relu", name="conv2d_3")
    again = keras.layers.deserialize(keras.layers.serialize(layer))
    assert type(again) is SameConv2D and again.name == "conv2d_3" and again.filters == 4


def test_only_torch_takes_the_copy_free_path():
    from ptycho_core._backend import conv2d_same_nhwc

    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 6, 6, 3)).astype(np.float32)
    kernel = rng.standard_normal((3, 3, 3, 2)).astype(np.float32)
    bias = rng.standard_normal(2).astype(np.float32)
    got = conv2d_same_nhwc(ops.convert_to_tensor(x), ops.convert_to_tensor(kernel), ops.convert_to_tensor(bias))
    if keras.backend.backend() != "torch":
        assert got is None
        return
    np.testing.assert_allclose(ops.convert_to_numpy(got), _reference(x, kernel, bias), rtol=0, atol=1e-4)
    even = rng.standard_normal((2, 2, 3, 2)).astype(np.float32)
    assert conv2d_same_nhwc(ops.convert_to_tensor(x), ops.convert_to_tensor(even), None) is None
