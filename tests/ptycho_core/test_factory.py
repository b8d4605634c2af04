"""Model factory: parameter counts, the post-decoder chain against the NumPy reference, weights, any batch."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from ptycho_core.factory import build_models, create_compiled_models, intensity_scale_of, log_scale_of
from ptycho_core.physics import default_probe, normalize_probe
from ptycho_core.spec import ModelSpec
from ptycho_testing import reference as ref
from ptycho_testing.arrays import assert_close, to_numpy

# Trainable parameter counts of the original (ORIGINAL_PHYSICS §10.4; probe and log-scale excluded).
COUNTS = [
    (dict(), 2_331_772),
    (dict(probe_big=False), 2_252_026),
    (dict(gridsize=2), 2_340_208),
    (dict(pad_object=False), 2_399_810),
    (dict(N=128), 4_661_212),
    (dict(N=128, gridsize=2, probe_big=False, object_big=False), 4_640_634),
    (dict(N=256), 12_912_268),
]


@pytest.mark.parametrize("changes, expected", COUNTS)
def test_trainable_parameter_counts_equal_the_original(changes, expected):
    autoencoder, _ = build_models(ModelSpec(**changes))
    assert sum(int(np.prod(w.shape)) for w in autoencoder.trainable_weights) == expected


def _inputs(spec, batch, seed=0):
    rng = np.random.default_rng(seed)
    x = (rng.random((batch, spec.N, spec.N, spec.channels)) * 50).astype(np.float32)
    pos = rng.uniform(-3, 3, (batch, 1, 2, spec.channels)).astype(np.float32)
    pos -= pos.mean(axis=3, keepdims=True)
    return x, pos


@pytest.mark.parametrize(
    "changes",
    [
        dict(),
        dict(gridsize=2),
        dict(probe_mask=True, gridsize=2),
        dict(object_big=False, probe_big=False),
        dict(gridsize=2, pad_object=False, amp_activation="softplus"),
    ],
)
def test_post_decoder_chain_matches_reference(changes):
    spec = ModelSpec(n_filters_scale=1, intensity_scale=31.25, **changes)
    probe = normalize_probe(default_probe(spec.N) * np.exp(0.2j), 4.0)
    autoencoder, _ = build_models(spec, probe=probe)
    probe_model = keras.Model(autoencoder.inputs, [autoencoder.get_layer("obj").output] + autoencoder.outputs)
    x, pos = _inputs(spec, 3)
    obj, trimmed, amplitude, intensity = [to_numpy(o) for o in probe_model([x, pos])]
    mask = ref.probe_mask(spec.N)[..., None].astype(np.float32) if spec.probe_mask else None
    want = ref.forward(
        obj, pos, probe, log_scale_of(spec.intensity_scale), spec.padded_size, spec.N, mask, spec.object_big
    )
    for label, got, expected in zip(
        ("trimmed_obj", "amplitude", "intensity"), (trimmed, amplitude, intensity), want, strict=True
    ):
        err = assert_close(got, expected, 5e-6, label)  # the x1000 border gain amplifies float32 rounding
        print(f"{changes} {label}: rel err {err:.2e}")


def test_diffraction_to_obj_output_and_any_batch_size():
    spec = ModelSpec(gridsize=2, n_filters_scale=1)
    _, d2o = build_models(spec)
    x, pos = _inputs(spec, 20)  # B*C = 80 >= 64: the original merged such batches; here each stays its own
    out = d2o.predict([x, pos], batch_size=20, verbose=0)
    assert isinstance(out, np.ndarray) and out.dtype == np.complex64 and out.shape == (20, 64, 64, 1)
    single = d2o.predict([x[3:4], pos[3:4]], verbose=0)
    assert_close(out[3:4], single, 1e-5, "per-sample")


def test_gridsize3_builds_and_runs():
    spec = ModelSpec(gridsize=3, n_filters_scale=1)
    autoencoder, d2o = build_models(spec)
    x, pos = _inputs(spec, 2)
    trimmed, amplitude, intensity = autoencoder.predict([x, pos], verbose=0)
    assert trimmed.shape == (2, 64, 64, 1) and amplitude.shape == (2, 64, 64, 9)
    assert np.all(np.isfinite(intensity))


def test_shared_log_scale_and_trainable_flags_are_honoured():
    spec = ModelSpec(n_filters_scale=1, intensity_scale=100.0, intensity_scale_trainable=True, probe_trainable=True)
    autoencoder, _ = create_compiled_models(spec)
    scaler, inverse = autoencoder.get_layer("intensity_scaler"), autoencoder.get_layer("intensity_scaler_inv")
    assert scaler.log_scale is inverse.log_scale
    names = [w.path for w in autoencoder.trainable_weights]
    assert names.count("intensity_scaler/log_scale") == 1
    assert "probe_illumination/probe_real" in names and "probe_illumination/probe_imag" in names
    probe_before = to_numpy(autoencoder.get_layer("probe_illumination").probe_real).copy()
    x, pos = _inputs(spec, 4)
    autoencoder.fit([x, pos], [np.ones((4, 64, 64, 1), np.float32), x, x**2], epochs=1, batch_size=4, verbose=0)
    assert intensity_scale_of(autoencoder) != pytest.approx(100.0, rel=1e-7)
    assert not np.array_equal(to_numpy(autoencoder.get_layer("probe_illumination").probe_real), probe_before)

    frozen, _ = create_compiled_models(ModelSpec(n_filters_scale=1, intensity_scale=100.0))
    assert all("log_scale" not in w.path and "probe" not in w.path for w in frozen.trainable_weights)
    frozen.fit([x, pos], [np.ones((4, 64, 64, 1), np.float32), x, x**2], epochs=1, batch_size=4, verbose=0)
    assert intensity_scale_of(frozen) == pytest.approx(100.0, rel=1e-6)


def test_bad_spec_is_named():
    with pytest.raises(ValueError, match="N must be one of"):
        ModelSpec(N=96)
    with pytest.raises(ValueError, match="amp_activation must be one of"):
        ModelSpec(amp_activation="gelu")
    with pytest.raises(ValueError, match="must be even"):
        ModelSpec(max_position_jitter=9)


def test_init_seed_gives_numpy_glorot_kernels_on_every_backend():
    import zlib

    import keras

    from ptycho_core.factory import build_models
    from ptycho_core.spec import ModelSpec

    autoencoder, _ = build_models(ModelSpec(N=64, gridsize=1, n_filters_scale=1, init_seed=7))
    convs = [layer for layer in autoencoder.layers if isinstance(layer, keras.layers.Conv2D)]
    assert len(convs) > 10
    for layer in convs:
        kernel = keras.ops.convert_to_numpy(layer.kernel)
        kh, kw, cin, cout = kernel.shape
        limit = np.sqrt(6.0 / (kh * kw * (cin + cout)))
        expected = np.random.default_rng([7, zlib.crc32(layer.kernel.path.encode())]).uniform(
            -limit, limit, kernel.shape
        )
        np.testing.assert_array_equal(kernel, expected.astype(np.float32))
        assert not keras.ops.convert_to_numpy(layer.bias).any()
    again, _ = build_models(ModelSpec(N=64, gridsize=1, n_filters_scale=1, init_seed=8))
    assert not np.array_equal(
        keras.ops.convert_to_numpy(again.get_layer(convs[0].name).kernel), keras.ops.convert_to_numpy(convs[0].kernel)
    )


def test_a_saved_model_lets_the_loading_backend_choose_its_compiler(tmp_path):
    """``jit_compile="auto"`` is saved as ``"auto"``: a file written under JAX (which resolves it to XLA) must not
    make torch use ``torch.compile`` when it loads the file, nor TensorFlow XLA on a CPU."""
    import json
    import zipfile

    autoencoder, _ = create_compiled_models(ModelSpec(gridsize=1, n_filters_scale=1))
    assert autoencoder.jit_compile == autoencoder._resolve_auto_jit_compile()  # resolved as before, here
    autoencoder.save(tmp_path / "autoencoder.keras")
    with zipfile.ZipFile(tmp_path / "autoencoder.keras") as archive:
        saved = json.loads(archive.read("config.json"))["compile_config"]
    assert saved["jit_compile"] == "auto"
    reloaded = keras.saving.load_model(tmp_path / "autoencoder.keras")
    assert reloaded.jit_compile == reloaded._resolve_auto_jit_compile()
    assert reloaded.jit_compile == (keras.backend.backend() == "jax")
    explicit, _ = create_compiled_models(ModelSpec(gridsize=1, n_filters_scale=1), jit_compile=False)
    explicit.save(tmp_path / "eager.keras")
    with zipfile.ZipFile(tmp_path / "eager.keras") as archive:
        assert json.loads(archive.read("config.json"))["compile_config"]["jit_compile"] is False
