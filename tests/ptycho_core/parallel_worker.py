"""Subprocess for test_parallel.py: train the same model on 1 and on D devices, print the losses as JSON.

Usage: ``python parallel_worker.py DEVICES EPOCHS [spawned]`` with ``KERAS_BACKEND`` set. It asks for ``DEVICES``
virtual CPU devices first (``XLA_FLAGS`` for JAX, logical devices for TensorFlow; torch uses one process per
device). With ``spawned`` the training runs in a ``multiprocessing`` spawn child of this process, as Ptychodus
runs its trainer. Prints ``DEVICES [...]`` (jax, tensorflow) and ``RESULT {...}``.
"""

from __future__ import annotations

import json
import multiprocessing
import sys
import tempfile
import time
from pathlib import Path


def data(count: int = 40, n: int = 64):
    """Far-field amplitudes of the probe times smooth phase objects, scaled for 1e9 photons, Poisson noise."""
    import numpy as np

    from ptycho_core.physics import default_probe, intensity_scale, normalize_probe

    rng = np.random.default_rng(0)
    probe = normalize_probe(default_probe(n).astype(np.complex64), 4.0)
    k = np.fft.fftfreq(n)
    lowpass = np.exp(-(k[:, None] ** 2 + k[None, :] ** 2) / (2 * 0.05**2))
    field = np.real(np.fft.ifft2(np.fft.fft2(rng.standard_normal((count, n, n))) * lowpass))
    obj = np.exp(1j * field / np.abs(field).max())
    amp = np.abs(np.fft.fftshift(np.fft.fft2(obj * probe[None, :, :, 0]), axes=(1, 2))) / n
    amp *= np.sqrt((n / 2) ** 2 / np.mean(np.sum(amp**2, axis=(1, 2))))
    scale = float(intensity_scale(1e9, n))
    x = np.sqrt(rng.poisson((amp * scale) ** 2)).astype(np.float32)[..., None]
    positions = np.zeros((count, 1, 2, 1), np.float32)
    return probe, x, positions, scale


def run(devices: int, epochs: int) -> dict:
    """Train on 1 device, then on ``devices``; the per-epoch losses and wall times of both."""
    from ptycho_core.parallel import request_virtual_cpu_devices

    request_virtual_cpu_devices(devices)
    import keras

    from ptycho_core.parallel import train_models
    from ptycho_core.spec import ModelSpec

    probe, x, positions, scale = data()
    out: dict = {"devices_seen": None}
    if keras.backend.backend() != "torch":
        from ptycho_core._backend.parallel import data_parallel_devices

        out["devices_seen"] = [str(d) for d in data_parallel_devices(devices)]
    spec = ModelSpec(N=64, gridsize=1, n_filters_scale=1, intensity_scale=scale, init_seed=3)
    for d in (1, devices):
        start = time.perf_counter()
        _, _, history = train_models(
            spec, probe, x, positions, epochs=epochs, batch_size=8, devices=d, validation_split=0.2, shuffle=False
        )
        out[str(d)] = {
            "loss": history["loss"],
            "val_loss": history.get("val_loss"),
            "seconds": time.perf_counter() - start,
        }
    return out


def _child(devices: int, epochs: int, result_file: str) -> None:
    Path(result_file).write_text(json.dumps(run(devices, epochs)))


if __name__ == "__main__":
    n_devices, n_epochs = int(sys.argv[1]), int(sys.argv[2])
    if len(sys.argv) > 3 and sys.argv[3] == "spawned":
        with tempfile.TemporaryDirectory() as tmp:
            result = Path(tmp) / "result.json"
            child = multiprocessing.get_context("spawn").Process(target=_child, args=(n_devices, n_epochs, str(result)))
            child.start()
            child.join()
            if child.exitcode != 0:
                sys.exit(f"spawned child exited with {child.exitcode}")
            outcome = json.loads(result.read_text())
    else:
        outcome = run(n_devices, n_epochs)
    print("RESULT " + json.dumps(outcome))
