"""New-process half of the Ptychodus git 7ccf581 test: open a saved bundle and reconstruct, as a fresh application.

Usage: ``python git_reconstruct_worker.py BUNDLE_DIR INPUT.pkl OUTPUT.npz GRIDSIZE N_SAMPLES``

``INPUT.pkl`` is a pickled ``ptychodus.api.reconstruct.ReconstructInput``. The worker builds the replica
reconstructor (module-level ``ptycho`` imports, ``version('ptychopinn')``), calls ``open_model(BUNDLE_DIR /
'wts.h5.zip')`` and then ``reconstruct`` — git's order: the archive's parameters first, the settings after
(ORIGINAL_API.md §11.2). It writes the object array and what it saw of ``ptycho.params.cfg`` to ``OUTPUT.npz``.
"""

from __future__ import annotations

import pickle
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))


def main(argv: list) -> None:
    import numpy as np
    from ptychodus_git_reconstructor import GitPtychoPINNReconstructor, InferenceSettings, ModelSettings

    bundle, source, target, gridsize, n_samples = argv
    reconstructor = GitPtychoPINNReconstructor(
        model=ModelSettings(gridsize=int(gridsize), n_filters_scale=1),
        inference=InferenceSettings(n_samples=int(n_samples)),
    )
    reconstructor.open_model(Path(bundle) / "wts.h5.zip")
    import ptycho.params

    opened_scale = float(ptycho.params.cfg["intensity_scale"])
    with open(source, "rb") as handle:
        parameters = pickle.load(handle)
    output = reconstructor.reconstruct(parameters)

    import keras

    import ptycho.model

    np.savez(
        target,
        obj=output.product.object_.get_array(),
        opened_scale=opened_scale,
        params_scale=float(ptycho.model.params()["intensity_scale"]),
        N=int(ptycho.params.cfg["N"]),
        gridsize=int(ptycho.params.cfg["gridsize"]),
        backend=keras.backend.backend(),
        version=reconstructor.ptychopinn_version,
    )


if __name__ == "__main__":
    main(sys.argv[1:])
