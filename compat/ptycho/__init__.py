"""``ptycho``: the original PtychoPINN API (names, signatures, defaults) as thin adapters onto ``ptycho_core``.

The modules of this package keep the legacy behaviour that callers such as Ptychodus rely on: the global
``ptycho.params.cfg`` dictionary, the original function names and argument defaults, and host (NumPy) results
where the original returned TensorFlow tensors built from NumPy data. All numerics live in ``ptycho_core``.

Importing this package (and ``ptycho.params``) uses only the standard library and NumPy: no Keras and no
backend is loaded until a module that needs one (``ptycho.tf_helper``, ``ptycho.probe``, ...) is imported.
"""

from importlib import metadata as _metadata

import ptycho_core as _ptycho_core  # noqa: F401  (its thread defaults, before a framework loads)

try:
    __version__ = _metadata.version("ptychopinn")
except _metadata.PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0+unknown"

__all__ = ["__version__"]
