"""``ptychopinn``: the command-line application (``ptychopinn simulate | train | reconstruct | demo |
compare-backends | info``) on top of the engine (:mod:`ptycho_core`) and the original-compatible API
(:mod:`ptycho`). Run ``ptychopinn --help`` or ``python -m ptychopinn --help``."""
