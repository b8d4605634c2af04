"""The original's console scripts, ``ptycho_train`` (:mod:`ptycho.scripts.train`) and ``ptycho_inference``
(:mod:`ptycho.scripts.inference`), on this package's ``ptycho`` API.

They take the original's flags and write the original's file names under ``--output_dir``; where they differ
(bool flags that parse, ``--N`` and the ``Optional`` flags settable, YAML values kept unless a flag is given, no
files in the working directory, the arrays and loss history saved, one error line instead of a traceback, any
Keras backend): README, "The original's scripts". Importing these modules loads no Keras backend: the backend is
chosen from the parsed arguments first.
"""
