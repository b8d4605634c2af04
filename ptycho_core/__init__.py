"""ptycho_core: the backend-neutral PtychoPINN engine, written once in ``keras.ops``.

``KERAS_BACKEND`` (``torch``, ``tensorflow`` or ``jax``) picks the engine; the numbers agree across them.
Nothing here keeps global state: every function receives its configuration as arguments.

Subpackages:
    physics: pure tensor functions (translation, patches, probe, diffraction, scaling, losses,
        reassembly, stitching).
    layers: Keras layers wrapping the physics.
"""

import os as _os
from importlib import metadata as _metadata

#: torch's OpenMP threads spin-wait 300,000 iterations (GNU OpenMP's default) before they sleep; on a machine
#: shared with another CPU-bound process that collapsed training to 0.30x and inference to 0.22x of the quiet
#: speed on 2 cores. 10,000 keeps the quiet speed (37.0 against 37.3 train, 117 against 120 predict
#: patterns/s) and under contention gives 1.55x / 2.0x the default's (benchmarks/RESULTS.md). It is read when
#: torch is first imported, so it applies when ptycho_core is imported first; a value the user set is kept.
OPENMP_SPIN_COUNT = "10000"
_os.environ.setdefault("GOMP_SPINCOUNT", OPENMP_SPIN_COUNT)

try:
    __version__ = _metadata.version("ptychopinn")
except _metadata.PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0+unknown"

__all__ = ["__version__"]
