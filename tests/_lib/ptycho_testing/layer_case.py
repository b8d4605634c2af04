"""One shared layer test, in the style of keras-hub's ``TestCase.run_layer_test``.

:func:`run_layer_test` checks, on the current Keras backend, everything a ptycho layer owes the model and the
saved-model format: the eager call, the same call inside a functional ``keras.Model`` (whose symbolic output
spec must agree with the real outputs), output shapes and dtypes, weight counts, a ``get_config`` /
``from_config`` round trip, a ``.keras`` save and a safe-mode reload that needs no ``custom_objects`` (the
layers register themselves as ``ptycho>ClassName``), and one compiled training step.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence, Union

import keras
import numpy as np
from keras import ops

Shape = Sequence[Optional[int]]
Arrays = Union[np.ndarray, Sequence[np.ndarray]]


class _SquaredMagnitude(keras.layers.Layer):
    """``|x|²`` as float32 (real ``x``: ``x²``): a differentiable real head for the training step."""

    def call(self, x):
        if "complex" in keras.backend.standardize_dtype(x.dtype):
            return ops.square(ops.real(x)) + ops.square(ops.imag(x))
        return ops.square(ops.cast(x, "float32"))

    def compute_output_spec(self, x):
        return keras.KerasTensor(x.shape, dtype="float32")


def _as_list(outputs: Any) -> list:
    return list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]


def _numpy(outputs: Any) -> list[np.ndarray]:
    return [np.asarray(ops.convert_to_numpy(o)) for o in _as_list(outputs)]


def _assert_same(actual: Sequence[np.ndarray], expected: Sequence[np.ndarray], what: str, rtol: float) -> None:
    assert len(actual) == len(expected), f"{what}: {len(actual)} outputs, expected {len(expected)}"
    for i, (a, e) in enumerate(zip(actual, expected, strict=True)):
        scale = float(np.max(np.abs(e))) if e.size else 0.0
        np.testing.assert_allclose(a, e, rtol=rtol, atol=rtol * scale, err_msg=f"{what}, output {i}")


def _weights(variables: Sequence[Any]) -> list[np.ndarray]:
    return [np.array(ops.convert_to_numpy(v)) for v in variables]


def run_layer_test(
    layer_cls: type,
    init_kwargs: Mapping[str, Any],
    input_data: Arrays,
    *,
    expected_output_shape: Union[Shape, Sequence[Shape]],
    expected_output_dtype: Union[str, Sequence[str], None] = None,
    expected_num_trainable_weights: int,
    expected_num_non_trainable_weights: int = 0,
    run_training_step: bool = True,
    run_saving: bool = True,
    tmp_path: Optional[Path] = None,
    rtol: float = 1e-6,
) -> list[np.ndarray]:
    """Build ``layer_cls(**init_kwargs)``, check it end to end, and return its eager outputs (NumPy, one per output).

    Args:
        layer_cls: a layer class registered under the ``ptycho`` package.
        init_kwargs: constructor arguments (no random jitter: the outputs are compared across calls).
        input_data: one array (batch first) or a list of arrays for a multi-input layer (passed as a list).
        expected_output_shape: shape of the single output, or a list of shapes for a multi-output layer.
        expected_output_dtype: standardized dtype name(s) (``"complex64"``), one per output; None skips.
        expected_num_trainable_weights, expected_num_non_trainable_weights: weight counts of the built layer.
        run_training_step: compile a model with an MSE loss on ``|output|²`` (target 0), run one
            ``train_on_batch`` step (jit-compiled where the backend does that by default) and require a finite
            loss, every trainable weight changed and every non-trainable weight unchanged.
        run_saving: save a functional model holding the layer to ``tmp_path/<class>.keras``, reload it in safe
            mode without ``custom_objects`` and require identical outputs (needs ``tmp_path``).
        rtol: relative tolerance (to each output's largest magnitude) between the eager call, the functional
            model and the ``from_config`` clone.
    """
    name = layer_cls.__name__
    assert keras.saving.get_registered_name(layer_cls) == f"ptycho>{name}", f"{name} is not registered as ptycho>"
    multi_input = isinstance(input_data, (list, tuple))
    arrays = [np.asarray(a) for a in _as_list(input_data)]
    data = list(arrays) if multi_input else arrays[0]
    multi_output = len(expected_output_shape) > 0 and isinstance(expected_output_shape[0], (list, tuple))
    shapes = [tuple(s) for s in expected_output_shape] if multi_output else [tuple(expected_output_shape)]
    dtypes: list[Optional[str]]
    if expected_output_dtype is None or isinstance(expected_output_dtype, str):
        dtypes = [expected_output_dtype] * len(shapes)
    else:
        dtypes = list(expected_output_dtype)

    # eager call: outputs, shapes, dtypes, weights
    layer = layer_cls(**init_kwargs)
    raw = layer(data)
    kind = "a list of outputs" if multi_output else "one tensor"
    assert isinstance(raw, (list, tuple)) == multi_output, f"{name}: returned {type(raw).__name__}, expected {kind}"
    got = _numpy(raw)
    assert [o.shape for o in got] == shapes, f"{name}: output shapes {[o.shape for o in got]} != {shapes}"
    got_dtypes = [keras.backend.standardize_dtype(o.dtype) for o in _as_list(raw)]
    for i, (actual, expected) in enumerate(zip(got_dtypes, dtypes, strict=True)):
        assert expected is None or actual == expected, f"{name}: output {i} dtype {actual} != {expected}"
    assert len(layer.trainable_weights) == expected_num_trainable_weights, f"{name}: trainable weights"
    assert len(layer.non_trainable_weights) == expected_num_non_trainable_weights, f"{name}: non-trainable weights"

    # the same layer inside a functional model: symbolic spec agrees, numbers agree
    inputs = [keras.Input(shape=a.shape[1:], dtype=str(a.dtype)) for a in arrays]
    symbolic = _as_list(layer(list(inputs) if multi_input else inputs[0]))
    for i, (spec, shape, dtype) in enumerate(zip(symbolic, shapes, got_dtypes, strict=True)):
        fits = len(spec.shape) == len(shape) and all(
            s is None or s == e for s, e in zip(spec.shape, shape, strict=False)
        )
        assert fits, f"{name}: symbolic output {i} shape {spec.shape} does not fit {shape}"
        assert keras.backend.standardize_dtype(spec.dtype) == dtype, f"{name}: symbolic output {i} dtype {spec.dtype}"
    model = keras.Model(inputs if multi_input else inputs[0], symbolic if multi_output else symbolic[0])
    _assert_same(_numpy(model(data)), got, f"{name}: functional model vs eager call", rtol)

    # config round trip
    config = layer.get_config()
    clone = layer_cls.from_config(config)
    assert type(clone) is layer_cls and clone.get_config() == config, f"{name}: config round trip"
    clone(data)  # builds lazily created weights before they are copied
    clone.set_weights(layer.get_weights())
    _assert_same(_numpy(clone(data)), got, f"{name}: from_config clone", rtol)

    if run_saving:
        assert tmp_path is not None, "run_saving needs tmp_path"
        path = Path(tmp_path) / f"{name}.keras"
        model.save(path)
        reloaded = keras.saving.load_model(path, safe_mode=True)
        kinds = [type(lyr) for lyr in reloaded.layers]
        assert layer_cls in kinds, f"{name}: reloaded model holds {kinds}"
        before = _numpy(model(data))
        for i, (after, expected) in enumerate(zip(_numpy(reloaded(data)), before, strict=True)):
            np.testing.assert_array_equal(after, expected, err_msg=f"{name}: reloaded .keras model, output {i}")

    if run_training_step:
        heads = [_SquaredMagnitude()(s) for s in symbolic]
        trainer = keras.Model(inputs if multi_input else inputs[0], heads)
        trainer.compile(optimizer=keras.optimizers.SGD(0.01), loss=["mse"] * len(heads))
        targets = [np.zeros(o.shape, np.float32) for o in got]
        trainable, frozen = _weights(layer.trainable_weights), _weights(layer.non_trainable_weights)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*does not have any trainable weights.*")
            logs = trainer.train_on_batch(data, targets, return_dict=True)
        assert np.isfinite(float(logs["loss"])), f"{name}: training loss {logs['loss']}"
        for i, (old, new) in enumerate(zip(trainable, _weights(layer.trainable_weights), strict=True)):
            assert not np.array_equal(old, new), f"{name}: trainable weight {i} did not change in a training step"
        for i, (old, new) in enumerate(zip(frozen, _weights(layer.non_trainable_weights), strict=True)):
            np.testing.assert_array_equal(new, old, err_msg=f"{name}: non-trainable weight {i} changed in training")
    return got
