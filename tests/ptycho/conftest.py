"""Every compat test runs against a snapshot of the live ``ptycho.params.cfg``, restored afterwards."""

import pytest

from ptycho import params


@pytest.fixture(autouse=True)
def restore_cfg():
    """Snapshot the live ``params.cfg`` (object and contents) and the seal; restore them after the test."""
    live, saved, sealed = params.cfg, dict(params.cfg), params._sealed
    yield
    params.cfg = live
    live.clear()
    live.update(saved)
    params._sealed = sealed


@pytest.fixture
def clean_models():
    """Drop the ``ptycho.model`` singletons a test creates (cache and assigned attributes)."""
    import ptycho.model as model

    saved = dict(model._lazy_cache)
    yield
    model._lazy_cache.clear()
    model._lazy_cache.update(saved)
    for name in ("autoencoder", "diffraction_to_obj"):
        model.__dict__.pop(name, None)
