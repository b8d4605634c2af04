"""ptycho_core: the backend-neutral PtychoPINN engine, written once in ``keras.ops``.

``KERAS_BACKEND`` (``torch``, ``tensorflow`` or ``jax``) picks the engine; the numbers agree across them.
Nothing here keeps global state: every function receives its configuration as arguments.

Subpackages:
    physics: pure tensor functions (translation, patches, probe, diffraction, scaling, losses,
        reassembly, stitching).
    layers: Keras layers wrapping the physics.
"""

from importlib import metadata as _metadata

try:
    __version__ = _metadata.version("ptychopinn")
except _metadata.PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0+unknown"

__all__ = ["__version__"]
