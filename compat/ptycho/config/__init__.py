"""``ptycho.config``: the dataclass configuration of the original API (see :mod:`ptycho.config.config`).

Like the original package this ``__init__`` re-exports nothing; callers import ``ptycho.config.config``.
Importing it needs only the standard library (no Keras, no backend), because Ptychodus 1.7.0 imports
``ptycho.config.config`` in a parent process that has no deep-learning framework loaded.
"""
