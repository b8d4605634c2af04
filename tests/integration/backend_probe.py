"""A child entry point for Ptychodus's ``run_subprocess``: reports the Keras backend the spawned child runs.

``run_subprocess('backend_probe:report', None)`` yields ``('backend', name)``: evidence that a child spawned by
Ptychodus picks its engine from the ``KERAS_BACKEND`` it inherits.
"""

from __future__ import annotations

from typing import Any


def report(payload: Any, queue: Any) -> None:
    import keras

    queue.put(("backend", keras.backend.backend()))
