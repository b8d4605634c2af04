"""Subprocess for test_training.py: fit the model for one epoch of STEPS batches under JAX's transfer guard.

Usage: ``KERAS_BACKEND=jax python transfer_worker.py STEPS``. The model is compiled and one batch trained first
(compilation moves the weights and constants once); then ``ptycho_core.training.train`` runs one epoch under
``jax.transfer_guard("log_explicit")``, which logs every host↔device and device↔device transfer, explicit or
implicit, to stderr. Prints ``ARRAYS n`` (arrays in one batch: inputs and targets) and ``DONE``.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import jax
import numpy as np
from keras import tree
from parallel_worker import data

from ptycho_core.factory import create_compiled_models
from ptycho_core.spec import ModelSpec
from ptycho_core.training import make_targets, train

BATCH = 8


def main(steps: int) -> None:
    probe, x, positions, scale = data(count=BATCH * steps)
    spec = ModelSpec(N=64, gridsize=1, n_filters_scale=1, intensity_scale=scale, init_seed=3)
    autoencoder, _ = create_compiled_models(spec, probe=probe)
    xs = (x * scale).astype(np.float32)
    targets = make_targets(xs, positions, None)
    autoencoder.train_on_batch([xs[:BATCH], positions[:BATCH]], tree.map_structure(lambda t: t[:BATCH], targets))
    print("ARRAYS", len(tree.flatten([xs, positions])) + len(tree.flatten(targets)), flush=True)
    sys.stderr.flush()
    print("GUARD-START", file=sys.stderr, flush=True)
    with jax.transfer_guard("log_explicit"):
        train(autoencoder, xs, positions, epochs=1, batch_size=BATCH, validation_split=0.0, verbose=0, shuffle=False)
    print("DONE", flush=True)


if __name__ == "__main__":
    main(int(sys.argv[1]))
