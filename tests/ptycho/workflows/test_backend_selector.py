"""ptycho.workflows.backend_selector: cfg first, backend validation, dispatch onto components, backend tags."""

from __future__ import annotations

from pathlib import Path

import keras
import pytest

from ptycho import params
from ptycho.config.config import InferenceConfig, ModelConfig, TrainingConfig
from ptycho.workflows import backend_selector, components


def _config(backend: str = "tensorflow") -> TrainingConfig:
    return TrainingConfig(
        model=ModelConfig(N=32, gridsize=1), train_data_file=Path("t.npz"), backend=backend, nepochs=3
    )


def test_cfg_is_updated_before_dispatch_and_results_are_tagged(monkeypatch):
    seen = {}

    def fake_run(train, test, config, flip_x, flip_y, transpose, M, do_stitching):
        seen["N"], seen["nepochs"], seen["M"] = params.cfg["N"], params.cfg["nepochs"], M
        return None, None, {"backend": keras.backend.backend()}

    monkeypatch.setattr(components, "run_cdi_example", fake_run)
    amplitude, phase, results = backend_selector.run_cdi_example_with_backend("train", None, _config(), M=11)
    assert seen == {"N": 32, "nepochs": 3, "M": 11}
    assert results["backend"] == "tensorflow" and results["keras_backend"] == keras.backend.backend()
    assert amplitude is None and phase is None


def test_invalid_backend_is_rejected_after_cfg_update(monkeypatch):
    config = _config()
    object.__setattr__(config, "backend", "mxnet")
    with pytest.raises(ValueError, match="Invalid backend: 'mxnet'"):
        backend_selector.train_cdi_model_with_backend(None, None, config)
    assert params.cfg["N"] == 32  # update_legacy_dict ran first, as in the original


def test_pytorch_needs_the_torch_engine(monkeypatch):
    monkeypatch.setattr(components, "train_cdi_model", lambda train, test, config: {})
    if keras.backend.backend() == "torch":
        results = backend_selector.train_cdi_model_with_backend(None, None, _config("pytorch"))
        assert results == {"backend": "pytorch", "keras_backend": "torch"}
    else:
        with pytest.raises(RuntimeError, match=r"PyTorch backend selected .*KERAS_BACKEND=torch.*pip install"):
            backend_selector.train_cdi_model_with_backend(None, None, _config("pytorch"))


def test_inference_dispatch(monkeypatch, tmp_path):
    calls = []
    monkeypatch.setattr(components, "load_inference_bundle", lambda path: calls.append(path) or ("m", {}))
    config = InferenceConfig(model=ModelConfig(N=32), model_path=tmp_path, test_data_file=Path("x.npz"))
    assert backend_selector.load_inference_bundle_with_backend(str(tmp_path), config) == ("m", {})
    assert calls == [tmp_path]
    with pytest.raises(KeyError, match="autoencoder"):
        backend_selector.load_inference_bundle_with_backend(tmp_path, config, model_name="autoencoder")
