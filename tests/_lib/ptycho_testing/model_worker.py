"""Model work under the backend named by KERAS_BACKEND, for the cross-backend model tests.

Usage:
    KERAS_BACKEND=b python model_worker.py save WORKDIR        # build (seeded), save .keras + weights, predict;
                                                               # then 20 steps from torch/init.weights.h5
    KERAS_BACKEND=b python model_worker.py load WORKDIR SRC... # load each SRC's .keras files, predict

Inputs come from WORKDIR/inputs.npz; outputs go to WORKDIR/<backend>_save.npz, <backend>_train.npz and
<backend>_load_<src>.npz. Run ``save`` under torch first (its initial weights seed every training run).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/_lib

import keras
import numpy as np

from ptycho_core.archive import read_archive, write_archive
from ptycho_core.factory import create_compiled_models, intensity_scale_of
from ptycho_core.spec import ModelSpec
from ptycho_core.training import make_targets

STEPS = 20
BATCH = 4


def spec_from(inputs: dict) -> ModelSpec:
    return ModelSpec(gridsize=2, n_filters_scale=1, intensity_scale=float(inputs["intensity_scale"]))


def save(workdir: Path, inputs: dict, backend: str) -> dict:
    keras.utils.set_random_seed(7)
    autoencoder, d2o = create_compiled_models(spec_from(inputs), probe=inputs["probe"])
    out_dir = workdir / backend
    out_dir.mkdir(parents=True, exist_ok=True)
    autoencoder.save(out_dir / "autoencoder.keras")
    d2o.save(out_dir / "diffraction_to_obj.keras")
    autoencoder.save_weights(out_dir / "init.weights.h5")
    write_archive(
        out_dir / "wts.h5.zip",
        {"autoencoder": autoencoder, "diffraction_to_obj": d2o},
        {"N": 64, "gridsize": 2},
        intensity_scale_of(autoencoder),
    )
    return {
        "d2o": d2o.predict([inputs["x"], inputs["pos"]], verbose=0),
        "amplitude": autoencoder.predict([inputs["x"], inputs["pos"]], verbose=0)[1],
    }


def load(workdir: Path, inputs: dict, src: str) -> dict:
    d2o = keras.saving.load_model(workdir / src / "diffraction_to_obj.keras")
    autoencoder = keras.saving.load_model(workdir / src / "autoencoder.keras")
    archived, _ = read_archive(workdir / src / "wts.h5.zip")
    return {
        "d2o": d2o.predict([inputs["x"], inputs["pos"]], verbose=0),
        "amplitude": autoencoder.predict([inputs["x"], inputs["pos"]], verbose=0)[1],
        "d2o_archive": archived["diffraction_to_obj"].predict([inputs["x"], inputs["pos"]], verbose=0),
    }


def train(workdir: Path, inputs: dict) -> dict:
    keras.utils.set_random_seed(7)
    autoencoder, _ = create_compiled_models(spec_from(inputs), probe=inputs["probe"], jit_compile=False)
    autoencoder.load_weights(workdir / "torch" / "init.weights.h5")
    x, pos = inputs["x"], inputs["pos"]
    targets = make_targets(x, pos)
    losses = []
    for step in range(STEPS):
        rows = np.arange(step * BATCH, (step + 1) * BATCH) % len(x)
        result = autoencoder.train_on_batch([x[rows], pos[rows]], [t[rows] for t in targets])
        losses.append(float(result[0] if isinstance(result, (list, tuple)) else result))
    return {"losses": np.array(losses)}


def main() -> None:
    command, workdir = sys.argv[1], Path(sys.argv[2])
    backend = keras.backend.backend()
    with np.load(workdir / "inputs.npz") as data:
        inputs = {k: data[k] for k in data.files}
    if command == "save":
        np.savez(workdir / f"{backend}_save.npz", **save(workdir, inputs, backend))
        np.savez(workdir / f"{backend}_train.npz", **train(workdir, inputs))
    elif command == "load":
        for src in sys.argv[3:]:
            np.savez(workdir / f"{backend}_load_{src}.npz", **load(workdir, inputs, src))
    else:
        raise SystemExit(f"unknown command {command!r}")


if __name__ == "__main__":
    main()
